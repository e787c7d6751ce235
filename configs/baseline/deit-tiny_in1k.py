# DeiT-Tiny, the standard class-token head (paper Table 2 baseline).
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']

# The NOAH paper's DeiT/PVT recipe (SPEC section 3, as in
# ../_base_/schedules/deit_pvt_adamw_300e_bs1024.py, which cannot sit beside
# a full stock config as a base): 8 GPUs x 128 = batch 1024, AdamW lr 5e-4
# (stock: 1e-3), 5 warm-up epochs (stock: 20), cosine to 0 (stock: 1e-5).
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=295,
        eta_min=0.0,
        by_epoch=True,
        begin=5,
        end=300,
        convert_to_iter_based=True),
]
