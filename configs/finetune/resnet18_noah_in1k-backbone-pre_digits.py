# Fine-tuning recipe (a): NOAH on a folder data set, the backbone starting from
# an mmpretrain ImageNet checkpoint. The worked example is the digits of
# configs/demo (10 classes, 32x32 images in data/digits/{train,val}/<class>/);
# docs/en/finetune.md shows how to point it at your own folders.
#
# Only the checkpoint's 'backbone.*' tensors are loaded (prefix stripped): the
# NOAH head is new, built for this data set's classes and initialised as usual.
# Any mmpretrain checkpoint of a ResNet-18 classifier works: mmpretrain's
# ImageNet model (the default below), the baseline of configs/demo, ...
_base_ = ['../demo/resnet18_noah_digits.py']

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet18_8xb32_in1k_20210831-fbbb1da6.pth'  # noqa: E501

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

# A pretrained backbone takes a smaller step than training from scratch (0.05).
optim_wrapper = dict(optimizer=dict(lr=0.01))
