# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import pytest
import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from noah_mm.models.roi_heads import NOAHBBoxHead
from noah_mm.models.utils.poca import POCA
from noah_mm.registry import DET_MODELS


def _head(**kwargs):
    cfg = dict(type='NOAHBBoxHead', in_channels=16, fc_out_channels=32,
               roi_feat_size=7, num_classes=5, num_heads=4, key_ratio=0.5)
    cfg.update(kwargs)
    head = DET_MODELS.build(cfg)
    head.init_weights()
    return head


def test_registered_in_mmdet_models():
    from mmdet.registry import MODELS
    assert MODELS.get('NOAHBBoxHead') is NOAHBBoxHead


def test_output_shapes_and_poca_classifier():
    torch.manual_seed(0)
    head = _head()
    assert isinstance(head.fc_cls, POCA)
    # num_classes + 1 outputs: background is the last class
    assert head.fc_cls.num_classes == 6
    assert head.fc_cls.in_channels == 16
    x = torch.randn(3, 16, 7, 7)
    cls_score, bbox_pred = head(x)
    assert cls_score.shape == (3, 6)
    assert bbox_pred.shape == (3, 4 * 5)
    # the classification branch IS POCA over the RoI map, nothing else
    torch.testing.assert_close(cls_score, head.fc_cls(x))
    # regression: flatten + 2 FCs (ReLU) + fc_reg, as in Shared2FCBBoxHead
    ref = Shared2FCBBoxHead(in_channels=16, fc_out_channels=32,
                            num_classes=5)
    assert [tuple(fc.weight.shape) for fc in head.reg_fcs] == \
        [tuple(fc.weight.shape) for fc in ref.shared_fcs]
    h = x.flatten(1)
    for fc in head.reg_fcs:
        h = torch.relu(fc(h))
    torch.testing.assert_close(bbox_pred, head.fc_reg(h))
    # class-agnostic regression and empty RoI sets
    agnostic = _head(reg_class_agnostic=True)
    cls_score, bbox_pred = agnostic(torch.randn(0, 16, 7, 7))
    assert cls_score.shape == (0, 6) and bbox_pred.shape == (0, 4)


def test_cls_convs_feed_poca():
    head = _head(num_cls_convs=1, conv_out_channels=8)
    assert head.fc_cls.in_channels == 8
    cls_score, bbox_pred = head(torch.randn(2, 16, 7, 7))
    assert cls_score.shape == (2, 6) and bbox_pred.shape == (2, 20)


def test_poca_cfg_passes_ablation_switches():
    head = _head(poca_cfg=dict(split='group', aggregation='mean'))
    assert head.fc_cls.split == 'group'
    assert head.fc_cls.aggregation == 'mean'


def test_loss_is_finite_and_reaches_every_weight():
    torch.manual_seed(0)
    head = _head()
    head.train()
    x = torch.randn(4, 16, 7, 7)
    cls_score, bbox_pred = head(x)
    priors = torch.tensor([[0, 0, 10, 10], [5, 5, 20, 20], [1, 2, 8, 9],
                           [30, 30, 40, 44]], dtype=torch.float)
    gt = InstanceData(bboxes=torch.tensor([[0., 0., 11., 10.],
                                           [4., 6., 21., 19.]]),
                      labels=torch.tensor([2, 4]))
    sampling = SamplingResult(
        pos_inds=torch.tensor([0, 1]), neg_inds=torch.tensor([2, 3]),
        priors=priors, gt_bboxes=gt.bboxes,
        assign_result=_assign(gt, priors), gt_flags=torch.zeros(4))
    out = head.loss_and_target(
        cls_score, bbox_pred, rois=torch.cat([priors.new_zeros(4, 1),
                                              priors], 1),
        sampling_results=[sampling],
        rcnn_train_cfg=ConfigDict(pos_weight=-1))
    losses = out['loss_bbox']
    assert set(losses) >= {'loss_cls', 'loss_bbox', 'acc'}
    total = losses['loss_cls'] + losses['loss_bbox']
    assert torch.isfinite(total)
    # with 6 outputs, cross-entropy of near-uniform logits is about log(6)
    assert 0.5 < losses['loss_cls'].item() < 5
    total.backward()
    for name, p in head.named_parameters():
        if name.startswith('fc_cls.key_bias'):
            continue  # softmax over positions ignores a per-class constant
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _assign(gt, priors):
    from mmdet.models.task_modules.assigners import MaxIoUAssigner
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5,
                              min_pos_iou=0.5)
    return assigner.assign(InstanceData(priors=priors), gt)


@pytest.mark.parametrize('kwargs, exc, words', [
    (dict(num_shared_fcs=2), ValueError, 'num_shared_fcs'),
    (dict(num_cls_fcs=1), ValueError, 'num_cls_fcs'),
    (dict(with_avg_pool=True), ValueError, 'with_avg_pool'),
    (dict(poca_cfg=['split']), TypeError, 'poca_cfg'),
    (dict(poca_cfg=dict(num_heads=2)), ValueError, 'num_heads'),
    (dict(num_heads=3), ValueError, 'num_heads'),  # POCA's own check
    (dict(poca_cfg=dict(splt='group')), TypeError, "POCA argument 'splt'"),
    (dict(reg_class_agnostic='False'), TypeError, 'reg_class_agnostic'),
    (dict(poca_cfg=dict(extra_linear='False')), TypeError, 'extra_linear'),
])
def test_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        _head(**kwargs)


@pytest.mark.parametrize('impl, dtype', [
    ('reference', torch.float32), ('fast', torch.float32),
    ('fast', torch.float64)
], ids=['reference', 'cpu-kernels', 'pytorch-fast-path'])
def test_zero_rois_forward_loss_and_backward(impl, dtype):
    """No RoIs (e.g. no proposal survived NMS) through mmdet's training
    path: empty outputs, finite zero loss, zero gradients."""
    head = _head(num_cls_convs=1, conv_out_channels=8,
                 poca_cfg=dict(impl=impl)).to(dtype).train()
    x = torch.randn(0, 16, 7, 7, dtype=dtype, requires_grad=True)
    cls_score, bbox_pred = head(x)
    assert cls_score.shape == (0, 6) and bbox_pred.shape == (0, 20)
    priors = torch.zeros(0, 4, dtype=dtype)
    gt = InstanceData(bboxes=torch.tensor([[0., 0., 11., 10.]], dtype=dtype),
                      labels=torch.tensor([2]))
    sampling = SamplingResult(
        pos_inds=torch.zeros(0, dtype=torch.long),
        neg_inds=torch.zeros(0, dtype=torch.long), priors=priors,
        gt_bboxes=gt.bboxes, assign_result=_assign(gt, priors),
        gt_flags=torch.zeros(0))
    out = head.loss_and_target(
        cls_score, bbox_pred, rois=priors.new_zeros(0, 5),
        sampling_results=[sampling],
        rcnn_train_cfg=ConfigDict(pos_weight=-1))
    losses = out['loss_bbox']
    assert len(out['bbox_targets'][0]) == 0
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert total.item() == 0
    # mmdet's loss leaves out the empty classification term; backpropagate
    # through both outputs as a detector's summed losses would.
    (total + cls_score.sum() + bbox_pred.sum()).backward()
    assert x.grad.shape == x.shape
    for name, p in head.named_parameters():
        assert p.grad is not None and not p.grad.any(), name
