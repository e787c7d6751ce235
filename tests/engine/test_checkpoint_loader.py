# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader

from noah_mm.engine import (CorruptedCheckpointError, load_from_local,
                            verify_checkpoint)


def _mmengine_like_checkpoint():
    hub = MessageHub.get_instance('noah_mm_test_loader')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('dataset_meta', dict(classes=('a', 'b')))
    return dict(
        meta=dict(epoch=1, iter=10, seed=0, arr=np.arange(3),
                  scalar=np.float64(1.5)),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict())


def test_safe_loader_reads_mmengine_checkpoints(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    torch.save(_mmengine_like_checkpoint(), path)
    # torch's default is the safe loader, and it is never switched off:
    ckpt = torch.load(path, weights_only=True)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == 0.375
    assert ckpt['meta']['scalar'] == 1.5
    # through mmengine's loader (the scheme noah_mm registers for paths)
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_getattr_is_not_a_way_out(tmp_path):
    """builtins.getattr only reaches HistoryBuffer's statistics methods."""

    class Evil:

        def __reduce__(self):
            return getattr, (HistoryBuffer, '__init__')

    path = str(tmp_path / 'evil.pth')
    torch.save({'x': Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refused'):
        load_from_local(path, 'cpu')


def test_corrupted_and_truncated_files(tmp_path):
    buf = io.BytesIO()
    torch.save(_mmengine_like_checkpoint(), buf)
    data = buf.getvalue()
    cases = {
        'truncated.pth': data[:len(data) // 2],
        'tail_cut.pth': data[:-10],
        'garbage.pth': b'\x00\x01 not a checkpoint' * 50,
        'empty.pth': b'',
    }
    for name, content in cases.items():
        path = str(tmp_path / name)
        with open(path, 'wb') as f:
            f.write(content)
        with pytest.raises(CorruptedCheckpointError) as info:
            CheckpointLoader.load_checkpoint(path, map_location='cpu')
        assert path in str(info.value)
        assert isinstance(info.value, ValueError)
    with pytest.raises(FileNotFoundError):
        load_from_local(str(tmp_path / 'missing.pth'), 'cpu')


def _flip_middle(data: bytes, n: int = 64) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + n]) + \
        data[mid + n:]


@pytest.fixture
def damaged_files(tmp_path):
    """A real (small model) checkpoint, and damaged or foreign files."""
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.Linear(64, 4))
    good = str(tmp_path / 'good.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, good)
    with open(good, 'rb') as f:
        data = f.read()
    files = dict(good=good)
    for name, content in (('flipped', _flip_middle(data)),
                          ('text', b'epoch 3, top-1 82.7\n' * 20)):
        files[name] = str(tmp_path / f'{name}.pth')
        with open(files[name], 'wb') as f:
            f.write(content)
    return files


def test_flipped_bytes_and_text_files_are_refused(damaged_files):
    verify_checkpoint(damaged_files['good'])
    with pytest.raises(CorruptedCheckpointError, match='CRC-32') as info:
        CheckpointLoader.load_checkpoint(damaged_files['flipped'])
    assert damaged_files['flipped'] in str(info.value)
    assert 'Delete or replace it' in str(info.value)
    with pytest.raises(CorruptedCheckpointError,
                       match='is not a checkpoint') as info:
        CheckpointLoader.load_checkpoint(damaged_files['text'])
    assert damaged_files['text'] in str(info.value)


def test_legacy_pickle_checkpoints_still_load(tmp_path):
    path = str(tmp_path / 'legacy.pth')
    torch.save({'state_dict': {'w': torch.ones(3)}}, path,
               _use_new_zipfile_serialization=False)
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(3))


def test_every_loading_entry_point_verifies(damaged_files):
    """load_from (load_checkpoint), init_cfg Pretrained and the demo."""
    from mmengine.model import BaseModule
    from mmengine.runner import load_checkpoint

    from tool_loader import load_tool
    bad = damaged_files['flipped']
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.Linear(64, 4))
    with pytest.raises(CorruptedCheckpointError, match='flipped.pth'):
        load_checkpoint(model, bad)

    class Net(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=dict(
                type='Pretrained', checkpoint=bad, prefix='backbone.'))
            self.fc = torch.nn.Linear(4, 4)

    with pytest.raises(CorruptedCheckpointError, match='flipped.pth'):
        Net().init_weights()
    demo = load_tool('tools/demo/image_demo.py')
    with pytest.raises(CorruptedCheckpointError, match='flipped.pth'):
        demo.top_k('any.png', 'any_config.py', bad)


def test_no_single_bit_flip_loads_silently(tmp_path):
    """Flip one bit at every byte of a small checkpoint: each load either
    raises CorruptedCheckpointError or returns exactly what was saved
    (flips in zip padding and unused header fields change nothing)."""
    saved = {'w': torch.randn(64), 'b': torch.arange(10),
             'meta': {'epoch': 3, 'classes': ('a', 'b')}}
    buf = io.BytesIO()
    torch.save(saved, buf)
    data = buf.getvalue()
    path = str(tmp_path / 'flipped.pth')
    refused = 0
    for pos in range(len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x01
        with open(path, 'wb') as f:
            f.write(damaged)
        try:
            loaded = load_from_local(path, 'cpu')
        except CorruptedCheckpointError as e:
            assert path in str(e)
            refused += 1
            continue
        assert torch.equal(loaded['w'], saved['w']), pos
        assert torch.equal(loaded['b'], saved['b']), pos
        assert loaded['meta'] == saved['meta'], pos
    # every byte of the tensors and the pickle is covered by a CRC
    assert refused >= 64 * 4 + 10 * 8
