# As imagenet_bs128_vit_mlp_aug.py with 8 GPUs x 192 images = the paper's
# batch of 1536 (MLP-Mixer, gMLP).
_base_ = ['./imagenet_bs128_vit_mlp_aug.py']

train_dataloader = dict(batch_size=192)
