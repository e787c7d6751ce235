# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The Market-1501 configs: each trains one iteration and evaluates once on a
tiny Market-1501-format folder, on the CPU."""
import glob
import math
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from reid_testing import make_tiny_market1501
from tool_loader import REPO as ROOT

CONFIGS = sorted(
    osp.relpath(path, ROOT)
    for path in glob.glob(osp.join(ROOT, 'configs/reid/*.py')))
SMALL = (32, 64)  # (w, h) instead of 128x256: a 2x1 map after ResNet-50


def test_both_regimes_have_baseline_and_noah():
    names = [osp.basename(path) for path in CONFIGS]
    for regime in ('scratch', 'finetune'):
        for model in ('resnet50-fc512', 'resnet50-noah'):
            assert sum(name.startswith(f'{model}_{regime}_')
                       for name in names) == 1, (model, regime)


@pytest.fixture(scope='module')
def market(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('market1501'))
    make_tiny_market1501(root)
    return root


@pytest.fixture(scope='module')
def imagenet_checkpoint(tmp_path_factory):
    """An mmpretrain-format ResNet-50 classifier checkpoint (random
    weights, an ImageNet-sized linear head)."""
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    state = {
        f'backbone.{key}':
        value + 0.01 * torch.randn_like(value)
        if value.is_floating_point() else value
        for key, value in ResNet(depth=50).state_dict().items()
    }
    state['head.fc.weight'] = torch.randn(1000, 2048)
    path = str(tmp_path_factory.mktemp('imagenet') / 'resnet50.pth')
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path, state


def tiny_options(root: str, checkpoint: str) -> dict:
    """Overrides for a CPU smoke run: the tiny folder, small images, one
    iteration (16 training images, batch 16), one evaluation."""
    options = {
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 1,
        'randomness.seed': 0,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options.update({
            f'{loader}.dataset.data_root': root,
            f'{loader}.dataset.pipeline.1.scale': SMALL,
            f'{loader}.batch_size': 16,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    options['model.backbone.init_cfg.checkpoint'] = checkpoint
    return options


def load(config: str, options: dict) -> Config:
    cfg = Config.fromfile(osp.join(ROOT, config))
    if 'finetune' not in config:
        assert cfg.model.backbone.get('init_cfg') is None  # from scratch
        options = dict(options)
        del options['model.backbone.init_cfg.checkpoint']
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('config', CONFIGS)
def test_recipe(config):
    """The paper's recipes (appendix A.1.2) and the two models."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['noah_mm']
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.model.head.out_channels == 512
    assert cfg.model.head.num_classes == 751
    optimizer = cfg.optim_wrapper.optimizer
    (scheduler, ) = cfg.param_scheduler
    if 'scratch' in config:
        assert (optimizer.type, optimizer.lr, optimizer.momentum,
                optimizer.weight_decay) == ('SGD', 0.065, 0.9, 1e-4)
        assert scheduler.milestones == [150, 225, 300]
        assert cfg.train_cfg.max_epochs == 350
    else:
        assert (optimizer.type, optimizer.lr, optimizer.amsgrad,
                optimizer.weight_decay) == ('Adam', 3e-4, True, 1e-4)
        assert (scheduler.type, scheduler.step_size) == ('StepLR', 60)
        assert cfg.train_cfg.max_epochs == 150
        assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    assert scheduler.gamma == 0.1
    if 'noah' in config:
        assert cfg.model.neck is None
        assert cfg.model.head.type == 'NOAHReIDHead'
    else:
        assert cfg.model.neck.type == 'GlobalAveragePooling'
        assert cfg.model.head.type == 'LinearReIDHead'


@pytest.mark.parametrize(
    'config', [c for c in CONFIGS if 'finetune' in c])
def test_finetune_backbone_starts_from_checkpoint(config, market,
                                                  imagenet_checkpoint):
    from mmdet.registry import MODELS
    path, state = imagenet_checkpoint
    cfg = load(config, tiny_options(market, path))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    for key, value in loaded.items():
        torch.testing.assert_close(value, state[f'backbone.{key}'])


@pytest.mark.parametrize('config', CONFIGS)
def test_train_iteration_and_evaluation(config, market, imagenet_checkpoint,
                                        tmp_path):
    cfg = load(config, tiny_options(market, imagenet_checkpoint[0]))
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    hub = runner.message_hub
    assert math.isfinite(hub.get_scalar('train/ce_loss').current())
    for key in ('val/reid/mAP', 'val/reid/rank-1', 'val/reid/rank-5',
                'val/reid/rank-10'):
        assert 0 <= hub.get_scalar(key).current() <= 100, key


def test_tools_train_prints_map_and_rank1(market, tmp_path):
    """The documented command, on the tiny folder."""
    config = 'configs/reid/resnet50-noah_scratch_1xb64-350e_market1501.py'
    options = tiny_options(market, '')
    del options['model.backbone.init_cfg.checkpoint']
    args = [f'{key}={value}'.replace(' ', '') for key, value in
            options.items()]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir',
         str(tmp_path), '--cfg-options', *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for name in ('mAP', 'rank-1'):
        match = re.search(rf'reid/{name}: ([0-9.]+)', output)
        assert match, (name, output[-3000:])
        assert 0 <= float(match.group(1)) <= 100


def test_logits_switch(market):
    """The documented alternative: POCA over the identities, whose logits
    are matched."""
    from mmdet.registry import MODELS
    from mmdet.structures import ReIDDataSample
    cfg = load('configs/reid/resnet50-noah_scratch_1xb64-350e_market1501.py',
               tiny_options(market, ''))
    cfg.merge_from_dict({
        'model.head.feature': 'logits',
        'model.head.out_channels': None
    })
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    images = torch.randn(2, 3, 64, 32)
    samples = [ReIDDataSample().set_gt_label(i) for i in (0, 750)]
    losses = model(images, samples, mode='loss')
    assert math.isfinite(losses['ce_loss'].item())
    model.eval()
    predicted = model(images, samples, mode='predict')
    assert predicted[0].pred_feature.shape == (751, )
