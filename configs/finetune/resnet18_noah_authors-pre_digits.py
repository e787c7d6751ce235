# Fine-tuning recipe (b): NOAH on a folder data set, starting from the NOAH
# authors' released ResNet-18 + NOAH checkpoint, converted to mmpretrain's
# layout by tools/model_converters/noah_official_to_mmpretrain.py. Its
# backbone is loaded; its head, built for ImageNet's 1000 classes, is not: the
# NOAH head is re-initialised for this data set's classes (10 digits here).
# The converter writes the channel order of our stock configs, so nothing
# else changes.
_base_ = ['./resnet18_noah_in1k-backbone-pre_digits.py']

# the converter's output for the authors' ResNet-18 + NOAH file
checkpoint = 'checkpoints/resnet18_noah_in1k.pth'

model = dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint)))
