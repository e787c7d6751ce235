"""NaN and Inf propagate through every implementation of POCA exactly as
through the reference formulation, in forward and backward."""
import pytest
import torch

from noah_mm.ops import poca as poca_op
from poca_testing import fast_and_reference

NAN, INF = float('nan'), float('inf')
# C=32, N=4: r=1/8 gives 1 key and 7 value channels per block, so the 7x7
# map takes the kernels' attention form and the 2x3 map the projected form.
VARIANTS = [
    dict(key_ratio=1 / 8),
    dict(key_ratio=0.25, channel_layout='split_first'),
    dict(split='group'),
    dict(key_ratio=0.5, aggregation='mean'),
]
# Where one non-finite entry goes. Block 1 (channels 8..15 with
# 'group_first'); sample 1 of x.
TARGETS = {
    'x_key': ('x', (1, 8)),
    'x_value': ('x', (1, 15)),
    'key_weight': ('key_weight', (1, 3, 0, 0, 0)),
    'key_bias': ('key_bias', (1, 3)),
    'value_weight': ('value_weight', (1, 3, 0, 0, 0)),
    'value_bias': ('value_bias', (1, 3)),
}


def run(module, x, weights):
    """Logits and the gradients of x and every parameter."""
    x = x.clone().requires_grad_()
    out = module(x)
    grads = torch.autograd.grad((out * weights).sum(),
                                (x, *module.parameters()))
    return (out, *grads)


def assert_same(results, expected, names):
    for name, a, b in zip(names, results, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4,
                                   equal_nan=True, msg=name)


@pytest.mark.parametrize('value', [NAN, INF, -INF], ids=str)
@pytest.mark.parametrize('target', list(TARGETS))
@pytest.mark.parametrize('hw', [(2, 3), (7, 7)], ids=str)
@pytest.mark.parametrize('kwargs', VARIANTS, ids=str)
def test_every_impl_propagates_like_the_reference(kwargs, hw, target, value,
                                                  monkeypatch):
    fast, ref = fast_and_reference(32, 4, 10, **kwargs)
    x = torch.randn(3, 32, *hw)
    name, index = TARGETS[target]
    if name == 'x':
        if target == 'x_key' and kwargs.get('channel_layout'):
            index = (1, fast.key_channels)  # block 1's keys: split_first
        x[index + (hw[0] - 1, hw[1] - 1)] = value
    else:
        for module in (fast, ref):
            with torch.no_grad():
                getattr(module, name)[index] = value
    weights = torch.randn(3, 10)
    names = ['logits', 'x'] + [n for n, _ in fast.named_parameters()]
    expected = run(ref, x, weights)
    assert_same(run(fast, x, weights), expected, names)  # the kernels
    monkeypatch.setenv('NOAH_MM_CPU_KERNELS', '0')
    assert_same(run(fast, x, weights), expected, names)  # PyTorch path
    # The reference's own behaviour, as the issue describes it.
    logits = expected[0]
    if target == 'x_key' and value != value:  # NaN in one sample's key
        assert logits[1].isnan().all()
        assert torch.isfinite(logits[[0, 2]]).all()
    if target in ('key_weight', 'key_bias') and value != value:
        assert logits[:, 3].isnan().all()


def test_the_torch_impl_of_the_op_matches_the_kernels_on_nan():
    fast, _ = fast_and_reference(32, 4, 10, key_ratio=0.25)
    x = torch.randn(2, 32, 4, 4)
    x[0, 0, 1, 1] = NAN
    args = (x, fast.key_weight, fast.key_bias, fast.value_weight,
            fast.value_bias, fast.key_channels)
    with torch.no_grad():
        a = poca_op.poca_logits(*args, impl='cpu_kernel')
        b = poca_op.poca_logits(*args, impl='torch')
    assert a[0].isnan().all() and torch.isfinite(a[1]).all()
    torch.testing.assert_close(a, b, equal_nan=True, rtol=1e-5, atol=1e-5)
