custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# ResNet-152 with NOAH (paper Table 1; N=4, r=1/8): the paper's data pipeline
# and training recipe (appendix A.1.1).
_base_ = [
    '../_base_/models/noah_resnet152.py',
    '../_base_/datasets/imagenet_bs32_resize256.py',
    '../_base_/schedules/resnet_sgd_step_100e_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
