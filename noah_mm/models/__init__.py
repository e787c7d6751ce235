# Modules here register themselves on import. mmdet is optional: the
# detection and person ReID heads are imported only when it is installed
# (noah_mm.registry.WITH_MMDET).
from noah_mm.registry import WITH_MMDET
from . import backbones, pretrained_init  # noqa: F401  (register on import)
from .heads import NOAHHead
from .utils import POCA

if WITH_MMDET:
    from . import reid, roi_heads  # noqa: F401  (register on import)

__all__ = ['NOAHHead', 'POCA']
