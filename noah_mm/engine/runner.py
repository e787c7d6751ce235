# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The runner every noah_mm config names: training behaviour in the config.

``configs/_base_/default_runtime_noah.py`` (a base of every config in
``configs/``) sets ``runner_type = 'NOAHRunner'``. mmpretrain's and mmdet's
``tools/train.py`` / ``tools/test.py``, ``mim train``, our own tools and
``tools/det/finetune.py`` all build the runner named by ``runner_type``, so
whichever script starts a run, it gets:

- **exact resume**: :class:`RNGStateHook` and :class:`DataOrderHook` are
  registered unless the config lists them already (a config that replaces
  ``custom_hooks`` cannot lose them);
- **atomic checkpoint files**: a ``CheckpointHook`` without
  ``backend_args`` writes through the ``'atomic_local'`` backend when its
  directory is local; remote ``out_dir`` (``s3://`` ...) keeps mmengine's
  backend for that prefix;
- **the newest complete checkpoint** for ``--resume`` without a path (see
  :func:`find_resume_checkpoint`), and temporary files of killed saves are
  removed when training starts;
- **data checks** before training (:class:`DatasetCheckHook`);
- **distributed runs on CPU-only machines** (gloo, DDP without devices);
  nothing changes where CUDA is available.

Checkpoint verification on load is not a runner feature: it is the local
checkpoint loader that ``import noah_mm`` registers
(:mod:`noah_mm.engine.checkpoint_loader`), so it also covers inference
outside any runner.
"""
import os.path as osp
from typing import Dict, List, Optional, Union

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import BaseLoop, Runner

from .atomic_backend import remove_orphan_temp_files
from .cpu_distributed import cpu_model_wrapper_cfg, init_cpu_process_group
from .latest_checkpoint import (DEFAULT_TEMPLATES, find_resume_checkpoint,
                                is_local_path)

# Registered unless the config lists a hook of the same type.
ENGINE_HOOKS = ('RNGStateHook', 'DataOrderHook', 'DatasetCheckHook')


def _hook_type(hook) -> Optional[str]:
    if isinstance(hook, Hook):
        return type(hook).__name__
    hook_type = hook.get('type') if isinstance(hook, dict) else None
    return hook_type if isinstance(hook_type, str) else getattr(
        hook_type, '__name__', None)


def _cpu_distributed(launcher: str) -> bool:
    return launcher != 'none' and not torch.cuda.is_available()


@RUNNERS.register_module()
class NOAHRunner(Runner):
    """mmengine's :class:`~mmengine.runner.Runner` with exact resume, atomic
    checkpoints, data checks and CPU-only distributed runs.

    Takes exactly :class:`~mmengine.runner.Runner`'s arguments; select it
    with ``runner_type = 'NOAHRunner'`` (inherited from
    ``configs/_base_/default_runtime_noah.py``). See the module docstring and
    ``docs/en/training_behaviour.md``.
    """

    def setup_env(self, env_cfg: Dict) -> None:
        """Start a ``gloo`` process group on CPU-only machines first.

        mmengine's ``init_dist`` calls ``torch.cuda.set_device``; with the
        group already started it is skipped.

        Args:
            env_cfg (dict): As :meth:`mmengine.runner.Runner.setup_env`.
        """
        if _cpu_distributed(self.launcher):
            dist_cfg = dict(env_cfg.get('dist_cfg', None) or {})
            init_cpu_process_group(
                self.launcher, timeout=dist_cfg.get('timeout', None))
            env_cfg = dict(env_cfg, dist_cfg=dict(dist_cfg, backend='gloo'))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict], model):
        """Wrap for DDP without devices on CPU-only machines.

        Args:
            model_wrapper_cfg (dict, optional): As
                :meth:`mmengine.runner.Runner.wrap_model`.
            model (nn.Module): The model.
        """
        if _cpu_distributed(self.launcher):
            model_wrapper_cfg = cpu_model_wrapper_cfg(self.cfg)
        return super().wrap_model(model_wrapper_cfg, model)

    _ckpt_cfg: Optional[dict] = None  # the CheckpointHook's config

    def checkpoint_dir(self) -> str:
        """Where ``CheckpointHook`` writes: ``work_dir`` or
        ``out_dir/<basename of work_dir>``."""
        ckpt = self._ckpt_cfg
        out_dir = ckpt.get('out_dir', None) if ckpt else None
        if out_dir is None or osp.abspath(str(out_dir)) == self.work_dir:
            return self.work_dir
        return get_file_backend(str(out_dir)).join_path(
            str(out_dir), osp.basename(self.work_dir))

    def register_hooks(
            self,
            default_hooks: Optional[Dict[str, Union[Hook, Dict]]] = None,
            custom_hooks: Optional[List[Union[Hook, Dict]]] = None) -> None:
        """Add the engine hooks and atomic saving, then register as usual.

        Args:
            default_hooks (dict, optional): As
                :meth:`mmengine.runner.Runner.register_hooks`.
            custom_hooks (list, optional): As
                :meth:`mmengine.runner.Runner.register_hooks`.
        """
        custom_hooks = list(custom_hooks or [])
        present = {_hook_type(h) for h in custom_hooks}
        custom_hooks += [dict(type=t) for t in ENGINE_HOOKS
                         if t not in present]
        ckpt = (default_hooks or {}).get('checkpoint', None)
        self._ckpt_cfg = ckpt = ckpt if isinstance(ckpt, dict) else None
        if ckpt is not None and ckpt.get('backend_args') is None \
                and ckpt.get('file_client_args') is None \
                and is_local_path(self.checkpoint_dir()):
            default_hooks = dict(default_hooks)
            default_hooks['checkpoint'] = dict(
                ckpt, backend_args=dict(backend='atomic_local'))
        super().register_hooks(default_hooks, custom_hooks)

    def _checkpoint_templates(self) -> tuple:
        ckpt = self._ckpt_cfg
        tmpl = ckpt.get('filename_tmpl', None) if ckpt else None
        return (tmpl, ) if tmpl else DEFAULT_TEMPLATES

    def load_or_resume(self) -> None:
        """Clean up killed saves, then resume from the newest complete
        checkpoint when ``resume=True`` names none."""
        if self._has_loaded:
            return
        ckpt_dir = self.checkpoint_dir()
        if isinstance(self._train_loop, BaseLoop) and is_main_process():
            for directory in {self.work_dir, ckpt_dir}:
                if is_local_path(directory):
                    for path in remove_orphan_temp_files(directory):
                        self.logger.info(
                            f'Removed {path}, left by an interrupted save.')
        if self._resume and self._load_from is None:
            found = find_resume_checkpoint(
                self.work_dir, ckpt_dir, self._checkpoint_templates())
            if found is None:
                self.logger.info(
                    f'resume=True but no complete checkpoint in {ckpt_dir}: '
                    'starting from scratch.')
                self._resume = False
            else:
                self.logger.info(
                    f'Resuming from the newest complete checkpoint {found}.')
                self._load_from = found
        super().load_or_resume()


def build_runner(cfg) -> Runner:
    """Build the runner ``cfg`` names, ``NOAHRunner`` when it names none.

    What mmpretrain's and mmdet's tools do (``RUNNERS.build`` when
    ``runner_type`` is set), except that a config without ``runner_type``
    (one not inheriting ours) also gets :class:`NOAHRunner`.

    Args:
        cfg (Config): The full config; ``runner_type`` is set on it when
            missing.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' not in cfg:
        cfg.runner_type = 'NOAHRunner'
    return RUNNERS.build(cfg)
