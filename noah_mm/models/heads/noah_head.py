# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import math
import warnings
from typing import Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import build_activation_layer
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample
from torch import nn

from noah_mm.models.utils.checks import (check_bool, check_choice, check_int,
                                         check_pass_through, init_parameters)
from noah_mm.models.utils.poca import HEAD_ARGS, POCA
from noah_mm.registry import MODELS

INPUT_FORMATS = ('auto', 'NCHW', 'NLC', 'NCL')


@MODELS.register_module()
class NOAHHead(ClsHead):
    """Non-glObal Attentive Head: a drop-in replacement of "pool + linear".

    The head reads the last feature map of a backbone and computes class
    logits by pairwise object category attention (:class:`POCA`), so every
    spatial position contributes a class-specific attention and value.

    Accepted inputs (the last element is used when a tuple of stage outputs
    is given):

    - ``(B, C, H, W)`` feature maps (CNNs, PVT, ViTs with ``out_type='featmap'``);
    - ``(B, L, C)`` or ``(B, C, L)`` tokens, reshaped to ``H x W``. ``L`` must
      be a square unless ``feat_size`` gives ``(H, W)``; a leading class token
      is dropped when ``with_cls_token=True``.

    Args:
        num_classes (int): Number of categories ``M``.
        in_channels (int): Channels ``C`` of the backbone output (before the
            optional input projection).
        num_heads (int): Number of POCA blocks ``N``. Defaults to 4.
        key_ratio (float): Key ratio ``r`` of each block. Defaults to 0.5.
        dropout (float): Dropout probability on the value tensors.
            Defaults to 0.
        poca_cfg (dict, optional): Further :class:`POCA` arguments: the
            paper's ablation switches (``split``, ``attention``,
            ``aggregation``, ``kernel_size``, ``shared_attention``,
            ``extra_linear``), ``channel_layout`` and ``impl``, documented in
            :class:`POCA`. ``in_channels`` and ``num_classes`` follow the
            head. Defaults to None (the paper's NOAH).
        in_proj (dict, optional): Projection applied before the head, e.g.
            ``dict(out_channels=192, act_cfg=dict(type='Tanh'))`` (DeiT-Tiny
            0.75x/0.5x) or ``dict(out_channels=1280,
            act_cfg=dict(type='HSwish'))`` (MobileNetV3-Small). A 1x1
            convolution with bias, i.e. a linear layer per position, followed
            by the activation (``act_cfg=None`` for none). Defaults to None.
        with_cls_token (bool): Token inputs start with a class token that is
            dropped. Defaults to False.
        input_format (str): ``'auto'`` (infer from ``in_channels``), or one of
            ``'NCHW'``, ``'NLC'``, ``'NCL'``. Defaults to ``'auto'``.
        feat_size (tuple[int, int], optional): ``(H, W)`` of token inputs
            whose length is not a square. Defaults to None.
        loss (dict): Config of the classification loss.
            Defaults to ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        topk (int | tuple[int]): Top-k accuracy. Defaults to ``(1, )``.
        cal_acc (bool): Whether to compute accuracy during training.
            Defaults to False.
        init_cfg (dict, optional): mmengine initialisation config.
            Defaults to None (PyTorch's convolution initialisation).
        **legacy_poca_args: Deprecated. :class:`POCA` arguments given to the
            head directly (``split='group'``), as earlier versions took them;
            they are moved into ``poca_cfg`` with a ``FutureWarning``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: int = 4,
                 key_ratio: float = 0.5,
                 dropout: float = 0.0,
                 poca_cfg: Optional[dict] = None,
                 in_proj: Optional[dict] = None,
                 with_cls_token: bool = False,
                 input_format: str = 'auto',
                 feat_size: Optional[Tuple[int, int]] = None,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None,
                 **legacy_poca_args):
        super().__init__(
            loss=loss,
            topk=topk,
            cal_acc=check_bool('cal_acc', cal_acc),
            init_cfg=init_cfg)
        self.num_classes = check_int('num_classes', num_classes, 1)
        self.in_channels = check_int('in_channels', in_channels, 1)
        self.input_format = check_choice('input_format', input_format,
                                         INPUT_FORMATS)
        self.with_cls_token = check_bool('with_cls_token', with_cls_token)
        if feat_size is not None:
            if (not isinstance(feat_size, (tuple, list)) or len(feat_size) != 2
                    or any(isinstance(v, bool) or not isinstance(v, int)
                           or v < 1 for v in feat_size)):
                raise ValueError(f'feat_size must be (H, W) with two '
                                 f'positive ints, got {feat_size!r}.')
            feat_size = tuple(feat_size)
        self.feat_size = feat_size

        head_channels = in_channels
        self.in_proj = None
        if in_proj is not None:
            if not isinstance(in_proj, dict) or 'out_channels' not in in_proj:
                raise ValueError(
                    'in_proj must be a dict with out_channels (and optionally '
                    "act_cfg), e.g. dict(out_channels=192, act_cfg=dict("
                    f"type='Tanh')); got {in_proj!r}.")
            in_proj = dict(in_proj)
            head_channels = check_int('in_proj.out_channels',
                                      in_proj.pop('out_channels'), 1)
            act_cfg = in_proj.pop('act_cfg', None)
            if in_proj:
                raise ValueError(f'in_proj got unknown keys {sorted(in_proj)}'
                                 '; allowed: out_channels, act_cfg.')
            layers = [nn.Conv2d(in_channels, head_channels, 1)]
            if act_cfg is not None:
                layers.append(build_activation_layer(act_cfg))
            self.in_proj = nn.Sequential(*layers)

        poca_cfg = check_pass_through('poca_cfg', poca_cfg, POCA, 'NOAHHead',
                                      owned=HEAD_ARGS)
        self.poca = POCA(
            head_channels, num_classes, num_heads=num_heads,
            key_ratio=key_ratio, dropout=dropout,
            **_move_legacy_args(legacy_poca_args, poca_cfg))

    def _to_map(self, x: torch.Tensor) -> torch.Tensor:
        """Bring a backbone output to a ``(B, C, H, W)`` map."""
        C = self.in_channels
        fmt = self.input_format
        if x.dim() == 2:
            raise ValueError(
                f'NOAHHead got a pooled (B, C) input of shape '
                f'{tuple(x.shape)}, but it reads the feature map itself '
                'instead of its global average: drop the pooling neck (set '
                "neck=None in the model config, replacing e.g. dict(type='"
                "GlobalAveragePooling')) and, for ViT backbones, set "
                "out_type='featmap' (or 'raw').")
        if fmt == 'auto':
            if x.dim() == 4:
                fmt = 'NCHW'
            elif x.dim() == 3:
                if x.shape[-1] == C and x.shape[1] != C:
                    fmt = 'NLC'
                elif x.shape[1] == C and x.shape[-1] != C:
                    fmt = 'NCL'
                elif x.shape[1] == C:
                    raise ValueError(
                        f'cannot tell tokens from channels in a {tuple(x.shape)}'
                        f' input with in_channels={C}; set input_format to '
                        "'NLC' or 'NCL'.")
                else:
                    raise ValueError(
                        f'token input of shape {tuple(x.shape)} has no axis of '
                        f'in_channels={C} channels; set in_channels to the '
                        'backbone output channels.')
        expected_dim = 4 if fmt == 'NCHW' else 3
        if x.dim() != expected_dim:
            raise ValueError(
                f'NOAHHead expects a {expected_dim}-d input for input_format='
                f"'{fmt}', got shape {tuple(x.shape)}.")
        if fmt == 'NCHW':
            if x.shape[1] != C:
                raise ValueError(
                    f'the feature map has {x.shape[1]} channels but '
                    f'in_channels={C}; set in_channels to the backbone output '
                    f'channels (input shape {tuple(x.shape)}).')
            return x
        if fmt == 'NCL':
            x = x.transpose(1, 2)
        if x.shape[-1] != C:
            raise ValueError(
                f'the tokens have {x.shape[-1]} channels but in_channels={C}; '
                'set in_channels to the backbone output channels.')
        if self.with_cls_token:
            x = x[:, 1:]
        B, L, _ = x.shape
        if self.feat_size is not None:
            H, W = self.feat_size
            if H * W != L:
                raise ValueError(f'feat_size={self.feat_size} holds {H * W} '
                                 f'tokens but the input has {L}.')
        else:
            H = W = math.isqrt(L)
            if H * W != L:
                raise ValueError(
                    f'{L} tokens do not form a square map; set feat_size=(H, '
                    'W) in the head config (or with_cls_token=True if the '
                    'first token is a class token).')
        return x.transpose(1, 2).reshape(B, C, H, W)

    def pre_logits(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
                   ) -> torch.Tensor:
        """The feature map the POCA blocks read, ``(B, C', H, W)``.

        Takes the last stage output, brings tokens to a map and applies the
        optional input projection.
        """
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        x = self._to_map(feats)
        if self.in_proj is not None:
            x = self.in_proj(x)
        return x

    def forward(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> torch.Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.poca(self.pre_logits(feats))

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: Sequence[DataSample], **kwargs) -> dict:
        """mmpretrain's loss; an empty batch (no data samples) has the loss
        0, still connected to every parameter so backward leaves zero
        gradients."""
        if len(data_samples) == 0:
            return dict(loss=cls_score.sum())
        return super()._get_loss(cls_score, data_samples, **kwargs)


def _move_legacy_args(legacy: dict, poca_cfg: dict) -> dict:
    """``poca_cfg`` with the POCA arguments that a config of an earlier
    version gave :class:`NOAHHead` directly (a ``FutureWarning`` says how to
    write them now)."""
    if not legacy:
        return poca_cfg
    switches = init_parameters(POCA, exclude=HEAD_ARGS)
    unknown = sorted(set(legacy) - set(switches))
    if unknown:
        raise TypeError(f'NOAHHead got unexpected arguments {unknown}; POCA '
                        f'arguments go in poca_cfg (one of {switches}).')
    both = sorted(set(legacy) & set(poca_cfg))
    if both:
        raise ValueError(f'{both} given both to NOAHHead and in its '
                         'poca_cfg; keep them in poca_cfg only.')
    given = ', '.join(f'{k}={v!r}' for k, v in legacy.items())
    warnings.warn(
        f'NOAHHead({given}) is deprecated: POCA arguments go in poca_cfg, '
        f"e.g. head=dict(type='NOAHHead', ..., poca_cfg=dict({given})).",
        FutureWarning,
        stacklevel=3)
    return {**poca_cfg, **legacy}
