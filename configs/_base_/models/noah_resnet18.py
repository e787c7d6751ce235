# ResNet-18 with NOAH (paper Table 1): N=4 POCA blocks, key ratio r=1/2, head
# dropout 0.1 on the values; NOAH reads the 7x7 map, so no GAP neck.
_base_ = ['mmpretrain::_base_/models/resnet18.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=1000,
        in_channels=512,
        num_heads=4,
        key_ratio=1 / 2,
        dropout=0.1,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
