# Runtime settings shared by the demo configs: mmpretrain's default_runtime
# with noah_mm's runtime (NOAHRunner: exact resume, atomic checkpoint files,
# data checks; see docs/en/training_behaviour.md), a fixed seed in
# deterministic mode, and a log line (with ETA) every 10 iterations.
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../../_base_/default_runtime_noah.py',
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2),
)
randomness = dict(seed=0, deterministic=True)
