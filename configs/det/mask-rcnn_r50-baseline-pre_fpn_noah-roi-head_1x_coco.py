# Mask R-CNN R50-FPN 1x with NOAHBBoxHead as the RoI classifier, backbone from the
# baseline ResNet-50 classifier: isolates the RoI head's effect from the
# backbone's pre-training (compare with mask-rcnn_r50-baseline-pre_fpn_1x_coco.py).
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./mask-rcnn_r50-noah-pre_fpn_noah-roi-head_1x_coco.py']

# The ONE variable to set (see retinanet_r50-noah-pre_fpn_1x_coco.py);
# NOAH_BACKBONE_CKPT wins.
backbone_checkpoint = '{{$NOAH_BACKBONE_CKPT:work_dirs/resnet50_in1k/epoch_100.pth}}'  # noqa: E501

model = dict(backbone=dict(init_cfg=dict(checkpoint=backbone_checkpoint)))
