# MLP-Mixer-Small/16 (paper Table 3 baseline): width 512, 8 blocks, token MLP
# 256, channel MLP 2048 (mmpretrain's arch 's'); recipe as Mixer-Base.
_base_ = ['./mixer-base_in1k.py']

model = dict(backbone=dict(arch='s'), head=dict(in_channels=512))
