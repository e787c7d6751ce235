# MLP-Mixer-Base/16 (paper Table 3 baseline): mmpretrain's stock Mixer-B/16
# model (GAP + linear head) trained with the NOAH paper's MLP recipe (AdamW
# lr 7e-4, wd 0.067, 300 epochs, 8 GPUs x 192 = batch 1536) and DeiT
# augmentations instead of the stock config's bs4096 recipe and pipeline.
# LayerNorm eps 1e-6 in every block and at the end, as in timm's Mixer (the
# authors' code; mmpretrain's default is 1e-5).
_base_ = [
    'mmpretrain::_base_/models/mlp_mixer_base_patch16.py',
    '../_base_/datasets/imagenet_bs192_vit_mlp_aug.py',
    '../_base_/schedules/mlp_adamw_300e_bs1536.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/default_runtime_noah.py',
]

model = dict(
    backbone=dict(norm_cfg=dict(type='LN', eps=1e-6)),
    head=dict(
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
