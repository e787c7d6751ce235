# gMLP-Small/16 + NOAH (paper Table 3; N=4, r=1/2): NOAH reads the backbone's
# 256-channel 14x14 token map in place of GAP + linear. gMLP has no class
# token.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['../baseline/gmlp-small_in1k.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=1000,
        in_channels=256,
        num_heads=4,
        key_ratio=1 / 2,
        dropout=0.1,  # the authors' value (their model's default)
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
