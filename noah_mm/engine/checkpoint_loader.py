# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Load local checkpoints with the safe loader and a clear error on damage.

mmengine's local loader calls ``torch.load`` directly: a truncated or
otherwise damaged file fails deep inside torch (``PytorchStreamReader failed
reading zip archive: failed finding central directory``, ``EOFError``,
``UnpicklingError``) without saying which file or what to do. The loader
registered here for local paths (mmengine's ``CheckpointLoader`` scheme ``''``)
keeps torch's default ``weights_only=True`` loading (see
:mod:`noah_mm.engine.safe_globals`) and turns such failures into a
:class:`CorruptedCheckpointError` naming the file and the fix.
"""
import os.path as osp
import pickle
import zipfile

import torch
from mmengine.runner import CheckpointLoader

from . import safe_globals  # noqa: F401  (allow-list before any load)


# What torch's readers say when the bytes themselves are bad.
_DAMAGE_MARKERS = ('PytorchStreamReader', 'zip archive', 'central directory',
                   'unexpected EOF', 'invalid header', 'file read failed',
                   'Ran out of input')

# What torch's weights-only unpickler says about a global it was not allowed
# to load (an allow-list matter, not damage).
_ALLOW_LIST_MARKERS = ('Unsupported global', 'allowed global', 'refused getattr',
                       'blocked')


class CorruptedCheckpointError(ValueError):
    """A checkpoint file exists but is truncated or not a checkpoint."""


def _check_file(filename: str) -> None:
    """Fail early and clearly on empty or truncated zip checkpoints."""
    size = osp.getsize(filename)
    if size == 0:
        raise CorruptedCheckpointError(
            f'Checkpoint file {filename!r} is empty (0 bytes): it was '
            'probably interrupted while being written. Delete it and resume '
            'from an earlier checkpoint (tools/train.py CONFIG --resume '
            'PATH/TO/epoch_N.pth).')
    with open(filename, 'rb') as f:
        magic = f.read(4)
    # torch >= 1.6 writes zip archives; a truncated one has lost its
    # central directory at the end.
    if magic == b'PK\x03\x04' and not zipfile.is_zipfile(filename):
        raise CorruptedCheckpointError(
            f'Checkpoint file {filename!r} is truncated ({size} bytes, the '
            'zip archive has no end record): it was probably interrupted '
            'while being written or copied. Delete it and resume from an '
            'earlier checkpoint (tools/train.py CONFIG --resume '
            'PATH/TO/epoch_N.pth) or copy it again.')


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename, map_location):
    """Load a checkpoint from a local path with torch's safe loader.

    Args:
        filename (str): Local checkpoint file path.
        map_location (str, optional): Same as :func:`torch.load`.

    Returns:
        dict or OrderedDict: The loaded checkpoint.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CorruptedCheckpointError: the file is empty, truncated or cannot be
            read as a torch checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    _check_file(filename)
    try:
        return torch.load(filename, map_location=map_location)
    except pickle.UnpicklingError as e:
        if any(m in str(e) for m in _ALLOW_LIST_MARKERS):
            # A global outside the allow-list: not damage, keep torch's
            # message (it names the global) and say how to allow it.
            raise pickle.UnpicklingError(
                f'{e}\n[noah_mm] {filename!r} holds an object outside the '
                'safe-loading allow-list. If you trust the file, allow the '
                'class with torch.serialization.add_safe_globals([...]) '
                'before loading; noah_mm never turns weights_only off.'
            ) from e
        raise CorruptedCheckpointError(
            f'Checkpoint file {filename!r} is corrupted and cannot be '
            f'unpickled ({e}). Delete it and resume from an earlier '
            'checkpoint.') from e
    except (RuntimeError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, RuntimeError) and not any(
                m in str(e) for m in _DAMAGE_MARKERS):
            raise  # e.g. a map_location problem: not damage
        raise CorruptedCheckpointError(
            f'Checkpoint file {filename!r} is corrupted or truncated and '
            f'cannot be loaded ({type(e).__name__}: {e}). Delete it and '
            'resume from an earlier checkpoint (tools/train.py CONFIG '
            '--resume PATH/TO/epoch_N.pth).') from e
