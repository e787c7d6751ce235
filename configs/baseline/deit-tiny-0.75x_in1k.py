# DeiT-Tiny 0.75x (paper Table 2 baseline): every block's width x0.75
# (embed 144, 3 heads, MLP 144 x 4, depth 12). As in the authors' released
# network, the class token passes Linear(144 -> 192) + Tanh before the linear
# classifier (3.369M Params; the paper's 3.29M leaves that projection out).
_base_ = ['./deit-tiny_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=144,
            num_layers=12,
            num_heads=3,
            feedforward_channels=576)),
    head=dict(in_channels=144, hidden_dim=192))  # + Tanh (the head's act_cfg)
