custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 5 (ResNet-101): no feature split; each of the N blocks
# reads all C channels for keys and values.
_base_ = ['../resnet101_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(split='none')))
