# DeiT-Tiny 0.75x + NOAH (paper Table 2; N=4, r=1/2): every block's width x0.75
# (embed 144, 3 heads, MLP 144 x 4, depth 12). As in the authors' released
# network, every token passes Linear(144 -> 192) + Tanh before NOAH, which
# reads 192 channels (3.376M Params; the paper's 3.30M leaves the projection
# out).
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./deit-tiny_noah_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=144,
            num_layers=12,
            num_heads=3,
            feedforward_channels=576)),
    head=dict(
        in_channels=144,
        in_proj=dict(out_channels=192, act_cfg=dict(type='Tanh'))))
