custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH on the demo: the baseline's ResNet-18, data and schedule, with the
# pooling + linear classifier replaced by NOAHHead on the last feature map
# (ResNet-18 setting of the paper: N=4 heads, key ratio r=1/2, dropout 0.1).
_base_ = ['./resnet18_digits.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=10,
        in_channels=512,
        num_heads=4,
        key_ratio=1 / 2,
        dropout=0.1,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
