# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import io
import random

import numpy as np
import torch

from noah_mm.engine import get_rng_state, set_rng_state
from noah_mm.engine.latest_checkpoint import find_resume_checkpoint


def _draw():
    return (random.random(), float(np.random.rand()), np.random.randn(),
            torch.rand(3).tolist())


def test_rng_state_round_trip_through_safe_loader():
    np.random.randn()  # a cached Gaussian in NumPy's state
    state = get_rng_state()
    first = _draw()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    set_rng_state(torch.load(buf, weights_only=True))
    assert _draw() == first


def test_find_resume_checkpoint(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None
    for n in (1, 2, 10):
        torch.save({'meta': {'epoch': n}}, str(tmp_path / f'epoch_{n}.pth'))
    # no or empty last_checkpoint (killed while writing it): newest epoch
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_10.pth')
    (tmp_path / 'last_checkpoint').write_text('')
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_10.pth')
    # last_checkpoint naming an older one (killed between the two writes)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_10.pth')
    # the newest is damaged: the newest complete one
    data = (tmp_path / 'epoch_10.pth').read_bytes()
    (tmp_path / 'epoch_10.pth').write_bytes(data[:len(data) // 2])
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_2.pth')
    # another name template (CheckpointHook(filename_tmpl=...))
    torch.save({}, str(tmp_path / 'ckpt_e30.pth'))
    assert find_resume_checkpoint(
        str(tmp_path), filename_tmpls=('ckpt_e{}.pth', )).endswith(
            'ckpt_e30.pth')
