# ShuffleNetV2 1.0x, the NOAH paper's baseline (Table 1): the stock mmpretrain
# model with the paper's data pipeline and training recipe (appendix A.1.1).
_base_ = [
    'mmpretrain::_base_/models/shufflenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs128_resize256.py',
    '../_base_/schedules/shufflenet_sgd_linear_240e_bs1024_bn_nowd.py',
    'mmpretrain::_base_/default_runtime.py',
]
