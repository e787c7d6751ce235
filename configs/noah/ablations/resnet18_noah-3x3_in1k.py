custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 11 (ResNet-18): 3x3 instead of 1x1 key/value kernels.
_base_ = ['../resnet18_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(kernel_size=3)))
