# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""A detection config whose backbone checkpoint does not exist says how to
point it at one (NOAH_BACKBONE_CKPT), also under mmdet's own train.py."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import get_installed_path

from tool_loader import REPO as ROOT

CONFIG = osp.join(ROOT, 'configs', 'det', 'retinanet_r50-noah-pre_fpn_1x_coco.py')


def test_missing_checkpoint_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv('NOAH_BACKBONE_CKPT', raising=False)
    monkeypatch.chdir(tmp_path)  # no work_dirs/ here
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError) as err:
        model.backbone.init_weights()
    message = str(err.value)
    assert cfg.backbone_checkpoint in message
    assert 'NOAH_BACKBONE_CKPT=' in message
    assert 'model.backbone.init_cfg.checkpoint=' in message
    assert 'tools/det/finetune.py' in message


def test_urls_are_passed_on_unchecked():
    """Only local paths are checked: other schemes go to mmengine's
    loaders as before (here: a scheme nothing serves)."""
    from noah_mm.models.pretrained_init import BackbonePretrainedInit
    init = BackbonePretrainedInit(checkpoint='nosuchscheme://x.pth',
                                  prefix='backbone.')
    import torch
    with pytest.raises(Exception) as err:
        init(torch.nn.Linear(1, 1))
    assert 'NOAH_BACKBONE_CKPT' not in str(err.value)


def test_mmdet_train_py_names_the_variable(tiny_coco, tmp_path):
    """mmdet's own tools/train.py (shipped in mmdet's package) on a det
    config without the checkpoint: the error names NOAH_BACKBONE_CKPT."""
    train_py = osp.join(get_installed_path('mmdet'), '.mim', 'tools',
                        'train.py')
    assert osp.isfile(train_py), train_py
    env = {k: v for k, v in os.environ.items() if k != 'NOAH_BACKBONE_CKPT'}
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    data_root = osp.join(tiny_coco, '')
    with open(osp.join(data_root, 'annotations',
                       'instances_train2017.json')) as f:
        names = [c['name'] for c in json.load(f)['categories']]
    classes = '[' + ','.join(names) + ']'
    proc = subprocess.run(
        [sys.executable, train_py, CONFIG, '--work-dir',
         str(tmp_path / 'work'), '--cfg-options',
         f'train_dataloader.dataset.data_root={data_root}',
         f'val_dataloader.dataset.data_root={data_root}',
         f'train_dataloader.dataset.metainfo.classes={classes}',
         f'val_dataloader.dataset.metainfo.classes={classes}',
         f'val_evaluator.ann_file={data_root}annotations/'
         'instances_val2017.json',
         'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'val_dataloader.num_workers=0',
         'val_dataloader.persistent_workers=False'],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=600)
    assert proc.returncode != 0
    tail = proc.stderr[-3000:]
    assert 'FileNotFoundError' in tail, tail
    assert 'NOAH_BACKBONE_CKPT=' in tail, tail
