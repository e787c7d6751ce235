# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""mmdet's PVT v1 that loads a classification checkpoint with a key prefix."""
from mmdet.models.backbones import PyramidVisionTransformer
from mmengine.model import BaseModule

from noah_mm.models.utils.checks import check_bool_kwargs
from noah_mm.registry import DET_MODELS


@DET_MODELS.register_module()
class PretrainedPVT(PyramidVisionTransformer):
    """mmdet's ``PyramidVisionTransformer`` (PVT v1) whose ``Pretrained``
    init follows mmengine's semantics, ``prefix`` included.

    mmdet's PVT overrides ``init_weights``: with an ``init_cfg`` it loads the
    whole checkpoint and ignores ``prefix``, so a classification checkpoint
    (keys ``backbone.layers.*``, ``head.*``) loads nothing, silently. Our
    PVT-Tiny classifiers (``configs/noah/pvt-tiny_noah_in1k.py``) are this
    very backbone under an mmpretrain ``ImageClassifier``, so their keys need
    no conversion, only the ``backbone.`` prefix stripped. With
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``
    this class initialises its children as usual and then loads the
    checkpoint through mmengine's ``PretrainedInit`` (which strips the prefix,
    reports missing and unexpected keys and records, per parameter, that it
    was loaded from the checkpoint in the init-info log). Any other
    ``init_cfg`` (no prefix: the original PVT release, converted with
    ``convert_weights``) keeps mmdet's behaviour.

    Args:
        **kwargs: The arguments of mmdet's ``PyramidVisionTransformer``
            (``num_layers``, ``embed_dims``, ``num_heads``, ``init_cfg``, ...);
            its boolean arguments must be booleans.
    """

    def __init__(self, **kwargs) -> None:
        check_bool_kwargs(PyramidVisionTransformer, kwargs)
        super().__init__(**kwargs)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint under its prefix, or defer to mmdet."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained' \
                and cfg.get('prefix'):
            BaseModule.init_weights(self)
        else:
            super().init_weights()
