# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
from typing import Optional, Sequence

import torch
from mmcv.cnn import build_norm_layer
from mmdet.models.backbones.pvt import (AbsolutePositionEmbedding,
                                        PyramidVisionTransformer)
from mmdet.models.layers import nlc_to_nchw
from mmengine.model.weight_init import trunc_normal_
from torch import nn

from noah_mm.models.utils.checks import (check_bool, check_bool_kwargs,
                                         check_choice)
from noah_mm.registry import MODELS

OUT_TYPES = ('featmap', 'cls_token')


@MODELS.register_module()
class PyramidVisionTransformerCls(PyramidVisionTransformer):
    """mmdet's PVT v1 backbone with the parts of PVT's classifier.

    `PVT v1 <https://arxiv.org/abs/2102.12122>`_ classifies from the last
    stage after one final LayerNorm, reading a class token that joins the
    patch tokens of the last stage. mmdet's
    :class:`mmdet.models.backbones.PyramidVisionTransformer` is the detection
    backbone: it drops that norm (``norm_after_stage=False`` in v1) and the
    class token. This subclass keeps mmdet's network and module names and
    adds what the classifier needs:

    - the final LayerNorm on the last stage's output (``final_norm``);
    - optionally the class token (``with_cls_token``): a learnt token
      prepended to the last stage's patch tokens, with its own position
      embedding stored as the first entry of that stage's ``pos_embed``
      (``1 + H*W`` entries, as in PVT's classifier);
    - optionally other norms on the patch embeddings and on the
      spatial-reduction tokens (``patch_norm_cfg``, ``sr_norm_cfg``): PVT's
      classifier normalises them with ``eps=1e-5`` and its blocks with
      ``eps=1e-6``, mmdet uses ``norm_cfg`` for all of them.

    With the defaults, weights of mmdet's backbone load into it (the final
    norm is the only extra module).

    Args:
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to ``(3, )``, the last stage, as a classifier needs.
        final_norm (bool): Apply the final LayerNorm to the last stage's
            output. Defaults to True.
        with_cls_token (bool): Prepend a class token to the last stage's
            tokens. The last stage must then attend globally
            (``sr_ratios[-1] == 1``) and use the linear FFN
            (``use_conv_ffn=False``), as in PVT v1. Defaults to False.
        out_type (str): What the last stage returns: ``'featmap'``, its
            ``(B, C, H, W)`` patch-token map (without the class token), or
            ``'cls_token'``, the ``(B, C)`` class token (needs
            ``with_cls_token=True``). Both are normalised when
            ``final_norm=True``. Other stages always return their maps.
            Defaults to ``'featmap'``.
        patch_norm_cfg (dict, optional): Norm of every stage's patch
            embedding. Defaults to None (``norm_cfg``, as in mmdet).
        sr_norm_cfg (dict, optional): Norm of the spatially reduced keys and
            values in the attention of stages with ``sr_ratio > 1``.
            Defaults to None (``norm_cfg``, as in mmdet).
        **kwargs: The other arguments of mmdet's
            :class:`~mmdet.models.backbones.PyramidVisionTransformer`
            (``embed_dims``, ``num_layers``, ``num_heads``, ``sr_ratios``,
            ``mlp_ratios``, ``norm_cfg``, ...).
    """

    def __init__(self,
                 out_indices: Sequence[int] = (3, ),
                 final_norm: bool = True,
                 with_cls_token: bool = False,
                 out_type: str = 'featmap',
                 patch_norm_cfg: Optional[dict] = None,
                 sr_norm_cfg: Optional[dict] = None,
                 **kwargs):
        check_bool_kwargs(PyramidVisionTransformer, kwargs)
        super().__init__(out_indices=out_indices, **kwargs)
        check_bool('final_norm', final_norm)
        check_bool('with_cls_token', with_cls_token)
        check_choice('out_type', out_type, OUT_TYPES)
        if out_type == 'cls_token' and not with_cls_token:
            raise ValueError("out_type='cls_token' needs with_cls_token=True.")
        last = self.num_stages - 1
        last_dims = self.embed_dims * self.num_heads[-1]
        norm_cfg = kwargs.get('norm_cfg', dict(type='LN', eps=1e-6))

        self.with_final_norm = final_norm
        if final_norm:
            self.final_norm = build_norm_layer(norm_cfg, last_dims)[1]
        self.out_type = out_type
        self.with_cls_token = with_cls_token
        if with_cls_token:
            if self.sr_ratios[-1] != 1 or kwargs.get('use_conv_ffn', False):
                raise ValueError(
                    'with_cls_token=True needs a last stage that attends '
                    'globally with a linear FFN (sr_ratios[-1] == 1 and '
                    f'use_conv_ffn=False), got sr_ratios={self.sr_ratios} '
                    f"and use_conv_ffn={kwargs.get('use_conv_ffn', False)}.")
            self.cls_token = nn.Parameter(torch.zeros(1, 1, last_dims))
            pos = self.layers[last][1][0]
            if isinstance(pos, AbsolutePositionEmbedding):
                # entry 0 is the class token's, then the H*W patch positions
                # (mmdet's resize reads the last H*W entries)
                pos.pos_embed = nn.Parameter(
                    torch.zeros(1, 1 + pos.pos_embed.shape[1], last_dims))

        for patch_embed, blocks, _ in self.layers:
            dims = patch_embed.projection.out_channels
            if patch_norm_cfg is not None:
                patch_embed.norm = build_norm_layer(patch_norm_cfg, dims)[1]
            if sr_norm_cfg is not None:
                for block in blocks:
                    if getattr(block, 'attn', None) is not None and \
                            block.attn.sr_ratio > 1:
                        block.attn.norm = build_norm_layer(sr_norm_cfg,
                                                           dims)[1]

    def init_weights(self):
        """mmdet's initialisation, and a truncated normal (std 0.02) for the
        class token."""
        super().init_weights()
        if self.with_cls_token and self.init_cfg is None:
            trunc_normal_(self.cls_token, std=.02)

    def _class_token_stage(self, x: torch.Tensor, hw_shape: tuple,
                           blocks: nn.ModuleList) -> torch.Tensor:
        """The last stage's blocks on ``[class token, patch tokens]``.

        Returns the ``(B, 1 + H*W, C)`` tokens.
        """
        layers = list(blocks)
        cls_token = self.cls_token.expand(x.shape[0], -1, -1)
        if isinstance(layers[0], AbsolutePositionEmbedding):
            pos = layers.pop(0)
            x = x + pos.resize_pos_embed(pos.pos_embed, hw_shape)
            x = pos.drop(torch.cat([cls_token + pos.pos_embed[:, :1], x], 1))
        else:
            x = torch.cat([cls_token, x], dim=1)
        # The stage attends globally (no spatial reduction) and its FFN is
        # per token, so the blocks only need some H x W with H*W = 1 + L.
        token_shape = (1, x.shape[1])
        for block in layers:
            x = block(x, token_shape)
        return x

    def forward(self, x: torch.Tensor) -> tuple:
        """Forward the images.

        Args:
            x (torch.Tensor): Images ``(B, C, H, W)``.

        Returns:
            tuple[torch.Tensor]: The outputs of the stages in
            ``out_indices``: ``(B, C_i, H_i, W_i)`` maps; the last stage's
            is normalised when ``final_norm=True`` and is the ``(B, C)``
            class token when ``out_type='cls_token'``.
        """
        outs = []
        last = self.num_stages - 1
        for i, (patch_embed, blocks, norm) in enumerate(self.layers):
            x, hw_shape = patch_embed(x)
            cls_token = None
            if i == last and self.with_cls_token:
                x = self._class_token_stage(x, hw_shape, blocks)
                x = norm(x)
                cls_token, x = x[:, 0], x[:, 1:]
            else:
                for block in blocks:
                    x = block(x, hw_shape)
                x = norm(x)
            if i == last and self.with_final_norm:
                x = self.final_norm(x)
                if cls_token is not None:
                    cls_token = self.final_norm(cls_token)
            x = nlc_to_nchw(x, hw_shape)
            if i in self.out_indices:
                outs.append(cls_token if i == last
                            and self.out_type == 'cls_token' else x)
        return tuple(outs)
