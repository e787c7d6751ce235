# 5 warm-up epochs (as in the DeiT/PVT code the paper trained with), then
# cosine to zero at epoch 300. Defined as a variable so that configs whose
# other base is a full stock mmpretrain config (which already has a
# `param_scheduler`) can use it with `param_scheduler = {{_base_.warmup5_cosine_300e}}`.
warmup5_cosine_300e = [
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
