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
        (tmp_path / f'epoch_{n}.pth').write_bytes(b'x')
    # no or empty last_checkpoint (killed while writing it): newest epoch
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_10.pth')
    (tmp_path / 'last_checkpoint').write_text('')
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_10.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_2.pth')
