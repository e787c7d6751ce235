# MobileNetV2 with NOAH (paper Table 1): N=8 POCA blocks, key ratio r=1/4,
# head dropout 0.2 on the values, on the 7x7x1280 map (1280 channels for
# every width multiplier <= 1); no GAP neck.
_base_ = ['mmpretrain::_base_/models/mobilenet_v2_1x.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=1000,
        in_channels=1280,
        num_heads=8,
        key_ratio=1 / 4,
        dropout=0.2,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
