# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
from typing import Sequence

import torch
from mmcv.cnn import build_norm_layer
from mmdet.models.backbones.pvt import PyramidVisionTransformer

from noah_mm.models.utils.checks import check_bool, check_bool_kwargs
from noah_mm.registry import MODELS


@MODELS.register_module()
class PyramidVisionTransformerCls(PyramidVisionTransformer):
    """mmdet's PVT v1 backbone with the final norm of PVT's classifier.

    `PVT v1 <https://arxiv.org/abs/2102.12122>`_ classifies from the last
    stage after one final LayerNorm. mmdet's
    :class:`mmdet.models.backbones.PyramidVisionTransformer` is the detection
    backbone: it drops that norm (``norm_after_stage=False`` in v1) and the
    class token. This subclass keeps mmdet's network unchanged and adds only
    the final LayerNorm on the last stage's output, so that an mmpretrain
    ``ImageClassifier`` with "GAP + linear" (or NOAH) on top is PVT v1's
    classification model without its class token. Weights of mmdet's
    backbone load into it (the norm is the only extra module, ``final_norm``).

    Args:
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to ``(3, )``, the last stage, as a classifier needs.
        final_norm (bool): Apply the final LayerNorm to the last stage's
            output. Defaults to True.
        **kwargs: The other arguments of mmdet's
            :class:`~mmdet.models.backbones.PyramidVisionTransformer`
            (``embed_dims``, ``num_layers``, ``num_heads``, ``sr_ratios``,
            ``mlp_ratios``, ``norm_cfg``, ...).
    """

    def __init__(self,
                 out_indices: Sequence[int] = (3, ),
                 final_norm: bool = True,
                 **kwargs):
        check_bool_kwargs(PyramidVisionTransformer, kwargs)
        super().__init__(out_indices=out_indices, **kwargs)
        self.with_final_norm = check_bool('final_norm', final_norm)
        if final_norm:
            last_dims = self.embed_dims * self.num_heads[-1]
            norm_cfg = kwargs.get('norm_cfg', dict(type='LN', eps=1e-6))
            self.final_norm = build_norm_layer(norm_cfg, last_dims)[1]

    def forward(self, x: torch.Tensor) -> tuple:
        """Forward the images.

        Args:
            x (torch.Tensor): Images ``(B, C, H, W)``.

        Returns:
            tuple[torch.Tensor]: ``(B, C_i, H_i, W_i)`` maps of the stages in
            ``out_indices``; the last stage's map is normalised when
            ``final_norm=True``.
        """
        outs = list(super().forward(x))
        last = self.num_stages - 1
        if self.with_final_norm and last in self.out_indices:
            # stages are appended in order: the last stage comes last
            feat = outs[-1].permute(0, 2, 3, 1)  # (B, H, W, C)
            outs[-1] = self.final_norm(feat).permute(0, 3, 1, 2)
        return tuple(outs)
