# RetinaNet PVT-Tiny-FPN 1x (mmdet's stock retinanet_pvt-t config), backbone
# from the NOAH-pretrained PVT-Tiny classifier (configs/noah/pvt-tiny_noah_in1k.py:
# mmdet's PVT v1 under an mmpretrain ImageClassifier, so its 'backbone.*' keys
# need no conversion). PretrainedPVT is mmdet's PVT whose Pretrained init
# honours `prefix` (mmdet's own PVT ignores it).
custom_imports = dict(
    imports=['noah_mm'],
    allow_failed_imports=False)
_base_ = [
    'mmdet::pvt/retinanet_pvt-t_fpn_1x_coco.py',
    '../_base_/default_runtime_noah.py',
]

# The ONE variable to set: the classification checkpoint the backbone starts
# from (an mmpretrain checkpoint; its 'backbone.*' keys are loaded, the prefix
# is stripped). Edit the default or export NOAH_BACKBONE_CKPT=/path/to.pth.
backbone_checkpoint = '{{$NOAH_BACKBONE_CKPT:work_dirs/pvt-tiny_noah_in1k/epoch_300.pth}}'  # noqa: E501

model = dict(
    backbone=dict(
        type='PretrainedPVT',
        init_cfg=dict(
            type='Pretrained',
            checkpoint=backbone_checkpoint,
            prefix='backbone.',
            # noah_mm's Pretrained: mmengine's, plus an error naming
            # NOAH_BACKBONE_CKPT when the checkpoint file is missing
            _scope_='noah_mm')))
