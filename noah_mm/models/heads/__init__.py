from .noah_head import NOAHHead

__all__ = ['NOAHHead']
