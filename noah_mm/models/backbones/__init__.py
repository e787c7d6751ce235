# Modules here register themselves on import.
from .gmlp import GMLP
from .pretrained_pvt import PretrainedPVT  # mmdet registry
from .pvt_cls import PyramidVisionTransformerCls

__all__ = ['GMLP', 'PretrainedPVT', 'PyramidVisionTransformerCls']
