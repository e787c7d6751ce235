# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Fixtures for the detection tests: a tiny COCO data set and classification
checkpoints (ResNet-50 and PVT-Tiny classifiers) written in the test."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config

import noah_mm  # noqa: F401
from tool_loader import REPO as ROOT, load_tool


def det_tool_module(name: str):
    """Import ``tools/det/<name>.py``."""
    return load_tool(f'tools/det/{name}.py')


def _save_classifier(model_cfg: dict, path: str) -> dict:
    """Build an mmpretrain classifier, perturb every float tensor slightly (so
    that "equal to the checkpoint" can only mean "loaded from it", not "both
    at their default init", e.g. BN's ones and zeros) and save it
    tensors-only."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    state = model.state_dict()
    for key, value in state.items():
        if value.is_floating_point():
            # at most 10% off, and variances stay positive: a sane network
            value.mul_(1 + 0.1 * (2 * torch.rand_like(value) - 1))
            if not key.endswith('running_var'):
                value.add_(0.01 * torch.randn_like(value))
    torch.save({'state_dict': state, 'meta': {}}, path)
    return state


@pytest.fixture(scope='session')
def det_tool():
    """``det_tool('finetune')`` imports ``tools/det/finetune.py``."""
    return det_tool_module


@pytest.fixture(scope='session')
def tiny_coco(tmp_path_factory):
    """COCO layout with 2 train and 1 val 128x128 images (boxes + masks)."""
    root = str(tmp_path_factory.mktemp('tiny_coco'))
    det_tool_module('make_tiny_coco').make_tiny_coco(root, num_train=2, num_val=1,
                                               size=128, seed=0)
    return root


@pytest.fixture(scope='session')
def r50_cls_work_dir(tmp_path_factory):
    """A classification work dir holding a NOAH ResNet-50 checkpoint: the
    stock mmpretrain ResNet-50 with NOAHHead (N=4, r=1/8, paper Table 1)."""
    work_dir = tmp_path_factory.mktemp('resnet50_noah_cls')
    model = get_config(
        'mmpretrain::resnet/resnet50_8xb32_in1k.py').model.to_dict()
    model.update(
        neck=None,
        head=dict(type='NOAHHead', num_classes=10, in_channels=2048,
                  num_heads=4, key_ratio=1 / 8))
    path = str(work_dir / 'epoch_100.pth')
    state = _save_classifier(model, path)
    return dict(work_dir=str(work_dir), checkpoint=path, state=state)


@pytest.fixture(scope='session')
def pvt_cls_checkpoint(tmp_path_factory):
    """The NOAH PVT-Tiny classifier of configs/noah/pvt-tiny_noah_in1k.py."""
    model = Config.fromfile(
        osp.join(ROOT, 'configs/noah/pvt-tiny_noah_in1k.py')).model.to_dict()
    path = str(tmp_path_factory.mktemp('pvt_cls') / 'epoch_300.pth')
    state = _save_classifier(model, path)
    return dict(checkpoint=path, state=state)
