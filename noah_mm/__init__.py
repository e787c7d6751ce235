# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""NOAH (Non-glObal Attentive Head) for OpenMMLab.

Importing this package registers its modules into mmpretrain's registries (and
into mmdet's when mmdet is installed: ``noah_mm.registry.WITH_MMDET``) and the
model zoo's names into mmpretrain's ``ModelHub`` (:mod:`noah_mm.model_zoo`).
"""
from .version import __version__
from . import engine, models  # noqa: F401  (registers the modules)
from .model_zoo import register_model_index
from .models import NOAHHead, POCA
from .registry import WITH_MMDET

if WITH_MMDET:
    from . import datasets, evaluation  # noqa: F401  (person ReID)

register_model_index()

__all__ = ['__version__', 'NOAHHead', 'POCA']
