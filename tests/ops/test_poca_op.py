"""POCA's operation (fused CPU kernels and PyTorch path) against the
reference formulation."""
import pytest
import torch

from noah_mm.ops import poca as poca_op
from poca_testing import assert_same_gradients, fast_and_reference as pair

# (in_channels, num_heads, POCA kwargs): both channel layouts, the
# 'group' split and mean aggregation; C/N = 8 with r = 1/8 gives 1 key and
# 7 value channels, so maps with more than 7 positions take the kernels'
# attention form and smaller ones the projected-values form.
VARIANTS = [
    (32, 4, dict(key_ratio=1 / 8)),
    (48, 4, dict(key_ratio=0.25, channel_layout='split_first')),
    (24, 3, dict(split='group')),
    (32, 2, dict(key_ratio=0.5, aggregation='mean')),
]
# L = 1, 6 (one full tile), 49 (tiles + 1) and 196 (tiles + 4).
MAPS = [(1, 1), (2, 3), (7, 7), (14, 14)]


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts calls into the kernels, so a test knows they really ran."""
    calls = {'forward': 0, 'backward': 0}
    original = poca_op._call

    def spy(name, *args, **kwargs):
        calls[name[len('noah_poca_'):]] += 1
        return original(name, *args, **kwargs)

    monkeypatch.setattr(poca_op, '_call', spy)
    return calls


def test_kernels_build_here():
    # The CI machine has a C++ compiler; elsewhere POCA falls back
    # (tests/ops/test_kernel_cache.py).
    status = poca_op.kernel_status()
    assert status.available, status.error
    assert status.path.endswith('.so')


@pytest.mark.parametrize('hw', MAPS, ids=str)
@pytest.mark.parametrize('C,N,kwargs', VARIANTS, ids=str)
@pytest.mark.parametrize('M', [1, 16, 37])
def test_forward_and_backward_match_reference(C, N, kwargs, hw, M,
                                              kernel_calls):
    fast, ref = pair(C, N, M, **kwargs)
    x = torch.randn(3, C, *hw)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out1, out2 = fast(x1), ref(x2)
    torch.testing.assert_close(out1, out2, rtol=1e-5, atol=1e-5)
    assert_same_gradients(fast, ref, out1, out2, x1, x2)
    assert kernel_calls == {'forward': 1, 'backward': 1}


def test_inference_uses_the_kernel_without_autograd(kernel_calls):
    fast, ref = pair(32, 4, 10, key_ratio=0.25)
    x = torch.randn(2, 32, 5, 5)
    with torch.inference_mode():
        out = fast(x)
    assert kernel_calls['forward'] == 1 and out.grad_fn is None
    torch.testing.assert_close(out, ref(x).detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('dropout', [0.0, 0.3])
def test_threads_split_the_work_without_changing_results(dropout):
    fast, _ = pair(32, 4, 50, key_ratio=0.25, dropout=dropout)
    x = torch.randn(4, 32, 7, 7, requires_grad=True)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 3):
            torch.set_num_threads(n)
            torch.manual_seed(0)  # the same dropout seed
            out = fast(x)
            (grad_x, ) = torch.autograd.grad(out.square().sum(), x)
            results.append((out, grad_x))
    finally:
        torch.set_num_threads(threads)
    # Each class panel is computed the same way whichever thread runs it,
    # and the dropout mask depends on the entry, not the thread.
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_packed_weights_follow_parameter_updates():
    fast, ref = pair(32, 4, 10, key_ratio=0.25)
    x = torch.randn(2, 32, 4, 4)
    fast(x).sum().backward()
    torch.optim.SGD(fast.parameters(), lr=0.5).step()  # in-place update
    ref.load_state_dict(fast.state_dict())
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)
    state = {k: torch.randn_like(v) for k, v in fast.state_dict().items()}
    fast.load_state_dict(state)
    ref.load_state_dict(state)
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)


def test_large_logits_stay_finite():
    fast, ref = pair(32, 4, 10, key_ratio=0.25)
    x = torch.randn(2, 32, 7, 7) * 1e4  # key logits far beyond exp's range
    out = fast(x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref(x), rtol=1e-5, atol=1e-3)


def test_other_dtypes_use_the_pytorch_path(kernel_calls):
    fast, ref = pair(32, 4, 10, key_ratio=0.25)
    x = torch.randn(2, 32, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(fast.double()(x), ref.double()(x))
    assert kernel_calls == {'forward': 0, 'backward': 0}


def test_dropout_mask_is_seeded_and_drops_at_the_rate():
    shape, p = (4, 37, 3, 49), 0.3
    mask = poca_op.dropout_mask(shape, p, seed=123)
    kept = mask[mask != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - p)))
    dropped = (mask == 0).float().mean().item()
    assert abs(dropped - p) < 0.015  # 21756 draws: 5 standard deviations
    assert torch.equal(mask, poca_op.dropout_mask(shape, p, seed=123))
    assert not torch.equal(mask, poca_op.dropout_mask(shape, p, seed=124))


@pytest.mark.parametrize('C,N,kwargs', VARIANTS, ids=str)
@pytest.mark.parametrize('hw', [(2, 3), (7, 7)], ids=str)
def test_dropout_matches_reference_with_the_same_mask(C, N, kwargs, hw,
                                                      kernel_calls):
    """Training with dropout runs in the kernels; with the mask they drew,
    Eq. 1 written with PyTorch ops gives the same logits and gradients."""
    M, B, p = 21, 3, 0.3
    fast, ref = pair(C, N, M, dropout=p, **kwargs)
    fast.train()
    ref.eval()  # no dropout of its own: the kernels' mask is applied below
    x = torch.randn(B, C, *hw)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.manual_seed(7)
    out1 = fast(x1)
    torch.manual_seed(7)
    seed = int(torch.randint(0, 2**62, ()))  # the draw POCA made
    L = hw[0] * hw[1]
    mask = poca_op.dropout_mask((N, M, B, L), p, seed)
    mask = mask.permute(2, 0, 1, 3).reshape(B, N, M, *hw)
    tensors = ref.block_tensors(x2)
    out2 = (tensors['attention'] * tensors['value'] * mask).sum((1, 3, 4))
    if kwargs.get('aggregation') == 'mean':
        out2 = out2 / (N * L)
    torch.testing.assert_close(out1, out2, rtol=1e-5, atol=1e-5)
    assert_same_gradients(fast, ref, out1, out2, x1, x2)
    assert kernel_calls == {'forward': 1, 'backward': 1}
    # Dropout really acts, and another seed draws another mask.
    assert (mask == 0).any()
    torch.manual_seed(8)
    assert not torch.allclose(fast(x), out1)


def test_environment_switch_turns_the_kernels_off(monkeypatch,
                                                   kernel_calls):
    monkeypatch.setenv('NOAH_MM_CPU_KERNELS', '0')
    assert not poca_op.kernel_status().available
    assert 'NOAH_MM_CPU_KERNELS=0' in poca_op.kernel_status().error
    fast, ref = pair(32, 4, 10, key_ratio=0.25)
    x = torch.randn(2, 32, 3, 3)
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)
    assert kernel_calls['forward'] == 0
