# ShuffleNetV2 1.0x with NOAH (paper Table 1): N=8 POCA blocks, key ratio
# r=1/4 on the 7x7x1024 map; no GAP neck. Appendix A.1.1 gives ShuffleNetV2
# no head dropout.
_base_ = ['mmpretrain::_base_/models/shufflenet_v2_1x.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=1000,
        in_channels=1024,
        num_heads=8,
        key_ratio=1 / 4,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
