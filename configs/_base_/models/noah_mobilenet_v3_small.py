# MobileNetV3-Small with NOAH (paper Table 1, appendix A.1.1) as the authors
# built it: our MobileNetV3Small backbone, the baseline's 576->1280 layer +
# HSwish kept on the 7x7 map (a 1x1 conv with bias, no GAP), then NOAH with
# N=8, r=1/4 and head dropout 0.2 on its 1280 channels.
_base_ = ['./mobilenet_v3_small.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='NOAHHead',
        num_classes=1000,
        in_channels=576,
        in_proj=dict(out_channels=1280, act_cfg=dict(type='HSwish')),
        num_heads=8,
        key_ratio=1 / 4,
        dropout=0.2,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
