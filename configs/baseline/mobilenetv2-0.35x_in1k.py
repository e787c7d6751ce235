# MobileNetV2 0.35x, the NOAH paper's baseline (Table 1): the 1.0x config with
# every block's channels scaled by 0.35 (the last conv keeps 1280 channels).
_base_ = ['./mobilenetv2-1.0x_in1k.py']

model = dict(backbone=dict(widen_factor=0.35))
