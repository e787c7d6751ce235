# ResNet-50 with NOAH producing the 512-d matched feature, trained from
# scratch on Market-1501 with the paper's from-scratch recipe; paper Table 9:
# 93.5 top-1, 81.8 mAP.
_base_ = [
    './_base_/models/resnet50-noah.py',
    './_base_/datasets/market1501_bs64.py',
    './_base_/schedules/market1501_sgd_350e.py',
    './_base_/default_runtime.py',
]
