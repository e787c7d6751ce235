# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The CNN families: every released CNN has a stock config that builds it,
and an authors' checkpoint converts to it with the same logits.

The authors' networks are rebuilt in ``authors_cnn.py`` from the description
of their code. Logits are compared at 64x64 (a 2x2 map, so NOAH's spatial
softmax and the channel permutation both matter).
"""
import os.path as osp

import pytest
import torch
from mmpretrain.registry import MODELS

from converters.authors_cnn import build, randomise, save_cnn_checkpoint
from noah_mm.converters import (Conversion, check_strict_load,
                                convert_checkpoint, load_config,
                                match_family)
from tool_loader import REPO

CONFIGS = osp.join(REPO, 'configs')

#: The released CNNs: (family, builder kwargs) -> config stem, and the
#: parameter counts of the authors' networks in millions (baseline, NOAH),
#: which the paper's Table 1 prints rounded to two decimals.
RELEASED = {
    ('resnet', (('depth', 18), )): ('resnet18', 11.690, 11.697),
    ('resnet', (('depth', 50), )): ('resnet50', 25.557, 25.564),
    ('resnet', (('depth', 101), )): ('resnet101', 44.549, 44.556),
    ('resnet', (('depth', 152), )): ('resnet152', 60.193, 60.200),
    ('mobilenet_v2', (('width', 1.0), )): ('mobilenetv2-1.0x', 3.505, 3.520),
    ('mobilenet_v2', (('width', 0.75), )): ('mobilenetv2-0.75x', 2.636,
                                            2.651),
    ('mobilenet_v2', (('width', 0.5), )): ('mobilenetv2-0.5x', 1.969, 1.984),
    ('mobilenet_v2', (('width', 0.35), )): ('mobilenetv2-0.35x', 1.677,
                                            1.692),
    ('mobilenet_v3_small', ()): ('mobilenetv3-small', 2.938, 2.953),
    ('shufflenet_v2', ()): ('shufflenetv2-1.0x', 2.279, 2.294),
}
NETWORKS = [(family, dict(kwargs), noah)
            for (family, kwargs) in RELEASED for noah in (False, True)]


def _config(stem, noah, suffix=''):
    return (f'noah/{stem}_noah_in1k{suffix}.py' if noah else
            f'baseline/{stem}_in1k{suffix}.py')


def _build_config(config):
    return MODELS.build(load_config(osp.join(CONFIGS, config)).model)


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    'family,kwargs,noah', NETWORKS,
    ids=[f"{RELEASED[(f, tuple(k.items()))][0]}-{'noah' if n else 'baseline'}"
         for f, k, n in NETWORKS])
def test_released_cnn_converts_exactly(tmp_path, family, kwargs, noah):
    """Saved as the CNN main.py saves it and converted by
    convert_checkpoint: recognised as the right config, loads strictly into
    the stock config, has exactly the authors' parameter count and gives
    the authors' logits (<= 1e-4)."""
    stem, *counts = RELEASED[(family, tuple(kwargs.items()))]
    torch.manual_seed(0)
    authors = randomise(build(family, noah, **kwargs))
    path = save_cnn_checkpoint(authors, tmp_path / 'model_best.pth.tar')
    conversion = convert_checkpoint(str(path))
    assert conversion.config == _config(stem, noah)
    assert conversion.info['head'] == ('noah' if noah else 'baseline')
    ours = check_strict_load(conversion, CONFIGS).eval()
    assert _count(ours) == _count(authors)
    assert round(_count(authors) / 1e6, 3) == counts[noah]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = authors(x)
        got = ours(x, mode='tensor')
    assert got.shape == expected.shape == (2, 1000)
    assert expected.std() > 0.05  # logits that a wrong mapping would change
    diff = (got - expected).abs().max().item()
    print(f'{conversion.config}: max |logit difference| {diff:.1e}')
    assert diff <= 1e-4
    if stem == 'resnet50':  # the aggressive regime trains the same network
        check_strict_load(
            conversion._replace(config=_config(stem, noah, '_aggressive')),
            CONFIGS)


def test_noah_needs_the_channel_permutation():
    """Without the backbone permutation (the NOAH head renamed only), the
    stock config computes other logits: the permutation is what makes the
    conversion exact."""
    torch.manual_seed(0)
    authors = randomise(build('shufflenet_v2', True))
    state = authors.state_dict()
    conversion = match_family(state).convert(state)
    unpermuted = dict(conversion.state_dict)
    for name in ('conv', 'bn'):
        for key in [k for k in unpermuted
                    if k.startswith(f'backbone.layers.3.{name}.')]:
            source = key.replace(f'backbone.layers.3.{name}.',
                                 f'conv5.{0 if name == "conv" else 1}.')
            unpermuted[key] = state[source]
    ours = _build_config(conversion.config).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = authors(x)
        ours.load_state_dict(conversion.state_dict)
        exact = (ours(x, mode='tensor') - expected).abs().max()
        ours.load_state_dict(unpermuted)
        renamed = (ours(x, mode='tensor') - expected).abs().max()
    assert exact <= 1e-4 < renamed


@pytest.mark.parametrize('family,kwargs,message', [
    ('resnet', dict(depth=34), 'ResNet-18, 50, 101 and 152'),
    ('resnet', dict(depth=18, num_heads=8), 'N=8'),
    ('resnet', dict(depth=50, key_ratio=1 / 4), 'r=0.25'),
    ('mobilenet_v2', dict(width=1.4), 'widths 1.0, 0.75, 0.5 and 0.35'),
    ('shufflenet_v2', dict(widths=(24, 48, 96, 192, 1024)), '1.0x'),
])
def test_networks_outside_the_release_are_refused(family, kwargs, message):
    with torch.device('meta'):
        state = build(family, True, **kwargs).state_dict()
    with pytest.raises(ValueError, match=message):
        match_family(state).convert(state)


def test_refusals_name_what_was_found(tmp_path):
    with torch.device('meta'):
        state = build('mobilenet_v3_small', False).state_dict()
    # a 10-class baseline
    small = dict(state)
    small['classifier.1.weight'] = torch.zeros(10, 1280)
    small['classifier.1.bias'] = torch.zeros(10)
    with pytest.raises(ValueError, match='10-class'):
        match_family(small).convert(small)
    # no classifier at all
    with torch.device('meta'):
        headless = {k: v for k, v in build('shufflenet_v2', False)
                    .state_dict().items() if not k.startswith('head.')}
    with pytest.raises(ValueError, match='without a released classifier'):
        match_family(headless).convert(headless)
    # not a network of the release
    path = tmp_path / 'other.pth'
    torch.save({'encoder.weight': torch.zeros(2, 2)}, path)
    with pytest.raises(ValueError, match='other.pth: not a network of the '
                       'NOAH release'):
        convert_checkpoint(str(path))


def test_mobilenet_v3_large_is_refused():
    """The authors' file builds MobileNetV3-Large too; it is not released."""
    large = [[3, 16, 16, False, 'RE', 1]] * 15
    with torch.device('meta'):
        state = build('mobilenet_v3_small', True,
                      settings=large).state_dict()
    with pytest.raises(ValueError, match='MobileNetV3-Small'):
        match_family(state).convert(state)


def test_strict_self_check_reports_mismatches():
    with torch.device('meta'):
        state = build('shufflenet_v2', False).state_dict()
    conversion = match_family(state).convert(state)
    broken = dict(conversion.state_dict)
    broken.pop('head.fc.bias')
    with pytest.raises(RuntimeError, match='head.fc.bias'):
        check_strict_load(Conversion(conversion.config, broken, {}), CONFIGS)
