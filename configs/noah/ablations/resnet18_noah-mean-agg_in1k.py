custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 7 (ResNet-18): average pooling instead of the sum to
# aggregate the local POCAs.
_base_ = ['../resnet18_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(aggregation='mean')))
