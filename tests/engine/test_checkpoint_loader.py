# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader

from noah_mm.engine import CorruptedCheckpointError, load_from_local


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
