# Modules here register themselves on import.
from .gmlp import GMLP
from .mobilenet_v3_small import MobileNetV3Small
from .pretrained_pvt import PretrainedPVT  # mmdet registry
from .pvt_cls import PyramidVisionTransformerCls

__all__ = [
    'GMLP', 'MobileNetV3Small', 'PretrainedPVT', 'PyramidVisionTransformerCls'
]
