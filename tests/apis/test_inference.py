# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""mmpretrain's inference APIs and tools/demo/image_demo.py with NOAH."""
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.apis import (ImageClassificationInferencer, ModelHub,
                             get_model, inference_model)
from mmengine.dataset import Compose, default_collate
from mmpretrain.registry import MODELS, TRANSFORMS

from tool_loader import REPO as ROOT, load_tool

NUM_CLASSES = 10
CLASSES = [f'c{i}' for i in range(NUM_CLASSES)]
MEAN, STD = [120.0, 110.0, 100.0], [60.0, 50.0, 40.0]

CONFIG = f"""
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor',
                           num_classes={NUM_CLASSES}, mean={MEAN},
                           std={STD}, to_rgb=True),
    backbone=dict(type='ResNet', depth=18),
    head=dict(type='NOAHHead', num_classes={NUM_CLASSES}, in_channels=512,
              num_heads=4, key_ratio=0.5))
test_dataloader = dict(dataset=dict(type='CustomDataset', pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs')]))
"""


@pytest.fixture(scope='module')
def noah_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('infer')
    cfg = tmp / 'noah_r18_tiny.py'
    cfg.write_text(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg)).model)
    # a random head gives near-uniform scores: sharpen it so the ranking
    # is well defined
    with torch.no_grad():
        model.head.poca.value_weight.mul_(20)
    ckpt = tmp / 'noah.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, ckpt)
    img = tmp / 'img.png'
    rng = np.random.default_rng(0)
    mmcv.imwrite(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8), str(img))
    return str(cfg), str(ckpt), str(img)


def _reference_scores(cfg, ckpt, img):
    """Scores computed by hand: resize, normalise (RGB), forward, softmax."""
    model = MODELS.build(Config.fromfile(cfg).model)
    model.load_state_dict(torch.load(ckpt, weights_only=True)['state_dict'])
    bgr = mmcv.imresize(mmcv.imread(img), (64, 64))
    x = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).float()
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None,
                                                                   None]
    with torch.no_grad():
        return model.eval()(x[None], mode='tensor')[0].softmax(-1).numpy()


def test_inference_model_and_inferencer(noah_files):
    cfg, ckpt, img = noah_files
    expected = _reference_scores(cfg, ckpt, img)
    model = get_model(cfg, pretrained=ckpt)
    assert type(model.head).__name__ == 'NOAHHead'
    inferencer = ImageClassificationInferencer(model)
    (res, ) = inferencer(img)
    np.testing.assert_allclose(res['pred_scores'], expected, atol=1e-5)
    assert res['pred_label'] == int(expected.argmax())
    assert res['pred_class'] == CLASSES[int(expected.argmax())]

def test_inference_model_with_the_zoo_entry(tmp_path):
    """``inference_model`` dispatches on model-zoo metadata: our zoo's
    ``model-index.yml`` entry ``resnet18_noah_in1k`` works with a checkpoint
    for ``configs/noah/resnet18_noah_in1k.py``."""
    name = 'resnet18_noah_in1k'
    if not ModelHub.has(name):
        ModelHub.register_model_index(osp.join(ROOT, 'model-index.yml'),
                                      config_prefix=ROOT)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'noah', 'resnet18_noah_in1k.py'))
    # as mmpretrain's get_model does: the top-level data preprocessor
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():  # spread the scores of the random head
        model.head.poca.value_weight.mul_(50)
    ckpt = tmp_path / 'r18_noah.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    img = tmp_path / 'img.png'
    rng = np.random.default_rng(1)
    mmcv.imwrite(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), str(img))

    result = inference_model(name, str(img), pretrained=str(ckpt))
    # the same image through the config's test pipeline and the model
    pipeline = Compose(
        [TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline])
    data = model.data_preprocessor(
        default_collate([pipeline(dict(img_path=str(img)))]), False)
    with torch.no_grad():
        expected = model(data['inputs'], mode='tensor')[0].softmax(-1)
    assert len(result['pred_scores']) == 1000
    assert expected.max() > 10 * expected.median()
    np.testing.assert_allclose(result['pred_scores'], expected.numpy(),
                               rtol=1e-4, atol=1e-7)
    assert result['pred_label'] == int(expected.argmax())


def test_image_demo_prints_top5(noah_files, monkeypatch, capsys):
    cfg, ckpt, img = noah_files
    demo = load_tool('tools/demo/image_demo.py')
    monkeypatch.setattr(sys, 'argv', ['image_demo.py', img, cfg, ckpt])
    demo.main()
    lines = capsys.readouterr().out.strip().splitlines()[-5:]
    expected = _reference_scores(cfg, ckpt, img)
    order = np.argsort(-expected)[:5]
    assert len(lines) == 5
    for rank, (line, index) in enumerate(zip(lines, order), 1):
        assert line.startswith(f'{rank}. {index} (c{index}): ')
        assert abs(float(line.rsplit(' ', 1)[1]) - expected[index]) < 1e-4
    with pytest.raises(ValueError, match='topk'):
        demo.top_k(img, cfg, ckpt, k=0)
