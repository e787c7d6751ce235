custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# MobileNetV3-Small with NOAH (paper Table 1; N=8, r=1/4, a 576->1280 1x1 conv
# + HSwish before NOAH): the paper's data pipeline and training recipe (appendix
# A.1.1).
_base_ = [
    '../_base_/models/noah_mobilenet_v3_small.py',
    '../_base_/datasets/imagenet_bs32_resize256.py',
    '../_base_/schedules/mobilenet_sgd_cos_150e_bs256_bn_nowd.py',
    'mmpretrain::_base_/default_runtime.py',
]
