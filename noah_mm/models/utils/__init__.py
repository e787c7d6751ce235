from .poca import POCA

__all__ = ['POCA']
