# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""noah_mm as a package: the wheel carries the configs, tools and model
index, and mim and mmpretrain's model names work from it.

The wheel is built from a copy of the checkout, installed (not editable)
into a folder of its own, and used from another directory with only that
folder added to the path: nothing can come from the checkout.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from tool_loader import REPO


def _run(args, cwd, env, timeout=600):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc.stdout


@pytest.fixture(scope='module')
def wheel_install(tmp_path_factory):
    """Build the wheel, install it into ``site/`` and return the paths and
    an environment that sees it (and not the checkout)."""
    tmp = tmp_path_factory.mktemp('packaging')
    src = tmp / 'src'
    shutil.copytree(
        REPO, src, symlinks=True,
        ignore=shutil.ignore_patterns('.git', '.venv', 'work_dirs', 'data',
                                      'build', 'dist', '*.egg-info',
                                      '__pycache__', '.pytest_cache', '.mim'))
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
    _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
          '--no-build-isolation', str(src), '-w', str(tmp / 'wheels')],
         cwd=str(tmp), env=env)
    wheels = list((tmp / 'wheels').glob('noah_mm-*.whl'))
    assert len(wheels) == 1, wheels
    site = tmp / 'site'
    _run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
          '--target', str(site), str(wheels[0])], cwd=str(tmp), env=env)
    env['PYTHONPATH'] = str(site)
    elsewhere = tmp / 'elsewhere'
    elsewhere.mkdir()
    return dict(wheel=str(wheels[0]), site=str(site), env=env,
                cwd=str(elsewhere))


def test_wheel_contents(wheel_install):
    with zipfile.ZipFile(wheel_install['wheel']) as whl:
        names = set(whl.namelist())
    for required in ('noah_mm/.mim/model-index.yml',
                     'noah_mm/.mim/configs/noah/metafile.yml',
                     'noah_mm/.mim/configs/noah/resnet18_noah_in1k.py',
                     'noah_mm/.mim/configs/demo/resnet18_noah_digits.py',
                     'noah_mm/.mim/configs/finetune/'
                     'resnet18_noah_in1k-backbone-pre_digits.py',
                     'noah_mm/.mim/tools/train.py',
                     'noah_mm/.mim/tools/test.py',
                     'noah_mm/.mim/tools/analysis_tools/complexity_table.py',
                     'noah_mm/ops/csrc/poca_cpu.cpp'):
        assert required in names, required
    assert any(n.endswith('.dist-info/licenses/LICENSE') or
               n.endswith('.dist-info/LICENSE') for n in names)
    assert not any('__pycache__' in n or n.startswith('tests/')
                   for n in names)
    metadata = [n for n in names if n.endswith('.dist-info/METADATA')][0]
    with zipfile.ZipFile(wheel_install['wheel']) as whl:
        text = whl.read(metadata).decode()
    assert 'Provides-Extra: det' in text
    assert 'mmdet' not in [
        line.split()[1] for line in text.splitlines()
        if line.startswith('Requires-Dist:') and 'extra ==' not in line
    ]


def test_model_names_from_the_wheel(wheel_install):
    out = _run([
        sys.executable, '-c',
        'import noah_mm; from mmpretrain import get_model, list_models; '
        "m = get_model('resnet18_noah_in1k'); "
        'print(noah_mm.__file__); print(m._config.filename); '
        "print(len(list_models('*noah*')))"
    ], cwd=wheel_install['cwd'], env=wheel_install['env'])
    module, config, count = out.strip().splitlines()[-3:]
    site = wheel_install['site']
    assert module.startswith(site)
    assert config == osp.join(site, 'noah_mm', '.mim', 'configs', 'noah',
                              'resnet18_noah_in1k.py')
    assert int(count) >= 26


def test_mim_list_and_search(wheel_install):
    out = _run([sys.executable, '-m', 'mim', 'list'],
               cwd=wheel_install['cwd'], env=wheel_install['env'])
    assert 'noah' in out.lower()
    out = _run([sys.executable, '-m', 'mim', 'search', 'noah_mm'],
               cwd=wheel_install['cwd'], env=wheel_install['env'])
    for name in ('resnet18_noah_in1k', 'deit-tiny-0.5x_noah_in1k',
                 'gmlp-tiny_noah_in1k', 'resnet50_in1k'):
        assert name in out, name


def _digits_like(root: str):
    rng = np.random.RandomState(0)
    for split, per_class in (('train', 2), ('val', 1)):
        for cls in range(10):
            folder = osp.join(root, split, str(cls))
            os.makedirs(folder)
            for i in range(per_class):
                pixels = rng.randint(0, 255, (32, 32), dtype=np.uint8)
                Image.fromarray(pixels).convert('RGB').save(
                    osp.join(folder, f'{i:05d}.png'))


def test_mim_train_test_and_run(wheel_install):
    cwd, env = wheel_install['cwd'], wheel_install['env']
    data = osp.join(cwd, 'my_digits')
    _digits_like(data)
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}',
        'train_dataloader.batch_size=4'
    ]
    out = _run([
        sys.executable, '-m', 'mim', 'train', 'noah_mm',
        'configs/demo/resnet18_noah_digits.py', '--work-dir', 'work',
        '--gpus', '0'
    ] + options + ['train_cfg.max_epochs=1'], cwd=cwd, env=env)
    assert osp.join('noah_mm', '.mim', 'configs', 'demo',
                    'resnet18_noah_digits.py') in out
    checkpoint = osp.join(cwd, 'work', 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    out = _run([
        sys.executable, '-m', 'mim', 'test', 'noah_mm',
        'resnet18_noah_digits.py', '--checkpoint', checkpoint, '--gpus', '0'
    ] + options[:-1], cwd=cwd, env=env)
    assert 'accuracy/top1' in out
    out = _run([sys.executable, '-m', 'mim', 'run', 'noah_mm',
                'complexity_table'], cwd=cwd, env=env)
    assert '| resnet18_noah_in1k | NOAH |' in out
