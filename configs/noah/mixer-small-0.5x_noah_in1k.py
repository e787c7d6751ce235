# MLP-Mixer-Small/16 0.5x + NOAH (paper Table 3; N=4, r=1/2): every block's
# width x0.5 (width 256, token MLP 128, channel MLP 1024, 8 blocks).
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./mixer-small_noah_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=256,
            num_layers=8,
            tokens_mlp_dims=128,
            channels_mlp_dims=1024)),
    head=dict(in_channels=256))
