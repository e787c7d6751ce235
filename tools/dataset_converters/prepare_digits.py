# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Write scikit-learn's bundled handwritten digits as an image-folder data set.

The 1797 8x8 grey-level digits (10 classes) that ship inside scikit-learn
(``sklearn.datasets.load_digits``; nothing is downloaded) are upscaled and
written as PNG files in the folder layout mmpretrain's ``CustomDataset``
reads, the same layout users use for their own data::

    data/digits/
        train/0/00001.png ... train/9/...
        val/0/...             val/9/...

The held-out split is fixed (stratified per class, ``--val-ratio`` of each
class, chosen with a fixed seed) and the script is idempotent: running it
again leaves a complete, unchanged set alone and rewrites only what is
missing or different.

Usage::

    python tools/dataset_converters/prepare_digits.py [--out data/digits]
"""
import argparse
import os
import os.path as osp

import numpy as np
from PIL import Image


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write the scikit-learn digits as train/val PNG folders')
    parser.add_argument(
        '--out', default='data/digits', help='output folder (data/digits)')
    parser.add_argument(
        '--size', type=int, default=32,
        help='side of the written square images in pixels (32)')
    parser.add_argument(
        '--val-ratio', type=float, default=0.2,
        help='held-out fraction of every class (0.2)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the split (0)')
    return parser.parse_args()


def split_indices(labels: np.ndarray, val_ratio: float, seed: int):
    """A stratified, seeded train/val split of ``range(len(labels))``.

    Args:
        labels (np.ndarray): Class of every sample.
        val_ratio (float): Held-out fraction of every class, in (0, 1).
        seed (int): Seed of the permutation.

    Returns:
        tuple[np.ndarray, np.ndarray]: Sorted train and val indices.
    """
    if not 0 < val_ratio < 1:
        raise ValueError(f'val_ratio must be in (0, 1), got {val_ratio}')
    rng = np.random.RandomState(seed)
    train, val = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_val = max(1, int(round(len(idx) * val_ratio)))
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(train), np.sort(val)


def to_png_image(image: np.ndarray, size: int) -> Image.Image:
    """Turn one 8x8 digit (values 0..16) into a ``size``x``size`` image.

    Args:
        image (np.ndarray): The 8x8 digit.
        size (int): Output side in pixels.

    Returns:
        PIL.Image.Image: A greyscale image, bicubic-upscaled.
    """
    grey = np.clip(image * (255.0 / 16.0), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode='L').resize((size, size),
                                                  Image.BICUBIC)


def write_if_changed(img: Image.Image, path: str) -> bool:
    """Save ``img`` to ``path`` unless an identical image is there.

    Returns:
        bool: Whether the file was (re)written.
    """
    if osp.isfile(path):
        try:
            with Image.open(path) as old:
                if old.size == img.size and np.array_equal(
                        np.asarray(old.convert('L')), np.asarray(img)):
                    return False
        except OSError:
            pass  # unreadable: rewrite it
    tmp = f'{path}.tmp'
    img.save(tmp, format='PNG')
    os.replace(tmp, path)
    return True


def prepare(out: str, size: int = 32, val_ratio: float = 0.2, seed: int = 0):
    """Write the digits under ``out``; see the module docstring.

    Args:
        out (str): Output folder.
        size (int): Side of the written images. Defaults to 32.
        val_ratio (float): Held-out fraction per class. Defaults to 0.2.
        seed (int): Seed of the split. Defaults to 0.

    Returns:
        dict: Number of images per split and how many were (re)written.
    """
    if size < 8:
        raise ValueError(f'size must be >= 8 (the digits are 8x8), got {size}')
    from sklearn.datasets import load_digits  # bundled, no download
    digits = load_digits()
    images, labels = digits.images, digits.target
    train, val = split_indices(labels, val_ratio, seed)
    counts = dict(train=len(train), val=len(val), written=0)
    for split, indices in (('train', train), ('val', val)):
        for cls in range(10):
            os.makedirs(osp.join(out, split, str(cls)), exist_ok=True)
        expected = set()
        for i in indices:
            path = osp.join(out, split, str(labels[i]), f'{i:05d}.png')
            expected.add(osp.abspath(path))
            counts['written'] += write_if_changed(
                to_png_image(images[i], size), path)
        # A previous run with another split/size may have left files that do
        # not belong to this split: remove them so the set is exact.
        for cls in range(10):
            folder = osp.join(out, split, str(cls))
            for name in os.listdir(folder):
                path = osp.abspath(osp.join(folder, name))
                if name.endswith('.png') and path not in expected:
                    os.remove(path)
    return counts


def main():
    args = parse_args()
    counts = prepare(args.out, args.size, args.val_ratio, args.seed)
    print(f'digits: {counts["train"]} train / {counts["val"]} val images '
          f'({args.size}x{args.size} PNG) in {args.out} '
          f'({counts["written"]} written, the rest already up to date)')


if __name__ == '__main__':
    main()
