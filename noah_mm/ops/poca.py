# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""POCA's logits for the paper's head, as one operation.

For the configuration of the paper's head (1x1 projections, softmax over the
``L = H*W`` positions, sum or mean aggregation; see
:func:`fast_path_supports`), block ``n`` of :class:`~noah_mm.models.POCA`
computes, with ``S = W_k F_k + b_k`` and ``V = W_v F_v + b_v``::

    logits = scale * sum_n sum_l softmax_l(S)_l * (keep * V)_l

:func:`poca_logits` is its one entry point. It runs one of:

* ``'cpu_kernel'``: the fused kernels of ``csrc/poca_cpu.cpp`` (fp32 on the
  CPU), registered as the torch custom ops ``noah_mm::poca_cpu_forward`` and
  ``noah_mm::poca_cpu_backward`` with fake and autograd implementations, so
  ``torch.compile`` and ``torch.export`` keep them;
* ``'torch'``: PyTorch ops (CUDA, other dtypes, no compiler), the blocks laid
  out as ``(N, C_in, B*L)`` so each projection is one batched GEMM;

both saving only their input for backward and recomputing the rest. The
reference formulation, with every ablation switch, stays in
:meth:`POCA.block_tensors`; :func:`choose_impl` is the one place that decides
between the three, and tests keep them equal, NaN and Inf included.

The kernels are built on first use (:mod:`noah_mm.ops.kernel_loader`);
:func:`kernel_status` says whether they are loaded and, if not, why.
"""
import ctypes
import math
import threading
import weakref
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from .kernel_loader import KernelError, KernelLibrary, KernelStatus

IMPLS = ('auto', 'cpu_kernel', 'torch')
PANEL = 16
LOG2E = 1.0 / math.log(2.0)
ABI_VERSION = 2


# ---------------------------------------------------------------------- #
# The kernel library and its one call boundary
# ---------------------------------------------------------------------- #
class PocaArgs(ctypes.Structure):
    """Mirror of ``struct NoahPocaArgs`` in ``csrc/poca_cpu.cpp``: the
    same fields, types and order; checked against the library's
    ``noah_poca_abi`` before its first call."""
    _p, _f = ctypes.c_void_p, ctypes.c_int32
    _fields_ = [
        ('x', _p), ('key_weight', _p), ('value_weight', _p),
        ('key_bias', _p), ('value_bias', _p), ('grad', _p), ('out', _p),
        ('d_logits', _p), ('d_values', _p), ('d_value_bias', _p),
        ('d_key_bias', _p), ('scratch', _p),
        ('scratch_stride', ctypes.c_int64),
        ('batch', _f), ('channels', _f), ('length', _f), ('blocks', _f),
        ('classes', _f), ('key_channels', _f), ('value_channels', _f),
        ('key_base', _f), ('key_step', _f), ('value_base', _f),
        ('value_step', _f), ('threads', _f),
        ('dropout_p', ctypes.c_float), ('seed', ctypes.c_uint64),
    ]
    del _p, _f


def _check_library(lib: ctypes.CDLL) -> None:
    """Declare the kernels' signatures; raise :class:`KernelError` unless
    the library's ABI version and struct layout are this module's."""
    lib.noah_poca_abi.restype = ctypes.c_int
    lib.noah_poca_abi.argtypes = [ctypes.c_void_p, ctypes.c_int]
    fields = PocaArgs._fields_
    layout = (ctypes.c_int64 * (len(fields) + 1))()
    version = lib.noah_poca_abi(layout, len(layout))
    if version != ABI_VERSION:
        raise KernelError(f'ABI version {version}, expected {ABI_VERSION}')
    expected = [ctypes.sizeof(PocaArgs)] + [
        getattr(PocaArgs, name).offset for name, _ in fields
    ]
    if list(layout) != expected:
        raise KernelError(f'struct NoahPocaArgs layout {list(layout)} differs '
                          f'from the ctypes mirror {expected}')
    p, i, args = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(PocaArgs)
    lib.noah_poca_panel.restype = i
    if lib.noah_poca_panel() != PANEL:
        raise KernelError('kernel panel width differs')
    lib.noah_poca_scratch.restype = ctypes.c_int64
    lib.noah_poca_scratch.argtypes = [i, i]
    lib.noah_poca_pack.restype = None
    lib.noah_poca_pack.argtypes = [p, i, i, i, ctypes.c_float, p]
    lib.noah_poca_openmp.restype = i
    for name in ('noah_poca_forward', 'noah_poca_backward',
                 'noah_poca_dropout_mask'):
        getattr(lib, name).restype = None
        getattr(lib, name).argtypes = [args]


_KERNELS = KernelLibrary('poca_cpu', _check_library)
_local = threading.local()


def kernel_status() -> KernelStatus:
    """Whether the fused CPU kernels are loaded (building them on the first
    call), from which file, why not, and what a repair of the cache found.
    Set ``NOAH_MM_CPU_KERNELS=0`` to turn them off."""
    return _KERNELS.status()


def reload_kernels() -> KernelStatus:
    """Forget the loaded kernels and load them again (after changing
    ``$NOAH_MM_KERNEL_DIR``, ``$CXX`` or the cache); returns
    :func:`kernel_status`. Functions already compiled by ``torch.compile``
    keep the choice they made."""
    _KERNELS.reset()
    return _KERNELS.status()


@torch.compiler.assume_constant_result
def kernels_available() -> bool:
    """Whether the fused CPU kernels can run (a constant to torch.compile)."""
    return _KERNELS.library() is not None


def _ptr(t: Optional[Tensor]) -> int:
    return 0 if t is None else t.data_ptr()


def _scratch(workers: int, length: int) -> Tensor:
    """``(workers, length)`` scratch floats, kept per calling thread: a
    fresh buffer would be page-faulted in on every call."""
    buf = getattr(_local, 'scratch', None)
    if buf is None or buf.numel() < workers * length:
        buf = _local.scratch = torch.empty(workers * length)
    return buf[:workers * length]


class Blocks(NamedTuple):
    """Which input channels POCA's blocks read: block ``n`` reads
    ``key_channels`` keys from channel ``key_base + n*key_step`` on and
    ``value_channels`` values from ``value_base + n*value_step`` on."""
    key_channels: int
    value_channels: int
    key_base: int
    key_step: int
    value_base: int
    value_step: int


def _call(name: str, x: Tensor, packed: Tuple[Tensor, Tensor],
          key_bias: Tensor, value_bias: Tensor, blocks: Blocks,
          dropout_p: float, seed: int, **outputs: Optional[Tensor]) -> None:
    """Fill a :class:`PocaArgs` and call kernel ``name`` with
    ``torch.get_num_threads()`` OpenMP threads (torch's own runtime, as
    libgomp is loaded once per process), at most one per class panel."""
    lib = _KERNELS.library()
    B, C, L = x.shape
    N, M = value_bias.shape
    panels = packed[0].shape[1]
    threads = torch.get_num_threads() if lib.noah_poca_openmp() else 1
    threads = min(threads, panels)
    stride = lib.noah_poca_scratch(
        N * (blocks.key_channels + blocks.value_channels), L)
    scratch = _scratch(threads, stride)
    args = PocaArgs(
        x=_ptr(x), key_weight=_ptr(packed[0]), value_weight=_ptr(packed[1]),
        key_bias=_ptr(key_bias), value_bias=_ptr(value_bias),
        scratch=_ptr(scratch), scratch_stride=stride, batch=B, channels=C,
        length=L, blocks=N, classes=M, key_channels=blocks.key_channels,
        value_channels=blocks.value_channels, key_base=blocks.key_base,
        key_step=blocks.key_step, value_base=blocks.value_base,
        value_step=blocks.value_step, threads=threads,
        dropout_p=float(dropout_p), seed=int(seed) & (2**64 - 1),
        **{k: _ptr(v) for k, v in outputs.items()})
    getattr(lib, name)(ctypes.byref(args))


def _pack(weight: Tensor, scale: float) -> Tensor:
    """Block weights ``(N, M, K)`` as ``(N, ceil(M/16), K, 16)`` times
    ``scale`` (zeros past ``M``)."""
    weight = weight.detach().float().contiguous()
    N, M, K = weight.shape
    out = torch.empty(N, -(-M // PANEL), K, PANEL)
    _KERNELS.library().noah_poca_pack(_ptr(weight), N, M, K, scale,
                                      _ptr(out))
    return out


# Packed weights per weight tensor, valid while its storage and version
# counter are unchanged (an optimizer step or load_state_dict re-packs).
_packed_cache = {}


def packed_weights(key_weight: Tensor,
                   value_weight: Tensor) -> Tuple[Tensor, Tensor]:
    """``(key, value)`` weights ``(N, M, K[, 1, 1])`` packed as the kernels
    read them (the keys scaled by log2(e): the kernels take their softmax in
    base 2), cached per weight tensor."""
    packed = []
    for weight, scale in ((key_weight, LOG2E), (value_weight, 1.0)):
        state = (weight.data_ptr(), weight._version, tuple(weight.shape))
        entry = _packed_cache.get(id(weight))
        if entry is None or entry[1] != state:
            ref = weakref.ref(weight,
                              lambda _, k=id(weight): _packed_cache.pop(k, 0))
            entry = (ref, state, _pack(weight.flatten(2), scale))
            _packed_cache[id(weight)] = entry
        packed.append(entry[2])
    return packed[0], packed[1]


def dropout_mask(shape: Tuple[int, int, int, int], dropout_p: float,
                 seed: int) -> Tensor:
    """The keep-scale (0 or ``1/(1-p)``) the kernels apply to each value
    entry ``(N, M, B, L)`` for ``seed``: a hash of the entry's index and the
    seed, so backward regenerates it instead of storing it."""
    N, M, B, L = shape
    out = torch.empty(shape)
    args = PocaArgs(out=_ptr(out), batch=B, length=L, blocks=N, classes=M,
                    dropout_p=float(dropout_p), seed=int(seed) & (2**64 - 1))
    _KERNELS.library().noah_poca_dropout_mask(ctypes.byref(args))
    return out


# ---------------------------------------------------------------------- #
# Which implementation
# ---------------------------------------------------------------------- #
def fast_path_supports(kernel_size: int, attention: str, aggregation: str,
                       split: str, shared_attention: bool,
                       extra_linear: bool) -> bool:
    """Whether a POCA configuration is the paper's head that this operation
    computes: 1x1 projections, softmax over positions, sum or mean
    aggregation, split ``'both'`` or ``'group'``, no shared attention or
    extra linear layer."""
    return (kernel_size == 1 and attention == 'spatial_softmax'
            and aggregation in ('sum', 'mean') and split in ('both', 'group')
            and not shared_attention and not extra_linear)


def _cpu_kernel_applies(x: Tensor) -> bool:
    return (x.dtype == torch.float32 and x.device.type == 'cpu'
            and kernels_available())


def choose_impl(impl: str, x: Tensor, supported: bool = True) -> str:
    """The implementation that computes POCA's logits for ``x``.

    Args:
        impl (str): What the caller asked for: ``'reference'``, ``'auto'``
            or ``'fast'`` (the best available), or one of ``'cpu_kernel'``,
            ``'torch'``.
        x (Tensor): The input map.
        supported (bool): Whether the configuration is one this operation
            computes (:func:`fast_path_supports`). Defaults to True.

    Returns:
        str: ``'reference'`` (asked for, an unsupported configuration, or a
        tracer that records ATen ops: ``torch.jit.trace`` and ONNX export),
        ``'cpu_kernel'`` (fp32 CPU input and the kernels loaded) or
        ``'torch'``.
    """
    if (impl == 'reference' or not supported or torch.jit.is_tracing()
            or torch.onnx.is_in_onnx_export()):
        return 'reference'
    if impl in ('cpu_kernel', 'torch'):
        return impl
    return 'cpu_kernel' if _cpu_kernel_applies(x) else 'torch'


# ---------------------------------------------------------------------- #
# Layouts: (B, C, L) input <-> per-block key and value inputs
# ---------------------------------------------------------------------- #
class Layout(NamedTuple):
    """How block ``n`` reads the input's channels."""
    key_channels: int  # C_k
    shared_input: bool  # split='group': keys and values read one range
    split_first: bool  # channel_layout='split_first' (all keys, then values)


def _to_blocks(x: Tensor, N: int, layout: Layout) -> Tuple[Tensor, Tensor]:
    """``(B, C, L)`` → key and value inputs ``(N, C_in, B*L)``.

    The block dimension leads so each projection is one ``bmm`` of ``N``
    GEMMs ``(M, C_in) @ (C_in, B*L)`` with no broadcasting copies.
    """
    B, C, L = x.shape
    Ck = layout.key_channels
    if layout.split_first:
        keys = x[:, :N * Ck].reshape(B, N, Ck, L)
        values = x[:, N * Ck:].reshape(B, N, -1, L)
        return (keys.permute(1, 2, 0, 3).reshape(N, Ck, B * L),
                values.permute(1, 2, 0, 3).reshape(N, -1, B * L))
    blocks = x.reshape(B, N, C // N, L).permute(1, 2, 0, 3).reshape(
        N, C // N, B * L)
    if layout.shared_input:
        return blocks, blocks
    return blocks[:, :Ck], blocks[:, Ck:]


def _from_blocks(d_keys: Tensor, d_values: Tensor, B: int, L: int,
                 layout: Layout) -> Tensor:
    """Inverse of :func:`_to_blocks` for gradients: → ``(B, C, L)``."""
    N = d_keys.shape[0]
    if layout.shared_input:
        blocks = d_keys + d_values
    elif layout.split_first:
        keys = d_keys.reshape(N, -1, B, L).permute(2, 0, 1, 3)
        values = d_values.reshape(N, -1, B, L).permute(2, 0, 1, 3)
        return torch.cat([keys.reshape(B, -1, L), values.reshape(B, -1, L)],
                         dim=1)
    else:
        blocks = torch.cat([d_keys, d_values], dim=1)
    return blocks.reshape(N, -1, B, L).permute(2, 0, 1, 3).reshape(B, -1, L)


def _kernel_blocks(layout: Layout, C: int, N: int,
                   value_channels: int) -> Blocks:
    """The channels each block reads (the layout of :func:`_to_blocks`), as
    the CPU kernels take them."""
    Ck = layout.key_channels
    if layout.shared_input:
        offsets = (0, C // N, 0, C // N)
    elif layout.split_first:
        offsets = (0, Ck, N * Ck, value_channels)
    else:
        offsets = (0, C // N, Ck, C // N)
    return Blocks(Ck, value_channels, *offsets)


def _projection_grads(ctx, x: Tensor, key_weight: Tensor,
                      value_weight: Tensor, d_logits: Tensor,
                      d_value: Tensor, layout: Layout) -> Tuple:
    """Gradients of the weights and the input from those of the key logits
    and values, ``(N, M, B*L)`` each (the two GEMMs per projection every
    implementation shares)."""
    B, _, L = x.shape
    N = key_weight.shape[0]
    keys, values = _to_blocks(x, N, layout)
    d_key_weight = torch.bmm(d_logits, keys.transpose(1, 2))
    d_value_weight = torch.bmm(d_value, values.transpose(1, 2))
    d_x = None
    if ctx.needs_input_grad[0]:
        d_x = _from_blocks(torch.bmm(key_weight.transpose(1, 2), d_logits),
                           torch.bmm(value_weight.transpose(1, 2), d_value),
                           B, L, layout).to(x.dtype)
    return d_x, d_key_weight, d_value_weight


# ---------------------------------------------------------------------- #
# 'cpu_kernel': the fused kernels as torch custom ops
# ---------------------------------------------------------------------- #
def _split_settings(x: Tensor, value_weight: Tensor, settings: List[int]):
    """``(B, C, L)`` view of ``x``, the layout and the kernel blocks from the
    custom ops' integer settings ``[C_k, shared_input, split_first]``."""
    x = x.flatten(2)
    layout = Layout(settings[0], bool(settings[1]), bool(settings[2]))
    blocks = _kernel_blocks(layout, x.shape[1], value_weight.shape[0],
                            value_weight.shape[2])
    return x, layout, blocks


def _cpu_forward_impl(x: Tensor, key_weight: Tensor, key_bias: Tensor,
                 value_weight: Tensor, value_bias: Tensor,
                 settings: List[int], scale: float,
                 dropout_p: float) -> Tuple[Tensor, Tensor]:
    """Logits ``(B, M)`` and the dropout seed (an int64 scalar, drawn from
    torch's generator so ``torch.manual_seed`` reproduces it; 0 without
    dropout) from the fused kernels."""
    x, _, blocks = _split_settings(x, value_weight, settings)
    x = x.contiguous()
    seed = (torch.randint(0, 2**62, ()) if dropout_p else torch.zeros(
        (), dtype=torch.int64))
    out = torch.zeros(x.shape[0], value_bias.shape[1])
    _call('noah_poca_forward', x, packed_weights(key_weight, value_weight),
          key_bias.detach().float().contiguous(),
          value_bias.detach().float().contiguous(), blocks, dropout_p,
          int(seed), out=out)
    return (out if scale == 1 else out.mul_(scale)), seed


_cpu_forward = torch.library.custom_op(
    'noah_mm::poca_cpu_forward', _cpu_forward_impl, mutates_args=())


@_cpu_forward.register_fake
def _(x, key_weight, key_bias, value_weight, value_bias, settings, scale,
      dropout_p):
    return (x.new_empty(x.shape[0], value_bias.shape[1]),
            x.new_empty((), dtype=torch.int64))


@torch.library.custom_op('noah_mm::poca_cpu_backward', mutates_args=())
def _cpu_backward(x: Tensor, key_weight: Tensor, key_bias: Tensor,
                  value_weight: Tensor, value_bias: Tensor, grad: Tensor,
                  seed: Tensor, settings: List[int], scale: float,
                  dropout_p: float) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of the key logits and values ``(N, M, B*L)`` (transposed
    views of ``(N, B*L, M)`` buffers) and of the value and key biases
    ``(N, M)``. With ``A`` the attention, ``V'`` the values after bias and
    dropout and ``P = sum_l A V'``: ``dS = A (V' - P) g`` and
    ``dV = A keep g``."""
    x, _, blocks = _split_settings(x, value_weight, settings)
    x = x.contiguous()
    B, _, L = x.shape
    N, M = value_bias.shape
    d_logits = torch.empty(N, B * L, M)
    d_values = torch.empty(N, B * L, M)
    d_value_bias = torch.zeros(N, M)
    d_key_bias = torch.zeros(N, M)
    _call('noah_poca_backward', x, packed_weights(key_weight, value_weight),
          key_bias.detach().float().contiguous(),
          value_bias.detach().float().contiguous(), blocks, dropout_p,
          int(seed), grad=(grad.float() * scale).contiguous(),
          d_logits=d_logits, d_values=d_values, d_value_bias=d_value_bias,
          d_key_bias=d_key_bias)
    # (N, B*L, M) -> (N, M, B*L) views: the weight and input GEMMs read
    # them transposed, without a copy.
    return (d_logits.transpose(1, 2), d_values.transpose(1, 2),
            d_value_bias, d_key_bias)


@_cpu_backward.register_fake
def _(x, key_weight, key_bias, value_weight, value_bias, grad, seed,
      settings, scale, dropout_p):
    B, L = x.shape[0], x[0, 0].numel()
    N, M = value_bias.shape
    return (x.new_empty(N, B * L, M).transpose(1, 2),
            x.new_empty(N, B * L, M).transpose(1, 2), x.new_empty(N, M),
            x.new_empty(N, M))


def _cpu_setup_context(ctx, inputs, output):
    x, key_weight, key_bias, value_weight, value_bias, settings, scale, \
        dropout_p = inputs
    ctx.save_for_backward(x, key_weight, key_bias, value_weight, value_bias,
                          output[1])
    ctx.settings, ctx.scale, ctx.dropout_p = settings, scale, dropout_p


def _cpu_grads(ctx, grad, _grad_seed):
    x, key_weight, key_bias, value_weight, value_bias, seed = \
        ctx.saved_tensors
    d_logits, d_values, d_value_bias, d_key_bias = \
        torch.ops.noah_mm.poca_cpu_backward(x, key_weight, key_bias,
                                            value_weight, value_bias, grad,
                                            seed, ctx.settings, ctx.scale,
                                            ctx.dropout_p)
    x3, layout, _ = _split_settings(x, value_weight, ctx.settings)
    d_x, d_key_weight, d_value_weight = _projection_grads(
        ctx, x3, key_weight.flatten(2), value_weight.flatten(2), d_logits,
        d_values, layout)
    return (None if d_x is None else d_x.view_as(x),
            d_key_weight.view_as(key_weight), d_key_bias.to(key_bias.dtype),
            d_value_weight.view_as(value_weight),
            d_value_bias.to(value_bias.dtype), None, None, None)


_cpu_forward.register_autograd(_cpu_grads, setup_context=_cpu_setup_context)


# ---------------------------------------------------------------------- #
# 'torch': the same maths with PyTorch ops
# ---------------------------------------------------------------------- #
def _attention_and_values(x: Tensor, key_weight: Tensor, key_bias: Tensor,
                          value_weight: Tensor, layout: Layout):
    """What the PyTorch path computes in forward and recomputes in backward.

    Returns the attention ``A = softmax_l(W_k F_k + b_k)`` in at least fp32
    and ``W_v F_v`` without bias, both ``(N, M, B, L)``. (The key bias
    changes ``A`` only when it is not finite: then, as in the reference,
    ``A`` is NaN.)
    """
    B, _, L = x.shape
    N, M = value_weight.shape[:2]
    keys, values = _to_blocks(x, N, layout)
    logits = torch.baddbmm(key_bias[..., None].to(keys.dtype), key_weight,
                           keys).view(N, M, B, L)
    attn = logits.to(torch.promote_types(logits.dtype,
                                         torch.float32)).softmax(-1)
    value = torch.bmm(value_weight, values).view(N, M, B, L)
    return attn, value


class _TorchPOCA(torch.autograd.Function):
    """The PyTorch path: saves the input (and the dropout mask) and
    recomputes ``A`` and ``V`` in backward."""

    @staticmethod
    def forward(ctx, x, key_weight, key_bias, value_weight, value_bias,
                layout, scale, dropout_p):
        attn, value = _attention_and_values(x, key_weight, key_bias,
                                            value_weight, layout)
        keep = None
        if dropout_p > 0:
            keep = torch.rand_like(attn) >= dropout_p
            value = (value + value_bias[..., None, None]) * keep
            pooled = value.mul_(attn).sum(-1) / (1 - dropout_p)
        else:
            # sum_l A_l = 1, so the value bias adds once per block.
            pooled = value.mul_(attn).sum(-1) + value_bias[..., None]
        ctx.save_for_backward(x, key_weight, key_bias, value_weight,
                              value_bias, keep)
        ctx.layout, ctx.scale, ctx.dropout_p = layout, scale, dropout_p
        return pooled.sum(0).t().mul(scale).to(x.dtype)  # (B, M)

    @staticmethod
    def backward(ctx, grad_out):
        x, key_weight, key_bias, value_weight, value_bias, keep = \
            ctx.saved_tensors
        B, _, L = x.shape
        N, M = value_weight.shape[:2]
        attn, value = _attention_and_values(x, key_weight, key_bias,
                                            value_weight, ctx.layout)
        dtype = attn.dtype
        value = value.to(dtype)
        bias = value_bias[..., None, None].to(dtype)
        g = (grad_out.t().to(dtype) * ctx.scale)[None, :, :, None]
        if keep is not None:
            mask = keep.to(dtype) / (1 - ctx.dropout_p)
            value.add_(bias).mul_(mask)
            pooled = (attn * value).sum(-1, keepdim=True)
            d_logits = attn * (value - pooled) * g
            d_value = attn.mul_(mask).mul_(g)
            d_value_bias = d_value.sum((2, 3))
        else:
            # sum_l A_l = 1: a finite value bias cancels in dS = A (V - P) g
            # and its gradient is g for every block; `bias - bias` keeps a
            # non-finite one's NaN, as in the reference. Reuse the buffers.
            pooled = (attn * value).sum(-1, keepdim=True) + (bias - bias)
            d_logits = value.sub_(pooled).mul_(attn).mul_(g)
            d_value = attn.mul_(g)
            d_value_bias = d_value.sum((2, 3))
        d_logits = d_logits.view(N, M, B * L)
        d_key_bias = d_logits.sum(-1)
        d_x, d_key_weight, d_value_weight = _projection_grads(
            ctx, x, key_weight, value_weight, d_logits.to(x.dtype),
            d_value.view(N, M, B * L).to(x.dtype), ctx.layout)
        return (d_x, d_key_weight, d_key_bias.to(key_bias.dtype),
                d_value_weight, d_value_bias.to(value_bias.dtype), None, None,
                None)


# ---------------------------------------------------------------------- #
# The functional entry
# ---------------------------------------------------------------------- #
def _compiling() -> bool:
    return torch.compiler.is_compiling() or torch.compiler.is_exporting()


def poca_logits(x: Tensor,
                key_weight: Tensor,
                key_bias: Tensor,
                value_weight: Tensor,
                value_bias: Tensor,
                key_channels: int,
                split: str = 'both',
                channel_layout: str = 'group_first',
                aggregation: str = 'sum',
                dropout: float = 0.0,
                impl: str = 'auto') -> Tensor:
    """POCA's class logits for the paper's head (see the module docstring).

    Args:
        x (Tensor): Feature map ``(B, C, H, W)``.
        key_weight (Tensor): ``(N, M, C_k)`` or ``(N, M, C_k, 1, 1)``.
        key_bias (Tensor): ``(N, M)``; the softmax cancels it unless it is
            not finite.
        value_weight (Tensor): ``(N, M, C_v)`` or ``(N, M, C_v, 1, 1)``.
        value_bias (Tensor): ``(N, M)``.
        key_channels (int): Key channels ``C_k`` of a block.
        split (str): ``'both'`` or ``'group'`` (keys and values read the
            same ``C/N`` channels). Defaults to ``'both'``.
        channel_layout (str): ``'group_first'`` or ``'split_first'``, as in
            :class:`~noah_mm.models.POCA`. Defaults to ``'group_first'``.
        aggregation (str): ``'sum'`` or ``'mean'`` over blocks and positions.
            Defaults to ``'sum'``.
        dropout (float): Dropout probability on the values (0 in
            inference). Defaults to 0.
        impl (str): ``'auto'`` (the kernels on fp32 CPU inputs when they are
            loaded, else ``'torch'``), ``'cpu_kernel'`` or ``'torch'``.
            Defaults to ``'auto'``.

    Returns:
        Tensor: ``(B, M)`` logits.
    """
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}.')
    impl = choose_impl(impl, x)
    if impl == 'reference':
        raise ValueError('poca_logits does not trace into ATen ops '
                         '(torch.jit.trace, ONNX export): use '
                         "POCA(impl='reference').")
    _, _, H, W = x.shape
    N = value_weight.shape[0]
    scale = 1.0 if aggregation == 'sum' else 1.0 / (N * H * W)
    layout = Layout(key_channels, split == 'group',
                    split == 'both' and channel_layout == 'split_first')
    if impl == 'torch':
        return _TorchPOCA.apply(x.flatten(2), key_weight.flatten(2),
                                key_bias, value_weight.flatten(2), value_bias,
                                layout, scale, float(dropout))
    if not _cpu_kernel_applies(x):
        status = kernel_status()
        raise ValueError(
            f"impl='cpu_kernel' needs an fp32 CPU input and the kernels "
            f'loaded; got {x.dtype} on {x.device}'
            + (f' (kernels unavailable: {status.error})'
               if not status.available else '') + '.')
    settings = [key_channels, int(layout.shared_input),
                int(layout.split_first)]
    args = (x, key_weight, key_bias, value_weight, value_bias, settings,
            scale, float(dropout))
    if (type(x) is torch.Tensor and not _compiling() and not (
            torch.is_grad_enabled() and any(t.requires_grad
                                            for t in args[:5]))):
        # Eager inference: the op's own implementation, without the
        # dispatcher's round trip.
        return _cpu_forward_impl(*args)[0]
    return torch.ops.noah_mm.poca_cpu_forward(*args)[0]
