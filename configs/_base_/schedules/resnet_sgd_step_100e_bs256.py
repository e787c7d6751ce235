# ResNet recipe of the NOAH paper (appendix A.1.1): SGD
# momentum 0.9, lr 0.1 divided by 10 every 30 epochs, 100 epochs, batch 256
# (8 GPUs x 32), weight decay 1e-4. Head dropout (0.1) is a head argument.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))

param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# the paper's batch: 8 GPUs x 32 images
auto_scale_lr = dict(base_batch_size=256)
