# gMLP-Tiny/16 (paper Table 3 baseline): width 128, 30 blocks, MLP ratio 6,
# GAP + linear head; the NOAH paper's MLP recipe (AdamW lr 7e-4, wd 0.067,
# 300 epochs, 8 GPUs x 192 = batch 1536) with DeiT augmentations.
# `GMLP` is timm's gMLP registered by noah_mm (see README.md, "The ViT and MLP families").
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = [
    '../_base_/datasets/imagenet_bs192_vit_mlp_aug.py',
    '../_base_/schedules/mlp_adamw_300e_bs1536.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/default_runtime_noah.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(type='GMLP', arch='tiny', img_size=224, patch_size=16),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=128,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
