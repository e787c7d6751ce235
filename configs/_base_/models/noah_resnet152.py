# ResNet-152 with NOAH (paper Table 1): the ResNet-50 head (N=4, r=1/8).
_base_ = ['./noah_resnet50.py']

model = dict(backbone=dict(depth=152))
