# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""vis_poca draws the POCA maps of a random-weight NOAH model."""
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from tool_loader import load_tool

NUM_HEADS = 4

CONFIG = f"""
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=6,
                           mean=[127.5] * 3, std=[60.0] * 3, to_rgb=True),
    backbone=dict(type='ResNet', depth=18),
    head=dict(type='NOAHHead', num_classes=6, in_channels=512,
              num_heads={NUM_HEADS}, key_ratio=0.5))
test_dataloader = dict(dataset=dict(type='CustomDataset', pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96)),
    dict(type='PackInputs')]))
"""


vis = load_tool('tools/visualization/vis_poca.py')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('vis')
    cfg = tmp / 'noah_r18_tiny.py'
    cfg.write_text(CONFIG)
    torch.manual_seed(0)
    from mmengine.config import Config
    model = MODELS.build(Config.fromfile(str(cfg)).model)
    ckpt = tmp / 'random.pth'
    classes = [f'digit{i}' for i in range(6)]
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': classes}}}, ckpt)
    rng = np.random.default_rng(0)
    img = tmp / 'img.png'
    mmcv.imwrite(rng.integers(0, 255, (80, 72, 3), dtype=np.uint8), str(img))
    return tmp, str(cfg), str(ckpt), str(img)


def test_vis_poca_draws_every_block(setup):
    tmp, cfg, ckpt, img = setup
    out = tmp / 'poca.png'
    fig, result = vis.visualize(img, cfg, ckpt, str(out))
    assert out.exists()
    png = mmcv.imread(str(out))
    width, height = fig.get_size_inches() * fig.dpi
    assert png.shape[:2] == (round(height), round(width))
    # input + P, then A_i and V_i for each of the N blocks
    assert len(fig.axes) == 2 * (NUM_HEADS + 1)
    titles = [ax.get_title().split('\n')[0] for ax in fig.axes]
    for i in range(1, NUM_HEADS + 1):
        assert f'A_{i}' in titles and f'V_{i}' in titles
    assert 'input' in titles and any(t.startswith('P') for t in titles)
    # 96x96 input -> 3x3 map; the maps are the head's own tensors:
    assert result['attention'].shape == (NUM_HEADS, 3, 3)
    assert result['value'].shape == (NUM_HEADS, 3, 3)
    assert result['image'].shape == (96, 96, 3)
    torch.testing.assert_close(result['attention'].flatten(1).sum(-1),
                               torch.ones(NUM_HEADS))
    # with aggregation='sum', P summed over positions is the class logit
    assert abs(result['poca'].sum().item() - result['logit']) < 1e-4
    assert result['class_name'] == f"digit{result['class_id']}"


def test_vis_poca_given_class_and_cli(setup, monkeypatch, capsys):
    tmp, cfg, ckpt, img = setup
    out = tmp / 'poca_cls2.png'
    # checkpoint 'none': random weights drawn from --seed (no class names)
    monkeypatch.setattr(sys, 'argv', [
        'vis_poca.py', img, cfg, 'none', '--out', str(out), '--class-id', '2',
        '--seed', '3', '--interpolation', 'nearest'])
    vis.main()
    assert out.exists()
    assert 'class 2, p=' in capsys.readouterr().out
    from mmpretrain.apis import get_model
    model = get_model(cfg, pretrained=ckpt)
    with pytest.raises(ValueError, match='class_id'):
        vis.collect_poca(model, img, class_id=6)
    model.head = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match='NOAHHead'):
        vis.collect_poca(model, img)
