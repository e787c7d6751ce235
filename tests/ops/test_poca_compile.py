"""torch.compile and torch.export keep the fused CPU kernels (custom ops).

The tests compile with the ``aot_eager`` backend: it runs the same Dynamo
capture and AOTAutograd tracing (custom op, fake and autograd registrations)
as the default inductor backend without generating C++;
``tools/analysis_tools/benchmark_compile.py`` times inductor.
"""
import pytest
import torch

from noah_mm.models.utils.poca import POCA
from noah_mm.ops import poca as poca_op
from poca_testing import assert_same_gradients, fast_and_reference


@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    original = poca_op._call

    def spy(name, *args, **kwargs):
        calls.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(poca_op, '_call', spy)
    return calls


@pytest.mark.parametrize('kwargs', [
    dict(key_ratio=0.25),
    dict(key_ratio=0.25, channel_layout='split_first', aggregation='mean'),
    dict(split='group'),
], ids=str)
def test_compiled_fullgraph_runs_the_kernels_forward_and_backward(
        kwargs, kernel_calls):
    torch._dynamo.reset()
    fast, ref = fast_and_reference(32, 4, 21, **kwargs)
    compiled = torch.compile(fast, backend='aot_eager', fullgraph=True)
    x = torch.randn(3, 32, 5, 5)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out1, out2 = compiled(x1), ref(x2)
    torch.testing.assert_close(out1, out2, rtol=1e-5, atol=1e-5)
    assert_same_gradients(fast, ref, out1, out2, x1, x2)
    assert kernel_calls == ['noah_poca_forward', 'noah_poca_backward']
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), ref(x), rtol=1e-5, atol=1e-5)


def test_compiled_dropout_draws_its_seed_from_torch_generator(kernel_calls):
    torch._dynamo.reset()
    poca = POCA(32, 21, num_heads=4, key_ratio=0.25, dropout=0.3).train()
    compiled = torch.compile(poca, backend='aot_eager', fullgraph=True)
    x = torch.randn(3, 32, 5, 5, requires_grad=True)
    torch.manual_seed(0)
    eager = poca(x)
    (eager_grad, ) = torch.autograd.grad(eager.sum(), x)
    torch.manual_seed(0)
    out = compiled(x)
    (grad, ) = torch.autograd.grad(out.sum(), x)
    # The same draw from torch's generator, so the same mask.
    torch.testing.assert_close(out, eager, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad, eager_grad, rtol=1e-6, atol=1e-6)
    torch.manual_seed(1)
    assert not torch.allclose(compiled(x), out)
    assert set(kernel_calls) == {'noah_poca_forward', 'noah_poca_backward'}


def test_export_keeps_the_custom_op():
    poca = POCA(32, 10, num_heads=4).eval()
    x = torch.randn(2, 32, 3, 3)
    program = torch.export.export(poca, (x, ))
    targets = {str(n.target) for n in program.graph.nodes
               if n.op == 'call_function'}
    assert 'noah_mm.poca_cpu_forward.default' in targets
    assert not any('convolution' in t for t in targets)
    torch.testing.assert_close(program.module()(x), poca(x))


def test_custom_op_registrations_pass_opcheck():
    fast, _ = fast_and_reference(32, 4, 21, key_ratio=0.25)
    x = torch.randn(2, 32, 3, 4, requires_grad=True)
    args = (x, fast.key_weight, fast.key_bias, fast.value_weight,
            fast.value_bias, [fast.key_channels, 0, 0], 1.0, 0.0)
    torch.library.opcheck(torch.ops.noah_mm.poca_cpu_forward.default, args)
