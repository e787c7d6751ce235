# RetinaNet R50-FPN 1x, backbone from a NOAH-pretrained ResNet-50 classifier
# (configs/noah/resnet50_noah_in1k.py). The detector is mmdet's stock one: only
# the backbone's starting weights differ from the baseline version.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    '../_base_/default_runtime_noah.py',
]

# The ONE variable to set: the classification checkpoint the backbone starts
# from (an mmpretrain checkpoint; its 'backbone.*' keys are loaded, the prefix
# is stripped). Edit the default or export NOAH_BACKBONE_CKPT=/path/to.pth.
backbone_checkpoint = '{{$NOAH_BACKBONE_CKPT:work_dirs/resnet50_noah_in1k/epoch_100.pth}}'  # noqa: E501

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=backbone_checkpoint,
            prefix='backbone.',
            # noah_mm's Pretrained: mmengine's, plus an error naming
            # NOAH_BACKBONE_CKPT when the checkpoint file is missing
            _scope_='noah_mm')))
