# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The released heads, for every family: NOAH and the linear classifier.

The authors' NOAH head is two grouped 1x1 convolutions, ``query`` and
``value`` (``groups=N``, ``N*M`` outputs; output ``n*M + m`` is block ``n``,
class ``m``). ``query`` reads the first ``N*C_k`` channels of the feature map
and ``value`` the remaining ``N*C_v`` (the ``'split_first'`` layout of
:class:`~noah_mm.models.utils.POCA`). Our configs use the paper's
``'group_first'`` layout (block ``i`` owns channels ``[i*C/N, (i+1)*C/N)``,
keys first). The two block-wise channel sets differ, so the converter permutes
the channels of the layers that write the feature map (see
:func:`block_permutation`); a consistent permutation of a channel stream is an
exact re-parameterisation.
"""
from typing import Dict, NamedTuple, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

#: The authors' NOAH head parameters, after the head's module prefix.
NOAH_KEYS = ('query.weight', 'query.bias', 'value.weight', 'value.bias')


class NOAHShape(NamedTuple):
    """What a released NOAH head is: ``N`` blocks of ``C_k + C_v`` channels
    for ``M`` classes."""
    num_heads: int
    key_channels: int
    value_channels: int
    num_classes: int

    @property
    def in_channels(self) -> int:
        return self.num_heads * (self.key_channels + self.value_channels)

    @property
    def key_ratio(self) -> float:
        return self.key_channels / (self.key_channels + self.value_channels)


def has_noah_head(state: StateDict, prefix: str) -> bool:
    """Whether ``state`` holds an authors' NOAH head under ``prefix``."""
    return all(prefix + k in state for k in NOAH_KEYS)


def block_permutation(shape: NOAHShape) -> torch.Tensor:
    """Channel indices ``src`` such that channel ``j`` of the paper's
    ``group_first`` layout is channel ``src[j]`` of the authors' layout
    (block ``i``'s key channels, then its value channels)."""
    N, Ck, Cv = shape.num_heads, shape.key_channels, shape.value_channels
    src = []
    for i in range(N):
        src.extend(range(i * Ck, (i + 1) * Ck))
        src.extend(range(N * Ck + i * Cv, N * Ck + (i + 1) * Cv))
    return torch.tensor(src, dtype=torch.long)


def permute(tensor: torch.Tensor, src: torch.Tensor,
            dim: int = 0) -> torch.Tensor:
    """``tensor`` with its ``dim`` re-ordered by ``src`` (any device)."""
    return torch.index_select(tensor, dim, src.to(tensor.device)).clone()


def convert_noah_head(state: StateDict, prefix: str, in_channels: int,
                      source: str = 'the state dict'
                      ) -> Tuple[StateDict, NOAHShape]:
    """Our ``POCA`` tensors from the authors' ``query``/``value`` convs.

    Args:
        state (dict): The authors' state dict.
        prefix (str): The head's module prefix, e.g. ``'head.'``.
        in_channels (int): Channels of the feature map the head reads.
        source (str): What to call the input in errors.

    Returns:
        tuple: ``{'key_weight', 'key_bias', 'value_weight', 'value_bias'}``
        shaped as :class:`~noah_mm.models.utils.POCA` holds them, and the
        head's :class:`NOAHShape`.
    """
    qw, qb = state[prefix + 'query.weight'], state[prefix + 'query.bias']
    vw, vb = state[prefix + 'value.weight'], state[prefix + 'value.bias']
    while 1 < qw.dim() < 4 and qw.dim() == vw.dim():  # Conv1d / Linear forms
        qw, vw = qw[..., None], vw[..., None]
    if qw.dim() != 4 or vw.dim() != 4 or qw.shape[0] != vw.shape[0]:
        raise ValueError(
            f'{source}: {prefix}query.weight {tuple(qw.shape)} and '
            f'{prefix}value.weight {tuple(vw.shape)} must be convolution '
            'weights with the same number (N*M) of outputs.')
    key_ch, value_ch = qw.shape[1], vw.shape[1]
    if in_channels % (key_ch + value_ch):
        raise ValueError(
            f'{source}: the backbone gives {in_channels} channels, not a '
            f'multiple of the {key_ch} + {value_ch} channels one NOAH block '
            'reads: backbone and head do not match.')
    N = in_channels // (key_ch + value_ch)
    if qw.shape[0] % N:
        raise ValueError(f'{source}: {qw.shape[0]} head outputs are not N*M '
                         f'for N={N} blocks.')
    M = qw.shape[0] // N
    k = qw.shape[-1]
    tensors = {
        'key_weight': qw.reshape(N, M, key_ch, k, k).clone(),
        'key_bias': qb.reshape(N, M).clone(),
        'value_weight': vw.reshape(N, M, value_ch, k, k).clone(),
        'value_bias': vb.reshape(N, M).clone(),
    }
    return tensors, NOAHShape(N, key_ch, value_ch, M)


def check_noah_shape(shape: NOAHShape, num_heads: int, key_ratio: float,
                     num_classes: int, config: str, source: str) -> None:
    """Refuse a head whose ``N``, ``r`` or ``M`` is not the config's.

    Raises:
        ValueError: naming what was found and what ``config`` builds.
    """
    expected_key = int(key_ratio * shape.in_channels) // num_heads
    if (shape.num_heads, shape.key_channels,
            shape.num_classes) != (num_heads, expected_key, num_classes):
        raise ValueError(
            f'{source}: a NOAH head with N={shape.num_heads}, '
            f'r={shape.key_ratio:g}, M={shape.num_classes} classes; '
            f'{config} (the released model) has N={num_heads}, '
            f'r={key_ratio:g}, M={num_classes}. No config of ours builds '
            'this head.')
