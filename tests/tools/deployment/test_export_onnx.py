# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""A NOAH model exported to ONNX gives PyTorch's logits in onnxruntime."""
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

onnx = pytest.importorskip('onnx')  # requirements/tests.txt installs both
ort = pytest.importorskip('onnxruntime')

from tool_loader import load_tool

CONFIG = """
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10,
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='ResNet', depth=18),
    head=dict(type='NOAHHead', num_classes=10, in_channels=512,
              num_heads=4, key_ratio=0.5, dropout=0.1))
"""


def test_onnx_round_trip(tmp_path):
    tool = load_tool('tools/deployment/export_onnx.py')
    cfg = tmp_path / 'noah_r18_tiny.py'
    cfg.write_text(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg)).model)
    ckpt = tmp_path / 'noah.pth'
    classes = [f'c{i}' for i in range(10)]
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': classes}}}, ckpt)
    out = tmp_path / 'noah.onnx'
    diff = tool.main([str(cfg), str(ckpt), '--out', str(out), '--shape',
                      '64', '80', '--verify'])
    assert diff is not None and diff <= 1e-4

    # independent check: a fresh model from the checkpoint, batch of 3
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta['classes']) == classes
    assert json.loads(meta['to_rgb']) is True
    np.testing.assert_allclose(json.loads(meta['mean']),
                               [123.675, 116.28, 103.53])
    model.eval()
    x = torch.randn(3, 3, 64, 80)
    with torch.no_grad():
        expected = model(x, mode='tensor').numpy()
    session = ort.InferenceSession(str(out),
                                   providers=['CPUExecutionProvider'])
    (got, ) = session.run(None, {'input': x.numpy()})
    assert got.shape == (3, 10)
    assert np.abs(got - expected).max() <= 1e-4
    assert np.abs(expected).max() > 1e-3  # not a trivially zero output


def test_export_rejects_bad_arguments():
    tool = load_tool('tools/deployment/export_onnx.py')
    model = MODELS.build(dict(
        type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
        head=dict(type='NOAHHead', num_classes=10, in_channels=512)))
    with pytest.raises(ValueError, match='exporter'):
        tool.export(model, 'x.onnx', exporter='jit')
    with pytest.raises(ValueError, match='shape'):
        tool.export(model, 'x.onnx', shape=(0, 64))
