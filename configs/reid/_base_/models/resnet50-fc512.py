# ResNet50-FC, the paper's Market-1501 baseline (appendix A.1.2): ResNet-50,
# global average pooling, one FC layer to the 512-d feature used for
# matching; training adds BatchNorm1d and a linear classifier over the 751
# training identities (cross-entropy). All of it is mmdet's ReID parts.
model = dict(
    type='BaseReID',
    data_preprocessor=dict(
        # mmdet's ReIDDataPreprocessor, for batches of many samples.
        type='FlatReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearReIDHead',
        num_fcs=0,
        in_channels=2048,
        fc_channels=512,
        out_channels=512,
        num_classes=751,
        loss_cls=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
