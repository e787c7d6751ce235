# MobileNetV2 recipe of the NOAH paper (appendix A.1.1): SGD
# momentum 0.9, lr 0.05 with cosine decay to zero, 150 epochs, batch 256
# (8 GPUs x 32), weight decay 4e-5. Head dropout (0.2) is a head argument.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=4e-5))

param_scheduler = dict(
    type='CosineAnnealingLR',
    T_max=150,
    eta_min=0.0,
    by_epoch=True,
    begin=0,
    end=150,
    convert_to_iter_based=True)

train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# the paper's batch: 8 GPUs x 32 images
auto_scale_lr = dict(base_batch_size=256)
