# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Data sets, registered in mmdet's ``DATASETS`` (they need mmdet)."""
from .market1501 import Market1501Dataset, parse_market1501_name

__all__ = ['Market1501Dataset', 'parse_market1501_name']
