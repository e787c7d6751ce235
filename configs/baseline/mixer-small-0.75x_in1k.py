# MLP-Mixer-Small/16 0.75x (paper Table 3 baseline): every block's width x0.75
# (width 384, token MLP 192, channel MLP 1536, 8 blocks).
_base_ = ['./mixer-small_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces the named arch
            embed_dims=384,
            num_layers=8,
            tokens_mlp_dims=192,
            channels_mlp_dims=1536)),
    head=dict(in_channels=384))
