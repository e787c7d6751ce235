# DeiT and PVT recipe of the NOAH paper (appendix A.1.1):
# AdamW, lr 5e-4, cosine to zero, 300 epochs, batch 1024 (8 GPUs x 128),
# weight decay 0.05. Label smoothing (head loss), Mixup and CutMix
# (model.train_cfg) live in the model; RandAugment and RandomErasing in
# `../datasets/imagenet_bs128_vit_mlp_aug.py`.
_base_ = ['./warmup5_cosine_300e.py']

optim_wrapper = dict(
    optimizer=dict(
        type='AdamW',
        lr=5e-4,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }),
)

param_scheduler = {{_base_.warmup5_cosine_300e}}

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# the paper's batch: 8 GPUs x 128 images
auto_scale_lr = dict(base_batch_size=1024)
