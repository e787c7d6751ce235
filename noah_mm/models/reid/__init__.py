# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Person re-identification modules, registered in mmdet's ``MODELS`` (they
need mmdet)."""
from .flat_reid_data_preprocessor import FlatReIDDataPreprocessor
from .noah_reid_head import NOAHReIDHead

__all__ = ['FlatReIDDataPreprocessor', 'NOAHReIDHead']
