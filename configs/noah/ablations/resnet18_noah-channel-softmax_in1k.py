custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 6 (ResNet-18): softmax over the classes (channels) instead
# of the spatial positions.
_base_ = ['../resnet18_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(attention='channel_softmax')))
