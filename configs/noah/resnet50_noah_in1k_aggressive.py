custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# ResNet-50 with NOAH (N=4, r=1/8) in the aggressive ConvNeXt regime (NOAH
# paper Table 8): the recipe of configs/baseline/resnet50_in1k_aggressive.py.
_base_ = [
    '../_base_/models/noah_resnet50.py',
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
