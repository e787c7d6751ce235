# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Operations with compiled kernels (built on first use).

:mod:`noah_mm.ops.poca` is POCA's operation (its fused CPU kernels as torch
custom ops, its PyTorch path, and the choice between them);
:mod:`noah_mm.ops.kernel_loader` builds, checks and loads the C++ sources of
``csrc/``.
"""
from .kernel_loader import KernelStatus
from .poca import choose_impl, fast_path_supports, kernel_status, poca_logits

__all__ = [
    'KernelStatus', 'choose_impl', 'fast_path_supports', 'kernel_status',
    'poca_logits'
]
