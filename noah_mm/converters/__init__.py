# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Conversion of the NOAH authors' released checkpoints to noah_mm."""
from .families import Conversion, Family, families, match_family, register_family

__all__ = ['Conversion', 'Family', 'families', 'match_family', 'register_family']
