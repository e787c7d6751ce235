custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 11 (ResNet-18): sigmoid instead of the spatial softmax.
_base_ = ['../resnet18_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(attention='sigmoid')))
