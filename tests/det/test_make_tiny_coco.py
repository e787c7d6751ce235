# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import os.path as osp

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO


def test_tiny_coco_is_valid_coco(det_tool, tmp_path):
    maker = det_tool('make_tiny_coco')
    out = maker.make_tiny_coco(str(tmp_path), num_train=3, num_val=2,
                               size=96, seed=1)
    for split, n in (('train', 3), ('val', 2)):
        coco = COCO(str(tmp_path / 'annotations' /
                        f'instances_{split}2017.json'))
        assert len(coco.getImgIds()) == n
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == \
            list(maker.CLASSES)
        for ann in coco.loadAnns(coco.getAnnIds()):
            img = coco.loadImgs(ann['image_id'])[0]
            mask = coco.annToMask(ann)
            assert mask.shape == (96, 96) and mask.sum() > 50
            ys, xs = np.nonzero(mask)
            x, y, w, h = ann['bbox']
            # the box encloses the mask (to a pixel)
            assert xs.min() >= x - 1 and xs.max() <= x + w + 1
            assert ys.min() >= y - 1 and ys.max() <= y + h + 1
            image = cv2.imread(
                osp.join(str(tmp_path), f'{split}2017', img['file_name']))
            assert image.shape == (96, 96, 3)
    # same seed, same annotations
    again = maker.make_tiny_coco(str(tmp_path / 'again'), num_train=3,
                                 num_val=2, size=96, seed=1)
    assert again == out


def test_bad_arguments(det_tool, tmp_path):
    maker = det_tool('make_tiny_coco')
    with pytest.raises(ValueError, match='num_train'):
        maker.make_tiny_coco(str(tmp_path), num_train=0)
    with pytest.raises(ValueError, match='size'):
        maker.make_tiny_coco(str(tmp_path), size=8)
