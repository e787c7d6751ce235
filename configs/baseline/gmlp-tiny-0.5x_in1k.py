# gMLP-Tiny/16 0.5x (paper Table 3 baseline): every block's width x0.5
# (width 64, MLP 64 x 6, 30 blocks).
_base_ = ['./gmlp-tiny_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=64,
            num_layers=30,
            mlp_ratio=6)),
    head=dict(in_channels=64))
