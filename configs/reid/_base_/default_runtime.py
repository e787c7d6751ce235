# Runtime of the Market-1501 configs: mmdet's (its ReID models, data and
# metric registries), plus noah_mm's runtime (its registrations: NOAHReIDHead,
# Market1501Dataset, CrossCameraReIDMetric; and its runner).
_base_ = [
    'mmdet::_base_/default_runtime.py', '../../_base_/default_runtime_noah.py'
]

default_scope = 'mmdet'

# mmdet's hooks without its DetVisualizationHook (it draws boxes; ReID
# samples have none).
default_hooks = dict(
    _delete_=True,
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Every 10 epochs, keeping the last three and the best by mAP.
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=3,
        save_best='reid/mAP',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
