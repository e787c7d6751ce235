# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Compiled kernels (built on first use; see :mod:`noah_mm.ops.poca_cpu`)."""
from . import poca_cpu

__all__ = ['poca_cpu']
