# PVT-Tiny 0.75x (paper Table 2 baseline): every stage's width x0.75, dims
# [48, 96, 240, 384] (embed_dims x heads [1, 2, 5, 8]).
_base_ = ['./pvt-tiny_in1k.py']

model = dict(backbone=dict(embed_dims=48), head=dict(in_channels=384))
