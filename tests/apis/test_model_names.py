# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""``import noah_mm`` gives every zoo model an mmpretrain name."""
import os.path as osp

import numpy as np
import pytest
import torch
import yaml
from mmpretrain import get_model, inference_model, list_models
from mmpretrain.apis import ImageClassificationInferencer, ModelHub

import noah_mm
from noah_mm import model_zoo
from tool_loader import REPO

with open(osp.join(REPO, 'configs', 'noah', 'metafile.yml')) as f:
    ZOO = [m['Name'] for m in yaml.safe_load(f)['Models']]
#: The paper's 26 backbones (Tables 1-3).
SLUGS = ('resnet18 resnet50 resnet101 resnet152 mobilenetv2-1.0x '
         'mobilenetv2-0.75x mobilenetv2-0.5x mobilenetv2-0.35x '
         'mobilenetv3-small shufflenetv2-1.0x deit-base deit-small deit-tiny '
         'deit-tiny-0.75x deit-tiny-0.5x pvt-tiny pvt-tiny-0.75x pvt-tiny-0.5x '
         'mixer-base mixer-small mixer-small-0.75x mixer-small-0.5x '
         'gmlp-small gmlp-tiny gmlp-tiny-0.75x gmlp-tiny-0.5x').split()


def test_every_zoo_model_is_listed():
    names = set(list_models('*noah*'))
    assert {f'{slug}_noah_in1k' for slug in SLUGS} <= names
    assert len(SLUGS) == 26
    assert {n.lower() for n in ZOO} <= set(list_models())
    assert set(model_zoo.register_model_index()) == {n.lower() for n in ZOO}


def test_names_live_beside_mmpretrains():
    """mmpretrain registers its own index lazily, after ours: no clash."""
    everything = list_models()
    assert 'resnet18_8xb32_in1k' in everything
    assert len(everything) == len(set(everything))


def test_registration_is_idempotent():
    before = dict(ModelHub._models_dict)
    assert model_zoo.register_model_index() == model_zoo.register_model_index()
    assert ModelHub._models_dict.keys() == before.keys()


def test_config_paths_resolve():
    root = model_zoo.mim_root()
    for name in ZOO:
        config = ModelHub._models_dict[name.lower()].config
        path = config if isinstance(config, str) else config.filename
        assert osp.isfile(path), (name, path)
        assert osp.commonpath([root, path]) == root


def test_get_model_loads_a_checkpoint(tmp_path):
    model = get_model('resnet18_noah_in1k')
    gen = torch.Generator().manual_seed(0)
    state = {
        k: torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    path = str(tmp_path / 'resnet18_noah.pth')
    torch.save({'state_dict': state, 'meta': {}}, path)
    loaded = get_model('resnet18_noah_in1k', pretrained=path)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert type(loaded.head).__name__ == 'NOAHHead'


def test_inference_by_name():
    image = np.random.RandomState(0).randint(0, 255, (64, 64, 3),
                                             dtype=np.uint8)
    result = inference_model('resnet18_noah_in1k', image)
    assert result['pred_scores'].shape == (1000, )
    assert 0 <= result['pred_label'] < 1000
    inferencer = ImageClassificationInferencer('mobilenetv2-0.35x_noah_in1k')
    out = inferencer(image)[0]
    assert out['pred_scores'].shape == (1000, )
    assert np.isclose(out['pred_scores'].sum(), 1.0, atol=1e-4)


def test_mim_root_points_at_the_index():
    root = model_zoo.mim_root()
    assert osp.isfile(osp.join(root, 'model-index.yml'))
    assert osp.isfile(
        osp.join(root, 'configs', 'noah', 'resnet18_noah_in1k.py'))
    assert noah_mm.__version__


def test_mim_root_error_names_both_places(monkeypatch, tmp_path):
    monkeypatch.setattr(model_zoo, 'PACKAGE_DIR', str(tmp_path / 'noah_mm'))
    with pytest.raises(FileNotFoundError, match='model-index.yml'):
        model_zoo.mim_root()
