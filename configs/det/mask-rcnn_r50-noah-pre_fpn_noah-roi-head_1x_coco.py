# Mask R-CNN R50-FPN 1x with NOAH as the RoI classifier (NOAHBBoxHead: POCA over
# the 7x7 RoI map, num_classes + 1 logits, box regression as in mmdet's
# Shared2FCBBoxHead), backbone from a NOAH-pretrained ResNet-50 classifier.
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
_base_ = ['./mask-rcnn_r50-noah-pre_fpn_1x_coco.py']

model = dict(
    roi_head=dict(
        bbox_head=dict(
            type='NOAHBBoxHead',
            num_heads=4,  # N: 256 RoI channels -> 4 blocks of 64
            key_ratio=0.5,  # r: 32 key + 32 value channels per block
            dropout=0.0)))
