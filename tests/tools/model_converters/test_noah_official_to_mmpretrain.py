# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The authors' checkpoints convert exactly (same logits) to our models.

The "authors' model" is built here from the description of their release:
a torchvision backbone and a head of two grouped 1x1 convolutions
(``head.query`` on the first ``floor(r*C)`` channels, ``head.value`` on the
rest, output channel ``n*M + m`` = block ``n``, class ``m``), spatial softmax
of the query, product with the value, sum over positions and blocks.
"""
import os.path as osp
import sys

import pytest
import torch
import torchvision
from mmengine.config import Config
from mmpretrain.registry import MODELS
from torch import nn

from tool_loader import REPO as ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs', 'noah', 'resnet18_noah_in1k.py')


conv = load_tool('tools/model_converters/noah_official_to_mmpretrain.py')


class AuthorsHead(nn.Module):
    """The released head, written from its description (not from POCA)."""

    def __init__(self, channels, num_classes, num_heads, key_ratio):
        super().__init__()
        key = int(key_ratio * channels)
        self.num_heads, self.num_classes = num_heads, num_classes
        self.query = nn.Conv2d(key, num_heads * num_classes, 1,
                               groups=num_heads)
        self.value = nn.Conv2d(channels - key, num_heads * num_classes, 1,
                               groups=num_heads)

    def forward(self, x):
        key = self.query.in_channels
        q = self.query(x[:, :key]).flatten(2).softmax(-1)
        v = self.value(x[:, key:]).flatten(2)
        per_block = (q * v).sum(-1)  # (B, N*M)
        return per_block.view(-1, self.num_heads, self.num_classes).sum(1)


class AuthorsResNet(torchvision.models.ResNet):

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(x)


class AuthorsMobileNetV2(torchvision.models.MobileNetV2):

    def forward(self, x):
        return self.head(self.features(x))


def _randomise(model):
    """Non-trivial BN statistics and biases so a wrong permutation shows."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            # gamma < 1 keeps deep random nets' activations (and fp32 error) O(1)
            m.weight.data = torch.rand(n, generator=g) * 0.4 + 0.2
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) + 0.5
    for name, p in model.head.named_parameters():
        scale = 0.5 if name.endswith('weight') else 0.05
        p.data = torch.randn(p.shape, generator=g) * scale
    return model.eval()


def _authors_resnet18(num_classes=1000):
    torch.manual_seed(0)
    model = AuthorsResNet(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])
    del model.fc
    model.head = AuthorsHead(512, num_classes, num_heads=4, key_ratio=0.5)
    return _randomise(model)


def _save_ddp(model, path):
    state = {'module.' + k: v for k, v in model.state_dict().items()}
    torch.save({'state_dict': state, 'epoch': 100}, path)


def _our_resnet18_cfg():
    """The model of our zoo config ``configs/noah/resnet18_noah_in1k.py``."""
    return Config.fromfile(CONFIG).model


def _load(cfg, path):
    model = MODELS.build(cfg)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    missing, unexpected = model.load_state_dict(ckpt['state_dict'],
                                                strict=True)
    assert not missing and not unexpected
    return model.eval()


@pytest.fixture(scope='module')
def authors_r18():
    return _authors_resnet18()


@pytest.mark.parametrize('layout', ['group_first', 'split_first'])
def test_resnet18_reproduces_authors_logits(tmp_path, monkeypatch, layout,
                                            authors_r18):
    authors = authors_r18
    src, dst = tmp_path / 'noah_r18.pth.tar', tmp_path / 'converted.pth'
    _save_ddp(authors, src)
    monkeypatch.setattr(sys, 'argv', [
        'conv', str(src), str(dst), '--channel-layout', layout])
    conv.main()

    cfg = _our_resnet18_cfg()
    if layout == 'split_first':
        cfg = Config(dict(model=cfg)).model  # a copy
        cfg.head.channel_layout = 'split_first'
    ours = _load(cfg, dst)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = authors(x)
        got = ours(x, mode='tensor')
    assert got.shape == (2, 1000)
    assert (got - expected).abs().max().item() <= 1e-4
    if layout == 'split_first':  # the backbone is only renamed
        ref = authors.state_dict()
        saved = torch.load(dst, weights_only=True)['state_dict']
        assert torch.equal(saved['backbone.layer4.1.conv2.weight'],
                           ref['layer4.1.conv2.weight'])


def test_group_first_needs_the_permutation(authors_r18):
    """Renaming the head alone is not enough for our default layout."""
    authors = authors_r18
    renamed, _ = conv.convert(dict(authors.state_dict()), 'split_first')
    ours = MODELS.build(_our_resnet18_cfg())
    ours.load_state_dict(renamed)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        diff = (ours.eval()(x, mode='tensor') - authors(x)).abs().max()
    assert diff > 1e-3


@pytest.mark.parametrize('width', ['1.0', '0.5'])
def test_mobilenet_v2_converts_exactly(width):
    """MobileNetV2 (N=8, r=1/4) loads into our zoo configs exactly."""
    torch.manual_seed(0)
    authors = AuthorsMobileNetV2(width_mult=float(width))
    del authors.classifier
    authors.head = AuthorsHead(1280, 1000, num_heads=8, key_ratio=0.25)
    authors = _randomise(authors)
    converted, info = conv.convert(dict(authors.state_dict()))
    assert info['num_heads'] == 8 and info['key_channels'] == 40
    cfg = osp.join(ROOT, 'configs', 'noah',
                   f'mobilenetv2-{width}x_noah_in1k.py')
    ours = MODELS.build(Config.fromfile(cfg).model)
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        diff = (ours.eval()(x, mode='tensor') - authors(x)).abs().max()
    assert diff.item() <= 1e-4


def test_bottleneck_resnet_permutation():
    """Bottleneck ResNets (conv3/bn3, shortcut on block 0) convert exactly."""
    torch.manual_seed(0)
    authors = AuthorsResNet(torchvision.models.resnet.Bottleneck,
                            [3, 4, 6, 3])
    del authors.fc
    authors.head = AuthorsHead(2048, 7, num_heads=4, key_ratio=1 / 8)
    authors = _randomise(authors)
    converted, info = conv.convert(dict(authors.state_dict()))
    assert info['key_channels'] == 64 and info['value_channels'] == 448
    ours = MODELS.build(
        dict(type='ImageClassifier',
             backbone=dict(type='ResNet', depth=50),
             head=dict(type='NOAHHead', num_classes=7, in_channels=2048,
                       num_heads=4, key_ratio=1 / 8)))
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        diff = (ours.eval()(x, mode='tensor') - authors(x)).abs().max()
    assert diff.item() <= 1e-4


class AuthorsDeiT(nn.Module):
    """timm DeiT without class token + the released head on the token map."""

    def __init__(self, num_classes=10, embed_dim=48):
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer
        self.vit = VisionTransformer(
            img_size=32, patch_size=8, embed_dim=embed_dim, depth=2,
            num_heads=3, class_token=False, global_pool='', num_classes=0)
        self.head = AuthorsHead(embed_dim, num_classes, 4, 0.5)

    def forward(self, x):
        tokens = self.vit.forward_features(x)  # (B, 16, D), after the norm
        B, L, D = tokens.shape
        return self.head(tokens.transpose(1, 2).reshape(B, D, 4, 4))

    def state_dict_like_release(self):
        return {(k[len('vit.'):] if k.startswith('vit.') else k): v
                for k, v in self.state_dict().items()}


@pytest.mark.parametrize('layout', ['group_first', 'split_first'])
def test_deit_converts_exactly(layout):
    """timm-style DeiT (no class token) -> mmpretrain VisionTransformer."""
    pytest.importorskip('timm')  # in requirements/runtime.txt (gMLP)
    torch.manual_seed(0)
    authors = AuthorsDeiT()
    g = torch.Generator().manual_seed(1)
    for m in authors.modules():  # LayerNorms that a permutation would show
        if isinstance(m, nn.LayerNorm):
            m.weight.data = torch.rand(m.weight.shape, generator=g) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
    for p in authors.head.parameters():
        p.data = torch.randn(p.shape, generator=g) * 0.5
    authors.eval()
    converted, info = conv.convert(authors.state_dict_like_release(), layout)
    assert info['arch'] == 'deit' and info['num_heads'] == 4
    ours = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch=dict(
            embed_dims=48, num_layers=2, num_heads=3,
            feedforward_channels=192), img_size=32, patch_size=8,
            with_cls_token=False, out_type='featmap'),
        head=dict(type='NOAHHead', num_classes=10, in_channels=48,
                  num_heads=4, key_ratio=0.5, channel_layout=layout)))
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = authors(x)
        diff = (ours.eval()(x, mode='tensor') - expected).abs().max()
    assert expected.std() > 0.1
    assert diff.item() <= 1e-4

    with pytest.raises(ValueError, match='class'):
        conv.convert(dict(authors.state_dict_like_release(),
                          cls_token=torch.zeros(1, 1, 48)))
    with pytest.raises(ValueError, match='not documented'):
        conv.convert(dict(authors.state_dict_like_release(),
                          **{'head_proj.weight': torch.zeros(48, 48)}))


@pytest.mark.parametrize('layout', ['group_first', 'split_first'])
def test_gmlp_converts_exactly(layout):
    """timm gMLP -> noah_mm GMLP (spatial gating on the hidden channels)."""
    pytest.importorskip('timm')
    from timm.layers import GatedMlp
    from timm.models.mlp_mixer import MlpMixer, SpatialGatingBlock
    torch.manual_seed(0)

    class AuthorsGMLP(nn.Module):

        def __init__(self):
            super().__init__()
            self.mixer = MlpMixer(
                num_classes=0, global_pool='', img_size=32, patch_size=8,
                num_blocks=2, embed_dim=48, mlp_ratio=6,
                block_layer=SpatialGatingBlock, mlp_layer=GatedMlp)
            self.head = AuthorsHead(48, 10, 4, 0.5)

        def forward(self, x):
            tokens = self.mixer.forward_features(x)
            B, L, D = tokens.shape
            return self.head(tokens.transpose(1, 2).reshape(B, D, 4, 4))

    authors = AuthorsGMLP()
    g = torch.Generator().manual_seed(1)
    for m in authors.modules():
        if isinstance(m, nn.LayerNorm):
            m.weight.data = torch.rand(m.weight.shape, generator=g) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
    for p in authors.head.parameters():
        p.data = torch.randn(p.shape, generator=g) * 0.5
    authors.eval()
    release = {k.replace('mixer.', '', 1): v
               for k, v in authors.state_dict().items()}
    converted, info = conv.convert(release, layout)
    assert info['arch'] == 'gmlp'
    ours = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='GMLP', arch=dict(embed_dims=48, num_layers=2,
                                             mlp_ratio=6),
                      img_size=32, patch_size=8),
        head=dict(type='NOAHHead', num_classes=10, in_channels=48,
                  num_heads=4, key_ratio=0.5, channel_layout=layout)))
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = authors(x)
        diff = (ours.eval()(x, mode='tensor') - expected).abs().max()
    assert expected.std() > 0.1
    assert diff.item() <= 1e-4


def test_refuses_unsupported_and_untrusted(tmp_path):
    pvt_like = {'patch_embed1.proj.weight': torch.zeros(1),
                'head.query.weight': torch.zeros(1)}
    with pytest.raises(ValueError, match='timm-style PVT'):
        conv.convert(pvt_like)
    mixer_like = {'stem.proj.weight': torch.zeros(1),
                  'blocks.0.mlp_tokens.fc1.weight': torch.zeros(1)}
    with pytest.raises(ValueError, match='Mixer'):
        conv.convert(mixer_like)
    with pytest.raises(ValueError, match='missing'):
        conv.convert({'conv1.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='channel_layout'):
        conv.convert({}, 'keys_first')

    class Evil:
        def __reduce__(self):
            return (print, ('pwned', ))

    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'x': Evil()}}, path)
    with pytest.raises(Exception, match='(?i)weights.only|unsupported'):
        conv.load_state_dict(str(path))
