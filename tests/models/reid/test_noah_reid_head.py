# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import ReIDDataSample

from noah_mm.models.reid import NOAHReIDHead
from noah_mm.models.utils.poca import POCA

CE = dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0)


def samples(labels):
    return [ReIDDataSample().set_gt_label(int(label)) for label in labels]


def build(**kwargs):
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS
    cfg = dict(type='NOAHReIDHead', in_channels=32, num_classes=5,
               num_heads=4, key_ratio=0.25, loss_cls=CE)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def test_embedding_feature_is_poca_of_the_map():
    torch.manual_seed(0)
    head = build(out_channels=16).eval()
    assert isinstance(head, NOAHReIDHead)  # registered in mmdet's MODELS
    assert isinstance(head.poca, POCA)
    assert (head.poca.in_channels, head.poca.num_classes) == (32, 16)
    assert not hasattr(head, 'fc_out')  # POCA replaces pooling + FC
    x = torch.randn(3, 32, 4, 2)
    feature = head((x, ))
    assert feature.shape == (3, 16)
    torch.testing.assert_close(feature, head.poca(x))
    predicted = head.predict((x, ), samples([0, 1, 2]))
    for sample, row in zip(predicted, feature):
        torch.testing.assert_close(sample.pred_feature, row)


def test_embedding_loss_is_ce_of_the_identity_classifier():
    torch.manual_seed(0)
    head = build(out_channels=16).train()
    x = torch.randn(4, 32, 4, 2)
    labels = torch.tensor([0, 3, 4, 3])
    losses = head.loss((x, ), samples(labels))
    expected = F.cross_entropy(head.classifier(head.bn(head.poca(x))),
                               labels)
    torch.testing.assert_close(losses['ce_loss'], expected)
    assert 'accuracy_top-1' in losses
    losses['ce_loss'].backward()
    assert head.poca.key_weight.grad.abs().sum() > 0
    assert head.classifier.weight.grad.abs().sum() > 0


def test_logits_feature_switch():
    torch.manual_seed(0)
    head = build(feature='logits', out_channels=None).train()
    assert head.poca.num_classes == 5
    x = torch.randn(4, 32, 4, 2)
    labels = torch.tensor([0, 1, 2, 4])
    losses = head.loss((x, ), samples(labels))
    torch.testing.assert_close(losses['ce_loss'],
                               F.cross_entropy(head.poca(x), labels))
    head.eval()
    assert head(x).shape == (4, 5)


def test_triplet_loss_on_the_feature():
    torch.manual_seed(0)
    head = build(out_channels=16, loss_cls=None, num_classes=None,
                 loss_triplet=dict(type='TripletLoss', margin=0.3))
    losses = head.loss((torch.randn(4, 32, 4, 2), ), samples([0, 0, 1, 1]))
    assert set(losses) == {'triplet_loss'}
    assert losses['triplet_loss'] >= 0


def test_clear_errors():
    with pytest.raises(ValueError, match='feature must be'):
        build(feature='pooled')
    with pytest.raises(ValueError, match='out_channels=None'):
        build(feature='logits', out_channels=512)
    with pytest.raises(ValueError, match='loss_cls'):
        build(feature='logits', out_channels=None, loss_cls=None)
    with pytest.raises(ValueError, match='out_channels'):
        build(out_channels=None)
    head = build(out_channels=16)
    with pytest.raises(ValueError, match='neck=None'):
        head((torch.randn(2, 32), ))
