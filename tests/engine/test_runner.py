# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""NOAHRunner in process: what every config gets, whichever script runs it.

Runs are in process on a tiny image-folder data set (3 classes, 16x16).
"""
import ast
import glob
import io
import os
import os.path as osp
import shutil
import subprocess
import sys
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import (FileClient, LocalBackend, get_file_backend,
                             register_backend)
from mmengine.hooks import CheckpointHook, EMAHook
from mmengine.runner import CheckpointLoader

from noah_mm.engine import (DataOrderHook,
                            DatasetCheckHook, DatasetMismatchError,
                            NOAHRunner, RNGStateHook, SampleLoadError,
                            build_runner)
from tiny_image_folder import write_image_folder, write_tiny_config
from tool_loader import REPO as ROOT

def _all_configs():
    """Every config file under configs/ except the ``_base_`` pieces."""
    return sorted(
        osp.relpath(path, ROOT) for path in glob.glob(
            osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
        if f'{osp.sep}_base_{osp.sep}' not in path)


RUNTIME = osp.join(ROOT, 'configs', '_base_', 'default_runtime_noah.py')


def _local_bases(path):
    """The repository files a config lists in ``_base_`` (not ``pkg::``)."""
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else value
            return [
                osp.normpath(osp.join(osp.dirname(path), b)) for b in bases
                if '::' not in b
            ]
    return []


def _inherits_runtime(path):
    return any(base == RUNTIME or _inherits_runtime(base)
               for base in _local_bases(path))


def test_every_config_names_the_runner():
    """Every config in configs/ inherits default_runtime_noah.py (once), so
    runner_type and the import come with it."""
    configs = _all_configs()
    assert len(configs) > 80  # the zoo, baselines, ablations, det, demo
    missing = [c for c in configs if not _inherits_runtime(osp.join(ROOT, c))]
    assert missing == []
    # merged for real: a zoo config, one on a full stock config, a det one
    for rel in ('configs/noah/resnet18_noah_in1k.py',
                'configs/noah/deit-tiny_noah_in1k.py',
                'configs/det/retinanet_r50-noah-pre_fpn_1x_coco.py'):
        cfg = Config.fromfile(osp.join(ROOT, rel))
        assert cfg.runner_type == 'NOAHRunner', rel
        assert 'noah_mm' in cfg.custom_imports['imports'], rel


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tiny_data'))
    write_image_folder(root)
    return root


def _cfg(tmp_path, data_root, epochs=2, **options):
    path = write_tiny_config(
        str(tmp_path / f'tiny_{uuid.uuid4().hex[:6]}.py'), data_root, epochs)
    cfg = Config.fromfile(path)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'engine_test_{uuid.uuid4().hex[:8]}'
    cfg.merge_from_dict(options)
    return cfg


def _hooks(runner, hook_type):
    return [h for h in runner.hooks if isinstance(h, hook_type)]


def test_hooks_and_atomic_saving_come_with_the_runner(tmp_path, data):
    # a config that replaces custom_hooks (as the DeiT configs do with EMA)
    cfg = _cfg(tmp_path, data, custom_hooks=[dict(type='EMAHook')])
    runner = build_runner(cfg)
    assert type(runner) is NOAHRunner
    for hook_type in (EMAHook, RNGStateHook, DataOrderHook,
                      DatasetCheckHook):
        assert len(_hooks(runner, hook_type)) == 1, hook_type
    ckpt = _hooks(runner, CheckpointHook)[0]
    assert ckpt.backend_args == dict(backend='atomic_local')
    # a hook the config lists already is not added twice
    cfg = _cfg(tmp_path, data,
               custom_hooks=[dict(type='RNGStateHook', strict=True)])
    runner = build_runner(cfg)
    rng = _hooks(runner, RNGStateHook)
    assert len(rng) == 1 and rng[0].strict is True


class _FakeRemoteBackend(LocalBackend):
    """``noahtest://x`` stored under a local folder: a stand-in for s3."""

    root = None

    def _map(self, path):
        return str(path).replace('noahtest://', self.root + '/', 1)

    def get(self, filepath):
        return super().get(self._map(filepath))

    def put(self, obj, filepath):
        super().put(obj, self._map(filepath))

    def exists(self, filepath):
        return super().exists(self._map(filepath))

    def isfile(self, filepath):
        return super().isfile(self._map(filepath))

    def isdir(self, filepath):
        return super().isdir(self._map(filepath))

    def remove(self, filepath):
        super().remove(self._map(filepath))

    def list_dir_or_file(self, dir_path, *args, **kwargs):
        return super().list_dir_or_file(self._map(dir_path), *args, **kwargs)


def test_remote_checkpoint_dir_saves_and_resumes(tmp_path, data):
    _FakeRemoteBackend.root = str(tmp_path / 'bucket')
    register_backend(
        'noahtest', _FakeRemoteBackend, force=True, prefixes='noahtest')
    # CheckpointHook also asks the older FileClient about the prefix
    FileClient.register_backend(
        'noahtest', _FakeRemoteBackend, force=True, prefixes='noahtest')

    @CheckpointLoader.register_scheme(prefixes='noahtest://', force=True)
    def _load(filename, map_location):
        blob = get_file_backend(filename).get(filename)
        return torch.load(io.BytesIO(blob), map_location=map_location)

    options = {'default_hooks.checkpoint.out_dir': 'noahtest://ckpts'}
    runner = build_runner(_cfg(tmp_path, data, epochs=1, **options))
    ckpt = _hooks(runner, CheckpointHook)[0]
    assert ckpt.backend_args is None  # not the local atomic backend
    runner.train()
    assert isinstance(ckpt.file_backend, _FakeRemoteBackend)
    stored = tmp_path / 'bucket' / 'ckpts' / 'work' / 'epoch_1.pth'
    assert stored.is_file()
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))
    # --resume without a path finds the remote checkpoint
    resumed = build_runner(
        _cfg(tmp_path, data, epochs=2, resume=True, **options))
    resumed.train()
    assert resumed.epoch == 2
    assert (tmp_path / 'bucket' / 'ckpts' / 'work' / 'epoch_2.pth').is_file()
    with open(glob.glob(osp.join(resumed.log_dir, '*.log'))[0]) as f:
        assert 'resumed epoch: 1' in f.read()


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_resume_newest_complete_and_orphans_removed(tmp_path, data):
    build_runner(_cfg(tmp_path, data, epochs=2)).train()
    work = tmp_path / 'work'
    assert (work / 'epoch_2.pth').is_file()
    # a kill between writing epoch_2.pth and last_checkpoint
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    # a kill in the middle of writing epoch_3.pth in place (no atomic save)
    data_2 = (work / 'epoch_2.pth').read_bytes()
    (work / 'epoch_3.pth').write_bytes(data_2[:len(data_2) // 2])
    # a kill while an atomic save wrote its temporary file
    from noah_mm.engine.atomic_backend import _host_tag
    orphan = work / f'.epoch_3.pth.{_host_tag()}-{_dead_pid()}.abc123.tmp'
    orphan.write_bytes(b'partial')
    runner = build_runner(_cfg(tmp_path, data, epochs=3, resume=True))
    runner.train()
    with open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]) as f:
        log = f.read()
    assert 'resumed epoch: 2' in log
    assert f'Not resuming from {work / "epoch_3.pth"}' in log
    assert not orphan.exists()
    assert torch.load(work / 'epoch_3.pth')['meta']['epoch'] == 3


def _copy_data(src, tmp_path):
    dst = str(tmp_path / 'data')
    shutil.copytree(src, dst)
    return dst


def test_class_folder_only_in_val_is_refused(tmp_path, data):
    root = _copy_data(data, tmp_path)
    extra = osp.join(root, 'val', '2b')
    shutil.copytree(osp.join(root, 'val', '2'), extra)
    runner = build_runner(_cfg(tmp_path, root))
    with pytest.raises(DatasetMismatchError) as info:
        runner.train()
    assert extra in str(info.value)
    assert not glob.glob(osp.join(runner.work_dir, '*.pth'))  # before any


def test_empty_class_folder_is_refused(tmp_path, data):
    root = _copy_data(data, tmp_path)
    for split in ('train', 'val'):
        os.makedirs(osp.join(root, split, '1b'))
    runner = build_runner(_cfg(tmp_path, root))
    with pytest.raises(DatasetMismatchError) as info:
        runner.train()
    assert osp.join(root, 'train', '1b') in str(info.value)
    assert 'empty' in str(info.value)


def test_unreadable_image_names_the_file(tmp_path, data):
    root = _copy_data(data, tmp_path)
    broken = osp.join(root, 'train', '1', '003.png')
    open(broken, 'wb').close()  # 0 bytes
    runner = build_runner(_cfg(tmp_path, root))
    with pytest.raises(SampleLoadError) as info:
        runner.train()
    assert broken in str(info.value)


def test_damaged_checkpoint_at_resume_and_load_from(tmp_path, data):
    from noah_mm.engine import CorruptedCheckpointError
    build_runner(_cfg(tmp_path, data, epochs=1)).train()
    ckpt = tmp_path / 'work' / 'epoch_1.pth'
    blob = bytearray(ckpt.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(bytes(blob))
    for options in (dict(resume=True, load_from=str(bad)),
                    dict(load_from=str(bad))):
        runner = build_runner(_cfg(tmp_path, data, epochs=2, **options))
        with pytest.raises(CorruptedCheckpointError, match=str(bad)):
            runner.train()
