from .heads import NOAHHead
from .utils import POCA

__all__ = ['NOAHHead', 'POCA']
