# As imagenet_bs32_resize256.py with 8 GPUs x 128 images = batch 1024
# (ShuffleNetV2).
_base_ = ['./imagenet_bs32_resize256.py']

train_dataloader = dict(batch_size=128)
