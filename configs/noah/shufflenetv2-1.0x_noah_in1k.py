custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# ShuffleNetV2 1.0x with NOAH (paper Table 1; N=8, r=1/4): the paper's data
# pipeline and training recipe (appendix A.1.1).
_base_ = [
    '../_base_/models/noah_shufflenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs128_resize256.py',
    '../_base_/schedules/shufflenet_sgd_linear_240e_bs1024_bn_nowd.py',
    'mmpretrain::_base_/default_runtime.py',
]
