custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# NOAH paper Table 11 (ResNet-18): no second-level split, and one spatial
# attention map per block shared by all M classes.
_base_ = ['../resnet18_noah_in1k.py']

model = dict(head=dict(poca_cfg=dict(split='group', shared_attention=True)))
