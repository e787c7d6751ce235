custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 4 (ResNet-50): N=2 POCA blocks, r=1/8.
_base_ = ['../resnet50_noah_in1k.py']

model = dict(head=dict(num_heads=2))
