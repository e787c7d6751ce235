# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Write a tiny COCO-format detection/instance data set of drawn shapes.

For trying the detection configs and ``tools/det/finetune.py`` without COCO
(smoke tests, the README example): squares, discs and triangles of random
colours on noisy backgrounds, with boxes and polygon masks, in COCO's own
layout so that only ``data_root`` changes::

    DATA_ROOT/annotations/instances_train2017.json
    DATA_ROOT/annotations/instances_val2017.json
    DATA_ROOT/train2017/*.png
    DATA_ROOT/val2017/*.png

Example::

    python tools/det/make_tiny_coco.py data/tiny_coco --num-train 8 --num-val 4
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np

CLASSES = ('square', 'disc', 'triangle')


def _shape_polygon(kind: str, cx: float, cy: float, r: float,
                   angle: float) -> np.ndarray:
    """Vertices ``(K, 2)`` of a shape centred at ``(cx, cy)``."""
    if kind == 'square':
        angles = angle + np.arange(4) * math.pi / 2 + math.pi / 4
    elif kind == 'triangle':
        angles = angle + np.arange(3) * 2 * math.pi / 3
    else:  # a disc as a 24-gon
        angles = np.arange(24) * 2 * math.pi / 24
    return np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def _make_split(root: str, split: str, num_images: int, size: int,
                max_objects: int, rng: np.random.Generator,
                first_ann_id: int) -> Dict:
    img_dir = osp.join(root, f'{split}2017')
    os.makedirs(img_dir, exist_ok=True)
    images: List[dict] = []
    annotations: List[dict] = []
    ann_id = first_ann_id
    for img_id in range(1, num_images + 1):
        img = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            label = int(rng.integers(len(CLASSES)))
            r = float(rng.uniform(0.12, 0.25) * size)
            cx, cy = rng.uniform(r, size - r, size=2)
            poly = _shape_polygon(CLASSES[label], cx, cy, r,
                                  float(rng.uniform(0, math.pi)))
            poly = np.clip(poly, 0, size - 1)
            colour = [int(c) for c in rng.integers(120, 256, size=3)]
            cv2.fillPoly(img, [np.round(poly).astype(np.int32)], colour)
            x0, y0 = poly.min(0)
            x1, y1 = poly.max(0)
            annotations.append(
                dict(
                    id=ann_id,
                    image_id=img_id,
                    category_id=label + 1,
                    bbox=[float(x0), float(y0), float(x1 - x0),
                          float(y1 - y0)],
                    area=_polygon_area(poly),
                    segmentation=[[float(v) for v in poly.reshape(-1)]],
                    iscrowd=0))
            ann_id += 1
        file_name = f'{img_id:06d}.png'
        cv2.imwrite(osp.join(img_dir, file_name), img)
        images.append(
            dict(id=img_id, file_name=file_name, width=size, height=size))
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(CLASSES)
    ]
    coco = dict(images=images, annotations=annotations,
                categories=categories)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}2017.json'),
              'w') as f:
        json.dump(coco, f)
    return coco


def make_tiny_coco(root: str,
                   num_train: int = 2,
                   num_val: int = 2,
                   size: int = 128,
                   max_objects: int = 3,
                   seed: int = 0) -> Dict[str, Dict]:
    """Write the tiny data set under ``root`` (COCO's layout).

    Args:
        root (str): Output directory (created).
        num_train (int): Training images. Defaults to 2.
        num_val (int): Validation images (also the test split of the stock
            COCO configs). Defaults to 2.
        size (int): Square image side in pixels. Defaults to 128.
        max_objects (int): At most this many shapes per image (at least 1).
            Defaults to 3.
        seed (int): Random seed; the same seed writes the same files.
            Defaults to 0.

    Returns:
        dict: The ``train`` and ``val`` annotation dicts that were written.
    """
    for name, value, minimum in (('num_train', num_train, 1),
                                 ('num_val', num_val, 1), ('size', size, 32),
                                 ('max_objects', max_objects, 1)):
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < minimum:
            raise ValueError(
                f'{name} must be an int >= {minimum}, got {value!r}.')
    rng = np.random.default_rng(seed)
    train = _make_split(root, 'train', num_train, size, max_objects, rng, 1)
    val = _make_split(root, 'val', num_val, size, max_objects, rng,
                      len(train['annotations']) + 1)
    return dict(train=train, val=val)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a tiny COCO-format data set of drawn shapes '
        f'({", ".join(CLASSES)}) with boxes and polygon masks.')
    parser.add_argument('root', help='output directory (COCO layout)')
    parser.add_argument('--num-train', type=int, default=8)
    parser.add_argument('--num-val', type=int, default=4)
    parser.add_argument('--size', type=int, default=128,
                        help='square image side in pixels')
    parser.add_argument('--max-objects', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = make_tiny_coco(args.root, args.num_train, args.num_val, args.size,
                         args.max_objects, args.seed)
    for split, coco in out.items():
        print(f'{split}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} objects -> '
              f'{osp.join(args.root, "annotations")}/instances_{split}2017'
              '.json')


if __name__ == '__main__':
    main()
