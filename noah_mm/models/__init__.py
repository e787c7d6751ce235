from . import backbones, roi_heads  # noqa: F401  (register on import)
from . import reid  # noqa: F401  (person ReID; needs mmdet)
from .heads import NOAHHead
from .utils import POCA

__all__ = ['NOAHHead', 'POCA']
