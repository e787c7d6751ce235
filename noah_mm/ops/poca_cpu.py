# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Fused CPU kernels for POCA: build on first use, call through ctypes.

``csrc/poca_cpu.cpp`` holds two kernels that compute POCA's projections for a
panel of 16 classes into a buffer that stays in cache and reduce it at once
(softmax, product and sum in forward; the logit and value gradients in
backward), so the ``(N, M, B*H*W)`` attention and value tensors never reach
memory in forward. Dropout on the values draws its keep decisions from a hash
of each entry's index and a per-call seed, so backward regenerates the mask
instead of storing it (:func:`dropout_mask` shows it). The source has no
Python or torch headers: it compiles in about a second with the system C++
compiler (``$CXX``, else ``c++``/``g++``), ``-O3 -march=native`` and OpenMP
where the compiler has them, into ``~/.cache/noah_mm/kernels`` (or
``$NOAH_MM_KERNEL_DIR``), keyed by the source, the flags, the compiler and
the CPU, and is loaded with :mod:`ctypes`. ``torch.get_num_threads()``
OpenMP threads split the class panels; inside a torch process they are
torch's own OpenMP workers (the OpenMP runtime is loaded once), so the
kernels do not compete with them.

Set ``NOAH_MM_CPU_KERNELS=0`` to turn the kernels off. Where no compiler is
found or the build fails, :func:`available` is False, one warning says why,
and :class:`~noah_mm.models.utils.poca.POCA` uses its PyTorch fast path.
"""
import ctypes
import hashlib
import math
import os
import os.path as osp
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from typing import NamedTuple, Optional, Sequence, Tuple

import torch

SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', 'poca_cpu.cpp')
FLAGS = ('-O3', '-std=c++17', '-shared', '-fPIC', '-fno-math-errno')
# Tried in order: OpenMP (threads) and the host's vector units where the
# compiler has them.
EXTRA_FLAGS = (('-march=native', '-fopenmp'), ('-fopenmp', ),
               ('-march=native', ), ())
PANEL = 16
LOG2E = 1.0 / math.log(2.0)

_lock = threading.Lock()
_state = {'lib': None, 'tried': False, 'error': None}
_local = threading.local()


def enabled() -> bool:
    """False when ``NOAH_MM_CPU_KERNELS`` is set to 0/false/off."""
    value = os.environ.get('NOAH_MM_CPU_KERNELS', '1').strip().lower()
    return value not in ('0', 'false', 'off', 'no')


def cache_dir() -> str:
    """Where built kernels are kept."""
    return os.environ.get('NOAH_MM_KERNEL_DIR') or osp.join(
        osp.expanduser('~'), '.cache', 'noah_mm', 'kernels')


def _compiler() -> Optional[str]:
    for name in (os.environ.get('CXX'), 'c++', 'g++', 'clang++'):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_signature() -> str:
    """What -march=native depends on: the machine and its CPU flags."""
    parts = [platform.machine()]
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.split(':')[0].strip() in ('model name', 'flags',
                                                  'Features', 'CPU part'):
                    parts.append(line.strip())
                    if len(parts) > 4:
                        break
    except OSError:
        parts.append(platform.processor())
    return '\n'.join(parts)


def _build(compiler: str) -> str:
    """Compile the kernels (or find them cached); returns the library path."""
    with open(SOURCE, 'rb') as f:
        source = f.read()
    version = subprocess.run([compiler, '--version'], capture_output=True,
                             text=True).stdout.splitlines()[:1]
    errors = []
    for extra in EXTRA_FLAGS:
        flags = (*FLAGS, *extra)
        key = hashlib.sha256(b'\0'.join([
            source, ' '.join(flags).encode(), ''.join(version).encode(),
            _cpu_signature().encode()
        ])).hexdigest()[:16]
        path = osp.join(cache_dir(), f'poca_cpu-{key}.so')
        if osp.exists(path):
            return path
        os.makedirs(cache_dir(), exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix='.so', dir=cache_dir())
        os.close(fd)
        result = subprocess.run([compiler, *flags, SOURCE, '-o', tmp],
                                capture_output=True, text=True)
        if result.returncode == 0:
            os.replace(tmp, path)  # atomic: concurrent builders are safe
            return path
        os.unlink(tmp)
        errors.append(f'{" ".join(flags)}: {result.stderr.strip()[-400:]}')
    raise RuntimeError('; '.join(errors))


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i = ctypes.c_void_p, ctypes.c_int
    lib.noah_poca_panel.restype = i
    lib.noah_poca_scratch.restype = ctypes.c_int64
    lib.noah_poca_scratch.argtypes = [i, i]
    lib.noah_poca_pack.restype = None
    lib.noah_poca_pack.argtypes = [p, i, i, i, ctypes.c_float, p]
    lib.noah_poca_openmp.restype = i
    i64 = ctypes.c_int64
    lib.noah_poca_forward.restype = None
    f, u64 = ctypes.c_float, ctypes.c_uint64
    problem = [i] * 11 + [f, u64]  # shapes, block layout, dropout, seed
    lib.noah_poca_forward.argtypes = [p] * 4 + problem + [p, p, i64, i]
    lib.noah_poca_backward.restype = None
    lib.noah_poca_backward.argtypes = [p] * 5 + problem + [p] * 4 + [i64, i]
    lib.noah_poca_dropout_mask.restype = None
    lib.noah_poca_dropout_mask.argtypes = [i] * 4 + [f, u64, p]
    return lib


def library() -> Optional[ctypes.CDLL]:
    """The loaded kernels, building them on the first call; None if the
    kernels are turned off or cannot be built (warned once)."""
    if not enabled():
        return None
    if _state['tried']:
        return _state['lib']
    with _lock:
        if not _state['tried']:
            _state['tried'] = True
            compiler = _compiler()
            try:
                if compiler is None:
                    raise RuntimeError('no C++ compiler found (set $CXX)')
                lib = _declare(ctypes.CDLL(_build(compiler)))
                if lib.noah_poca_panel() != PANEL:
                    raise RuntimeError('kernel panel width mismatch')
                _state['lib'] = lib
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                _state['error'] = str(e)
                warnings.warn(
                    f'noah_mm: the fused POCA CPU kernels are unavailable '
                    f'({e}); POCA uses its PyTorch fast path, which is '
                    f'slower on CPU. Install a C++ compiler or set $CXX; '
                    f'NOAH_MM_CPU_KERNELS=0 silences this.')
        return _state['lib']


def available() -> bool:
    """Whether the kernels are built and loaded."""
    return library() is not None


def _compiling() -> bool:
    compiler = getattr(torch, 'compiler', None)
    return any(
        getattr(compiler, name, lambda: False)()
        for name in ('is_compiling', 'is_exporting'))


def applies(x: torch.Tensor) -> bool:
    """Whether the kernels can run on ``x``: a plain fp32 CPU tensor, outside
    torch.compile/export and tracing (which cannot see into ctypes calls)."""
    return (x.dtype == torch.float32 and x.device.type == 'cpu'
            and type(x) is torch.Tensor and available()
            and not torch.jit.is_tracing() and not _compiling())


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def pack(weight: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Pack block weights ``(N, M, K)`` into ``(N, ceil(M/16), K, 16)``,
    multiplied by ``scale`` (zeros past ``M``)."""
    weight = weight.detach().float().contiguous()
    N, M, K = weight.shape
    out = torch.empty(N, -(-M // PANEL), K, PANEL)
    library().noah_poca_pack(_ptr(weight), N, M, K, scale, _ptr(out))
    return out


def pack_weights(key_weight: torch.Tensor,
                 value_weight: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Packed ``(key, value)`` weights as the kernels read them (the keys
    scaled by log2(e): the kernels take their softmax in base 2)."""
    return pack(key_weight, LOG2E), pack(value_weight)


def _scratch(workers: int, length: int) -> torch.Tensor:
    """``(workers, length)`` scratch floats, kept per calling thread: a
    fresh buffer would be page-faulted in on every call."""
    buf = getattr(_local, 'scratch', None)
    if buf is None or buf.numel() < workers * length:
        buf = _local.scratch = torch.empty(workers * length)
    return buf[:workers * length].view(workers, length)


def _run(lib: ctypes.CDLL, fn, x: torch.Tensor, channels: int, panels: int,
         args: Sequence) -> None:
    """Call ``fn(*args, scratch, stride, threads)`` with
    ``torch.get_num_threads()`` threads (OpenMP inside the kernel: torch's
    own runtime, as libgomp is loaded once per process), at most one per
    class panel; ``channels`` is the number of input channels the kernel
    packs per sample, ``N * (C_k + C_v)``."""
    threads = torch.get_num_threads() if lib.noah_poca_openmp() else 1
    threads = min(threads, panels)
    stride = lib.noah_poca_scratch(channels, x.shape[2])
    fn(*args, _ptr(_scratch(threads, stride)), stride, threads)


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


def _problem(x, packed, bias, blocks, dropout_p, seed) -> tuple:
    B, C, L = x.shape
    wk, wv = packed
    N, M = bias.shape
    bias = bias.detach().float().contiguous()
    return bias, (_ptr(x), _ptr(wk), _ptr(wv), _ptr(bias), B, C, L, N, M,
                  *blocks, float(dropout_p), int(seed) & (2**64 - 1))


def forward(x: torch.Tensor, packed: Tuple[torch.Tensor, ...],
            bias: torch.Tensor, blocks: Blocks, dropout_p: float = 0.0,
            seed: int = 0) -> torch.Tensor:
    """``sum_n sum_l softmax_l(W_k F_k) * (W_v F_v + b_v) * keep / (1-p)``.

    Args:
        x (Tensor): Contiguous fp32 map ``(B, C, L)``.
        packed (tuple): :func:`pack_weights` of the ``(N, M, C_k)`` key and
            ``(N, M, C_v)`` value weights.
        bias (Tensor): Value bias ``(N, M)``.
        blocks (Blocks): Which channels each block reads.
        dropout_p (float): Dropout probability on the values; the keep
            decisions are a hash of each entry's index and ``seed``
            (:func:`dropout_mask`), so backward makes the same mask without
            storing it. Defaults to 0.
        seed (int): 64-bit dropout seed. Defaults to 0.

    Returns:
        Tensor: ``(B, M)`` logits, summed over blocks and positions.
    """
    B = x.shape[0]
    out = torch.zeros(B, bias.shape[1])
    lib = library()
    bias, args = _problem(x, packed, bias, blocks, dropout_p, seed)
    _run(lib, lib.noah_poca_forward, x,
         bias.shape[0] * (blocks.key_channels + blocks.value_channels),
         packed[0].shape[1], (*args, _ptr(out)))
    return out


def backward(x: torch.Tensor, packed: Tuple[torch.Tensor, ...],
             bias: torch.Tensor, blocks: Blocks, grad: torch.Tensor,
             dropout_p: float = 0.0, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Gradients of the key logits and values, ``(N, B*L, M)`` each, and of
    the value bias, ``(N, M)``.

    Args are those of :func:`forward` plus ``grad``, the ``(B, M)``
    gradient of its output. With ``A`` the attention, ``V'`` the values
    after bias and dropout, and ``P = sum_l A V'``:
    ``d_logits = A * (V' - P) * grad`` and ``d_values = A * keep/(1-p) *
    grad``.
    """
    B, _, L = x.shape
    N, M = bias.shape
    grad = grad.float().contiguous()
    d_logits = torch.empty(N, B * L, M)
    d_values = torch.empty(N, B * L, M)
    d_bias = torch.zeros(N, M)
    lib = library()
    bias, args = _problem(x, packed, bias, blocks, dropout_p, seed)
    _run(lib, lib.noah_poca_backward, x,
         N * (blocks.key_channels + blocks.value_channels), packed[0].shape[1],
         (*args[:4], _ptr(grad), *args[4:], _ptr(d_logits), _ptr(d_values),
          _ptr(d_bias)))
    return d_logits, d_values, d_bias


def dropout_mask(shape: Tuple[int, int, int, int], dropout_p: float,
                 seed: int) -> torch.Tensor:
    """The keep-scale (0 or ``1/(1-p)``) the kernels apply to each value
    entry ``(N, M, B, L)`` for ``seed``."""
    out = torch.empty(shape)
    library().noah_poca_dropout_mask(*shape, float(dropout_p),
                                     int(seed) & (2**64 - 1), _ptr(out))
    return out
