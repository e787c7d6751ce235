# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
from typing import Optional, Sequence

import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from noah_mm.models.utils.checks import check_bool
from noah_mm.registry import MODELS


class _SqueezeExcitation(nn.Module):
    """Channel gate: GAP, ``Linear(C, C/4)`` + ReLU, ``Linear(C/4, C)`` +
    hard sigmoid, both linear layers without bias."""

    def __init__(self, channels: int, ratio: int = 4):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // ratio, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(channels // ratio, channels, bias=False)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.gate(self.fc2(self.act(self.fc1(x.mean((2, 3))))))
        return x * w[:, :, None, None]


class _Bottleneck(nn.Module):
    """1x1 expand (BN, act) -> kxk depthwise (BN) -> [SE] -> act -> 1x1
    project (BN), with the identity added when the shape is kept."""

    def __init__(self, in_channels: int, mid_channels: int,
                 out_channels: int, kernel_size: int, stride: int,
                 with_se: bool, act_cfg: dict, conv_cfg: Optional[dict],
                 norm_cfg: dict):
        super().__init__()
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.expand_conv = ConvModule(in_channels, mid_channels, 1,
                                      act_cfg=act_cfg, **common)
        self.depthwise_conv = ConvModule(
            mid_channels, mid_channels, kernel_size, stride=stride,
            padding=kernel_size // 2, groups=mid_channels, act_cfg=None,
            **common)
        self.se = _SqueezeExcitation(mid_channels) if with_se else None
        self.act = build_activation_layer(act_cfg)
        self.linear_conv = ConvModule(mid_channels, out_channels, 1,
                                      act_cfg=None, **common)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.depthwise_conv(self.expand_conv(x))
        if self.se is not None:
            out = self.se(out)
        out = self.linear_conv(self.act(out))
        return x + out if self.with_res_shortcut else out


@MODELS.register_module()
class MobileNetV3Small(BaseBackbone):
    """MobileNetV3-Small as the NOAH authors built it.

    The network behind the NOAH paper's MobileNetV3-Small rows (Table 1) and
    the authors' released checkpoints. It differs from mmpretrain's
    :class:`~mmpretrain.models.backbones.MobileNetV3` (``arch='small'``) in
    three places, which is why the paper counts 2.94M / 2.95M parameters:

    - squeeze-excitation sits after the depthwise convolution's BN and
      *before* the block's activation;
    - squeeze-excitation is two bias-free linear layers with a ``C/4``
      squeeze (ReLU, then a hard sigmoid gate);
    - the first block has a 1x1 16->16 expansion convolution too.

    Layers: ``layer0`` (3x3 stride-2 stem, 16 channels, HSwish), the 11
    blocks ``layer1`` .. ``layer11`` (see :attr:`arch_settings`) and
    ``layer12`` (1x1 convolution to 576 channels, BN, HSwish). The 576->1280
    convolution + HSwish of the network's top is part of the head in our
    configs (``NOAHHead(in_proj=...)`` on the 7x7 map, or a hidden linear
    layer after GAP for the baseline).

    Args:
        out_indices (Sequence[int]): Layers whose outputs are returned, in
            ``0..12``. Defaults to ``(12, )``.
        frozen_stages (int): Layers ``0..frozen_stages`` are frozen
            (parameters fixed, BN in eval mode); -1 freezes none.
            Defaults to -1.
        conv_cfg (dict, optional): Convolution config. Defaults to None.
        norm_cfg (dict): Norm config. Defaults to ``dict(type='BN')``.
        norm_eval (bool): Keep BN layers in eval mode during training.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to Kaiming (fan-out) for convolutions, N(0, 0.01) for
            linear layers and 1 / 0 for BN.
    """

    #: kernel, expansion channels, output channels, SE, activation, stride
    arch_settings = (
        (3, 16, 16, True, 'ReLU', 2),
        (3, 72, 24, False, 'ReLU', 2),
        (3, 88, 24, False, 'ReLU', 1),
        (5, 96, 40, True, 'HSwish', 2),
        (5, 240, 40, True, 'HSwish', 1),
        (5, 240, 40, True, 'HSwish', 1),
        (5, 120, 48, True, 'HSwish', 1),
        (5, 144, 48, True, 'HSwish', 1),
        (5, 288, 96, True, 'HSwish', 2),
        (5, 576, 96, True, 'HSwish', 1),
        (5, 576, 96, True, 'HSwish', 1),
    )
    stem_channels = 16
    out_channels = 576

    def __init__(self,
                 out_indices: Sequence[int] = (12, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer='Conv2d', mode='fan_out'),
                     dict(type='Normal', layer='Linear', std=0.01),
                     dict(type='Constant', layer='_BatchNorm', val=1)
                 ]):
        super().__init__(init_cfg)
        num_layers = len(self.arch_settings) + 2
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        for index in out_indices:
            if isinstance(index, bool) or not isinstance(
                    index, int) or not 0 <= index < num_layers:
                raise ValueError(f'out_indices must be ints in 0..'
                                 f'{num_layers - 1}, got {out_indices!r}.')
        if frozen_stages not in range(-1, num_layers):
            raise ValueError(f'frozen_stages must be in -1..{num_layers - 1}'
                             f', got {frozen_stages!r}.')
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = check_bool('norm_eval', norm_eval)

        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.layers = []
        self._add('layer0', ConvModule(
            3, self.stem_channels, 3, stride=2, padding=1,
            act_cfg=dict(type='HSwish'), **common))
        in_channels = self.stem_channels
        for i, (kernel, mid, out, se, act, stride) in enumerate(
                self.arch_settings, 1):
            self._add(f'layer{i}', _Bottleneck(
                in_channels, mid, out, kernel, stride, se, dict(type=act),
                **common))
            in_channels = out
        self._add(f'layer{num_layers - 1}', ConvModule(
            in_channels, self.out_channels, 1, act_cfg=dict(type='HSwish'),
            **common))

    def _add(self, name: str, layer: nn.Module) -> None:
        self.add_module(name, layer)
        self.layers.append(name)

    def forward(self, x: torch.Tensor) -> tuple:
        """Forward the images ``(B, 3, H, W)``.

        Returns:
            tuple[torch.Tensor]: The outputs of the layers in
            ``out_indices`` (the last: ``(B, 576, H/32, W/32)``).
        """
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for name in self.layers[:self.frozen_stages + 1]:
            layer = getattr(self, name)
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
