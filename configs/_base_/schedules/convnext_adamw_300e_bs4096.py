# The "aggressive" ConvNeXt regime of the NOAH paper's Table 8 (appendix
# A.1.1): AdamW, lr 4e-3, 20 linear warm-up epochs then
# cosine, 300 epochs, batch 4096 (8 GPUs x 512), weight decay 0.05, EMA.
# Mixup, CutMix, label smoothing and stochastic depth belong to the model;
# RandAugment and RandomErasing to the data pipeline.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW',
        lr=4e-3,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0),
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=20,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=280,
        eta_min=1e-6,
        by_epoch=True,
        begin=20,
        end=300,
        convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# ConvNeXt's EMA of the weights (decay 0.9999 per iteration)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]

# the paper's batch: 8 GPUs x 512 images
auto_scale_lr = dict(base_batch_size=4096)
