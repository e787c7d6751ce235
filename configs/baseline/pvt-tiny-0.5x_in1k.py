# PVT-Tiny 0.5x (paper Table 2 baseline): every stage's width x0.5, stage dims
# [32, 64, 160, 256] (embed_dims x heads [1, 2, 5, 8]).
_base_ = ['./pvt-tiny_in1k.py']

model = dict(backbone=dict(embed_dims=32), head=dict(in_channels=256))
