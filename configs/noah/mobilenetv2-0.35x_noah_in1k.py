custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# MobileNetV2 0.35x with NOAH (paper Table 1; N=8, r=1/4): the 1.0x config with
# every block's channels scaled by 0.35 (NOAH still reads 1280 channels).
_base_ = ['./mobilenetv2-1.0x_noah_in1k.py']

model = dict(backbone=dict(widen_factor=0.35))
