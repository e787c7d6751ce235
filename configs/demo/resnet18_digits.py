# Baseline for the demo: ResNet-18 with the usual global pooling + linear
# classifier on the scikit-learn digits (see README "Demo").
_base_ = [
    'mmpretrain::_base_/models/resnet18.py',
    './_base_/digits_bs32.py',
    './_base_/digits_sgd_cos_3e.py',
    './_base_/demo_runtime.py',  # mmpretrain's default_runtime + resume
]

model = dict(
    # 32x32 inputs: the last stage keeps stride 1, so the last feature map is
    # 2x2 (the ImageNet strides would leave 1x1, nothing for NOAH to attend
    # over).
    backbone=dict(strides=(1, 2, 2, 1)),
    head=dict(num_classes=10, topk=(1, )))
