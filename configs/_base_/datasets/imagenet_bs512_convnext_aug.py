# The aggressive ConvNeXt regime (NOAH paper Table 8): RandomResizedCrop,
# flip, RandAugment (rand-m9-mstd0.5-inc1) and RandomErasing (p=0.25) as in
# ConvNeXt's code; 8 GPUs x 512 images = batch 4096.
_base_ = ['./imagenet_bs128_vit_mlp_aug.py']

train_dataloader = dict(batch_size=512)
