# DeiT-Tiny 0.5x (paper Table 2 baseline): every block's width x0.5
# (embed 96, 3 heads, MLP 96 x 4, depth 12);
# the class-token head reads the 96 channels directly (the paper's Params;
# see README.md, "The ViT and MLP families").
_base_ = ['./deit-tiny_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=96,
            num_layers=12,
            num_heads=3,
            feedforward_channels=384)),
    head=dict(in_channels=96))
