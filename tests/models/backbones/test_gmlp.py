# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import pytest
import timm
import torch

import noah_mm  # noqa: F401
from mmpretrain.registry import MODELS
from noah_mm.models.backbones import GMLP


def _small(**kwargs):
    cfg = dict(
        type='GMLP',
        arch=dict(embed_dims=16, num_layers=2, mlp_ratio=6),
        img_size=32,
        patch_size=8)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_tiny_is_timms_gmlp_ti16():
    """arch='tiny' is timm's gmlp_ti16_224 without its classifier."""
    torch.manual_seed(0)
    ref = timm.create_model('gmlp_ti16_224', pretrained=False, num_classes=0)
    model = MODELS.build(dict(type='GMLP', arch='tiny'))
    assert {k: v.shape for k, v in model.gmlp.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    # the same network on 64x64 images (4x4 patches) to keep the test fast
    ref = timm.create_model(
        'gmlp_ti16_224', pretrained=False, num_classes=0, img_size=64).eval()
    model = MODELS.build(dict(type='GMLP', arch='tiny', img_size=64))
    model.gmlp.load_state_dict(ref.state_dict())
    model.eval()  # mmpretrain's BaseBackbone.eval() returns None
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        tokens = ref.forward_features(x)  # (2, 16, 128)
        (fmap, ) = model(x)
    assert fmap.shape == (2, 128, 4, 4)
    # token l = (row, col) of the 4x4 patch grid in row-major order
    torch.testing.assert_close(fmap.flatten(2).transpose(1, 2), tokens)
    torch.testing.assert_close(fmap[1, :, 2, 1], tokens[1, 2 * 4 + 1])


@pytest.mark.parametrize('width', [96, 64])
def test_width_variants(width):
    model = MODELS.build(
        dict(
            type='GMLP',
            arch=dict(embed_dims=width, num_layers=30, mlp_ratio=6)))
    assert len(model.gmlp.blocks) == 30
    block = model.gmlp.blocks[0].mlp_channels
    assert block.fc1.weight.shape == (6 * width, width)
    assert block.fc2.weight.shape == (width, 3 * width)
    assert block.gate.proj.weight.shape == (196, 196)
    # params of the whole width-scaled network: patch embed, 30 blocks
    # (norm, fc1, gate norm, 196x196 spatial proj, fc2), final norm
    per_block = (2 * width + 6 * width * width + 6 * width + 2 * 3 * width +
                 196 * 196 + 196 + 3 * width * width + width)
    expected = 3 * 256 * width + width + 30 * per_block + 2 * width
    assert sum(p.numel() for p in model.parameters()) == expected


def test_out_types_agree():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    models = {t: _small(out_type=t) for t in ('featmap', 'raw', 'avg_featmap')}
    sd = models['featmap'].state_dict()
    for m in models.values():
        m.load_state_dict(sd)
        m.eval()
    with torch.no_grad():
        (fmap, ) = models['featmap'](x)
        (raw, ) = models['raw'](x)
        (avg, ) = models['avg_featmap'](x)
    assert fmap.shape == (2, 16, 4, 4)
    assert raw.shape == (2, 16, 16)
    torch.testing.assert_close(raw, fmap.flatten(2).transpose(1, 2))
    torch.testing.assert_close(avg, fmap.mean(dim=(2, 3)))


def test_init_keeps_near_identity_gates_and_trains():
    model = _small()
    model.init_weights()
    gate = model.gmlp.blocks[0].mlp_channels.gate
    assert torch.all(gate.proj.bias == 1)
    assert gate.proj.weight.abs().max() < 1e-4
    model.train()
    (fmap, ) = model(torch.randn(2, 3, 32, 32))
    fmap.square().mean().backward()
    assert model.gmlp.stem.proj.weight.grad.abs().sum() > 0


def test_in_classifier_with_noah_head():
    torch.manual_seed(0)
    clf = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='GMLP',
                arch=dict(embed_dims=16, num_layers=2, mlp_ratio=6),
                img_size=32,
                patch_size=8),
            head=dict(
                type='NOAHHead',
                num_classes=5,
                in_channels=16,
                num_heads=4,
                key_ratio=0.5)))
    from mmpretrain.structures import DataSample
    x = torch.randn(2, 3, 32, 32)
    samples = [DataSample().set_gt_label(i) for i in (1, 3)]
    losses = clf(x, samples, mode='loss')
    assert torch.isfinite(losses['loss'])
    assert clf(x).shape == (2, 5)


def test_bad_arguments():
    with pytest.raises(ValueError, match='arch'):
        GMLP(arch='huge')
    with pytest.raises(ValueError, match='exactly the keys'):
        GMLP(arch=dict(embed_dims=16, num_layers=2))
    with pytest.raises(TypeError, match='arch'):
        GMLP(arch=3)
    with pytest.raises(ValueError, match='arch.embed_dims'):
        GMLP(arch=dict(embed_dims=0, num_layers=2, mlp_ratio=6))
    with pytest.raises(ValueError, match='mlp_ratio'):
        GMLP(arch=dict(embed_dims=3, num_layers=2, mlp_ratio=3))
    with pytest.raises(ValueError, match='divisible by patch_size'):
        GMLP(img_size=30, patch_size=8)
    with pytest.raises(ValueError, match='out_type'):
        GMLP(out_type='cls_token')
    model = _small()
    with pytest.raises(ValueError, match='img_size=32'):
        model(torch.randn(1, 3, 64, 64))
