# ShuffleNetV2 recipe of the NOAH paper (appendix A.1.1):
# SGD momentum 0.9, lr 0.5 decayed linearly to zero, 240 epochs, batch 1024
# (8 GPUs x 128), weight decay 4e-5, none on the normalisation layers.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=4e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0))

param_scheduler = dict(
    type='LinearLR',
    start_factor=1.0,
    end_factor=0.0,
    by_epoch=True,
    begin=0,
    end=240,
    convert_to_iter_based=True)

train_cfg = dict(by_epoch=True, max_epochs=240, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# the paper's batch: 8 GPUs x 128 images
auto_scale_lr = dict(base_batch_size=1024)
