# Market-1501 in its published layout (bounding_box_train/, query/,
# bounding_box_test/): 751 training identities; evaluation on the 3,368
# queries against the 19,732 gallery images with the standard protocol
# (same-camera matches and junk ignored), CMC rank-1/5/10 and mAP.
# Set the folder with MARKET1501_ROOT=/path or edit data_root.
dataset_type = 'Market1501Dataset'
data_root = '{{$MARKET1501_ROOT:data/market1501/}}'

# 256x128 (height x width) person crops, horizontal flip: the common
# Market-1501 settings (the paper states the optimiser recipe only).
img_scale = (128, 256)  # (w, h)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackReIDInputs', meta_keys=('flip', 'flip_direction')),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    # The metric tells queries from gallery images and needs the cameras.
    dict(type='PackReIDInputs', meta_keys=('camid', 'is_query')),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='CrossCameraReIDMetric', topk=(1, 5, 10))
test_evaluator = val_evaluator
