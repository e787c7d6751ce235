# PVT-Tiny (PVT v1, paper Table 2 baseline): mmdet's PVT v1 backbone under an
# mmpretrain ImageClassifier with the parts of PVT's classifier, as in the
# authors' released network: a class token joins the last stage's tokens and,
# after the final LayerNorm, a linear layer classifies it. Norms as in PVT's
# code: the patch embeddings and the spatially reduced tokens eps 1e-5, the
# blocks and the final norm eps 1e-6 (mmdet's norm_cfg).
# Stage dims [64, 128, 320, 512], heads [1, 2, 5, 8], depths [2, 2, 2, 2],
# sr [8, 4, 2, 1], MLP ratios [8, 8, 4, 4], patch 4.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = [
    '../_base_/datasets/imagenet_bs128_vit_mlp_aug.py',
    '../_base_/schedules/deit_pvt_adamw_300e_bs1024.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/default_runtime_noah.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='PyramidVisionTransformerCls',  # mmdet's PVT v1 + classifier parts
        embed_dims=64,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[4, 2, 2, 2],
        sr_ratios=[8, 4, 2, 1],
        mlp_ratios=[8, 8, 4, 4],
        drop_path_rate=0.1,
        out_indices=(3, ),
        with_cls_token=True,
        out_type='cls_token',
        patch_norm_cfg=dict(type='LN', eps=1e-5),
        sr_norm_cfg=dict(type='LN', eps=1e-5)),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
