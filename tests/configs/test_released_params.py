# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The DeiT, PVT, MLP-Mixer and gMLP configs build the released networks:
exactly the parameter count of the authors' network (their public code,
``vit/deit/models.py``, ``vit/pvt/classification/{pvt,noah_pvt}.py``,
``mlp/timm/models/{mlp_mixer,noah_mlp_mixer}.py``, counted at 224 px), which
``configs/noah/metafile.yml`` holds as ``Parameters``, and the head dropout
and LayerNorm eps of that code.

The paper prints these counts rounded to 0.01M, except where the metafile's
``Deviation`` says otherwise (DeiT-Base, DeiT-Tiny 0.75x/0.5x, gMLP-Tiny
0.75x); ``tests/converters/test_transformer.py`` builds the authors' layout
for one width per family and checks the converted logits and the count.
"""
import os.path as osp

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from tool_loader import REPO

SLUGS = ('deit-base deit-small deit-tiny deit-tiny-0.75x deit-tiny-0.5x '
         'pvt-tiny pvt-tiny-0.75x pvt-tiny-0.5x mixer-base mixer-small '
         'mixer-small-0.75x mixer-small-0.5x gmlp-small gmlp-tiny '
         'gmlp-tiny-0.75x gmlp-tiny-0.5x').split()
CONFIGS = [f'{kind}/{slug}{suffix}_in1k.py' for slug in SLUGS
           for kind, suffix in (('baseline', ''), ('noah', '_noah'))]


def _metafile_params():
    with open(osp.join(REPO, 'configs', 'noah', 'metafile.yml')) as f:
        models = yaml.safe_load(f)['Models']
    return {m['Config']: m['Metadata']['Parameters'] for m in models}


RELEASED = _metafile_params()


def _build(config):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    import mmpretrain.models  # noqa: F401
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_the_released_network(config):
    """Exact Params; NOAH heads with the authors' dropout 0.1; baselines
    without classifier dropout; the authors' LayerNorm eps."""
    cfg, model = _build(config)
    released = RELEASED[f'configs/{config}']
    assert sum(p.numel() for p in model.parameters()) == released
    if config.startswith('noah/'):
        assert cfg.model.head.type == 'NOAHHead'
        assert cfg.model.head.dropout == 0.1
        assert [m.p for m in model.head.modules()
                if isinstance(m, torch.nn.Dropout)] == [0.1]
        assert (cfg.model.head.num_heads, cfg.model.head.key_ratio) == (4,
                                                                        0.5)
    else:
        assert not any(
            isinstance(m, torch.nn.Dropout) and m.p > 0
            for m in model.head.modules())
    eps = {name: m.eps for name, m in model.backbone.named_modules()
           if isinstance(m, torch.nn.LayerNorm)}
    if 'pvt' in config:
        # PVT's classifier: nn.LayerNorm() on the patch embeddings and the
        # reduced keys/values, eps 1e-6 in the blocks and at the end
        default = {n for n in eps
                   if n.endswith('.0.norm') or n.endswith('.attn.norm')}
        assert len(default) == 4 + 2 * 3  # 4 stages; 2 blocks with sr > 1
    elif 'gmlp' in config:
        default = {n for n in eps if n.endswith('gate.norm')}  # timm's SGU
        assert len(default) == 30
    else:
        default = set()
    assert eps and all(
        e == (1e-5 if n in default else 1e-6) for n, e in eps.items()), eps
