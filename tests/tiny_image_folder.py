# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""A tiny image-folder data set and a narrow NOAH config for engine tests.

3 classes of 16x16 grey PNGs (horizontal stripes, vertical stripes, a blob)
in mmpretrain's ``CustomDataset`` layout (``<root>/<split>/<class>/*.png``),
and a ResNet-18 + NOAHHead config with 8 base channels that inherits a
repository config, so runs take seconds on one CPU thread.
"""
import os
import os.path as osp

import numpy as np
from PIL import Image

from tool_loader import REPO as ROOT

TINY_CONFIG = '''
_base_ = [{base!r}]
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(in_channels=64, num_heads=2, num_classes=3))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=16, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(data_root={data!r}, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    dataset=dict(data_root={data!r}, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={epochs})
param_scheduler = dict(T_max={epochs})
default_hooks = dict(logger=dict(interval=2))
'''


def write_image_folder(root: str, train: int = 8, val: int = 4) -> None:
    """Write ``train`` / ``val`` images per class under ``root``.

    Args:
        root (str): Data root; ``train/<c>/`` and ``val/<c>/`` are made.
        train (int): Training images per class. Defaults to 8.
        val (int): Validation images per class. Defaults to 4.
    """
    rng = np.random.RandomState(0)
    yy, xx = np.mgrid[0:16, 0:16]
    patterns = [
        (yy // 2 % 2) * 200.0,
        (xx // 2 % 2) * 200.0,
        ((yy - 8)**2 + (xx - 8)**2 < 20) * 200.0,
    ]
    for split, n in (('train', train), ('val', val)):
        for cls, pattern in enumerate(patterns):
            folder = osp.join(root, split, str(cls))
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                img = np.clip(pattern + rng.normal(0, 25, (16, 16)), 0, 255)
                Image.fromarray(img.astype(np.uint8), mode='L').save(
                    osp.join(folder, f'{i:03d}.png'))


def write_tiny_config(path: str, data: str, epochs: int = 3,
                      base: str = None) -> str:
    """Write the tiny config to ``path`` and return ``path``.

    Args:
        path (str): Where to write it.
        data (str): The data root (see :func:`write_image_folder`).
        epochs (int): Training epochs. Defaults to 3.
        base (str, optional): The config it inherits. Defaults to
            ``configs/demo/resnet18_noah_digits.py``.
    """
    base = base or osp.join(ROOT, 'configs', 'demo', 'resnet18_noah_digits.py')
    with open(path, 'w') as f:
        f.write(TINY_CONFIG.format(base=base, data=data, epochs=epochs))
    return path
