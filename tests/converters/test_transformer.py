# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The released DeiT, PVT, MLP-Mixer and gMLP networks convert exactly.

Each test builds a network in the authors' layout (module names and structure
of ``vit/deit/*.py``, ``vit/pvt/classification/*.py`` and
``mlp/timm/models/*mlp_mixer.py`` of their repository; their DeiT, Mixer and
gMLP are timm's networks, so timm builds them here, and their NOAH head and
PVT are written below from that description), gives every LayerNorm and bias
non-trivial values, converts its state dict and checks that our STOCK config
(no options changed) loaded with it gives the same logits (<= 1e-4) and has
the same number of parameters.

To keep CPU time low the smallest released width of each family is converted
(DeiT-Tiny 1.0x for the class-token-free stream, DeiT-Tiny 0.5x for the
``Linear + Tanh`` projection, PVT-Tiny 0.5x, Mixer-Small 0.5x, gMLP-Tiny
0.5x), on one 224x224 image; the other widths differ only in their sizes,
which ``tests/configs/test_released_params.py`` checks for every config.
"""
import os.path as osp
from collections import OrderedDict
from functools import partial

import pytest
import torch
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings
from torch import nn

from noah_mm.converters.families import match_family
from noah_mm.converters.transformer import (DeiTFamily, GMLPFamily,
                                            MixerFamily, PVTFamily)
from tool_loader import REPO

LN6 = partial(nn.LayerNorm, eps=1e-6)


# ---------------------------------------------------------------------------
# The authors' layout
# ---------------------------------------------------------------------------
class AuthorsNOAH(nn.Module):
    """The authors' head: ``query`` reads the first ``int(r*C)`` channels,
    ``value`` the rest, both 1x1 convolutions with ``groups=N`` and ``N*M``
    outputs (output ``n*M + m`` is block ``n``, class ``m``); softmax over the
    positions, dropout on the values, sum over blocks and positions."""

    def __init__(self, channels, num_classes=1000, num_heads=4, key_ratio=.5,
                 dropout=0.1):
        super().__init__()
        self.num_heads = num_heads
        self.key_channels = int(channels * key_ratio)
        self.query = nn.Conv2d(self.key_channels, num_heads * num_classes, 1,
                               groups=num_heads)
        self.value = nn.Conv2d(channels - self.key_channels,
                               num_heads * num_classes, 1, groups=num_heads)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):  # (B, C, L) or (B, C, H, W)
        x = x.flatten(2).unsqueeze(2)  # (B, C, 1, L)
        B, _, _, L = x.shape
        attn = self.query(x[:, :self.key_channels]).reshape(
            B, self.num_heads, -1, L).softmax(-1)
        value = self.value(x[:, self.key_channels:]).reshape(
            B, self.num_heads, -1, L)
        return (attn * self.dropout(value)).sum(dim=(1, 3))


def _pre_logits(width):
    """``Linear(width -> 192) + Tanh`` below width 192, else nothing."""
    if width >= 192:
        return nn.Identity()
    return nn.Sequential(
        OrderedDict(fc=nn.Linear(width, 192), act=nn.Tanh()))


class AuthorsDeiT(nn.Module):
    """``deit_*`` / ``noah_deit_*``: timm's ViT (patch 16, MLP ratio 4, LN
    eps 1e-6), a class token only in the baseline, ``pre_logits`` and the
    head (linear on the class token, or NOAH on every token)."""

    def __init__(self, width, depth, heads, noah):
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer
        vit = VisionTransformer(
            img_size=224, patch_size=16, embed_dim=width, depth=depth,
            num_heads=heads, mlp_ratio=4, qkv_bias=True, norm_layer=LN6,
            class_token=not noah, global_pool='', num_classes=0)
        for name, child in vit.named_children():  # the authors' names
            self.add_module(name, child)
        for name in ('cls_token', 'pos_embed'):
            if getattr(vit, name) is not None:
                setattr(self, name, getattr(vit, name))
        self._vit = [vit]  # not a submodule: its modules are ours
        self.noah = noah
        self.pre_logits = _pre_logits(width)
        channels = 192 if width < 192 else width
        self.head = AuthorsNOAH(channels) if noah else nn.Linear(channels,
                                                                 1000)

    def forward(self, x):
        x = self._vit[0].forward_features(x)  # normalised tokens
        if self.noah:
            return self.head(self.pre_logits(x).transpose(1, 2))
        return self.head(self.pre_logits(x[:, 0]))


class AuthorsMlpMixer(nn.Module):
    """``(noah_)mixer_s16*`` / ``(noah_)gmlp_ti16*``: timm's ``MlpMixer``,
    then GAP + linear or NOAH on all tokens."""

    def __init__(self, noah, gmlp, width, blocks):
        super().__init__()
        from timm.layers import GatedMlp
        from timm.models.mlp_mixer import MlpMixer, SpatialGatingBlock
        extra = dict(mlp_ratio=6, block_layer=SpatialGatingBlock,
                     mlp_layer=GatedMlp) if gmlp else {}
        net = MlpMixer(num_classes=0, img_size=224, patch_size=16,
                       num_blocks=blocks, embed_dim=width, global_pool='',
                       **extra)
        for name, child in net.named_children():
            self.add_module(name, child)
        self._net = [net]
        self.noah = noah
        self.head = AuthorsNOAH(width) if noah else nn.Linear(width, 1000)

    def forward(self, x):
        x = self._net[0].forward_features(x)  # (B, L, C), normalised
        if self.noah:
            return self.head(x.transpose(1, 2))
        return self.head(x.mean(dim=1))


class PVTAttention(nn.Module):
    """``q``, ``kv`` (bias), ``proj``; spatial reduction ``sr`` + ``norm``
    (eps 1e-5) where ``sr_ratio > 1``."""

    def __init__(self, dim, heads, sr_ratio):
        super().__init__()
        self.heads, self.sr_ratio = heads, sr_ratio
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x, H, W):
        B, L, C = x.shape
        q = self.q(x).reshape(B, L, self.heads, -1).transpose(1, 2)
        if self.sr_ratio > 1:
            x = self.sr(x.transpose(1, 2).reshape(B, C, H, W))
            x = self.norm(x.flatten(2).transpose(1, 2))
        k, v = self.kv(x).reshape(B, -1, 2, self.heads,
                                  C // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * (C // self.heads)**-0.5).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, L, C))


class PVTBlock(nn.Module):

    def __init__(self, dim, heads, sr_ratio, mlp_ratio):
        super().__init__()
        self.norm1 = LN6(dim)
        self.attn = PVTAttention(dim, heads, sr_ratio)
        self.norm2 = LN6(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.mlp.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def forward(self, x, H, W):
        x = x + self.attn(self.norm1(x), H, W)
        return x + self.mlp.fc2(nn.functional.gelu(self.mlp.fc1(
            self.norm2(x))))


class AuthorsPVT(nn.Module):
    """``pvt_tiny*`` / ``noah_pvt_tiny*``: 4 stages of ``patch_embed<i>``
    (conv + LayerNorm eps 1e-5), ``pos_embed<i>``, ``block<i>`` (2 blocks,
    LN eps 1e-6); the final ``norm``; the baseline's class token joins the
    last stage (its position embedding first in ``pos_embed4``) and is
    classified, NOAH reads the 7x7 tokens."""

    def __init__(self, dims, noah):
        super().__init__()
        self.noah = noah
        heads, srs, ratios = (1, 2, 5, 8), (8, 4, 2, 1), (8, 8, 4, 4)
        in_ch, size = 3, 224
        for i, dim in enumerate(dims, 1):
            patch = 4 if i == 1 else 2
            size //= patch
            embed = nn.Module()
            embed.proj = nn.Conv2d(in_ch, dim, patch, stride=patch)
            embed.norm = nn.LayerNorm(dim)
            setattr(self, f'patch_embed{i}', embed)
            extra = 1 if i == 4 and not noah else 0
            setattr(self, f'pos_embed{i}',
                    nn.Parameter(.02 * torch.randn(1, size * size + extra,
                                                   dim)))
            setattr(self, f'block{i}', nn.ModuleList(
                PVTBlock(dim, heads[i - 1], srs[i - 1], ratios[i - 1])
                for _ in range(2)))
            in_ch = dim
        self.norm = LN6(dims[-1])
        if noah:
            self.head = AuthorsNOAH(dims[-1])
        else:
            self.cls_token = nn.Parameter(.02 * torch.randn(1, 1, dims[-1]))
            self.head = nn.Linear(dims[-1], 1000)

    def forward(self, x):
        B = x.shape[0]
        for i in range(1, 5):
            embed = getattr(self, f'patch_embed{i}')
            x = embed.proj(x)
            H, W = x.shape[2:]
            x = embed.norm(x.flatten(2).transpose(1, 2))
            if i == 4 and not self.noah:
                x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)
            x = x + getattr(self, f'pos_embed{i}')
            for block in getattr(self, f'block{i}'):
                x = block(x, H, W)
            if i < 4:
                x = x.transpose(1, 2).reshape(B, -1, H, W)
        x = self.norm(x)
        return self.head(x.transpose(1, 2) if self.noah else x[:, 0])


def _randomise(model):
    """Non-trivial LayerNorm parameters, biases, embeddings and gates."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('norm.weight') or '.norm1.' in name or \
                    '.norm2.' in name or name.startswith('norm.'):
                p.uniform_(0.5, 1.5) if name.endswith('weight') else \
                    p.normal_(0, 0.2)
            elif name.endswith('bias'):
                p.normal_(0, 0.05)
            elif 'embed' in name or 'token' in name or 'gate.proj' in name:
                p.normal_(0, 0.05)
    return model.eval()


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------
def _stock_model(config):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    import mmpretrain.models  # noqa: F401
    return MODELS.build(cfg.model)


def _assert_converts(authors, family, config, head):
    state = authors.state_dict()
    found = match_family(state, 'the test network')
    assert isinstance(found, family)
    conversion = found.convert(state)
    assert conversion.config == config
    assert conversion.info['family'] == found.name
    assert conversion.info['head'] == head

    ours = _stock_model(config)
    ours.load_state_dict(conversion.state_dict, strict=True)
    ours.eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in authors.parameters())
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = authors(x)
        logits = ours(x, mode='tensor')
    assert logits.shape == expected.shape == (1, 1000)
    assert expected.std() > 0.1  # not a degenerate network
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-4)
    return conversion


#: our config stem -> (the authors' network, NOAH or baseline; its family)
CASES = {
    # NOAH on the 196 tokens: the residual stream is permuted
    'deit-tiny': (partial(AuthorsDeiT, 192, 12, 3), DeiTFamily),
    # Linear(96 -> 192) + Tanh on every token / the class token
    'deit-tiny-0.5x': (partial(AuthorsDeiT, 96, 12, 3), DeiTFamily),
    # class token in the last stage; norms eps 1e-5 and 1e-6
    'pvt-tiny-0.5x': (partial(AuthorsPVT, (32, 64, 160, 256)), PVTFamily),
    'mixer-small-0.5x': (partial(AuthorsMlpMixer, gmlp=False, width=256,
                                 blocks=8), MixerFamily),
    # 30 blocks; the spatial gates made non-trivial
    'gmlp-tiny-0.5x': (partial(AuthorsMlpMixer, gmlp=True, width=64,
                               blocks=30), GMLPFamily),
}


@pytest.mark.parametrize('noah', [True, False], ids=['noah', 'baseline'])
@pytest.mark.parametrize('slug', list(CASES))
def test_converts_onto_the_stock_config(slug, noah):
    build, family = CASES[slug]
    authors = _randomise(build(noah=noah))
    config = (f'noah/{slug}_noah_in1k.py'
              if noah else f'baseline/{slug}_in1k.py')
    _assert_converts(authors, family, config, 'noah' if noah else 'baseline')


def test_deit_projection_goes_to_the_head():
    """DeiT-Tiny 0.5x's pre_logits: NOAHHead's in_proj (a 1x1 convolution,
    outputs permuted for NOAH) or VisionTransformerClsHead's pre_logits."""
    for noah, key in ((True, 'head.in_proj.0.weight'),
                      (False, 'head.layers.pre_logits.weight')):
        state = AuthorsDeiT(96, 12, 3, noah).state_dict()
        converted = DeiTFamily().convert(state).state_dict
        assert converted[key].shape[:2] == (192, 96)
        assert converted[key].flatten(1).sum(1).sort().values.equal(
            state['pre_logits.fc.weight'].sum(1).sort().values)


def test_noah_needs_the_channel_permutation(monkeypatch):
    """Renamed but not permuted, the authors' split_first head reads other
    channels in our group_first config: the logits differ."""
    from noah_mm.converters import transformer
    authors = _randomise(AuthorsMlpMixer(True, gmlp=False, width=256,
                                         blocks=8))
    monkeypatch.setattr(transformer, 'block_permutation',
                        lambda shape: torch.arange(shape.in_channels))
    conversion = MixerFamily().convert(authors.state_dict())
    ours = _stock_model(conversion.config)
    ours.load_state_dict(conversion.state_dict, strict=True)
    ours.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x, mode='tensor') - authors(x)).abs().max() > 1e-2


@pytest.mark.parametrize('family,state,match', [
    (DeiTFamily, {'patch_embed.proj.weight': torch.zeros(100, 3, 16, 16),
                  'blocks.0.attn.qkv.weight': torch.zeros(300, 100),
                  'head.weight': torch.zeros(1000, 100)}, 'width 100'),
    (MixerFamily, {'stem.proj.weight': torch.zeros(512, 3, 16, 16),
                   'blocks.0.mlp_tokens.fc1.weight': torch.zeros(256, 196),
                   'blocks.0.mlp_channels.fc1.weight': torch.zeros(2048, 512),
                   'head.weight': torch.zeros(10, 512)}, '10-class'),
    (GMLPFamily, {'stem.proj.weight': torch.zeros(128, 3, 16, 16),
                  'blocks.0.mlp_channels.gate.proj.weight': torch.zeros(1),
                  'head.foo': torch.zeros(1)}, 'without a released'),
])
def test_unknown_networks_are_refused_with_the_reason(family, state, match):
    assert isinstance(match_family(state), family)
    with pytest.raises(ValueError, match=match):
        family().convert(state)


def test_deit_384_and_unknown_keys_are_refused():
    authors = AuthorsDeiT(192, 12, 3, noah=False)
    state = authors.state_dict()
    state['pos_embed'] = torch.zeros(1, 577, 192)
    with pytest.raises(ValueError, match='577'):
        DeiTFamily().convert(state)
    state = authors.state_dict()
    state['dist_token'] = torch.zeros(1, 1, 192)
    with pytest.raises(ValueError, match="'dist_token'"):
        DeiTFamily().convert(state)


def test_release_file_formats(tmp_path):
    """A DeiT saved as DeiT's main.py saves it (with an ``argparse``
    Namespace under ``args`` and EMA weights) and a gMLP saved as timm's
    train.py saves it convert through the checkpoint reader, raw or EMA."""
    import argparse

    from noah_mm.converters import convert_checkpoint

    deit = _randomise(AuthorsDeiT(96, 12, 3, noah=True))
    ema = {k: v + 0.01 for k, v in deit.state_dict().items()}
    path = str(tmp_path / 'checkpoint.pth')
    torch.save(
        dict(model=deit.state_dict(), optimizer={'state': {}},
             lr_scheduler={'last_epoch': 299}, epoch=299, model_ema=ema,
             scaler={'scale': 65536.0},
             args=argparse.Namespace(model='noah_deit_tiny_050_patch16_224',
                                     lr=5e-4)), path)
    raw = convert_checkpoint(path)
    assert raw.config == 'noah/deit-tiny-0.5x_noah_in1k.py'
    expected = DeiTFamily().convert(deit.state_dict()).state_dict
    assert raw.state_dict.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(raw.state_dict[key], value)
    averaged = convert_checkpoint(path, use_ema=True)
    torch.testing.assert_close(averaged.state_dict['backbone.pos_embed'],
                               expected['backbone.pos_embed'] + 0.01)

    gmlp = AuthorsMlpMixer(False, gmlp=True, width=64, blocks=30)
    path = str(tmp_path / 'model_best.pth.tar')
    torch.save(
        dict(epoch=299, arch='gmlp_ti16_050_224',
             state_dict=gmlp.state_dict(), optimizer={'state': {}},
             version=2, args=argparse.Namespace(model='gmlp_ti16_050_224'),
             state_dict_ema=gmlp.state_dict(), metric=54.99), path)
    conversion = convert_checkpoint(path)
    assert conversion.config == 'baseline/gmlp-tiny-0.5x_in1k.py'
    assert conversion.info['family'] == 'gmlp'
