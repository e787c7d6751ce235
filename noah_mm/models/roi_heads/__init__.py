# Modules here register themselves on import (into mmdet's MODELS).
from .noah_bbox_head import NOAHBBoxHead

__all__ = ['NOAHBBoxHead']
