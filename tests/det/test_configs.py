# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Every configs/det config builds in mmdet and its backbone starts from a
classification checkpoint (Pretrained, prefix 'backbone.')."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from noah_mm.models.roi_heads import NOAHBBoxHead
from tool_loader import REPO as ROOT


CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'det', '*.py')))
NAMES = [osp.basename(c) for c in CONFIGS]


def test_the_config_set():
    expected = {
        f'{det}_{bb}-{pre}-pre_fpn_1x_coco.py'
        for det, bb in (('retinanet', 'r50'), ('faster-rcnn', 'r50'),
                        ('mask-rcnn', 'r50'), ('retinanet', 'pvt-t'))
        for pre in ('noah', 'baseline')
    } | {
        f'{det}_r50-{pre}-pre_fpn_noah-roi-head_1x_coco.py'
        for det in ('faster-rcnn', 'mask-rcnn') for pre in ('noah', 'baseline')
    }
    assert set(NAMES) == expected


_PARSED = {}


def load_config(path: str) -> Config:
    """Parse each config once per session (mmdet:: bases are slow to find)."""
    if path not in _PARSED:
        _PARSED[path] = Config.fromfile(path)
    return copy.deepcopy(_PARSED[path])


def _model(cfg, checkpoint):
    from mmdet.registry import MODELS
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('path', CONFIGS, ids=NAMES)
def test_config_builds_with_backbone_from_classifier(
        path, r50_cls_work_dir, pvt_cls_checkpoint, monkeypatch):
    monkeypatch.delenv('NOAH_BACKBONE_CKPT', raising=False)
    cfg = load_config(path)
    assert cfg.custom_imports.imports[0] == 'noah_mm'
    init_cfg = cfg.model.backbone.init_cfg
    assert init_cfg.type == 'Pretrained'
    assert init_cfg.prefix == 'backbone.'
    # the ONE variable users set is what the backbone loads
    assert init_cfg.checkpoint == cfg.backbone_checkpoint
    # defaults: the model-zoo work dirs (configs/noah, configs/baseline)
    if '-noah-pre_' in path:
        assert '_noah_in1k/' in cfg.backbone_checkpoint
    else:
        assert '_noah_' not in cfg.backbone_checkpoint
        assert '_in1k/' in cfg.backbone_checkpoint
    source = pvt_cls_checkpoint if 'pvt' in path else r50_cls_work_dir
    model = _model(cfg, source['checkpoint'])
    if 'noah-roi-head' in path:
        assert isinstance(model.roi_head.bbox_head, NOAHBBoxHead)
        assert model.roi_head.bbox_head.fc_cls.num_classes == 80 + 1
    # the backbone's own init (the one that reads init_cfg) loads every
    # backbone tensor of the classifier, prefix stripped
    model.backbone.init_weights()
    own = model.backbone.state_dict()
    ckpt = {
        k[len('backbone.'):]: v
        for k, v in source['state'].items() if k.startswith('backbone.')
    }
    assert set(own) <= set(ckpt)
    for key, value in own.items():
        assert torch.equal(value, ckpt[key]), key
    if 'pvt' in path:
        # PVT-Tiny classifier = this backbone + PVT's final norm
        assert set(ckpt) - set(own) == {'final_norm.weight', 'final_norm.bias'}
    else:
        assert set(ckpt) == set(own)


@pytest.mark.parametrize(
    'noah_name', [n for n in NAMES if '-noah-pre_' in n])
def test_baseline_differs_only_in_checkpoint(noah_name, monkeypatch):
    monkeypatch.delenv('NOAH_BACKBONE_CKPT', raising=False)
    names = [noah_name, noah_name.replace('-noah-pre_', '-baseline-pre_')]
    noah, base = (load_config(osp.join(ROOT, 'configs', 'det', n)).to_dict()
                  for n in names)
    assert noah.pop('backbone_checkpoint') != base.pop('backbone_checkpoint')
    noah['model']['backbone']['init_cfg']['checkpoint'] = 'x'
    base['model']['backbone']['init_cfg']['checkpoint'] = 'x'
    # model, data, schedule, runtime: all the same
    assert noah == base


def test_checkpoint_variable_from_environment(monkeypatch, tmp_path):
    path = str(tmp_path / 'my_classifier.pth')
    monkeypatch.setenv('NOAH_BACKBONE_CKPT', path)
    for name in ('faster-rcnn_r50-baseline-pre_fpn_noah-roi-head_1x_coco.py',
                 'retinanet_pvt-t-noah-pre_fpn_1x_coco.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'det', name))
        assert cfg.backbone_checkpoint == path
        assert cfg.model.backbone.init_cfg.checkpoint == path
