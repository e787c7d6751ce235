# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""A two-stage bbox head whose RoI classifier is NOAH (POCA over the RoI map)."""
from typing import Optional, Tuple

from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from torch import Tensor

from noah_mm.models.utils.checks import (check_bool_kwargs,
                                         check_pass_through)
from noah_mm.models.utils.poca import HEAD_ARGS, POCA
from noah_mm.registry import DET_MODELS


@DET_MODELS.register_module()
class NOAHBBoxHead(ConvFCBBoxHead):
    """RoI bbox head with a NOAH classifier and mmdet's FC box regressor.

    RoI features are ``(num_rois, C, 7, 7)`` maps, exactly what NOAH reads. The
    classification branch applies :class:`~noah_mm.models.utils.poca.POCA`
    (pairwise object category attention) to the RoI map and outputs
    ``num_classes + 1`` logits (background is the last class, mmdet's
    convention), so no flatten + FC layers are needed for classification. The
    regression branch is the one of mmdet's ``Shared2FCBBoxHead``: flatten,
    ``num_reg_fcs`` FC layers (1024 channels by default) and ``fc_reg``.
    Optional ``num_shared_convs`` / ``num_cls_convs`` / ``num_reg_convs``
    3x3 convs work as in :class:`ConvFCBBoxHead`; POCA reads the map after the
    shared and class convs.

    Everything downstream (targets, losses, ``predict_by_feat``) is
    mmdet's ``BBoxHead``: ``fc_cls`` is simply a POCA module instead of a
    ``Linear``.

    Args:
        num_heads (int): POCA blocks ``N``. Defaults to 4.
        key_ratio (float): Key ratio ``r`` of POCA's second-level split.
            Defaults to 0.5.
        dropout (float): Dropout on POCA's value tensors. Defaults to 0.
        poca_cfg (dict, optional): :class:`POCA`'s other arguments, as in
            :class:`~noah_mm.models.heads.NOAHHead`, e.g.
            ``dict(split='group')``. Defaults to None (the paper's NOAH).
        num_shared_convs (int): Shared 3x3 convs before both branches.
            Defaults to 0.
        num_cls_convs (int): 3x3 convs in the classification branch before
            POCA. Defaults to 0.
        num_reg_convs (int): 3x3 convs in the regression branch.
            Defaults to 0.
        num_reg_fcs (int): FC layers of the regression branch. Defaults to 2
            (``Shared2FCBBoxHead``'s regression path).
        fc_out_channels (int): Width of the regression FC layers.
            Defaults to 1024.
        **kwargs: The remaining :class:`ConvFCBBoxHead` / ``BBoxHead``
            arguments (``in_channels``, ``roi_feat_size``, ``num_classes``,
            ``bbox_coder``, ``reg_class_agnostic``, ``loss_cls``,
            ``loss_bbox``, ``init_cfg``, ...). ``num_shared_fcs`` and
            ``num_cls_fcs`` must be 0 (an FC would flatten the map POCA
            needs) and ``with_avg_pool`` must be False. Their boolean
            arguments (``reg_class_agnostic``, ...) must be booleans.
    """

    def __init__(self,
                 num_heads: int = 4,
                 key_ratio: float = 0.5,
                 dropout: float = 0.0,
                 poca_cfg: Optional[dict] = None,
                 num_shared_convs: int = 0,
                 num_cls_convs: int = 0,
                 num_reg_convs: int = 0,
                 num_reg_fcs: int = 2,
                 fc_out_channels: int = 1024,
                 **kwargs) -> None:
        check_bool_kwargs(ConvFCBBoxHead, kwargs)
        for name in ('num_shared_fcs', 'num_cls_fcs'):
            if kwargs.get(name, 0) != 0:
                raise ValueError(
                    f'NOAHBBoxHead applies POCA to the RoI feature map, so '
                    f'{name} must be 0 (an FC layer would flatten the map), '
                    f'got {kwargs[name]}; use num_cls_convs / '
                    f'num_shared_convs for extra layers before POCA.')
            kwargs.pop(name, None)
        if kwargs.get('with_avg_pool', False):
            raise ValueError(
                'NOAHBBoxHead needs the RoI map for POCA: with_avg_pool must '
                'be False.')
        if not kwargs.get('with_cls', True):
            raise ValueError(
                'NOAHBBoxHead is a classification head: with_cls must be '
                "True (use mmdet's ConvFCBBoxHead for a regression-only "
                'head).')
        poca_cfg = check_pass_through('poca_cfg', poca_cfg, POCA,
                                      'NOAHBBoxHead', owned=HEAD_ARGS)
        # ConvFCBBoxHead needs at least one layer; the regression branch
        # provides it. Its temporary Linear fc_cls is replaced below.
        super().__init__(
            num_shared_convs=num_shared_convs,
            num_shared_fcs=0,
            num_cls_convs=num_cls_convs,
            num_cls_fcs=0,
            num_reg_convs=num_reg_convs,
            num_reg_fcs=num_reg_fcs,
            fc_out_channels=fc_out_channels,
            **kwargs)
        if self.custom_cls_channels:
            cls_channels = self.loss_cls.get_cls_channels(self.num_classes)
        else:
            cls_channels = self.num_classes + 1
        poca_in = (self.conv_out_channels
                   if num_shared_convs + num_cls_convs > 0 else
                   self.in_channels)
        self.num_heads = num_heads
        self.key_ratio = key_ratio
        self.fc_cls = POCA(
            poca_in, cls_channels, num_heads=num_heads, key_ratio=key_ratio,
            dropout=dropout, **poca_cfg)
        # BBoxHead's default init_cfg draws fc_cls from Normal(0, 0.01); POCA
        # keeps its own initialisation (POCA.reset_parameters).
        if isinstance(self.init_cfg, list):
            self.init_cfg = [
                cfg for cfg in self.init_cfg
                if not _overrides_only(cfg, 'fc_cls')
            ]

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Classification logits and box deltas for RoI features.

        Args:
            x (Tensor): RoI features ``(num_rois, C, H, W)``.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score`` of shape
            ``(num_rois, num_classes + 1)`` (POCA over the RoI map) and
            ``bbox_pred`` of shape ``(num_rois, 4 * num_classes)`` (or
            ``(num_rois, 4)`` when ``reg_class_agnostic``).
        """
        for conv in self.shared_convs:
            x = conv(x)

        x_cls = x
        for conv in self.cls_convs:
            x_cls = conv(x_cls)
        cls_score = self.fc_cls(x_cls)

        x_reg = x
        for conv in self.reg_convs:
            x_reg = conv(x_reg)
        x_reg = x_reg.flatten(1)
        for fc in self.reg_fcs:
            x_reg = self.relu(fc(x_reg))
        bbox_pred = self.fc_reg(x_reg) if self.with_reg else None
        return cls_score, bbox_pred


def _overrides_only(cfg: dict, name: str) -> bool:
    """Whether an init config only targets the submodule ``name``."""
    override = cfg.get('override') if isinstance(cfg, dict) else None
    if isinstance(override, dict):
        override = [override]
    return bool(override) and all(o.get('name') == name for o in override)
