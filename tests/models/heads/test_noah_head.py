"""NOAHHead: build, input formats, loss/predict wiring, validation, and the
mathematical properties of the head."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from noah_mm.models.heads import NOAHHead


def build(**kwargs):
    cfg = dict(type='NOAHHead', num_classes=10, in_channels=32, num_heads=4,
               key_ratio=0.5)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def samples(labels, num_classes=10, soft=False):
    out = []
    for label in labels:
        s = DataSample().set_gt_label(label)
        if soft:
            score = torch.zeros(num_classes)
            score[label] = 0.7
            score[(label + 1) % num_classes] = 0.3
            s.set_gt_score(score)
        out.append(s)
    return out


# --------------------------------------------------------------------- build
def test_build_resnet50_head_from_registry_and_param_count():
    head = MODELS.build(dict(type='NOAHHead', num_classes=1000,
                             in_channels=2048, num_heads=4, key_ratio=1 / 8))
    assert isinstance(head, NOAHHead)
    M, C, N = 1000, 2048, 4
    assert sum(p.numel() for p in head.parameters()) == M * C + 2 * N * M
    assert head.poca.key_channels == 64 and head.poca.value_channels == 448


# ---------------------------------------------------------- input formats
def test_forward_on_map_and_stage_tuple():
    head = build().eval()
    x = torch.randn(2, 32, 5, 5)
    out = head(x)
    assert out.shape == (2, 10)
    torch.testing.assert_close(head((torch.randn(2, 8, 9, 9), x)), out)


def test_tokens_nlc_ncl_and_class_token_agree_with_map():
    head = build().eval()
    x = torch.randn(2, 32, 4, 4)
    ref = head(x)
    nlc = x.flatten(2).transpose(1, 2)
    torch.testing.assert_close(head(nlc), ref)
    torch.testing.assert_close(head(x.flatten(2)), ref)
    cls_head = build(with_cls_token=True).eval()
    cls_head.load_state_dict(head.state_dict())
    with_cls = torch.cat([torch.randn(2, 1, 32) * 100, nlc], dim=1)
    torch.testing.assert_close(cls_head(with_cls), ref)


def test_non_square_tokens_need_feat_size():
    head = build(poca_cfg=dict(kernel_size=3)).eval()
    x = torch.randn(2, 32, 3, 5)
    tokens = x.flatten(2).transpose(1, 2)
    with pytest.raises(ValueError, match='feat_size'):
        head(tokens)
    rect = build(poca_cfg=dict(kernel_size=3), feat_size=(3, 5)).eval()
    rect.load_state_dict(head.state_dict())
    torch.testing.assert_close(rect(tokens), head(x))


def test_ambiguous_tokens_need_input_format():
    head = build().eval()
    square = torch.randn(2, 32, 32)  # L == C
    with pytest.raises(ValueError, match='input_format'):
        head(square)
    nlc = build(input_format='NLC').eval()
    nlc.load_state_dict(head.state_dict())
    x = square.transpose(1, 2).reshape(2, 32, 4, 8)
    with pytest.raises(ValueError, match='square'):
        nlc(square)
    rect = build(input_format='NLC', feat_size=(4, 8)).eval()
    rect.load_state_dict(head.state_dict())
    torch.testing.assert_close(rect(square), head(x))


def test_wrong_channels_at_run_time_is_a_clear_value_error():
    head = build()
    with pytest.raises(ValueError, match='in_channels=32'):
        head(torch.randn(2, 48, 4, 4))
    with pytest.raises(ValueError, match='in_channels'):
        head(torch.randn(2, 16, 48))


def test_input_projection_tanh_and_hswish():
    head = build(in_channels=24, in_proj=dict(
        out_channels=32, act_cfg=dict(type='Tanh'))).eval()
    assert isinstance(head.in_proj[1], torch.nn.Tanh)
    x = torch.randn(2, 24, 4, 4)
    mapped = head.pre_logits(x)
    assert mapped.shape == (2, 32, 4, 4) and mapped.abs().max() <= 1
    assert head(x).shape == (2, 10)
    # DeiT-Tiny 0.75x: Linear(144 -> 192) + Tanh before the head
    deit = MODELS.build(dict(type='NOAHHead', num_classes=1000,
                             in_channels=144, num_heads=4, key_ratio=0.5,
                             in_proj=dict(out_channels=192,
                                          act_cfg=dict(type='Tanh'))))
    n = sum(p.numel() for p in deit.parameters())
    assert n == 144 * 192 + 192 + 192 * 1000 + 2 * 4 * 1000
    v3 = build(in_channels=16, in_proj=dict(
        out_channels=32, act_cfg=dict(type='HSwish')))
    assert isinstance(v3.in_proj[1], torch.nn.Hardswish)  # mmcv's HSwish


# ----------------------------------------------------------- loss / predict
@pytest.mark.parametrize('loss', [
    dict(type='CrossEntropyLoss', loss_weight=1.0),
    dict(type='LabelSmoothLoss', label_smooth_val=0.1, loss_weight=1.0),
])
def test_loss_with_hard_labels(loss):
    head = build(loss=loss, cal_acc=True)
    feats = (torch.randn(4, 32, 3, 3), )
    losses = head.loss(feats, samples([0, 1, 2, 3]))
    assert torch.isfinite(losses['loss']) and losses['loss'] > 0
    assert 'accuracy_top-1' in losses
    losses['loss'].backward()
    assert head.poca.value_weight.grad.abs().sum() > 0


def test_loss_with_soft_targets_from_mixup():
    head = build(loss=dict(type='CrossEntropyLoss', use_soft=True))
    feats = (torch.randn(4, 32, 3, 3), )
    data_samples = samples([0, 1, 2, 3], soft=True)
    loss = head.loss(feats, data_samples)['loss']
    logits = head(feats)
    target = torch.stack([s.gt_score for s in data_samples])
    expected = -(target * logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(loss, expected)


def test_predict_fills_scores_and_labels():
    head = build().eval()
    feats = (torch.randn(3, 32, 3, 3), )
    preds = head.predict(feats)
    logits = head(feats)
    for i, p in enumerate(preds):
        torch.testing.assert_close(p.pred_score, logits[i].softmax(-1))
        assert p.pred_label.item() == logits[i].argmax().item()


def test_in_image_classifier_train_step():
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=4,
                      out_indices=(3, )),
        head=dict(type='NOAHHead', num_classes=5, in_channels=512,
                  num_heads=4, key_ratio=0.5, dropout=0.1)))
    model.train()
    inputs = torch.randn(2, 3, 64, 64)
    losses = model(inputs, samples([1, 3], num_classes=5), mode='loss')
    assert torch.isfinite(losses['loss'])
    model.eval()
    preds = model(inputs, mode='predict')
    assert preds[0].pred_score.shape == (5, )


# --------------------------------------------------------------- validation
@pytest.mark.parametrize('kwargs, exc, match', [
    (dict(num_classes=0), ValueError, 'num_classes'),
    (dict(num_classes=2.5), TypeError, 'num_classes'),
    (dict(in_channels=0), ValueError, 'in_channels'),
    (dict(in_channels='32'), TypeError, 'in_channels'),
    (dict(num_heads=0), ValueError, 'num_heads'),
    (dict(num_heads=True), TypeError, 'num_heads'),
    (dict(num_heads=5), ValueError, r'in_channels \(32\) must be divisible by'
                                    r' num_heads \(5\)'),
    (dict(key_ratio=0), ValueError, 'key_ratio'),
    (dict(key_ratio=1), ValueError, 'key_ratio'),
    (dict(key_ratio=1.5), ValueError, 'key_ratio'),
    (dict(key_ratio='half'), TypeError, 'key_ratio'),
    (dict(key_ratio=0.1), ValueError, '0 key and 8 value'),
    (dict(in_channels=4, key_ratio=0.5), ValueError, '0 key and 1 value'),
    (dict(key_ratio=1 - 1e-9), ValueError, '8 key and 0 value'),
    (dict(dropout=-0.1), ValueError, 'dropout'),
    (dict(dropout=1.0), ValueError, 'dropout'),
    (dict(dropout='0.1'), TypeError, 'dropout'),
    (dict(poca_cfg=dict(split='second')), ValueError, 'split'),
    (dict(poca_cfg=dict(attention='softmax')), ValueError, 'attention'),
    (dict(poca_cfg=dict(aggregation='avg')), ValueError, 'aggregation'),
    (dict(poca_cfg=dict(kernel_size=2)), ValueError, 'kernel_size'),
    (dict(poca_cfg=dict(kernel_size=0)), ValueError, 'kernel_size'),
    (dict(poca_cfg=dict(shared_attention=True,
                        attention='channel_softmax')), ValueError,
     'shared_attention'),
    (dict(poca_cfg=['split']), TypeError, 'poca_cfg must be a dict'),
    (dict(poca_cfg=dict(num_heads=2)), ValueError,
     "poca_cfg must not set 'num_heads'"),
    (dict(poca_cfg=dict(in_channels=16)), ValueError,
     "poca_cfg must not set 'in_channels'"),
    (dict(poca_cfg=dict(splt='group')), TypeError,
     "unknown POCA argument 'splt'"),
    (dict(with_cls_token='False'), TypeError, 'with_cls_token'),
    (dict(poca_cfg=dict(shared_attention='False')), TypeError,
     'shared_attention'),
    (dict(colour='red'), TypeError, r"unexpected arguments \['colour'\]"),
    (dict(split='group', poca_cfg=dict(split='none')), ValueError,
     'given both'),
    (dict(input_format='NHWC'), ValueError, 'input_format'),
    (dict(feat_size=(7, )), ValueError, 'feat_size'),
    (dict(in_proj=dict(act_cfg=dict(type='Tanh'))), ValueError, 'in_proj'),
    (dict(in_proj=dict(out_channels=0)), ValueError, 'out_channels'),
])
def test_bad_arguments_are_rejected_at_build_time(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        build(**kwargs)


def test_split_none_does_not_need_divisible_channels():
    head = build(in_channels=30, poca_cfg=dict(split='none'),
                 num_heads=4).eval()
    assert head(torch.randn(1, 30, 2, 2)).shape == (1, 10)


# ------------------------------------------------ the POCA pass-through
def test_poca_cfg_reaches_poca_and_heads_set_the_rest():
    head = build(num_heads=2, key_ratio=0.25, dropout=0.1,
                 poca_cfg=dict(split='group', aggregation='mean',
                               impl='reference'))
    poca = head.poca
    assert (poca.num_heads, poca.key_ratio, poca.dropout.p) == (2, 0.25, 0.1)
    assert (poca.split, poca.aggregation, poca.impl) == ('group', 'mean',
                                                         'reference')
    assert (poca.in_channels, poca.num_classes) == (32, 10)


def test_poca_arguments_given_directly_still_build_with_a_warning():
    with pytest.warns(FutureWarning, match=r"poca_cfg=dict\(split='group', "
                      r"channel_layout='split_first'\)"):
        legacy = build(split='group', channel_layout='split_first')
    current = build(poca_cfg=dict(split='group',
                                  channel_layout='split_first'))
    assert legacy.poca.extra_repr() == current.poca.extra_repr()
    current.load_state_dict(legacy.state_dict())
    x = torch.randn(2, 32, 3, 3)
    torch.testing.assert_close(legacy.eval()(x), current.eval()(x))


# ---------------------------------------------------------- empty inputs
def test_pooled_input_says_to_drop_the_gap_neck():
    head = build()
    for fmt in ('auto', 'NCHW', 'NLC'):
        head.input_format = fmt
        with pytest.raises(ValueError, match=r'pooled \(B, C\) input of '
                           r'shape \(2, 32\).*neck=None'):
            head(torch.randn(2, 32))


@pytest.mark.parametrize('impl', ['reference', 'fast'])
@pytest.mark.parametrize('shape, kwargs', [
    ((0, 32, 5, 5), dict()),
    ((0, 17, 32), dict(with_cls_token=True)),
    ((0, 16, 3, 3), dict(in_channels=16, in_proj=dict(
        out_channels=32, act_cfg=dict(type='Tanh')))),
], ids=['map', 'tokens', 'in_proj'])
def test_empty_batch_forward_loss_and_backward(impl, shape, kwargs):
    head = build(dropout=0.1, poca_cfg=dict(impl=impl), **kwargs).train()
    x = torch.randn(shape, requires_grad=True)
    assert head(x).shape == (0, 10)
    losses = head.loss(x, [])
    assert set(losses) == {'loss'} and losses['loss'].item() == 0
    losses['loss'].backward()
    assert x.grad.shape == x.shape
    for name, p in head.named_parameters():
        assert p.grad is not None and not p.grad.any(), name


def test_empty_batch_training_step_of_a_classifier():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=4,
                      out_indices=(3, )),
        head=dict(type='NOAHHead', num_classes=5, in_channels=512,
                  num_heads=4, key_ratio=0.5, dropout=0.1))).train()
    losses = model(torch.randn(0, 3, 64, 64), [], mode='loss')
    assert losses['loss'].item() == 0
    losses['loss'].backward()
    for name, p in model.head.named_parameters():
        assert p.grad is not None and not p.grad.any(), name


# ------------------------------------------------- mathematical properties
def _resnet50_head():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='NOAHHead', num_classes=1000,
                             in_channels=2048, num_heads=4, key_ratio=1 / 8))
    return head.eval().double()


@torch.no_grad()
def test_invariant_to_permuting_positions():
    head = _resnet50_head()
    x = torch.randn(2, 2048, 7, 7, dtype=torch.float64)
    perm = torch.randperm(49)
    shuffled = x.flatten(2)[..., perm].reshape_as(x)
    torch.testing.assert_close(head(shuffled), head(x))


@torch.no_grad()
def test_invariant_to_tiling_the_map():
    head = _resnet50_head()
    x = torch.randn(2, 2048, 3, 4, dtype=torch.float64)
    tiled = x.repeat(1, 1, 2, 3)
    torch.testing.assert_close(head(tiled), head(x))


@torch.no_grad()
def test_affine_for_a_single_position():
    head = _resnet50_head()
    x, y = torch.randn(2, 2, 2048, 1, 1, dtype=torch.float64)
    a = 0.3
    torch.testing.assert_close(head(a * x + (1 - a) * y),
                               a * head(x) + (1 - a) * head(y))


@torch.no_grad()
def test_not_affine_for_larger_maps():
    head = _resnet50_head()
    x, y = torch.randn(2, 2, 2048, 7, 7, dtype=torch.float64)
    a = 0.3
    gap = (head(a * x + (1 - a) * y) - (a * head(x) + (1 - a) * head(y)))
    assert gap.abs().max() > 1e-3
