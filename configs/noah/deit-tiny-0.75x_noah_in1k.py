# DeiT-Tiny 0.75x + NOAH (paper Table 2; N=4, r=1/2): every block's width x0.75
# (embed 144, 3 heads, MLP 144 x 4, depth 12); NOAH reads the 144 channels
# directly (the paper's Params; see README.md, "The ViT and MLP families").
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
    head=dict(in_channels=144))
