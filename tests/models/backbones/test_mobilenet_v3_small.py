# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""MobileNetV3Small: the authors' MobileNetV3-Small network (its function is
checked against their layout in tests/converters/test_cnn.py)."""
import pytest
import torch
from torch import nn

from noah_mm.models.backbones import MobileNetV3Small


def test_outputs_and_structure():
    model = MobileNetV3Small(out_indices=(0, 3, 12)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 24, 8, 8),
                                              (2, 576, 2, 2)]
    # the three differences from mmpretrain's MobileNetV3-Small
    first = model.layer1
    assert first.expand_conv.conv.weight.shape == (16, 16, 1, 1)
    assert first.se.fc1.bias is None and first.se.fc1.out_features == 4
    assert model.layer2.se is None
    # 2,938,368 with the 576->1280 layer (738,560) and classifier (1,281,000)
    backbone = sum(p.numel() for p in model.parameters())
    assert backbone + 576 * 1280 + 1280 + 1280 * 1000 + 1000 == 2938368


def test_frozen_stages_and_norm_eval():
    model = MobileNetV3Small(frozen_stages=2, norm_eval=True)
    model.train()
    for i in range(13):
        layer = getattr(model, f'layer{i}')
        frozen = i <= 2
        assert all(p.requires_grad != frozen for p in layer.parameters())
    assert not any(m.training for m in model.modules()
                   if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize('kwargs,message', [
    (dict(out_indices=(13, )), 'out_indices'),
    (dict(out_indices=(True, )), 'out_indices'),
    (dict(frozen_stages=13), 'frozen_stages'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MobileNetV3Small(**kwargs)
