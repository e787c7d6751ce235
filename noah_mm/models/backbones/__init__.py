# Modules here register themselves on import. The PVT backbones are mmdet's
# PVT: without mmdet their names are placeholders that say how to install it.
from noah_mm.registry import WITH_MMDET, register_mmdet_placeholders
from .gmlp import GMLP
from .mobilenet_v3_small import MobileNetV3Small

__all__ = ['GMLP', 'MobileNetV3Small']
if WITH_MMDET:
    from .pretrained_pvt import PretrainedPVT  # mmdet registry
    from .pvt_cls import PyramidVisionTransformerCls
    __all__ += ['PretrainedPVT', 'PyramidVisionTransformerCls']
else:
    register_mmdet_placeholders(['PyramidVisionTransformerCls'])
