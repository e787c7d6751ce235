# Modules here register themselves on import.
from .gmlp import GMLP
from .pvt_cls import PyramidVisionTransformerCls

__all__ = ['GMLP', 'PyramidVisionTransformerCls']
