# RetinaNet PVT-Tiny-FPN 1x, backbone from the baseline PVT-Tiny classifier
# (configs/baseline/pvt-tiny_in1k.py): the control for
# retinanet_pvt-t-noah-pre_fpn_1x_coco.py.
custom_imports = dict(
    imports=['noah_mm'],
    allow_failed_imports=False)
_base_ = ['./retinanet_pvt-t-noah-pre_fpn_1x_coco.py']

# The ONE variable to set (see the parent config); NOAH_BACKBONE_CKPT wins.
backbone_checkpoint = '{{$NOAH_BACKBONE_CKPT:work_dirs/pvt-tiny_in1k/epoch_300.pth}}'  # noqa: E501

model = dict(backbone=dict(init_cfg=dict(checkpoint=backbone_checkpoint)))
