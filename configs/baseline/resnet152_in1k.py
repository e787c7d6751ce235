# ResNet-152, the NOAH paper's baseline (Table 1): the stock mmpretrain model
# with the paper's data pipeline and training recipe (appendix A.1.1).
_base_ = [
    'mmpretrain::_base_/models/resnet152.py',
    '../_base_/datasets/imagenet_bs32_resize256.py',
    '../_base_/schedules/resnet_sgd_step_100e_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
