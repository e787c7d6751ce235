"""POCA against Eq. 1 of the paper, written out loop by loop."""
import itertools
import math

import numpy as np
import pytest
import torch

from noah_mm.models.utils.poca import POCA

C, M, N, H, W = 8, 3, 2, 3, 4


def eq1_logits(poca: POCA, x: torch.Tensor) -> np.ndarray:
    """Eq. 1 for one sample ``x (C, H, W)``, from the equations only.

    A slow loop over blocks, classes and positions, using the module's
    parameters but none of its code.
    """
    f = x.double().numpy()
    C_, H_, W_ = f.shape
    n_blocks, m = poca.num_heads, poca.num_classes
    p = {k: v.detach().double().numpy() for k, v in poca.named_parameters()}
    k_size = p['value_weight'].shape[-1]
    pad = k_size // 2
    group = C_ // n_blocks

    def channels(i):
        if poca.split == 'both' and poca.channel_layout == 'split_first':
            ck = int(math.floor(poca.key_ratio * group + 1e-6))
            cv = group - ck
            return (list(range(i * ck, (i + 1) * ck)),
                    list(range(n_blocks * ck + i * cv,
                               n_blocks * ck + (i + 1) * cv)))
        if poca.split == 'both':
            ck = int(math.floor(poca.key_ratio * group + 1e-6))
            own = list(range(i * group, (i + 1) * group))
            return own[:ck], own[ck:]
        if poca.split == 'group':
            own = list(range(i * group, (i + 1) * group))
            return own, own
        return list(range(C_)), list(range(C_))

    def linear(inp, w, b):  # inp (c, H, W), w (c', c), b (c')
        out = np.zeros((w.shape[0], H_, W_))
        for o, h, w_ in itertools.product(range(w.shape[0]), range(H_),
                                          range(W_)):
            out[o, h, w_] = b[o] + sum(w[o, c] * inp[c, h, w_]
                                       for c in range(w.shape[1]))
        return out

    def conv(inp, w, b):  # w (out, c, k, k) with zero padding
        out = np.zeros((w.shape[0], H_, W_))
        for o, h, w_ in itertools.product(range(w.shape[0]), range(H_),
                                          range(W_)):
            acc = b[o]
            for c, dy, dx in itertools.product(range(w.shape[1]),
                                               range(k_size), range(k_size)):
                yy, xx = h + dy - pad, w_ + dx - pad
                if 0 <= yy < H_ and 0 <= xx < W_:
                    acc += w[o, c, dy, dx] * inp[c, yy, xx]
            out[o, h, w_] = acc
        return out

    local = []
    for i in range(n_blocks):
        kc, vc = channels(i)
        fk, fv = f[kc], f[vc]
        if poca.extra_linear:
            fk = linear(fk, p['key_pre_weight'][i], p['key_pre_bias'][i])
            fv = linear(fv, p['value_pre_weight'][i], p['value_pre_bias'][i])
        s = conv(fk, p['key_weight'][i], p['key_bias'][i])  # (Mk, H, W)
        v = conv(fv, p['value_weight'][i], p['value_bias'][i])  # (M, H, W)
        a = np.zeros_like(s)
        if poca.attention == 'spatial_softmax':
            for c in range(s.shape[0]):
                e = np.exp(s[c] - s[c].max())
                a[c] = e / e.sum()
        elif poca.attention == 'channel_softmax':
            for h, w_ in itertools.product(range(H_), range(W_)):
                e = np.exp(s[:, h, w_] - s[:, h, w_].max())
                a[:, h, w_] = e / e.sum()
        else:
            a = 1 / (1 + np.exp(-s))
        pb = np.zeros((m, H_, W_))
        for c, h, w_ in itertools.product(range(m), range(H_), range(W_)):
            pb[c, h, w_] = a[c if a.shape[0] == m else 0, h, w_] * v[c, h, w_]
        local.append(pb)
    local = np.stack(local)  # (N, M, H, W)
    per_class = local.transpose(1, 0, 2, 3).reshape(m, -1)
    if poca.aggregation == 'sum':
        return per_class.sum(-1)
    if poca.aggregation == 'mean':
        return per_class.mean(-1)
    return per_class.max(-1)


VARIANTS = [
    dict(),
    dict(key_ratio=0.25),
    dict(key_ratio=0.25, channel_layout='split_first'),
    dict(split='group'),
    dict(split='none'),
    dict(attention='channel_softmax'),
    dict(attention='sigmoid'),
    dict(aggregation='mean'),
    dict(aggregation='max'),
    dict(kernel_size=3),
    dict(shared_attention=True, split='group'),
    dict(shared_attention=True),
    dict(extra_linear=True),
    dict(extra_linear=True, split='none'),
]


def _randomise(module):
    torch.manual_seed(1)
    for param in module.parameters():
        torch.nn.init.normal_(param, std=0.5)  # biases too: none stay zero


@pytest.mark.parametrize('kwargs', VARIANTS, ids=str)
def test_matches_equation_1(kwargs):
    poca = POCA(C, M, num_heads=N, **kwargs).eval()
    _randomise(poca)
    x = torch.randn(2, C, H, W)
    with torch.no_grad():
        out = poca(x)
    assert out.shape == (2, M)
    for b in range(2):
        np.testing.assert_allclose(
            out[b].double().numpy(), eq1_logits(poca, x[b]), rtol=1e-5,
            atol=1e-5)


@pytest.mark.parametrize('kwargs', VARIANTS, ids=str)
def test_gradients_reach_every_learnable_weight(kwargs):
    poca = POCA(C, M, num_heads=N, **kwargs).train()
    _randomise(poca)
    x = torch.randn(2, C, H, W, requires_grad=True)
    poca(x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, param in poca.named_parameters():
        assert param.grad is not None, name
        invariant = (name == 'key_bias'
                     and poca.attention == 'spatial_softmax')
        if invariant:
            # Softmax over positions ignores a per-class constant: the key
            # bias cannot change the output, so its gradient is zero.
            assert param.grad.abs().max() < 1e-5, name
        elif not (name == 'key_bias' and poca.aggregation == 'max'):
            assert param.grad.abs().sum() > 0, name


def test_key_bias_has_no_effect_under_spatial_softmax():
    poca = POCA(C, M, num_heads=N).eval()
    _randomise(poca)
    x = torch.randn(2, C, H, W)
    before = poca(x)
    with torch.no_grad():
        poca.key_bias.add_(torch.randn_like(poca.key_bias) * 3)
    torch.testing.assert_close(poca(x), before, rtol=1e-5, atol=1e-5)
    # ...while a value bias adds N * bias (sum over blocks, softmax sums to 1)
    with torch.no_grad():
        poca.value_bias.add_(1.0)
    torch.testing.assert_close(poca(x), before + N, rtol=1e-5, atol=1e-4)


def test_dropout_acts_on_values_in_training_only():
    poca = POCA(C, M, num_heads=N, dropout=0.5)
    _randomise(poca)
    x = torch.randn(4, C, H, W)
    poca.eval()
    assert torch.equal(poca(x), poca(x))
    poca.train()
    torch.manual_seed(0)
    tensors = poca.block_tensors(x)
    zeros = (tensors['value'] == 0).float().mean().item()
    assert 0.3 < zeros < 0.7
    assert (tensors['attention'] > 0).all()  # attention is never dropped


def test_block_tensors_shapes_and_attention_normalised():
    poca = POCA(C, M, num_heads=N).eval()
    t = poca.block_tensors(torch.randn(2, C, H, W))
    assert t['attention'].shape == (2, N, M, H, W)
    assert t['value'].shape == (2, N, M, H, W)
    torch.testing.assert_close(t['attention'].sum((-1, -2)),
                               torch.ones(2, N, M))


def test_channel_layouts_are_one_model_up_to_a_channel_permutation():
    ours = POCA(C, M, num_heads=N, key_ratio=0.25).eval()
    _randomise(ours)
    theirs = POCA(C, M, num_heads=N, key_ratio=0.25,
                  channel_layout='split_first').eval()
    theirs.load_state_dict(ours.state_dict())
    group, ck = C // N, 1
    keys = [i * group + j for i in range(N) for j in range(ck)]
    values = [i * group + j for i in range(N) for j in range(ck, group)]
    x = torch.randn(2, C, H, W)
    torch.testing.assert_close(theirs(x[:, keys + values]), ours(x))


def test_wrong_channels_at_run_time_names_in_channels():
    poca = POCA(C, M, num_heads=N)
    with pytest.raises(ValueError, match='in_channels'):
        poca(torch.randn(1, C + 2, H, W))
