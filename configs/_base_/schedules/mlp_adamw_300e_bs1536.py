# MLP-Mixer and gMLP recipe of the NOAH paper (appendix
# A.1.1): AdamW, lr 7e-4, cosine to zero, 300 epochs, batch 1536
# (8 GPUs x 192), weight decay 0.067. Augmentations as for DeiT/PVT: see
# `../datasets/imagenet_bs192_vit_mlp_aug.py`.
_base_ = ['./deit_pvt_adamw_300e_bs1024.py']

optim_wrapper = dict(optimizer=dict(lr=7e-4, weight_decay=0.067))

# the paper's batch: 8 GPUs x 192 images
auto_scale_lr = dict(base_batch_size=1536)
