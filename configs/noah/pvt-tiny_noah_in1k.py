# PVT-Tiny + NOAH (paper Table 2; N=4, r=1/2): NOAH reads the last stage's
# normalised 512-channel 7x7 map in place of GAP + linear.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['../baseline/pvt-tiny_in1k.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=1000,
        in_channels=512,
        num_heads=4,
        key_ratio=1 / 2,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
