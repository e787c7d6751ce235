# DeiT-Tiny 0.5x + NOAH (paper Table 2; N=4, r=1/2): every block's width x0.5
# (embed 96, 3 heads, MLP 96 x 4, depth 12). As in the authors' released
# network, every token passes Linear(96 -> 192) + Tanh before NOAH, which
# reads 192 channels (1.654M Params; the paper's 1.54M leaves the projection
# out).
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./deit-tiny_noah_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=96,
            num_layers=12,
            num_heads=3,
            feedforward_channels=384)),
    head=dict(
        in_channels=96,
        in_proj=dict(out_channels=192, act_cfg=dict(type='Tanh'))))
