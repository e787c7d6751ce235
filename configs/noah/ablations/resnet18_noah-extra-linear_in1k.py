custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 11 (ResNet-18): an extra block-wise linear layer before
# the key and value projections.
_base_ = ['../resnet18_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(extra_linear=True)))
