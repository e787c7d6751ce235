"""Shared helpers for the tests that compare POCA's implementations.

Imported as ``from poca_testing import ...`` (``tests/`` is on ``sys.path``,
see ``tool_loader.py``).
"""
import torch

from noah_mm.models.utils.poca import POCA


def fast_and_reference(C, N, M, **kwargs):
    """A ``POCA(impl='fast')`` with non-trivial weights (biases included)
    and a ``POCA(impl='reference')`` holding the same state."""
    torch.manual_seed(0)
    fast = POCA(C, M, num_heads=N, impl='fast', **kwargs)
    for p in fast.parameters():
        torch.nn.init.normal_(p, std=0.3)
    ref = POCA(C, M, num_heads=N, impl='reference', **kwargs)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


def assert_same_gradients(fast, ref, out1, out2, x1, x2):
    """Backpropagates the same random weighting of both outputs and compares
    the gradients of the inputs and of every parameter."""
    weights = torch.randn(out1.shape[1])
    (out1 * weights).sum().backward()
    (out2 * weights).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-5, atol=1e-5)
    for (name, p1), p2 in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-5, atol=1e-5,
                                   msg=name)
