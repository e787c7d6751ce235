# From-scratch recipe of appendix A.1.2: SGD, lr 0.065, momentum 0.9, weight
# decay 1e-4, batch 64 on one GPU, 350 epochs, lr x0.1 at epochs 150, 225
# and 300.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.065, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        milestones=[150, 225, 300],
        gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=350, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# The paper's batch; --auto-scale-lr scales lr for other total batches.
auto_scale_lr = dict(enable=False, base_batch_size=64)
