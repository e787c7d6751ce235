# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Empty inputs on every POCA implementation: a batch of 0 gives ``(0, M)``
logits and zero gradients; a map without positions is a clear error."""
import pytest
import torch

from noah_mm.models.utils.poca import POCA

# impl and dtype pick the implementation: 'reference' is the grouped
# convolutions; 'fast' runs the fused CPU kernels on fp32 CPU tensors and
# the PyTorch fast path on other dtypes.
IMPLEMENTATIONS = [
    pytest.param('reference', torch.float32, id='reference'),
    pytest.param('fast', torch.float32, id='cpu-kernels'),
    pytest.param('fast', torch.float64, id='pytorch-fast-path'),
]
# The paper's head, the fast path's other forms, dropout (training) and
# settings only the reference path has.
SETTINGS = [
    dict(),
    dict(split='group', aggregation='mean'),
    dict(channel_layout='split_first', dropout=0.2),
]
REFERENCE_ONLY = [
    dict(split='none'),
    dict(aggregation='max', kernel_size=3),
    dict(split='group', shared_attention=True, extra_linear=True),
]


def _cases():
    for impl in IMPLEMENTATIONS:
        for kwargs in SETTINGS:
            yield pytest.param(*impl.values, kwargs,
                               id=f'{impl.id}-{kwargs}')
    for kwargs in REFERENCE_ONLY:
        yield pytest.param('auto', torch.float32, kwargs, id=f'auto-{kwargs}')


def _poca(impl, dtype, kwargs):
    torch.manual_seed(0)
    return POCA(16, 5, num_heads=2, impl=impl, **kwargs).to(dtype).train()


@pytest.mark.parametrize('impl, dtype, kwargs', list(_cases()))
def test_empty_batch_forward_and_backward(impl, dtype, kwargs):
    poca = _poca(impl, dtype, kwargs)
    x = torch.randn(0, 16, 7, 7, dtype=dtype, requires_grad=True)
    out = poca(x)
    assert out.shape == (0, 5) and out.dtype == dtype
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for name, p in poca.named_parameters():
        assert p.grad is not None, name
        assert torch.equal(p.grad, torch.zeros_like(p)), name
    with torch.no_grad():
        assert poca.eval()(x).shape == (0, 5)
    # The same module on a real batch still learns: gradients reach the
    # value projection.
    poca.zero_grad()
    poca(torch.randn(2, 16, 7, 7, dtype=dtype)).sum().backward()
    assert poca.value_weight.grad.abs().sum() > 0


@pytest.mark.parametrize('impl, dtype, kwargs', list(_cases()))
@pytest.mark.parametrize('shape', [(2, 16, 0, 7), (2, 16, 7, 0),
                                   (0, 16, 0, 0)], ids=str)
def test_a_map_without_positions_is_a_clear_error(impl, dtype, kwargs,
                                                  shape):
    poca = _poca(impl, dtype, kwargs)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    with pytest.raises(ValueError, match=r'feature map x .* has no spatial '
                       r'positions \(H\*W = 0\)'):
        poca(x)
    with pytest.raises(ValueError, match=r'H\*W = 0'):
        poca.block_tensors(x)


def test_empty_batch_under_fp16_autocast_gives_fp32_logits():
    poca = _poca('auto', torch.float32, {})
    x = torch.randn(0, 16, 7, 7)
    with torch.autocast('cpu', dtype=torch.float16):
        out = poca(x.half())
    assert out.shape == (0, 5) and out.dtype == torch.float32
