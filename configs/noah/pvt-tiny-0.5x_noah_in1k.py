# PVT-Tiny 0.5x + NOAH (paper Table 2; N=4, r=1/2): stage dims
# [32, 64, 160, 256]; NOAH reads the 256-channel 7x7 map.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./pvt-tiny_noah_in1k.py']

model = dict(backbone=dict(embed_dims=32), head=dict(in_channels=256))
