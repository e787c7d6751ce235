# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The fine-tuning recipes of configs/finetune load the backbone they name.

Each test writes a source checkpoint, trains the recipe for one epoch on a
tiny folder data set, and compares the model's tensors at the start of
training (after the runner's weight initialisation, before the first
iteration) with the checkpoint: every backbone tensor must be the source's,
and the NOAH head must be new, sized for the data set's classes.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from PIL import Image

from tool_loader import REPO

RECIPES = osp.join(REPO, 'configs', 'finetune')
NUM_CLASSES = 10


@pytest.fixture(scope='module')
def digits_like(tmp_path_factory):
    """A folder data set in the digits' layout: 10 classes, 32x32 PNGs."""
    root = tmp_path_factory.mktemp('digits_like')
    rng = np.random.RandomState(0)
    for split, per_class in (('train', 2), ('val', 1)):
        for cls in range(NUM_CLASSES):
            folder = root / split / str(cls)
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.randint(0, 255, (32, 32), dtype=np.uint8)
                Image.fromarray(pixels).convert('RGB').save(
                    folder / f'{i:05d}.png')
    return str(root)


def _perturbed_state(model: torch.nn.Module, seed: int) -> dict:
    """``model``'s state with every float tensor replaced by random values,
    so that no initialiser could produce it by chance."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            value = torch.rand(value.shape, generator=gen) + 0.5
        state[key] = value.clone()
    return state


def _write_checkpoint(config: str, path: str, seed: int) -> dict:
    """Build ``config``'s model and save a checkpoint of random tensors."""
    from mmpretrain.registry import MODELS
    model = MODELS.build(Config.fromfile(config).model)
    state = _perturbed_state(model, seed)
    torch.save({'state_dict': state, 'meta': {}}, path)
    return state


class StateAtTrainStart(Hook):
    """Copy the model's state when training starts (after the weights were
    initialised, before any step)."""

    priority = 'VERY_HIGH'

    def __init__(self):
        self.state = None

    def before_train(self, runner) -> None:
        self.state = copy.deepcopy(runner.model.state_dict())


def _run_recipe(recipe: str, checkpoint: str, data_root: str, work_dir: str):
    cfg = Config.fromfile(osp.join(RECIPES, recipe))
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.batch_size = 4
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = work_dir
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    capture = StateAtTrainStart()
    runner.register_hook(capture)
    runner.train()
    metrics = runner.val_loop.run()
    return capture.state, runner.model.state_dict(), metrics


def _assert_backbone_loaded(start: dict, source: dict, source_prefix: str):
    backbone = {k: v for k, v in start.items() if k.startswith('backbone.')}
    assert backbone, 'the model has no backbone tensors'
    for key, value in backbone.items():
        src = source[source_prefix + key[len('backbone.'):]]
        assert torch.equal(value, src), f'{key} was not loaded'


def test_recipe_a_from_a_classifier_backbone(digits_like, tmp_path):
    """(a) The backbone of a baseline classifier (GAP + linear head)."""
    source = _write_checkpoint(
        osp.join(REPO, 'configs', 'demo', 'resnet18_digits.py'),
        str(tmp_path / 'baseline.pth'), seed=1)
    start, end, metrics = _run_recipe(
        'resnet18_noah_in1k-backbone-pre_digits.py',
        str(tmp_path / 'baseline.pth'), digits_like, str(tmp_path / 'a'))
    _assert_backbone_loaded(start, source, 'backbone.')
    head = {k: v for k, v in start.items() if k.startswith('head.')}
    assert head and not set(head) & set(source)  # a new NOAH head
    # sized for the data set's 10 classes
    assert any(NUM_CLASSES in value.shape for value in head.values())
    # training ran and moved the weights
    key = 'backbone.conv1.weight'
    assert not torch.equal(end[key].cpu(), start[key])
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0


def test_recipe_b_from_a_converted_noah_checkpoint(digits_like, tmp_path):
    """(b) A NOAH ImageNet checkpoint (1000 classes): backbone loaded, head
    re-initialised for 10 classes."""
    source = _write_checkpoint(
        osp.join(REPO, 'configs', 'noah', 'resnet18_noah_in1k.py'),
        str(tmp_path / 'converted.pth'), seed=2)
    start, _, _ = _run_recipe('resnet18_noah_authors-pre_digits.py',
                              str(tmp_path / 'converted.pth'), digits_like,
                              str(tmp_path / 'b'))
    _assert_backbone_loaded(start, source, 'backbone.')
    head = {k: v for k, v in start.items() if k.startswith('head.')}
    assert set(head) == {k for k in source if k.startswith('head.')}
    for key, value in head.items():
        assert value.shape != source[key].shape, (
            f'{key} should be sized for {NUM_CLASSES} classes, not 1000')


def test_recipe_a_defaults_to_mmpretrains_imagenet_resnet18():
    cfg = Config.fromfile(
        osp.join(RECIPES, 'resnet18_noah_in1k-backbone-pre_digits.py'))
    assert cfg.model.backbone.init_cfg.checkpoint.startswith(
        'https://download.openmmlab.com/mmclassification/v0/resnet/'
        'resnet18_8xb32_in1k')
