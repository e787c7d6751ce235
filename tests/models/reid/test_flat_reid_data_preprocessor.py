# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import pytest
import torch
from mmdet.structures import ReIDDataSample
from mmengine.registry import DefaultScope

MEAN, STD = [10., 20., 30.], [2., 4., 5.]


def build():
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(
            dict(type='FlatReIDDataPreprocessor', mean=MEAN, std=STD,
                 to_rgb=True))


def expected(bgr):
    """(C, H, W) BGR image -> normalised RGB, computed independently."""
    rgb = torch.stack([bgr[2], bgr[1], bgr[0]])
    return (rgb - torch.tensor(MEAN)[:, None, None]) / torch.tensor(
        STD)[:, None, None]


def test_single_images_make_a_batch_in_rgb():
    torch.manual_seed(0)
    groups = [torch.randint(0, 255, (1, 3, 8, 4), dtype=torch.uint8)
              for _ in range(3)]
    data_samples = [ReIDDataSample().set_gt_label(i) for i in (4, 0, 2)]
    out = build()(dict(inputs=groups, data_samples=data_samples))
    assert out['inputs'].shape == (3, 3, 8, 4)
    for i, group in enumerate(groups):
        torch.testing.assert_close(out['inputs'][i],
                                   expected(group[0].float()))
    labels = torch.cat([s.gt_label.label for s in out['data_samples']])
    assert labels.tolist() == [4, 0, 2]


def test_triplet_groups_and_stacked_tensors():
    torch.manual_seed(0)
    group = torch.randint(0, 255, (4, 3, 8, 4), dtype=torch.uint8)
    sample = ReIDDataSample().set_gt_label([1, 1, 3, 3])
    preprocessor = build()
    for inputs in ([group], group, group[None]):
        out = preprocessor(dict(inputs=inputs, data_samples=[sample]))
        assert out['inputs'].shape == (4, 3, 8, 4)
        torch.testing.assert_close(out['inputs'][2],
                                   expected(group[2].float()))


def test_bad_shape():
    with pytest.raises(ValueError, match='N, C, H, W'):
        build()(dict(inputs=[torch.zeros(3, 8)],
                     data_samples=[ReIDDataSample().set_gt_label(0)]))
