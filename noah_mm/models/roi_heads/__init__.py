# Modules here register themselves on import (into mmdet's MODELS).
from noah_mm.registry import require_mmdet

require_mmdet('noah_mm.models.roi_heads (NOAHBBoxHead)')

from .noah_bbox_head import NOAHBBoxHead  # noqa: E402

__all__ = ['NOAHBBoxHead']
