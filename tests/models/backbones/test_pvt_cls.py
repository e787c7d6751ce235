# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.backbones import PyramidVisionTransformer

import noah_mm  # noqa: F401
from mmpretrain.registry import MODELS
from noah_mm.models.backbones import PyramidVisionTransformerCls

SMALL = dict(
    embed_dims=8,
    num_layers=[1, 1, 1, 1],
    num_heads=[1, 2, 5, 8],
    sr_ratios=[8, 4, 2, 1],
    mlp_ratios=[8, 8, 4, 4],
    drop_path_rate=0.)


def _pair(**kwargs):
    """Our backbone and mmdet's with the same weights."""
    torch.manual_seed(0)
    ours = PyramidVisionTransformerCls(**SMALL, **kwargs)
    ours.init_weights()
    ref = PyramidVisionTransformer(**SMALL, out_indices=ours.out_indices)
    missing, unexpected = ref.load_state_dict(ours.state_dict(), strict=False)
    assert missing == []
    assert set(unexpected) == ({'final_norm.weight', 'final_norm.bias'}
                               if ours.with_final_norm else set())
    # non-trivial norm parameters, so the check below is not a plain LN
    if ours.with_final_norm:
        with torch.no_grad():
            ours.final_norm.weight.uniform_(0.5, 1.5)
            ours.final_norm.bias.uniform_(-0.5, 0.5)
    return ours.eval(), ref.eval()


def test_last_stage_is_mmdets_output_after_layer_norm():
    ours, ref = _pair()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (out, ) = ours(x)
        (ref_out, ) = ref(x)
    assert out.shape == (2, 64, 2, 2)
    expected = F.layer_norm(
        ref_out.permute(0, 2, 3, 1), (64, ), ours.final_norm.weight,
        ours.final_norm.bias, eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, ref_out)


def test_multi_stage_outputs_only_last_normalised():
    ours, ref = _pair(out_indices=(0, 3))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        outs = ours(x)
        ref_outs = ref(x)
    assert [o.shape[1] for o in outs] == [8, 64]
    torch.testing.assert_close(outs[0], ref_outs[0])
    assert not torch.allclose(outs[1], ref_outs[1])


def test_without_final_norm_is_mmdets_backbone():
    ours, ref = _pair(final_norm=False)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in ref.parameters())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], ref(x)[0])


def test_pvt_tiny_params_and_registry_scopes():
    """PVT-Tiny widths; mmdet's backbone also builds via the scope prefix."""
    tiny = dict(
        embed_dims=64,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        sr_ratios=[8, 4, 2, 1],
        mlp_ratios=[8, 8, 4, 4])
    ours = MODELS.build(dict(type='PyramidVisionTransformerCls', **tiny))
    mmdet_pvt = MODELS.build(
        dict(type='mmdet.PyramidVisionTransformer', **tiny))
    assert isinstance(mmdet_pvt, PyramidVisionTransformer)
    n_ours = sum(p.numel() for p in ours.parameters())
    n_mmdet = sum(p.numel() for p in mmdet_pvt.parameters())
    assert n_ours - n_mmdet == 2 * 512  # the final LayerNorm
    assert ours.final_norm.normalized_shape == (512, )


def test_bad_final_norm():
    with pytest.raises(TypeError, match='final_norm'):
        PyramidVisionTransformerCls(**SMALL, final_norm='yes')
