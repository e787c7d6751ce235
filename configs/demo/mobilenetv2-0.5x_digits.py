# A lightweight baseline for the digits: MobileNetV2 0.5x (NOAH: +3.14 top-1
# on ImageNet in the paper's Table 1) with the usual global pooling + linear
# classifier, on the demo's data enlarged to 64x64 (the backbone's stride is
# 32), with the demo's schedule and the paper's MobileNetV2 weight decay
# (4e-5, appendix A.1.1).
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    './_base_/digits_64px_bs32.py',
    './_base_/digits_sgd_cos_3e.py',
    './_base_/demo_runtime.py',
]

model = dict(
    backbone=dict(widen_factor=0.5),
    head=dict(num_classes=10, topk=(1, )))
optim_wrapper = dict(optimizer=dict(weight_decay=4e-5))
