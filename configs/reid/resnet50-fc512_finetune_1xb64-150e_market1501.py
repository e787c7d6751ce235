# ResNet50-FC (the paper's baseline) fine-tuned on Market-1501 from an
# ImageNet-trained ResNet-50 with the paper's AMSGrad recipe; paper Table 9:
# 92.2 top-1, 79.9 mAP.
_base_ = [
    './_base_/models/resnet50-fc512.py',
    './_base_/datasets/market1501_bs64.py',
    './_base_/schedules/market1501_amsgrad_150e.py',
    './_base_/default_runtime.py',
]

# The ONE variable to set: the ImageNet classification checkpoint the
# backbone starts from (an mmpretrain checkpoint, e.g. of
# configs/baseline/resnet50_in1k.py or mmpretrain's model zoo ResNet-50; its
# 'backbone.*' keys are loaded). Edit the default or export
# NOAH_BACKBONE_CKPT=/path/to.pth. The head starts from scratch.
backbone_checkpoint = '{{$NOAH_BACKBONE_CKPT:work_dirs/resnet50_in1k/epoch_100.pth}}'  # noqa: E501

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=backbone_checkpoint,
            prefix='backbone.')))
