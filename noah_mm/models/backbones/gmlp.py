# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
from typing import Optional, Sequence, Union

import torch
from mmpretrain.models.backbones.base_backbone import BaseBackbone

from noah_mm.registry import MODELS

OUT_TYPES = ('featmap', 'raw', 'avg_featmap')


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}.')
    return value


@MODELS.register_module()
class GMLP(BaseBackbone):
    """gMLP backbone (`Pay Attention to MLPs`, Liu et al., 2021).

    The network is timm's gMLP (``timm.models.mlp_mixer.MlpMixer`` with
    ``SpatialGatingBlock`` / ``GatedMlp``, the model behind timm's
    ``gmlp_ti16_224`` and ``gmlp_s16_224``), built from an mmpretrain-style
    ``arch`` so that any width can be expressed: timm's registered gMLP
    models fix ``embed_dim`` and reject it as a keyword, so mmpretrain's
    ``TIMMBackbone`` cannot build the width-scaled variants of the NOAH paper.
    The backbone returns the normalised patch tokens of the last block as a
    feature map, so that a standard "GAP + linear" head and NOAH read the same
    tensor.

    Args:
        arch (str | dict): ``'tiny'``/``'ti'`` (width 128), ``'small'``/``'s'``
            (256) or ``'base'``/``'b'`` (512), all with 30 blocks and an MLP
            ratio of 6; or a dict with keys ``embed_dims``, ``num_layers`` and
            ``mlp_ratio``, e.g. ``dict(embed_dims=96, num_layers=30,
            mlp_ratio=6)`` for gMLP-Tiny 0.75x. Defaults to ``'tiny'``.
        img_size (int): Input image size. The spatial gating units mix a
            fixed number of tokens, so inputs must have exactly this size.
            Defaults to 224.
        patch_size (int): Patch size of the patch embedding. Defaults to 16.
        in_channels (int): Number of input image channels. Defaults to 3.
        drop_rate (float): Dropout rate inside the gated MLPs.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth rate (linearly increasing
            over the blocks). Defaults to 0.
        out_type (str): ``'featmap'``: ``(B, C, H, W)`` tokens on the patch
            grid; ``'raw'``: ``(B, L, C)`` tokens; ``'avg_featmap'``: the
            ``(B, C)`` token average. Defaults to ``'featmap'``.
        init_cfg (dict | list[dict], optional): mmengine initialisation
            config. Defaults to None (timm's gMLP initialisation, including
            the near-identity spatial gates).
    """
    arch_zoo = {
        **dict.fromkeys(['ti', 'tiny'], {
            'embed_dims': 128,
            'num_layers': 30,
            'mlp_ratio': 6
        }),
        **dict.fromkeys(['s', 'small'], {
            'embed_dims': 256,
            'num_layers': 30,
            'mlp_ratio': 6
        }),
        **dict.fromkeys(['b', 'base'], {
            'embed_dims': 512,
            'num_layers': 30,
            'mlp_ratio': 6
        }),
    }
    arch_keys = ('embed_dims', 'num_layers', 'mlp_ratio')

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 img_size: int = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_type: str = 'featmap',
                 init_cfg: Optional[Union[dict, Sequence[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        from timm.layers import GatedMlp
        from timm.models.mlp_mixer import MlpMixer, SpatialGatingBlock

        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ValueError(
                    f'arch {arch!r} is not one of {sorted(self.arch_zoo)}; '
                    'pass a dict with keys embed_dims, num_layers and '
                    'mlp_ratio for a custom width.')
            arch = self.arch_zoo[arch.lower()]
        elif isinstance(arch, dict):
            if set(arch) != set(self.arch_keys):
                raise ValueError(
                    f'a custom arch needs exactly the keys {self.arch_keys}, '
                    f'got {sorted(arch)}.')
        else:
            raise TypeError('arch must be a str or a dict, got '
                            f'{type(arch).__name__}.')
        self.embed_dims = _positive_int('arch.embed_dims', arch['embed_dims'])
        self.num_layers = _positive_int('arch.num_layers', arch['num_layers'])
        self.mlp_ratio = arch['mlp_ratio']
        if (isinstance(self.mlp_ratio, bool)
                or not isinstance(self.mlp_ratio, (int, float))
                or self.mlp_ratio <= 0
                or int(self.embed_dims * self.mlp_ratio) % 2):
            raise ValueError(
                'arch.mlp_ratio must be a positive number that makes '
                'embed_dims * mlp_ratio even (the gate splits it in two), got '
                f'{self.mlp_ratio!r} with embed_dims={self.embed_dims}.')
        self.img_size = _positive_int('img_size', img_size)
        self.patch_size = _positive_int('patch_size', patch_size)
        if img_size % patch_size:
            raise ValueError(f'img_size ({img_size}) must be divisible by '
                             f'patch_size ({patch_size}).')
        if out_type not in OUT_TYPES:
            raise ValueError(
                f'out_type must be one of {OUT_TYPES}, got {out_type!r}.')
        self.out_type = out_type
        self.grid_size = img_size // patch_size

        self.gmlp = MlpMixer(
            num_classes=0,
            global_pool='',
            img_size=img_size,
            in_chans=in_channels,
            patch_size=patch_size,
            num_blocks=self.num_layers,
            embed_dim=self.embed_dims,
            mlp_ratio=self.mlp_ratio,
            block_layer=SpatialGatingBlock,
            mlp_layer=GatedMlp,
            drop_rate=0.,
            proj_drop_rate=drop_rate,
            drop_path_rate=drop_path_rate)

    def forward(self, x: torch.Tensor) -> tuple:
        """Forward the images.

        Args:
            x (torch.Tensor): Images of shape ``(B, C, img_size, img_size)``.

        Returns:
            tuple[torch.Tensor]: One tensor, shaped as set by ``out_type``.
        """
        if x.dim() != 4 or tuple(x.shape[2:]) != (self.img_size, ) * 2:
            raise ValueError(
                f'GMLP mixes a fixed number of tokens: it needs images of '
                f'shape (B, C, {self.img_size}, {self.img_size}) (img_size='
                f'{self.img_size}), got {tuple(x.shape)}; resize the input or '
                'build the backbone with a matching img_size.')
        tokens = self.gmlp.forward_features(x)  # (B, L, C), normalised
        if self.out_type == 'raw':
            return (tokens, )
        if self.out_type == 'avg_featmap':
            return (tokens.mean(dim=1), )
        B, _, C = tokens.shape
        return (tokens.transpose(1, 2).reshape(B, C, self.grid_size,
                                               self.grid_size), )
