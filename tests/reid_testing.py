# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""A tiny Market-1501-format folder for the ReID tests."""
import os
import os.path as osp

import numpy as np
from PIL import Image

# (pid, camera) of the images each folder gets, file names as published.
TRAIN = [(pid, cam) for pid in (2, 7, 11, 30) for cam in (1, 2)
         for _ in range(2)]
QUERY = [(2, 1), (7, 2), (11, 1), (30, 2)]
GALLERY = [(2, 2), (2, 1), (7, 1), (11, 2), (30, 1), (0, 1), (0, 2),
           (-1, 1), (-1, 2)]


def _name(pid: int, cam: int, index: int) -> str:
    person = '-1' if pid == -1 else f'{pid:04d}'
    return f'{person}_c{cam}s1_{index * 25:06d}_{index % 100:02d}.jpg'


def make_tiny_market1501(root: str, size=(32, 16), seed: int = 0) -> dict:
    """Write ``bounding_box_train/``, ``query/``, ``bounding_box_test/``.

    Images are ``size`` (height, width) noise around a colour per person, so
    a trained model could tell them apart. A ``Thumbs.db`` in every folder
    checks that non-images are skipped, as in the published archive.

    Args:
        root (str): Folder to write into.
        size (tuple[int, int]): Image height and width. Defaults to (32, 16).
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: ``train``, ``query``, ``gallery``: the ``(pid, camera)`` lists
        written, in file-name order.
    """
    rng = np.random.default_rng(seed)
    written = {}
    index = 0
    for key, folder, items in (('train', 'bounding_box_train', TRAIN),
                               ('query', 'query', QUERY),
                               ('gallery', 'bounding_box_test', GALLERY)):
        path = osp.join(root, folder)
        os.makedirs(path, exist_ok=True)
        names = []
        for pid, cam in items:
            index += 1
            colour = np.array([(37 * pid) % 256, (91 * pid) % 256,
                               (53 * cam) % 256])
            pixels = colour + rng.integers(-20, 20, (*size, 3))
            name = _name(pid, cam, index)
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
                osp.join(path, name))
            names.append((name, (pid, cam)))
        with open(osp.join(path, 'Thumbs.db'), 'wb') as f:
            f.write(b'\0' * 8)
        written[key] = [item for _, item in sorted(names)]
    return written
