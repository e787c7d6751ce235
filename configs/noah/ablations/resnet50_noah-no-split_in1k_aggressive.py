custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 8 (ResNet-50, aggressive ConvNeXt regime): NOAH with no
# feature split.
_base_ = ['../resnet50_noah_in1k_aggressive.py']

model = dict(head=dict(poca_cfg=dict(split='none')))
