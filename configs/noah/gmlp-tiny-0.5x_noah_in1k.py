# gMLP-Tiny/16 0.5x + NOAH (paper Table 3; N=4, r=1/2): every block's width
# x0.5 (width 64, MLP 64 x 6, 30 blocks).
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./gmlp-tiny_noah_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=64,
            num_layers=30,
            mlp_ratio=6)),
    head=dict(in_channels=64))
