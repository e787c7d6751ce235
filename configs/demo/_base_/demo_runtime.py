# Runtime settings shared by the demo configs, on top of mmpretrain's
# default_runtime: a fixed seed in deterministic mode, the resume hooks from
# noah_mm.engine (random state and data order in the checkpoint), atomic
# checkpoint writes, and a log line (with ETA) every 10 iterations.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['mmpretrain::_base_/default_runtime.py']

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        backend_args=dict(backend='atomic_local')),
)
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='DataOrderHook'),
]
randomness = dict(seed=0, deterministic=True)
