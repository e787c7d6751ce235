# ResNet-50 with NOAH producing the 512-d matched feature, fine-tuned on
# Market-1501 from an ImageNet-trained NOAH ResNet-50 with the paper's
# AMSGrad recipe; paper Table 9: 93.7 top-1, 82.3 mAP.
_base_ = [
    './_base_/models/resnet50-noah.py',
    './_base_/datasets/market1501_bs64.py',
    './_base_/schedules/market1501_amsgrad_150e.py',
    './_base_/default_runtime.py',
]

# The ONE variable to set: the ImageNet classification checkpoint the
# backbone starts from: configs/noah/resnet50_noah_in1k.py trained, or the
# authors' ResNet-50 NOAH converted by
# tools/model_converters/noah_official_to_mmpretrain.py. Its 'backbone.*'
# keys are loaded; NOAH's ImageNet head (1000 classes) does not fit the
# 512-d ReID head, which starts from scratch. Edit the default or export
# NOAH_BACKBONE_CKPT=/path/to.pth.
backbone_checkpoint = '{{$NOAH_BACKBONE_CKPT:work_dirs/resnet50_noah_in1k/epoch_100.pth}}'  # noqa: E501

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=backbone_checkpoint,
            prefix='backbone.')))
