# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import pytest
from mmengine.config import Config

from noah_mm.engine import cpu_model_wrapper_cfg, init_cpu_process_group


def test_wrapper_cfg_for_cpu():
    cfg = Config(dict(find_unused_parameters=True))
    wrapper = cpu_model_wrapper_cfg(cfg)
    assert wrapper['type'] == 'MMDistributedDataParallel'
    assert wrapper['device_ids'] is None
    assert wrapper['find_unused_parameters'] is True
    # a user's DDP wrapper keeps its options, only loses its devices
    cfg = Config(dict(model_wrapper_cfg=dict(
        type='MMDistributedDataParallel', broadcast_buffers=True,
        device_ids=[0], output_device=0)))
    wrapper = cpu_model_wrapper_cfg(cfg)
    assert wrapper['device_ids'] is None and 'output_device' not in wrapper
    assert wrapper['broadcast_buffers'] is True


def test_bad_launcher_and_missing_env(monkeypatch):
    with pytest.raises(ValueError, match='launcher'):
        init_cpu_process_group('torchrun')
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ValueError, match='dist_train.sh'):
        init_cpu_process_group('pytorch')
