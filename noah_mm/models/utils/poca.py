# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Pairwise Object Category Attention (POCA): the maths of NOAH in one place.

For a feature map ``F`` of shape ``(B, C, H, W)`` split into ``N`` groups, block
``i`` computes (paper Eq. 1)::

    A_i = norm(W_k,i * F_k,i)      # (B, M, H, W), norm = softmax over H*W by default
    V_i = W_v,i * F_v,i            # (B, M, H, W)
    P_i = A_i * V_i
    logits = aggregate_{i, h, w} P_i   # (B, M), aggregate = sum by default

Everything that depends on these equations (:class:`NOAHHead`, the detection
head, the visualisation tool, the checkpoint converter) goes through
:class:`POCA` and its :meth:`POCA.block_tensors`. For the paper's head
:meth:`POCA.forward` calls the operation of :mod:`noah_mm.ops.poca` (fused CPU
kernels or PyTorch ops); tests keep it equal to :meth:`POCA.block_tensors`.
"""
import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from noah_mm.ops import poca as poca_op
from noah_mm.registry import MODELS

from .checks import check_bool, check_choice, check_float, check_int

# The arguments the NOAH heads set themselves: the shape follows the head,
# N, r and dropout are head arguments; the rest pass through ``poca_cfg``.
HEAD_ARGS = ('in_channels', 'num_classes', 'num_heads', 'key_ratio', 'dropout')
SPLITS = ('both', 'group', 'none')
ATTENTIONS = ('spatial_softmax', 'channel_softmax', 'sigmoid')
AGGREGATIONS = ('sum', 'mean', 'max')
CHANNEL_LAYOUTS = ('group_first', 'split_first')
IMPLS = ('auto', 'fast', 'reference')


def split_channels(in_channels: int, num_heads: int,
                   key_ratio: float) -> tuple:
    """Key and value channels per block for the two-level split.

    Returns ``(C_k, C_v)`` with ``C_k = floor(r * C / N)`` and
    ``C_v = C / N - C_k``. Raises ``ValueError`` when either is below 1.
    """
    group = in_channels // num_heads
    # A small tolerance keeps e.g. r=0.7 on 100 channels from flooring to 69.
    key = int(math.floor(key_ratio * group + 1e-6))
    return key, group - key


@MODELS.register_module()
class POCA(BaseModule):
    """Pairwise object category attention over a feature map (NOAH's core).

    NOAH's settings are described here, once. The heads
    (:class:`~noah_mm.models.heads.NOAHHead`,
    :class:`~noah_mm.models.roi_heads.NOAHBBoxHead`) take ``num_heads``,
    ``key_ratio`` and ``dropout`` as their own arguments and pass every other
    argument below through ``poca_cfg``, e.g.
    ``head=dict(type='NOAHHead', ..., poca_cfg=dict(split='group'))``.

    Args:
        in_channels (int): Channels ``C`` of the input map.
        num_classes (int): Output categories ``M``.
        num_heads (int): Number of POCA blocks ``N`` (first-level split;
            paper Table 4). Defaults to 4.
        key_ratio (float): Key ratio ``r`` of the second-level split; each
            block uses ``floor(r*C/N)`` key channels and the rest of its
            ``C/N`` channels as values (paper Table 4). Only used when
            ``split='both'``. Defaults to 0.5.
        dropout (float): Dropout probability on the value tensors, in
            ``[0, 1)``. Defaults to 0.
        split (str): ``'both'`` (the paper's two-level split), ``'group'``
            (no second-level split: keys and values both read the block's
            ``C/N`` channels) or ``'none'`` (no split: ``N`` blocks that each
            read all ``C`` channels); paper Table 5. Defaults to ``'both'``.
        attention (str): Normalisation of the key projection:
            ``'spatial_softmax'`` (over the ``H*W`` positions, the paper's
            choice), ``'channel_softmax'`` (over the ``M`` classes, paper
            Table 6) or ``'sigmoid'`` (paper Table 11).
            Defaults to ``'spatial_softmax'``.
        aggregation (str): How the ``N`` blocks' ``H*W*M`` tensors are reduced
            to ``M`` logits: ``'sum'``, ``'mean'`` or ``'max'`` over blocks and
            positions (paper Table 7). Defaults to ``'sum'``.
        kernel_size (int): Kernel size of the key/value projections, an odd
            number (1 or 3 in the paper, Table 11). Defaults to 1.
        shared_attention (bool): One spatial attention map per block shared by
            all classes instead of ``M`` maps (paper Table 11, with
            ``split='group'``). Defaults to False.
        extra_linear (bool): Add a block-wise linear layer (keys ``C_k->C_k``,
            values ``C_v->C_v``) before the key/value projections (paper
            Table 11). Defaults to False.
        impl (str): ``'auto'`` (the fast path whenever it applies: 1x1
            kernels, spatial softmax, sum or mean aggregation, no shared
            attention or extra linear layer; the reference path otherwise),
            ``'fast'`` (fail if it does not apply) or ``'reference'`` (the
            grouped-convolution formulation of :meth:`block_tensors`). The
            fast path runs the fused kernels of :mod:`noah_mm.ops.poca`
            on fp32 CPU inputs and PyTorch ops elsewhere (CUDA, other dtypes,
            tracing and export). All give the same logits and gradients.
            Defaults to ``'auto'``.
        channel_layout (str): Which input channels block ``i`` reads with
            ``split='both'``. ``'group_first'`` (the paper's description):
            block ``i`` owns channels ``[i*C/N, (i+1)*C/N)``, keys first.
            ``'split_first'`` (the authors' released code): the first
            ``N*C_k`` channels are keys, block ``i`` reading
            ``[i*C_k, (i+1)*C_k)``, the rest are values in the same order.
            The two are the same model up to a permutation of the input
            channels; ``'split_first'`` loads the authors' checkpoints
            exactly. Defaults to ``'group_first'``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 num_heads: int = 4,
                 key_ratio: float = 0.5,
                 dropout: float = 0.0,
                 split: str = 'both',
                 attention: str = 'spatial_softmax',
                 aggregation: str = 'sum',
                 kernel_size: int = 1,
                 shared_attention: bool = False,
                 extra_linear: bool = False,
                 channel_layout: str = 'group_first',
                 impl: str = 'auto',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_int('in_channels', in_channels, 1)
        self.num_classes = check_int('num_classes', num_classes, 1)
        self.num_heads = check_int('num_heads', num_heads, 1)
        self.split = check_choice('split', split, SPLITS)
        self.attention = check_choice('attention', attention, ATTENTIONS)
        self.aggregation = check_choice('aggregation', aggregation,
                                        AGGREGATIONS)
        self.kernel_size = check_int('kernel_size', kernel_size, 1)
        self.channel_layout = check_choice('channel_layout', channel_layout,
                                           CHANNEL_LAYOUTS)
        self.impl = check_choice('impl', impl, IMPLS)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd (1 or 3 in the paper) '
                             f'so the map keeps its size, got {kernel_size}.')
        check_float('dropout', dropout, 0, 1)
        self.shared_attention = check_bool('shared_attention',
                                           shared_attention)
        self.extra_linear = check_bool('extra_linear', extra_linear)
        if self.shared_attention and attention == 'channel_softmax':
            raise ValueError(
                "attention='channel_softmax' normalises over the classes, "
                'which is constant with shared_attention=True (one map per '
                "block); use attention='spatial_softmax' or 'sigmoid'.")

        N, C = num_heads, in_channels
        if split != 'none' and C % N != 0:
            raise ValueError(
                f'in_channels ({C}) must be divisible by num_heads ({N}) for '
                f"split='{split}'; choose num_heads among the divisors of "
                f"{C} or use split='none'.")
        if split == 'both':
            check_float('key_ratio', key_ratio, 0, 1, include_low=False)
            key_ch, value_ch = split_channels(C, N, key_ratio)
            if key_ch < 1 or value_ch < 1:
                raise ValueError(
                    f'key_ratio={key_ratio} with in_channels={C} and '
                    f'num_heads={N} gives {key_ch} key and {value_ch} value '
                    f'channels per block (C/N={C // N}); each needs >= 1: '
                    f'raise or lower key_ratio, or lower num_heads.')
            key_in, value_in = key_ch, value_ch
        elif split == 'group':
            key_in = value_in = C // N
        else:
            key_in = value_in = C
        self.key_ratio = key_ratio
        self.key_channels, self.value_channels = key_in, value_in
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        M, k = num_classes, kernel_size
        key_out = 1 if self.shared_attention else M
        self.key_weight = nn.Parameter(torch.empty(N, key_out, key_in, k, k))
        self.key_bias = nn.Parameter(torch.zeros(N, key_out))
        self.value_weight = nn.Parameter(torch.empty(N, M, value_in, k, k))
        self.value_bias = nn.Parameter(torch.zeros(N, M))
        if self.extra_linear:
            self.key_pre_weight = nn.Parameter(torch.empty(N, key_in, key_in))
            self.key_pre_bias = nn.Parameter(torch.zeros(N, key_in))
            self.value_pre_weight = nn.Parameter(
                torch.empty(N, value_in, value_in))
            self.value_pre_bias = nn.Parameter(torch.zeros(N, value_in))
        self.reset_parameters()
        if impl == 'fast' and not self.fast_path_applies:
            raise ValueError(
                "impl='fast' needs kernel_size=1, attention='spatial_softmax', "
                "aggregation 'sum' or 'mean', split 'both' or 'group', and no "
                "shared_attention/extra_linear; use impl='auto' to fall back "
                'to the reference path for this configuration.')

    @property
    def fast_path_applies(self) -> bool:
        """Whether the configuration has a fast implementation."""
        return poca_op.fast_path_supports(self.kernel_size, self.attention,
                                          self.aggregation, self.split,
                                          self.shared_attention,
                                          self.extra_linear)

    def reset_parameters(self) -> None:
        """Initialise like PyTorch's convolutions (Kaiming uniform, a=sqrt(5))."""
        for name in ('key_weight', 'value_weight', 'key_pre_weight',
                     'value_pre_weight'):
            weight = getattr(self, name, None)
            if weight is None:
                continue
            fan_in = weight[0, 0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(weight, -bound, bound)
        for name in ('key_bias', 'value_bias', 'key_pre_bias',
                     'value_pre_bias'):
            bias = getattr(self, name, None)
            if bias is not None:
                nn.init.zeros_(bias)

    # ------------------------------------------------------------------ #
    # input layout
    # ------------------------------------------------------------------ #
    def _block_inputs(self, x: torch.Tensor):
        """Per-block key and value inputs as ``(B, N*Cin, H, W)`` tensors.

        With ``split='none'`` every block reads the whole map, so the input is
        returned once (``groups=1`` convolutions produce all blocks at once).
        """
        B, C, H, W = x.shape
        N = self.num_heads
        if self.split == 'both' and self.channel_layout == 'split_first':
            return x.split([N * self.key_channels, N * self.value_channels],
                           dim=1)
        if self.split == 'both':
            grouped = x.view(B, N, C // N, H, W)
            keys = grouped[:, :, :self.key_channels].reshape(B, -1, H, W)
            values = grouped[:, :, self.key_channels:].reshape(B, -1, H, W)
            return keys, values
        return x, x

    @staticmethod
    def _blockwise(x: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor) -> torch.Tensor:
        """Apply ``N`` block projections ``weight (N, out, Cin, k, k)``.

        ``x`` holds either one input per block (``N*Cin`` channels, a grouped
        convolution) or one input shared by all blocks (``Cin`` channels,
        ``split='none'``). Returns ``(B, N, out, H, W)``.
        """
        N, out, cin, k, _ = weight.shape
        groups = x.shape[1] // cin
        y = F.conv2d(x, weight.reshape(N * out, cin, k, k), bias.reshape(-1),
                     padding=k // 2, groups=groups)
        return y.unflatten(1, (N, out))

    def block_tensors(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The per-block tensors of Eq. 1, for analysis and visualisation.

        Args:
            x (Tensor): Feature map ``(B, C, H, W)``.

        Returns:
            dict: ``attention`` ``A`` and ``value`` ``V`` of shape
            ``(B, N, M or 1, H, W)`` and ``poca`` ``P = A*V`` of shape
            ``(B, N, M, H, W)``.
        """
        self._check_input(x)
        keys, values = self._block_inputs(x)
        if self.extra_linear:
            keys = self._blockwise(keys, self.key_pre_weight[..., None, None],
                                   self.key_pre_bias).flatten(1, 2)
            values = self._blockwise(values,
                                     self.value_pre_weight[..., None, None],
                                     self.value_pre_bias).flatten(1, 2)
        logits = self._blockwise(keys, self.key_weight, self.key_bias)
        value = self._blockwise(values, self.value_weight, self.value_bias)
        value = self.dropout(value)
        attention = self._normalise(logits)
        return dict(attention=attention, value=value, poca=attention * value)

    def _normalise(self, logits: torch.Tensor) -> torch.Tensor:
        """Attention normalisation of the key logits ``(B, N, Mk, H, W)``.

        Softmax runs in at least fp32, so half-precision inputs under autocast
        cannot overflow; the result is cast back to the input's dtype.
        """
        if self.attention == 'sigmoid':
            return torch.sigmoid(logits)
        dtype = logits.dtype
        if dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        if self.attention == 'channel_softmax':
            return logits.softmax(dim=2).to(dtype)
        return logits.flatten(3).softmax(dim=-1).view_as(logits).to(dtype)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f'POCA expects a (B, C, H, W) map, got shape '
                             f'{tuple(x.shape)}.')
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f'the feature map has {x.shape[1]} channels but in_channels='
                f'{self.in_channels}; set in_channels to the channels of the '
                f'input (shape {tuple(x.shape)}).')
        # Skipped while tracing, where sizes are tensors and a test of them
        # would only warn (the example input fixes the traced shapes).
        if not torch.jit.is_tracing() and x.shape[2] * x.shape[3] == 0:
            raise ValueError(
                f'the feature map x of shape {tuple(x.shape)} has no spatial '
                'positions (H*W = 0), so there is nothing to attend to; feed '
                'larger images or a backbone stage with H, W >= 1.')

    def aggregate(self, poca: torch.Tensor) -> torch.Tensor:
        """Reduce ``(B, N, M, H, W)`` local POCAs to ``(B, M)`` logits."""
        B, N, M, H, W = poca.shape
        flat = poca.transpose(1, 2).reshape(B, M, N * H * W)
        if self.aggregation == 'sum':
            return flat.sum(-1)
        if self.aggregation == 'mean':
            return flat.mean(-1)
        return flat.amax(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, M)`` from a feature map ``(B, C, H, W)``.

        Under fp16 autocast the head runs in fp32 (it is a few percent of a
        model's work, and fp16 key logits overflow on large inputs); under
        bf16 autocast the projections run in bf16 and the softmax in fp32.
        An empty batch (``B = 0``, e.g. no RoIs left after NMS) gives
        ``(0, M)`` logits and zero gradients on every implementation.
        """
        self._check_input(x)
        if not torch.jit.is_tracing() and x.shape[0] == 0:
            # Connected to the input and every parameter, so that backward
            # runs and leaves zero (or empty) gradients.
            zero = sum(p.sum() for p in self.parameters()) * 0 + x.sum() * 0
            return zero.expand(0, self.num_classes)
        device = x.device.type
        if (torch.is_autocast_enabled(device)
                and torch.get_autocast_dtype(device) == torch.float16):
            with torch.autocast(device, enabled=False):
                return self._forward(x.float())
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if poca_op.choose_impl(self.impl, x,
                               self.fast_path_applies) == 'reference':
            return self.aggregate(self.block_tensors(x)['poca'])
        return poca_op.poca_logits(
            x, self.key_weight, self.key_bias, self.value_weight,
            self.value_bias, self.key_channels, self.split,
            self.channel_layout, self.aggregation,
            self.dropout.p if self.training
            and isinstance(self.dropout, nn.Dropout) else 0.0)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, num_classes='
                f'{self.num_classes}, num_heads={self.num_heads}, '
                f'key_ratio={self.key_ratio}, split={self.split!r}, '
                f'attention={self.attention!r}, aggregation='
                f'{self.aggregation!r}, kernel_size={self.kernel_size}, '
                f'shared_attention={self.shared_attention}, '
                f'extra_linear={self.extra_linear}, '
                f'channel_layout={self.channel_layout!r}')
