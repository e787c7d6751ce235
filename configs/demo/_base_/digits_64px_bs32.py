# The digits of digits_bs32.py enlarged to 64x64 after the augmentation, for
# backbones with a total stride of 32 (MobileNetV2): their last feature map
# is then 2x2, as ResNet-18's is in resnet18_digits.py, instead of 1x1.
_base_ = ['./digits_bs32.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
