"""The fast POCA path against the reference (grouped-convolution) path."""
import pytest
import torch

from noah_mm.models.utils.poca import POCA
from poca_testing import assert_same_gradients, fast_and_reference

FAST_VARIANTS = [
    dict(key_ratio=1 / 8),
    dict(key_ratio=0.25, channel_layout='split_first'),
    dict(split='group'),
    dict(aggregation='mean'),
]


def pair(**kwargs):
    return fast_and_reference(32, 4, 10, **kwargs)


def uses_the_op(out):
    """Whether autograd records POCA's operation (the kernels' custom op or
    the PyTorch path's Function) rather than the reference's convolutions."""
    seen, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if 'poca' in node.name().lower():
            return True
        stack.extend(n for n, _ in node.next_functions)
    return False


@pytest.mark.parametrize('kwargs', FAST_VARIANTS, ids=str)
def test_fast_path_equals_reference_forward_and_backward(kwargs):
    fast, ref = pair(**kwargs)
    x = torch.randn(3, 32, 5, 6)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out1, out2 = fast(x1), ref(x2)
    torch.testing.assert_close(out1, out2, rtol=1e-5, atol=1e-5)
    assert_same_gradients(fast, ref, out1, out2, x1, x2)


def test_auto_picks_the_fast_path_only_where_it_applies():
    x = torch.randn(2, 32, 3, 3, requires_grad=True)
    fast = POCA(32, 10, num_heads=4)
    assert fast.fast_path_applies
    # The fast path's autograd node is the operation's, not a convolution.
    assert uses_the_op(fast(x))
    for kwargs in (dict(kernel_size=3), dict(attention='sigmoid'),
                   dict(aggregation='max'), dict(split='none'),
                   dict(shared_attention=True), dict(extra_linear=True)):
        poca = POCA(32, 10, num_heads=4, **kwargs)
        assert not poca.fast_path_applies, kwargs
        assert not uses_the_op(poca(x))
        with pytest.raises(ValueError, match="impl='fast'"):
            POCA(32, 10, num_heads=4, impl='fast', **kwargs)
    with pytest.raises(ValueError, match='impl'):
        POCA(32, 10, num_heads=4, impl='triton')


def test_fast_path_with_dropout_passes_gradcheck():
    poca = POCA(8, 3, num_heads=2, dropout=0.3).double().train()
    x = torch.randn(2, 8, 3, 3, dtype=torch.double, requires_grad=True)

    def seeded(x, *params):
        torch.manual_seed(0)  # the same dropout mask on every call
        return poca(x)

    assert torch.autograd.gradcheck(seeded, (x, *poca.parameters()))
    torch.manual_seed(0)
    a = poca(x)
    torch.manual_seed(1)
    assert not torch.allclose(a, poca(x))  # dropout is really on


def test_fast_path_saves_far_less_for_backward():
    fast = POCA(2048, 1000, num_heads=4, key_ratio=1 / 8, impl='fast')
    ref = POCA(2048, 1000, num_heads=4, key_ratio=1 / 8, impl='reference')
    x = torch.randn(8, 2048, 7, 7, requires_grad=True)
    params = {p.data_ptr() for m in (fast, ref) for p in m.parameters()}

    def saved_bytes(module):
        storages = {}

        def pack(t):
            if t.data_ptr() not in params:
                storages[t.untyped_storage().data_ptr()] = \
                    t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            module(x)
        return sum(storages.values())

    assert saved_bytes(fast) <= 0.25 * saved_bytes(ref)


def test_bf16_autocast_on_large_inputs_is_finite_and_close():
    for impl in ('fast', 'reference'):
        torch.manual_seed(0)
        poca = POCA(32, 10, num_heads=4, impl=impl).eval()
        x = torch.randn(2, 32, 5, 5) * 1e4
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = poca(x)
        assert torch.isfinite(y).all(), impl
        ref = poca(x)
        assert (y.float() - ref).abs().max() <= 0.05 * ref.abs().max(), impl


def test_fp16_autocast_keeps_the_head_in_fp32():
    # fp16 key logits overflow (> 65504) on large inputs; under fp16 autocast
    # the head runs in fp32 and matches the fp32 result.
    for impl in ('fast', 'reference'):
        torch.manual_seed(0)
        poca = POCA(32, 10, num_heads=4, impl=impl).eval()
        x = torch.randn(2, 32, 5, 5) * 1e4
        with torch.autocast('cpu', dtype=torch.float16):
            y = poca(x)
        assert y.dtype == torch.float32 and torch.isfinite(y).all(), impl
        torch.testing.assert_close(y, poca(x))


def test_tracing_sees_the_reference_ops():
    poca = POCA(32, 10, num_heads=4).eval()
    x = torch.randn(2, 32, 3, 3)
    traced = torch.jit.trace(poca, x)
    kinds = {node.kind() for node in traced.graph.nodes()}
    assert 'aten::_convolution' in kinds and 'prim::PythonOp' not in kinds
    torch.testing.assert_close(traced(x), poca(x))
