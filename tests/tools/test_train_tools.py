# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""tools/train.py, tools/test.py, tools/dist_train.sh and mmpretrain's own
tools/train.py end to end on CPU.

A tiny generated image-folder data set (3 classes, 16x16 PNGs) and narrow
ResNet-18 + NOAHHead configs that inherit the demo config or the zoo's
ResNet-18, so the real command-line tools, configs and runner run as users
run them. Every training run is a subprocess, as on the command line.
"""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

import noah_mm  # noqa: F401  (safe-loader allow-list for torch.load)
from tiny_image_folder import write_image_folder, write_tiny_config
from tool_loader import REPO as ROOT

PYTHON = sys.executable
EPOCHS = 3

# A user's config: the zoo's ResNet-18 + NOAH (configs/noah), pointed at a
# tiny image-folder data set, narrower, with a fixed seed.
USER_CONFIG = '''
_base_ = [{base!r}]
model = dict(
    backbone=dict(stem_channels=8, base_channels=8, strides=(1, 2, 2, 1)),
    head=dict(in_channels=64, num_heads=2, num_classes=3, topk=(1, )))
data_preprocessor = dict(num_classes=3)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root={data!r},
                 data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root={data!r},
                 data_prefix='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=0.02))
train_cfg = dict(max_epochs={epochs})
default_hooks = dict(logger=dict(interval=2))
randomness = dict(seed=0)
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


def _env(extra_path=None):
    env = dict(os.environ)
    env['OMP_NUM_THREADS'] = '1'
    env['PYTHONWARNINGS'] = 'ignore'
    paths = [ROOT] + ([extra_path] if extra_path else [])
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env['PYTHONPATH'] = os.pathsep.join(paths)
    return env


OUR_TRAIN = osp.join(ROOT, 'tools', 'train.py')


def _mmpretrain_train_script():
    """mmpretrain's own tools/train.py, as its wheel ships it (``mim train
    mmpretrain`` runs this file)."""
    import mmpretrain
    script = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(script), f'mmpretrain does not ship {script}'
    return script


def _train(config, work_dir, *extra, env=None, timeout=240, script=None):
    cmd = [PYTHON, script or OUR_TRAIN, config, '--work-dir', work_dir,
           *extra]
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
    write_image_folder(data)
    config = write_tiny_config(str(tmp / 'tiny_noah.py'), data, EPOCHS)
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


def _assert_same_weights(ref_ckpt, got_ckpt):
    ref, got = _weights(ref_ckpt), _weights(got_ckpt)
    assert ref.keys() == got.keys()
    diff = max((ref[k].double() - got[k].double()).abs().max().item()
               for k in ref if ref[k].is_floating_point())
    assert diff <= 1e-5, f'resumed weights differ by {diff}'
    # the head's running counters (ints) match exactly as well
    for k in ref:
        if not ref[k].is_floating_point():
            assert torch.equal(ref[k], got[k]), k


def _kill_in_epoch_2(tmp, config, work_dir, script):
    """Train ``config`` with ``script`` and ``kill -9`` it in epoch 2.

    The config is inherited as users do, adding only a hook that stops in
    epoch 2 (after epoch 1's checkpoint) and waits to be killed; its
    ``custom_hooks`` list replaces the inherited one, so the resume hooks
    must come from the runner.
    """
    hook_dir = str(tmp / 'hooks')
    os.makedirs(hook_dir, exist_ok=True)
    with open(osp.join(hook_dir, 'pause_for_kill.py'), 'w') as f:
        f.write(PAUSE_HOOK)
    marker = osp.join(work_dir + '.paused')
    killed_config = work_dir + '_pausing.py'
    with open(killed_config, 'w') as f:
        f.write(f'_base_ = [{config!r}]\n'
                "custom_imports = dict(imports=['noah_mm', 'pause_for_kill'],"
                ' allow_failed_imports=False)\n'
                f"custom_hooks = [dict(type='PauseForKillHook', "
                f'marker={marker!r})]\n')
    proc = subprocess.Popen(
        [PYTHON, script, killed_config, '--work-dir', work_dir], cwd=ROOT,
        env=_env(hook_dir), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
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


def test_kill9_and_resume_equals_uninterrupted(setup, reference_run):
    work_dir = str(setup['tmp'] / 'killed')
    _kill_in_epoch_2(setup['tmp'], setup['config'], work_dir, OUR_TRAIN)
    log = _train(setup['config'], work_dir, '--resume')
    assert 'resumed epoch: 1' in log
    _assert_same_weights(
        osp.join(reference_run['work_dir'], f'epoch_{EPOCHS}.pth'),
        osp.join(work_dir, f'epoch_{EPOCHS}.pth'))


def test_zoo_config_with_mmpretrain_train_kill9_resume(setup):
    """A user config inheriting configs/noah/resnet18_noah_in1k.py, run only
    with mmpretrain's own tools/train.py: killed in epoch 2 and resumed, it
    ends where an uninterrupted run ends."""
    tmp = setup['tmp']
    config = str(tmp / 'my_resnet18_noah.py')
    with open(config, 'w') as f:
        f.write(USER_CONFIG.format(
            base=osp.join(ROOT, 'configs', 'noah', 'resnet18_noah_in1k.py'),
            data=setup['data'], epochs=EPOCHS))
    script = _mmpretrain_train_script()
    reference = str(tmp / 'mmpretrain_uninterrupted')
    log = _train(config, reference, script=script)
    # the resume hooks came with the config's runner
    assert 'RNGStateHook' in log and 'DataOrderHook' in log
    work_dir = str(tmp / 'mmpretrain_killed')
    _kill_in_epoch_2(tmp, config, work_dir, script)
    log = _train(config, work_dir, '--resume', script=script)
    assert 'resumed epoch: 1' in log
    _assert_same_weights(
        osp.join(reference, f'epoch_{EPOCHS}.pth'),
        osp.join(work_dir, f'epoch_{EPOCHS}.pth'))


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
    mid = len(data) // 2
    cases = {
        # 64 flipped bytes in the middle: loads silently without the CRCs
        'flipped.pth': (data[:mid] + bytes(
            b ^ 0xFF for b in data[mid:mid + 64]) + data[mid + 64:], 'CRC-32'),
        'truncated.pth': (data[:mid], 'truncated'),
        'notes.pth': (b'top-1 82.73 after 3 epochs\n' * 40,
                      'not a checkpoint'),
        'empty.pth': (b'', 'empty'),
    }
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import test as test_tool  # tools/test.py
    finally:
        sys.path.pop(0)
    for name, (content, what) in cases.items():
        bad = str(tmp_path / name)
        with open(bad, 'wb') as f:
            f.write(content)
        with pytest.raises(CorruptedCheckpointError) as info:
            test_tool.main([setup['config'], bad, '--work-dir',
                            str(tmp_path / 'wd')])
        msg = str(info.value)
        assert bad in msg and what in msg, msg
        assert 'Delete or replace it' in msg
