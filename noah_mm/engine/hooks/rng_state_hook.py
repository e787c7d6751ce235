# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Keep the random state of Python, NumPy and torch in the checkpoint."""
import random
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from noah_mm.models.utils.checks import check_bool


def get_rng_state() -> Dict[str, Any]:
    """The random state of this process, in weights-only-loadable types.

    Returns:
        dict: ``python`` (``random.getstate()``), ``numpy`` (the legacy global
        generator's MT19937 state, key as an int64 tensor), ``torch``
        (``torch.get_rng_state()``) and ``cuda`` (one tensor per device, empty
        without CUDA).
    """
    np_state = np.random.get_state(legacy=False)
    return dict(
        python=random.getstate(),
        numpy=dict(
            bit_generator=np_state['bit_generator'],
            key=torch.from_numpy(np_state['state']['key'].astype(np.int64)),
            pos=int(np_state['state']['pos']),
            has_gauss=int(np_state['has_gauss']),
            gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state(),
        cuda=(torch.cuda.get_rng_state_all()
              if torch.cuda.is_available() else []))


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore a state returned by :func:`get_rng_state`.

    Args:
        state (dict): The state to restore.
    """
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np_state = state['numpy']
    np.random.set_state(
        dict(
            bit_generator=np_state['bit_generator'],
            state=dict(
                key=np_state['key'].numpy().astype(np.uint32),
                pos=np_state['pos']),
            has_gauss=np_state['has_gauss'],
            gauss=np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save and restore every rank's Python/NumPy/torch random state.

    With it, a run that is killed and restarted with ``--resume`` continues
    with the same random numbers (augmentations, dropout, the DataLoader's
    worker base seed) as a run that was never interrupted.

    How (epoch-based loops): at the end of each training epoch every rank
    records its random state (gathered to rank 0, which writes the list into
    the checkpoint under ``'rng_state'``); at the start of the next training
    epoch the recorded state is put back. Putting it back in the
    uninterrupted run too means validation, which also draws random numbers
    (each DataLoader iterator draws a seed), does not shift the training
    stream; so the resumed run, which skips the already-done validation, sees
    the same numbers. For iteration-based loops the state at save time is
    stored and restored before the first iteration after resuming.

    Args:
        strict (bool): Raise instead of warning when a resumed checkpoint has
            no random state or was written with another number of processes.
            Defaults to False.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) on after_* events

    def __init__(self, strict: bool = False) -> None:
        self.strict = check_bool('strict', strict)
        self._states: Optional[List[Dict[str, Any]]] = None
        self._pending: Optional[Dict[str, Any]] = None

    def _problem(self, runner, msg: str) -> None:
        if self.strict:
            raise RuntimeError(msg)
        runner.logger.warning(msg)

    def after_train_epoch(self, runner) -> None:
        """Record every rank's state at the end of the epoch."""
        self._states = all_gather_object(get_rng_state())
        self._pending = self._states[get_dist_info()[0]]

    def before_train_epoch(self, runner) -> None:
        """Put back the state recorded at the end of the previous epoch."""
        if self._pending is not None:
            set_rng_state(self._pending)
            self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Write the states into ``checkpoint['rng_state']`` (rank 0)."""
        states = self._states
        if states is None or not isinstance(runner.train_loop,
                                            EpochBasedTrainLoop):
            # Iteration-based saving (or saving outside an epoch end): only
            # this process's current state is at hand.
            states = [get_rng_state()]
        checkpoint['rng_state'] = list(states)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Take this rank's state from a resumed checkpoint."""
        if not runner._resume:  # loading weights only: leave RNG alone
            return
        states = checkpoint.get('rng_state', None)
        if not states:
            self._problem(
                runner, 'The resumed checkpoint has no random state '
                "('rng_state'): the run goes on with fresh random numbers "
                'and will not repeat an uninterrupted run exactly.')
            return
        rank, world_size = get_dist_info()
        if len(states) != world_size:
            self._problem(
                runner, f'The checkpoint holds the random state of '
                f'{len(states)} process(es) but this run has {world_size}: '
                'rank 0 state is restored on every rank where no own state '
                'exists; the run will not repeat the original exactly.')
        self._pending = states[rank] if rank < len(states) else states[0]

    def before_train(self, runner) -> None:
        """Iteration-based loops have no epoch start: restore here."""
        if self._pending is not None and not isinstance(
                runner.train_loop, EpochBasedTrainLoop):
            set_rng_state(self._pending)
            self._pending = None
