# A short schedule for the digits demo: the paper's ResNet optimiser (SGD,
# momentum 0.9, wd 1e-4, from mmpretrain's imagenet_bs256 schedule) with a
# cosine decay over 3 epochs instead of the 100-epoch step schedule.
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs256.py']

optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = dict(
    _delete_=True, type='CosineAnnealingLR', by_epoch=True, T_max=3,
    eta_min=0.0)
train_cfg = dict(max_epochs=3, val_interval=1)
auto_scale_lr = dict(base_batch_size=32)
