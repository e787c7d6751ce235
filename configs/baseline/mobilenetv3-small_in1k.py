# MobileNetV3-Small, the NOAH paper's baseline (Table 1): the stock mmpretrain
# model with the paper's data pipeline and training recipe (appendix A.1.1).
_base_ = [
    '../_base_/models/mobilenet_v3_small_1280.py',
    '../_base_/datasets/imagenet_bs32_resize256.py',
    '../_base_/schedules/mobilenet_sgd_cos_150e_bs256_bn_nowd.py',
    'mmpretrain::_base_/default_runtime.py',
]
