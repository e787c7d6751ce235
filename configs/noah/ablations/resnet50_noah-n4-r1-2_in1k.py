custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 4 (ResNet-50): N=4, key ratio r=1/2.
_base_ = ['../resnet50_noah_in1k.py']

model = dict(head=dict(key_ratio=1 / 2))
