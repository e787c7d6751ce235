custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH on the lightweight digits model: mobilenetv2-0.5x_digits.py with the
# pooling + linear classifier replaced by NOAHHead on the last (2x2x1280)
# feature map (MobileNetV2 setting of the paper, Table 1: N=8 heads, key
# ratio r=1/4, dropout 0.2).
_base_ = ['./mobilenetv2-0.5x_digits.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=10,
        in_channels=1280,
        num_heads=8,
        key_ratio=1 / 4,
        dropout=0.2,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
