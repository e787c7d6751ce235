# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Engine pieces for training on anything from a laptop CPU to a cluster.

Importing this package registers (see ``docs/en/training_behaviour.md``,
"What importing noah_mm registers"):

- torch's safe-loader allow-list for mmengine's checkpoint contents
  (:mod:`.safe_globals`);
- the loader for local checkpoint paths, which verifies the file first
  (mmengine ``CheckpointLoader`` scheme ``''``, :mod:`.checkpoint_loader`);
- the ``'atomic_local'`` file backend (:mod:`.atomic_backend`);
- the hooks ``RNGStateHook``, ``DataOrderHook``, ``DatasetCheckHook`` and the
  runner ``NOAHRunner`` in mmengine's registries.
"""
from .atomic_backend import (AtomicLocalBackend, atomic_write_bytes,
                             remove_orphan_temp_files)
from .checkpoint_loader import (CorruptedCheckpointError, load_from_local,
                                verify_checkpoint)
from .cpu_distributed import cpu_model_wrapper_cfg, init_cpu_process_group
from .hooks import (DataOrderHook, DatasetCheckHook, DatasetMismatchError,
                    FileNamingPipeline, RNGStateHook, SampleLoadError,
                    get_rng_state, set_rng_state)
from .latest_checkpoint import find_resume_checkpoint, is_local_path
from .runner import NOAHRunner, build_runner
from .safe_globals import (allow_mmengine_checkpoint_globals,
                           mmengine_checkpoint_safe_globals)

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes', 'remove_orphan_temp_files',
    'CorruptedCheckpointError', 'load_from_local', 'verify_checkpoint',
    'cpu_model_wrapper_cfg', 'init_cpu_process_group', 'DataOrderHook',
    'DatasetCheckHook', 'DatasetMismatchError', 'FileNamingPipeline',
    'RNGStateHook', 'SampleLoadError', 'get_rng_state', 'set_rng_state',
    'find_resume_checkpoint', 'is_local_path', 'NOAHRunner', 'build_runner',
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_safe_globals'
]
