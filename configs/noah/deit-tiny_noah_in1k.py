# DeiT-Tiny + NOAH (paper Table 2; N=4, r=1/2): the backbone keeps no class
# token and returns its 192-channel 14x14 patch-token map, read by NOAH in
# place of the class-token head.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['../baseline/deit-tiny_in1k.py']

model = dict(
    backbone=dict(with_cls_token=False, out_type='featmap'),
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=1000,
        in_channels=192,
        num_heads=4,
        key_ratio=1 / 2,
        dropout=0.1,  # the authors' value (their model's default)
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
