# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Registries noah_mm registers into.

Classification modules go straight into mmpretrain's ``MODELS`` so that
``type='NOAHHead'`` works in any mmpretrain config once ``noah_mm`` is imported
(``custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)``);
detection modules go into mmdet's ``MODELS`` (``DET_MODELS`` here).
"""
from mmdet.registry import MODELS as DET_MODELS
from mmpretrain.registry import MODELS

__all__ = ['MODELS', 'DET_MODELS']
