# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Engine pieces for training on anything from a laptop CPU to a cluster.

Importing this package allow-lists mmengine's checkpoint contents for torch's
safe loader, registers the local checkpoint loader with clear errors, the
``'atomic_local'`` file backend, and the resume hooks.
"""
from .atomic_backend import AtomicLocalBackend, atomic_write_bytes
from .checkpoint_loader import CorruptedCheckpointError, load_from_local
from .cpu_distributed import (cpu_model_wrapper_cfg, init_cpu_process_group,
                              setup_cpu_distributed)
from .hooks import DataOrderHook, RNGStateHook, get_rng_state, set_rng_state
from .latest_checkpoint import find_resume_checkpoint
from .safe_globals import (allow_mmengine_checkpoint_globals,
                           mmengine_checkpoint_safe_globals)

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes', 'CorruptedCheckpointError',
    'load_from_local', 'cpu_model_wrapper_cfg', 'init_cpu_process_group',
    'setup_cpu_distributed', 'DataOrderHook', 'RNGStateHook', 'get_rng_state',
    'set_rng_state', 'find_resume_checkpoint',
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_safe_globals'
]
