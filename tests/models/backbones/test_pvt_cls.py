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


def test_class_token_joins_the_last_stage():
    """The class token and its position embedding (entry 0 of the last
    stage's pos_embed) add 2*C parameters; the token changes the patch
    tokens (it attends with them) and comes out normalised."""
    torch.manual_seed(0)
    plain = PyramidVisionTransformerCls(**SMALL)
    torch.manual_seed(0)
    ours = PyramidVisionTransformerCls(
        **SMALL, with_cls_token=True, out_type='cls_token')
    ours.init_weights()
    assert sum(p.numel() for p in ours.parameters()) - sum(
        p.numel() for p in plain.parameters()) == 2 * 64
    assert ours.cls_token.shape == (1, 1, 64)
    # 224 px pre-training: 7x7 patch positions, resized to the input
    assert ours.layers[3][1][0].pos_embed.shape == (1, 1 + 7 * 7, 64)
    assert ours.cls_token.abs().sum() > 0  # initialised
    ours.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (cls_token, ) = ours(x)
        ours.out_type = 'featmap'
        (fmap, ) = ours(x)
        ours.cls_token.zero_()
        ours.layers[3][1][0].pos_embed[:, 0] = 1.
        (other, ) = ours(x)
    assert cls_token.shape == (2, 64) and fmap.shape == (2, 64, 2, 2)
    torch.testing.assert_close(cls_token.mean(-1), torch.zeros(2),
                               atol=1e-5, rtol=0)  # LayerNorm, no bias yet
    assert not torch.allclose(fmap, other)


def test_patch_and_reduction_norms():
    ours = PyramidVisionTransformerCls(
        **SMALL, patch_norm_cfg=dict(type='LN', eps=1e-5),
        sr_norm_cfg=dict(type='LN', eps=1e-5))
    eps = {n: m.eps for n, m in ours.named_modules()
           if isinstance(m, torch.nn.LayerNorm)}
    special = {n for n in eps if n.endswith('.0.norm') or
               n.endswith('attn.norm')}
    assert len(special) == 4 + 3  # 4 patch embeddings, 3 stages with sr > 1
    assert all(eps[n] == (1e-5 if n in special else 1e-6) for n in eps)
    default = PyramidVisionTransformerCls(**SMALL)
    assert {m.eps for m in default.modules()
            if isinstance(m, torch.nn.LayerNorm)} == {1e-6}


@pytest.mark.parametrize('kwargs,match', [
    (dict(out_type='cls_token'), 'with_cls_token=True'),
    (dict(out_type='tokens'), 'out_type'),
    (dict(with_cls_token=True, sr_ratios=[8, 4, 2, 2]), r'sr_ratios\[-1\]'),
    (dict(with_cls_token=True, use_conv_ffn=True), 'use_conv_ffn'),
])
def test_bad_class_token_settings(kwargs, match):
    cfg = dict(SMALL, **kwargs)
    with pytest.raises(ValueError, match=match):
        PyramidVisionTransformerCls(**cfg)
