# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""A person re-identification head whose matching feature comes from NOAH."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmdet.models.reid import LinearReIDHead
from torch import nn

from noah_mm.models.utils.poca import POCA
from noah_mm.registry import DET_MODELS

FEATURES = ('embedding', 'logits')


@DET_MODELS.register_module()
class NOAHReIDHead(LinearReIDHead):
    """ReID head that computes the matched feature with pairwise object
    category attention (:class:`~noah_mm.models.utils.poca.POCA`).

    It reads the backbone's last feature map (use no neck), so NOAH's
    pairwise attention is in the path of the feature that is matched:

    - ``feature='embedding'`` (default): POCA with ``M = out_channels``
      outputs (512 in the configs) turns the map into the matched feature,
      replacing the "global average pooling + FC" of the ResNet50-FC
      baseline (:class:`mmdet.models.reid.LinearReIDHead` with
      ``num_fcs=0``), exactly as NOAH replaces "pooling + FC" in a
      classifier. Training adds the baseline's tail: BatchNorm1d and a
      linear identity classifier on that feature.
    - ``feature='logits'``: POCA over the ``num_classes`` training
      identities; its pre-softmax logits are both the classifier output and
      the matched feature (``num_classes`` dimensions, ``out_channels`` must
      be None or ``num_classes``).

    Losses, accuracy and ``predict`` are :class:`LinearReIDHead`'s
    (``ce_loss`` with ``loss_cls``, ``triplet_loss`` on the matched feature
    with ``loss_triplet``; ``predict`` sets ``pred_feature``).

    Args:
        in_channels (int): Channels ``C`` of the backbone's last map.
        num_classes (int, optional): Training identities (751 on
            Market-1501). Needed with ``loss_cls`` and with
            ``feature='logits'``. Defaults to None.
        out_channels (int, optional): Dimension of the matched feature with
            ``feature='embedding'``. Defaults to 512.
        num_heads (int): POCA blocks ``N``. Defaults to 4.
        key_ratio (float): Key ratio ``r`` of POCA's second-level split.
            Defaults to 0.5.
        dropout (float): Dropout on POCA's value tensors. Defaults to 0.
        feature (str): ``'embedding'`` or ``'logits'`` (above).
            Defaults to ``'embedding'``.
        loss_cls (dict, optional): Identity classification loss, e.g.
            ``dict(type='mmpretrain.CrossEntropyLoss')``. Defaults to None.
        loss_triplet (dict, optional): Triplet loss on the matched feature.
            Defaults to None.
        topk (int | tuple[int]): Top-k training accuracy. Defaults to
            ``(1, )``.
        init_cfg (dict | list[dict], optional): Initialisation of the linear
            layers (POCA keeps its own). Defaults to
            ``dict(type='Normal', layer='Linear', mean=0, std=0.01, bias=0)``.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: Optional[int] = None,
                 out_channels: Optional[int] = 512,
                 num_heads: int = 4,
                 key_ratio: float = 0.5,
                 dropout: float = 0.0,
                 feature: str = 'embedding',
                 loss_cls: Optional[dict] = None,
                 loss_triplet: Optional[dict] = None,
                 topk: Union[int, Tuple[int]] = (1, ),
                 init_cfg: Union[dict, List[dict]] = dict(
                     type='Normal', layer='Linear', mean=0, std=0.01,
                     bias=0)):
        if feature not in FEATURES:
            raise ValueError(
                f'feature must be one of {FEATURES}, got {feature!r}.')
        if feature == 'logits':
            if loss_cls is None or not isinstance(num_classes, int):
                raise ValueError(
                    "feature='logits' matches POCA's identity logits, which "
                    'only identity classification trains: set loss_cls and '
                    'num_classes.')
            if out_channels not in (None, num_classes):
                raise ValueError(
                    f"with feature='logits' the matched feature has "
                    f'num_classes={num_classes} dimensions; set out_channels='
                    f'None (got {out_channels}).')
            out_channels = num_classes
        elif out_channels is None:
            raise ValueError(
                "feature='embedding' needs out_channels, the dimension of "
                'the matched feature (512 for Market-1501).')
        # Read by _init_layers, which the parent's __init__ calls.
        self.feature = feature
        self.poca_args = dict(
            num_heads=num_heads, key_ratio=key_ratio, dropout=dropout)
        super().__init__(
            num_fcs=0,
            in_channels=in_channels,
            fc_channels=out_channels,
            out_channels=out_channels,
            num_classes=num_classes,
            loss_cls=loss_cls,
            loss_triplet=loss_triplet,
            topk=topk,
            init_cfg=init_cfg)

    def _init_layers(self) -> None:
        """The parent's layers with POCA in place of its FC layer."""
        super()._init_layers()  # no hidden FCs, fc_out, bn + classifier
        del self.fc_out
        self.poca = POCA(
            in_channels=self.in_channels,
            num_classes=self.out_channels,
            **self.poca_args)
        if self.loss_cls is not None and self.feature == 'logits':
            # The logits are the classifier output: the parent's
            # loss_by_feat applies the loss to them directly.
            self.bn = nn.Identity()
            self.classifier = nn.Identity()

    def forward(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> torch.Tensor:
        """The matched feature ``(B, out_channels)``.

        Args:
            feats (Tensor | Sequence[Tensor]): The backbone's ``(B, C, H, W)``
                map, or its stage outputs (the last one is used).
        """
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        if feats.dim() != 4:
            raise ValueError(
                f'NOAHReIDHead reads the backbone feature map (B, C, H, W), '
                f'got shape {tuple(feats.shape)}; set neck=None in the model '
                'config (no global pooling before NOAH).')
        return self.poca(feats)
