# DeiT-Tiny 0.5x (paper Table 2 baseline): every block's width x0.5
# (embed 96, 3 heads, MLP 96 x 4, depth 12). As in the authors' released
# network, the class token passes Linear(96 -> 192) + Tanh before the linear
# classifier (1.647M Params; the paper's 1.53M leaves that projection out).
_base_ = ['./deit-tiny_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=96,
            num_layers=12,
            num_heads=3,
            feedforward_channels=384)),
    head=dict(in_channels=96, hidden_dim=192))  # + Tanh (the head's act_cfg)
