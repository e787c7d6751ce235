# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Market-1501 read from its published folder layout."""
import os
import os.path as osp
import re
from typing import List, Optional

import numpy as np
from mmdet.datasets import ReIDDataset
from mmdet.registry import DATASETS

# PPPP_cCsS_FFFFFF_NN.jpg: person, camera, sequence, frame, box index.
# Junk boxes carry the person id -1, distractors 0000.
FILENAME_PATTERN = re.compile(r'^(-1|\d+)_c(\d+)s\d+_\d+_\d+\.jpg$')
JUNK_PID = -1
DISTRACTOR_PID = 0


def parse_market1501_name(filename: str) -> tuple:
    """``(pid, camid)`` of a Market-1501 image name.

    ``pid`` is the person id as written (``-1`` junk, ``0`` distractor),
    ``camid`` the camera index counted from 0 (``c1`` -> 0).

    Args:
        filename (str): A base name such as ``'0002_c1s1_000451_03.jpg'``.

    Raises:
        ValueError: If the name does not follow ``PPPP_cCsS_FFFFFF_NN.jpg``.
    """
    match = FILENAME_PATTERN.match(filename)
    if match is None:
        raise ValueError(
            f'{filename!r} is not a Market-1501 image name '
            '(PPPP_cCsS_FFFFFF_NN.jpg, e.g. 0002_c1s1_000451_03.jpg); '
            'remove the file or fix its name.')
    camera = int(match.group(2))
    if camera < 1:
        raise ValueError(f'{filename!r}: cameras are numbered from c1.')
    return int(match.group(1)), camera - 1


@DATASETS.register_module()
class Market1501Dataset(ReIDDataset):
    """Market-1501 person re-identification (Zheng et al., ICCV 2015).

    Reads the images of the published layout directly, without annotation
    files::

        data_root/
        ├── bounding_box_train/   12,936 images of 751 identities
        ├── query/                 3,368 images of 750 identities
        └── bounding_box_test/    19,732 images (the gallery)

    Each name ``PPPP_cCsS_FFFFFF_NN.jpg`` gives the person id ``PPPP`` and the
    camera ``C``. Files that are not ``.jpg`` (e.g. ``Thumbs.db``) are
    skipped; a ``.jpg`` with another name is an error.

    Every item holds ``img_path``, ``gt_label`` (the label the model sees),
    ``pid`` (the id as written), ``camid`` (camera, from 0) and ``is_query``.

    - ``split='train'``: ``bounding_box_train``; junk (``-1``) and distractor
      (``0000``) boxes are dropped and the person ids are relabelled
      ``0..K-1`` in increasing order (K = 751 for Market-1501), so
      ``gt_label`` is the identity class.
    - ``split='query'`` / ``'gallery'``: one of the two test folders with
      ``gt_label = pid``, junk and distractors kept.
    - ``split='test'``: the queries followed by the gallery, flagged by
      ``is_query``, which is what
      :class:`~noah_mm.evaluation.CrossCameraReIDMetric` evaluates (it
      ignores junk and same-camera matches per query).

    ``metainfo['num_ids']`` holds the number of distinct ``gt_label`` values.

    Args:
        data_root (str): The folder holding the three sub-folders.
        split (str): ``'train'``, ``'query'``, ``'gallery'`` or ``'test'``.
            Defaults to ``'train'``.
        subfolders (dict, optional): Other names for the folders, keys
            ``'train'``, ``'query'``, ``'gallery'``. Defaults to the
            published names.
        **kwargs: The remaining :class:`mmdet.datasets.ReIDDataset` /
            :class:`mmengine.dataset.BaseDataset` arguments (``pipeline``,
            ``triplet_sampler``, ``test_mode``, ``indices``, ...).
    """

    SPLITS = ('train', 'query', 'gallery', 'test')
    SUBFOLDERS = dict(
        train='bounding_box_train', query='query', gallery='bounding_box_test')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 subfolders: Optional[dict] = None,
                 **kwargs) -> None:
        if split not in self.SPLITS:
            raise ValueError(
                f'split must be one of {self.SPLITS}, got {split!r}.')
        folders = dict(self.SUBFOLDERS)
        if subfolders is not None:
            unknown = set(subfolders) - set(folders)
            if unknown:
                raise ValueError(
                    f'subfolders has unknown keys {sorted(unknown)}; allowed: '
                    f'{sorted(folders)}.')
            folders.update(subfolders)
        if not isinstance(data_root, str) or not osp.isdir(data_root):
            raise FileNotFoundError(
                f'Market-1501 data_root {data_root!r} is not a folder; set '
                'data_root to the folder holding bounding_box_train/, query/ '
                'and bounding_box_test/ (configs/reid/README.md).')
        self.split = split
        self.subfolders = folders
        super().__init__(data_root=data_root, **kwargs)

    def _read_folder(self, key: str, is_query: bool) -> List[dict]:
        folder = osp.join(self.data_root, self.subfolders[key])
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'Market-1501 folder {folder!r} is missing (split='
                f'{self.split!r}); data_root must hold '
                f'{self.subfolders[key]}/ as published.')
        items = []
        for name in sorted(os.listdir(folder)):
            if not name.lower().endswith('.jpg'):
                continue
            pid, camid = parse_market1501_name(name)
            items.append(
                dict(
                    img_path=osp.join(folder, name),
                    pid=pid,
                    camid=camid,
                    is_query=is_query))
        if not items:
            raise FileNotFoundError(
                f'Market-1501 folder {folder!r} holds no .jpg images.')
        return items

    def load_data_list(self) -> List[dict]:
        """Read the split's folder(s) and set ``gt_label``.

        Returns:
            list[dict]: One dict per image.
        """
        if self.split == 'train':
            items = [
                item for item in self._read_folder('train', False)
                if item['pid'] not in (JUNK_PID, DISTRACTOR_PID)
            ]
            label_of = {
                pid: label
                for label, pid in enumerate(
                    sorted({item['pid']
                            for item in items}))
            }
            for item in items:
                item['gt_label'] = np.array(
                    label_of[item['pid']], dtype=np.int64)
        else:
            items = []
            if self.split in ('query', 'test'):
                items += self._read_folder('query', True)
            if self.split in ('gallery', 'test'):
                items += self._read_folder('gallery', False)
            for item in items:
                item['gt_label'] = np.array(item['pid'], dtype=np.int64)
        self._metainfo['num_ids'] = len(
            {int(item['gt_label'])
             for item in items})
        self._parse_ann_info(items)
        return items
