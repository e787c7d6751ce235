# MobileNetV3-Small as the NOAH paper's baseline (appendix A.1.1): GAP, then
# 576->1280 + HSwish (+ dropout 0.2), then Linear 1280->1000 (2,946,568
# params; the paper prints 2.94M). mmpretrain's stock head uses 1024 hidden
# channels.
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v3/mobilenet_v3_small_imagenet.py'
]

model = dict(head=dict(mid_channels=[1280]))
