# MobileNetV3 recipe of the NOAH paper (appendix A.1.1): the MobileNetV2
# schedule without weight decay on the normalisation layers.
_base_ = ['./mobilenet_sgd_cos_150e_bs256.py']

optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))
