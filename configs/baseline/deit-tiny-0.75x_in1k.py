# DeiT-Tiny 0.75x (paper Table 2 baseline): every block's width x0.75
# (embed 144, 3 heads, MLP 144 x 4, depth 12);
# the class-token head reads the 144 channels directly (the paper's Params;
# see README.md, "The ViT and MLP families").
_base_ = ['./deit-tiny_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=144,
            num_layers=12,
            num_heads=3,
            feedforward_channels=576)),
    head=dict(in_channels=144))
