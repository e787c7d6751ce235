# Fine-tuning recipe of appendix A.1.2: AMSGrad (PyTorch's Adam with
# amsgrad=True; beta1 0.9 is the "momentum"), lr 3e-4, weight decay 1e-4,
# batch 64 on one GPU, 150 epochs, lr x0.1 every 60 epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='Adam',
        lr=3e-4,
        betas=(0.9, 0.999),
        weight_decay=1e-4,
        amsgrad=True))
param_scheduler = [
    dict(type='StepLR', by_epoch=True, step_size=60, gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=150, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=64)
