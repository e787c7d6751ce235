# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import DefaultScope

from noah_mm.datasets import Market1501Dataset, parse_market1501_name
from reid_testing import GALLERY, QUERY, TRAIN, make_tiny_market1501


@pytest.fixture(scope='module')
def market(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('market1501'))
    return root, make_tiny_market1501(root)


def test_parse_names():
    assert parse_market1501_name('0002_c1s1_000451_03.jpg') == (2, 0)
    assert parse_market1501_name('-1_c6s4_002402_01.jpg') == (-1, 5)
    assert parse_market1501_name('0000_c3s2_010100_02.jpg') == (0, 2)
    for bad in ('0002_s1_000451_03.jpg', 'person.jpg', '0002_c0s1_0_1.jpg'):
        with pytest.raises(ValueError, match='Market-1501|c1'):
            parse_market1501_name(bad)


def test_train_split_relabels_ids(market):
    root, written = market
    dataset = Market1501Dataset(data_root=root, split='train')
    assert len(dataset) == len(TRAIN)  # Thumbs.db skipped
    pids = sorted({pid for pid, _ in TRAIN})
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        pid, cam = written['train'][i]
        assert (info['pid'], info['camid'], info['is_query']) == (
            pid, cam - 1, False)
        assert info['gt_label'] == pids.index(pid)
        assert osp.basename(info['img_path']).startswith(f'{pid:04d}_c{cam}')
    assert dataset.metainfo['num_ids'] == len(pids)
    assert sorted(dataset.pids) == list(range(len(pids)))


def test_test_split_is_queries_then_gallery(market):
    root, written = market
    dataset = Market1501Dataset(data_root=root, split='test', test_mode=True)
    expected = [(pid, cam - 1, True) for pid, cam in written['query']] + [
        (pid, cam - 1, False) for pid, cam in written['gallery']
    ]
    got = [(info['pid'], info['camid'], info['is_query'])
           for info in (dataset.get_data_info(i) for i in range(len(dataset)))]
    assert got == expected
    # Test labels are the ids as written, junk and distractors included.
    labels = {int(dataset.get_data_info(i)['gt_label'])
              for i in range(len(dataset))}
    assert labels == {pid for pid, _ in QUERY + GALLERY}
    assert len(Market1501Dataset(data_root=root, split='query')) == len(QUERY)
    assert len(Market1501Dataset(data_root=root,
                                 split='gallery')) == len(GALLERY)


def test_mmdet_reid_pipeline(market):
    """mmdet's loading, resizing and PackReIDInputs, with the triplet
    sampler of mmdet's ReIDDataset on the relabelled ids."""
    root, _ = market
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(16, 32), keep_ratio=False),
        dict(type='PackReIDInputs', meta_keys=('camid', 'is_query')),
    ]
    with DefaultScope.overwrite_default_scope('mmdet'):
        test = Market1501Dataset(
            data_root=root, split='test', pipeline=pipeline)
        packed = test[len(QUERY)]  # the first gallery image
        assert tuple(packed['inputs'].shape) == (1, 3, 32, 16)
        sample = packed['data_samples']
        info = test.get_data_info(len(QUERY))
        assert sample.gt_label.label.tolist() == [info['pid']]
        assert (sample.camid, sample.is_query) == (info['camid'], False)

        triplet = Market1501Dataset(
            data_root=root,
            split='train',
            triplet_sampler=dict(num_ids=2, ins_per_id=2),
            pipeline=[
                dict(
                    type='TransformBroadcaster',
                    share_random_params=False,
                    transforms=[
                        dict(type='LoadImageFromFile'),
                        dict(type='Resize', scale=(16, 32), keep_ratio=False)
                    ]),
                dict(type='PackReIDInputs'),
            ])
        packed = triplet[0]
    assert tuple(packed['inputs'].shape) == (4, 3, 32, 16)
    labels = packed['data_samples'].gt_label.label.tolist()
    assert labels[:2] == [int(triplet.get_data_info(0)['gt_label'])] * 2
    assert labels[2] == labels[3] != labels[0]


def test_clear_errors(market, tmp_path):
    root, _ = market
    with pytest.raises(ValueError, match='split'):
        Market1501Dataset(data_root=root, split='val')
    with pytest.raises(FileNotFoundError, match='data_root'):
        Market1501Dataset(data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='bounding_box_train'):
        Market1501Dataset(data_root=str(tmp_path))
    with pytest.raises(ValueError, match='subfolders'):
        Market1501Dataset(data_root=root, subfolders=dict(val='x'))
    os.makedirs(tmp_path / 'query')
    (tmp_path / 'query' / 'IMG_0001.jpg').write_bytes(b'')
    with pytest.raises(ValueError, match='IMG_0001.jpg'):
        Market1501Dataset(data_root=str(tmp_path), split='query')
    # custom folder names
    renamed = Market1501Dataset(
        data_root=osp.dirname(root),
        split='query',
        subfolders=dict(query=osp.join(osp.basename(root), 'query')))
    assert len(renamed) == len(QUERY)
    assert np.all([renamed.get_data_info(i)['is_query']
                   for i in range(len(renamed))])
