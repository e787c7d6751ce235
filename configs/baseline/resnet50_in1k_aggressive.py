# ResNet-50 baseline in the aggressive ConvNeXt regime (NOAH paper Table 8,
# appendix A.1.1): AdamW 4e-3, 20 warm-up epochs + cosine, 300 epochs, batch
# 4096, EMA; Mixup, CutMix, RandAugment, RandomErasing, stochastic depth and
# label smoothing. (LayerScale, which the paper also lists, has no place in a
# ResNet bottleneck and is not used.)
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    '../_base_/datasets/imagenet_bs512_convnext_aug.py',
    '../_base_/schedules/convnext_adamw_300e_bs4096.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/default_runtime_noah.py',
]

model = dict(
    backbone=dict(drop_path_rate=0.1),
    head=dict(
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
