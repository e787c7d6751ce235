# MobileNetV3-Small, the NOAH paper's baseline as the authors built it (paper
# Table 1; 2,938,368 params): our MobileNetV3Small backbone (SE after the
# depthwise BN, bias-free SE layers, a 16->16 expansion in the first block),
# GAP, the 576->1280 layer + HSwish, then Linear 1280->1000, no dropout.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV3Small'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='StackedLinearClsHead',
        num_classes=1000,
        in_channels=576,
        mid_channels=[1280],
        dropout_rate=0.0,
        act_cfg=dict(type='HSwish'),
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(
            type='Normal', layer='Linear', mean=0., std=0.01, bias=0.),
        topk=(1, 5)))
