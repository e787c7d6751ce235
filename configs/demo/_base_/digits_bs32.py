# The scikit-learn handwritten digits written by
# tools/dataset_converters/prepare_digits.py: 10 classes, 32x32 greyscale
# PNGs in the image-folder layout mmpretrain's CustomDataset reads
# (data/digits/{train,val}/<class>/*.png), 1438 train / 359 held-out images.
dataset_type = 'CustomDataset'
data_root = 'data/digits'
data_preprocessor = dict(
    num_classes=10,
    # grey images loaded as 3 equal channels; statistics of the train split
    mean=[78.8, 78.8, 78.8],
    std=[89.0, 89.0, 89.0],
    to_rgb=False)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # small shifts only: digits must not be flipped
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

# num_workers=0: two CPU cores are busy with the model already, and the main
# process's random state (saved in checkpoints) then drives the augmentation,
# so a resumed run repeats an uninterrupted one exactly.
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
