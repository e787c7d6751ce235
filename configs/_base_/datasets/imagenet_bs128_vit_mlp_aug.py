# ImageNet-1k with the DeiT augmentations the NOAH paper uses for its ViT
# and MLP models (appendix A.1.1): RandomResizedCrop 224 + flip,
# RandAugment (rand-m9-mstd0.5-inc1), RandomErasing (p=0.25); evaluation on
# the centre 224 crop of the 256 short-edge resize. Mixup/CutMix and label
# smoothing belong to the model (see configs/_base_/README.md).
# 8 GPUs x 128 images = the paper's batch of 1024 (DeiT, PVT).
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py']

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
