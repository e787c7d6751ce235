# ImageNet-1k with the NOAH paper's standard CNN pipeline (section 4.1,
# appendix A.1.1): resize to 256x256, random 224x224 crop
# and horizontal flip for training; the centre 224x224 crop of the resized
# image for evaluation; top-1 and top-5. 8 GPUs x 32 images = batch 256.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs32.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
