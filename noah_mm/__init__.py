# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""NOAH (Non-glObal Attentive Head) for OpenMMLab.

Importing this package registers its modules into mmpretrain's and mmdet's
registries.
"""
from .version import __version__
from . import engine, models  # noqa: F401  (registers the modules)
from . import datasets, evaluation  # noqa: F401  (person ReID; needs mmdet)
from .models import NOAHHead, POCA

__all__ = ['__version__', 'NOAHHead', 'POCA']
