# gMLP-Small/16 (paper Table 3 baseline): width 256, 30 blocks, MLP ratio 6.
_base_ = ['./gmlp-tiny_in1k.py']

model = dict(backbone=dict(arch='small'), head=dict(in_channels=256))
