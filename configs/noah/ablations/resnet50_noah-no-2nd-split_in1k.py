custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 5 (ResNet-50): first-level split only; keys and values
# both read each block's C/N channels.
_base_ = ['../resnet50_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(split='group')))
