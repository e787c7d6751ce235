# ResNet50-FC (the paper's baseline, appendix A.1.2) trained from scratch on
# Market-1501 with the paper's from-scratch recipe; paper Table 9: 91.5 top-1,
# 78.2 mAP.
_base_ = [
    './_base_/models/resnet50-fc512.py',
    './_base_/datasets/market1501_bs64.py',
    './_base_/schedules/market1501_sgd_350e.py',
    './_base_/default_runtime.py',
]
