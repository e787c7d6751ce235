# PVT-Tiny 0.75x + NOAH (paper Table 2; N=4, r=1/2): stage dims
# [48, 96, 240, 384]; NOAH reads the 384-channel 7x7 map.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./pvt-tiny_noah_in1k.py']

model = dict(backbone=dict(embed_dims=48), head=dict(in_channels=384))
