# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""tools/train.py, tools/test.py and tools/dist_train.sh end to end on CPU.

A tiny generated image-folder data set (3 classes, 16x16 PNGs) and a narrow
ResNet-18 + NOAHHead config that inherits the demo config, so the real
command-line tools, configs and engine hooks run as users run them. Every
training run is a subprocess, as on the command line.
"""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import noah_mm  # noqa: F401  (safe-loader allow-list for torch.load)
from tool_loader import REPO as ROOT

PYTHON = sys.executable
EPOCHS = 3

TINY_CONFIG = '''
_base_ = [{base!r}]
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(in_channels=64, num_heads=2, num_classes=3))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=16, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(data_root={data!r}, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    dataset=dict(data_root={data!r}, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={epochs})
param_scheduler = dict(T_max={epochs})
default_hooks = dict(logger=dict(interval=2))
'''

# Stops the run in the middle of epoch 2 (after epoch 1's checkpoint) and
# waits to be killed: the kill then lands at a known place, not by timing.
PAUSE_HOOK = '''
import os, time
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PauseForKillHook(Hook):
    priority = 'LOWEST'

    def __init__(self, marker):
        self.marker = marker

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.epoch == 1 and batch_idx == 3:
            open(self.marker, 'w').close()
            time.sleep(300)
'''


def _write_dataset(root: str) -> None:
    """3 classes of 16x16 images: horizontal/vertical stripes, a blob."""
    rng = np.random.RandomState(0)
    yy, xx = np.mgrid[0:16, 0:16]
    patterns = [
        (yy // 2 % 2) * 200.0,
        (xx // 2 % 2) * 200.0,
        ((yy - 8)**2 + (xx - 8)**2 < 20) * 200.0,
    ]
    for split, n in (('train', 8), ('val', 4)):
        for cls, pattern in enumerate(patterns):
            folder = osp.join(root, split, str(cls))
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                img = np.clip(pattern + rng.normal(0, 25, (16, 16)), 0, 255)
                Image.fromarray(img.astype(np.uint8), mode='L').save(
                    osp.join(folder, f'{i:03d}.png'))


def _env(extra_path=None):
    env = dict(os.environ)
    env['OMP_NUM_THREADS'] = '1'
    env['PYTHONWARNINGS'] = 'ignore'
    paths = [ROOT] + ([extra_path] if extra_path else [])
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env['PYTHONPATH'] = os.pathsep.join(paths)
    return env


def _train(config, work_dir, *extra, env=None, timeout=240):
    cmd = [PYTHON, osp.join(ROOT, 'tools', 'train.py'), config,
           '--work-dir', work_dir, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env or _env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _weights(path):
    # the default (weights_only=True) loader, as the tools use it
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('train_tools')
    data = str(tmp / 'data')
    _write_dataset(data)
    config = str(tmp / 'tiny_noah.py')
    with open(config, 'w') as f:
        f.write(TINY_CONFIG.format(
            base=osp.join(ROOT, 'configs', 'demo', 'resnet18_noah_digits.py'),
            data=data, epochs=EPOCHS))
    return dict(tmp=tmp, data=data, config=config)


@pytest.fixture(scope='module')
def reference_run(setup):
    """One uninterrupted training run, shared by several tests."""
    work_dir = str(setup['tmp'] / 'uninterrupted')
    log = _train(setup['config'], work_dir)
    return dict(work_dir=work_dir, log=log)


def test_train_end_to_end(reference_run):
    work_dir, log = reference_run['work_dir'], reference_run['log']
    # progress with ETA, validation each epoch, a checkpoint each epoch
    assert 'eta:' in log and 'Epoch(train) [1]' in log
    assert log.count('accuracy/top1') >= EPOCHS
    final = osp.join(work_dir, f'epoch_{EPOCHS}.pth')
    assert osp.isfile(final)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == final
    ckpt = torch.load(final, map_location='cpu')
    # random state of every rank and the data order travel with it
    assert len(ckpt['rng_state']) == 1
    assert ckpt['data_order']['epoch'] == EPOCHS - 1
    assert ckpt['meta']['epoch'] == EPOCHS
    # the NOAH head was trained (its weights left their initial values)
    assert any(k.startswith('head.') for k in ckpt['state_dict'])
    # no temporary files from the atomic writes remain
    assert not [n for n in os.listdir(work_dir) if n.endswith('.tmp')]


def test_test_tool_prints_metrics(setup, reference_run, tmp_path, capsys):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import test as test_tool  # tools/test.py
    finally:
        sys.path.pop(0)
    out = str(tmp_path / 'metrics.json')
    metrics = test_tool.main([
        setup['config'],
        osp.join(reference_run['work_dir'], f'epoch_{EPOCHS}.pth'),
        '--work-dir', str(tmp_path), '--out', out])
    assert 0 <= metrics['accuracy/top1'] <= 100
    assert 'accuracy/top1:' in capsys.readouterr().out
    assert osp.isfile(out)


def test_kill9_and_resume_equals_uninterrupted(setup, reference_run):
    tmp = setup['tmp']
    work_dir = str(tmp / 'killed')
    hook_dir = str(tmp / 'hooks')
    os.makedirs(hook_dir, exist_ok=True)
    with open(osp.join(hook_dir, 'pause_for_kill.py'), 'w') as f:
        f.write(PAUSE_HOOK)
    marker = str(tmp / 'paused')
    killed_config = str(tmp / 'tiny_noah_pausing.py')
    with open(killed_config, 'w') as f:
        f.write(f'_base_ = [{setup["config"]!r}]\n'
                "custom_imports = dict(imports=['noah_mm', 'pause_for_kill'],"
                ' allow_failed_imports=False)\n'
                "custom_hooks = [dict(type='RNGStateHook'), "
                "dict(type='DataOrderHook'), "
                f"dict(type='PauseForKillHook', marker={marker!r})]\n")
    proc = subprocess.Popen(
        [PYTHON, osp.join(ROOT, 'tools', 'train.py'), killed_config,
         '--work-dir', work_dir], cwd=ROOT, env=_env(hook_dir),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not osp.exists(marker):
            assert proc.poll() is None, 'training died before the pause'
            assert time.time() < deadline, 'training never reached epoch 2'
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))

    log = _train(setup['config'], work_dir, '--resume')
    assert 'resumed epoch: 1' in log
    ref = _weights(
        osp.join(reference_run['work_dir'], f'epoch_{EPOCHS}.pth'))
    got = _weights(osp.join(work_dir, f'epoch_{EPOCHS}.pth'))
    assert ref.keys() == got.keys()
    diff = max((ref[k].double() - got[k].double()).abs().max().item()
               for k in ref if ref[k].is_floating_point())
    assert diff <= 1e-5, f'resumed weights differ by {diff}'
    # the head's running counters (ints) match exactly as well
    for k in ref:
        if not ref[k].is_floating_point():
            assert torch.equal(ref[k], got[k]), k


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_two_cpu_processes(setup):
    work_dir = str(setup['tmp'] / 'dist')
    env = _env()
    env['PORT'] = str(_free_port())
    env['PYTHON'] = PYTHON
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), setup['config'],
         '2', '--work-dir', work_dir, '--cfg-options',
         'train_cfg.max_epochs=1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    # two ranks: mmengine reports the world size, and each rank reads half
    # of the 24 training images: 3 iterations of batch 4 per epoch
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log
    assert 'Epoch(train) [1][2/3]' in log
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu')
    assert len(ckpt['rng_state']) == 2  # both ranks' random state


def test_corrupted_checkpoint_clear_error(setup, reference_run, tmp_path):
    from noah_mm.engine import CorruptedCheckpointError
    good = osp.join(reference_run['work_dir'], f'epoch_{EPOCHS}.pth')
    with open(good, 'rb') as f:
        data = f.read()
    truncated = str(tmp_path / 'truncated.pth')
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    garbage = str(tmp_path / 'garbage.pth')
    with open(garbage, 'wb') as f:
        f.write(b'not a checkpoint' * 100)
    empty = str(tmp_path / 'empty.pth')
    open(empty, 'wb').close()

    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import test as test_tool  # tools/test.py
    finally:
        sys.path.pop(0)
    for bad in (truncated, garbage, empty):
        with pytest.raises(CorruptedCheckpointError) as info:
            test_tool.main([setup['config'], bad, '--work-dir',
                            str(tmp_path / 'wd')])
        msg = str(info.value)
        assert bad in msg
        assert 'truncated' in msg or 'corrupted' in msg or 'empty' in msg
