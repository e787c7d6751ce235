# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""``Pretrained`` initialisation that says where the checkpoint should come
from when it is missing."""
import os.path as osp

from mmengine.model.weight_init import PretrainedInit

from noah_mm.registry import WEIGHT_INITIALIZERS

#: The environment variable the detection configs read their backbone
#: checkpoint from (``configs/det/*.py``).
BACKBONE_CKPT_ENV = 'NOAH_BACKBONE_CKPT'


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class BackbonePretrainedInit(PretrainedInit):
    """mmengine's ``PretrainedInit`` with a missing-file error that teaches.

    The detection configs start their backbone from a classification
    checkpoint, ``init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix='backbone.', _scope_='noah_mm')``, whose path defaults to the model
    zoo's work dir (e.g. ``work_dirs/resnet50_noah_in1k/epoch_100.pth``). When
    that file does not exist, mmengine's loader says only that it cannot be
    found; this initialiser names the ways to point the config at a checkpoint
    (``NOAH_BACKBONE_CKPT``, ``--cfg-options``, ``tools/det/finetune.py``).
    Everything else is ``PretrainedInit``'s: URLs and other ``scheme://``
    paths are passed on unchecked.

    Args:
        checkpoint (str): The checkpoint file or URL.
        prefix (str, optional): The key prefix to load (``'backbone.'``).
        map_location (str): Where the tensors are loaded. Defaults to 'cpu'.
    """

    def __call__(self, module) -> None:
        checkpoint = str(self.checkpoint)
        if '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'The backbone checkpoint {checkpoint} does not exist. Point '
                'the config at a classification checkpoint (an mmpretrain '
                'checkpoint whose backbone.* tensors match this backbone, '
                'e.g. from tools/train.py configs/noah/resnet50_noah_in1k.py)'
                f': export {BACKBONE_CKPT_ENV}=/path/to/checkpoint.pth, or '
                'add --cfg-options model.backbone.init_cfg.checkpoint='
                '/path/to/checkpoint.pth, or run tools/det/finetune.py '
                'CONFIG WORK_DIR_OR_CHECKPOINT.')
        super().__call__(module)
