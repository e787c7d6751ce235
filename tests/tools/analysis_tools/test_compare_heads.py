# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""tools/analysis_tools/compare_heads.py: its statistics against values
worked out by hand, and a real paired comparison end to end.

The end-to-end part trains two narrow ResNet-18 configs (NOAH head and
pooling + linear classifier, inheriting the demo configs) on a tiny subset
of the scikit-learn digits with the real tools/train.py and tools/test.py,
two seeds each, then checks that a second invocation trains nothing and
that an unfinished run is continued with ``--resume``.
"""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

import noah_mm  # noqa: F401  (safe-loader allow-list for torch.load)
from tool_loader import REPO, load_tool

compare = load_tool('tools/analysis_tools/compare_heads.py')
prepare_digits = load_tool('tools/dataset_converters/prepare_digits.py')

# 0.975 quantiles of Student's t, from a printed t table
T975 = {1: 12.7062047, 2: 4.3026527, 3: 3.1824463}


# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------
def test_paired_difference_by_hand_unresolved():
    a = [90.0, 92.0, 91.0, 93.0]
    b = [89.0, 90.0, 91.0, 90.0]
    # differences 1, 2, 0, 3: mean 1.5; squared deviations
    # 0.25 + 0.25 + 2.25 + 2.25 = 5, so the sample variance is 5 / 3
    std = math.sqrt(5 / 3)
    sem = std / 2
    half = T975[3] * sem                      # 2.0543
    d = compare.paired_difference(a, b)
    assert d['differences'] == [1.0, 2.0, 0.0, 3.0]
    assert d['mean'] == pytest.approx(1.5)
    assert d['std'] == pytest.approx(std)
    assert d['sem'] == pytest.approx(sem)
    assert d['dof'] == 3
    assert d['t_quantile'] == pytest.approx(T975[3], abs=1e-6)
    assert d['ci'] == pytest.approx([1.5 - half, 1.5 + half])
    assert d['ci'][0] < 0 < d['ci'][1]
    assert d['verdict'] == 'no difference resolved at this K'


def test_paired_difference_by_hand_resolved_both_ways():
    a = [95.0, 96.0, 97.0]
    b = [93.0, 94.0, 94.5]
    # differences 2, 2, 2.5: mean 13/6; squared deviations
    # 1/36 + 1/36 + 4/36, so the sample variance is (6/36) / 2 = 1/12
    mean, std = 13 / 6, math.sqrt(1 / 12)
    half = T975[2] * std / math.sqrt(3)       # 0.7171
    d = compare.paired_difference(a, b)
    assert d['std'] == pytest.approx(std)
    assert d['ci'] == pytest.approx([mean - half, mean + half])
    assert d['verdict'] == 'A better'
    swapped = compare.paired_difference(b, a)
    assert swapped['ci'] == pytest.approx([-mean - half, -mean + half])
    assert swapped['verdict'] == 'B better'
    # a 99% interval is wider: t(0.995, 2 dof) = 9.9248 from the table,
    # half-width 9.9248 / 6 = 1.654, still above zero
    wide = compare.paired_difference(a, b, confidence=0.99)
    assert wide['t_quantile'] == pytest.approx(9.9248432, abs=1e-6)
    half = 9.9248432 * std / math.sqrt(3)
    assert wide['ci'] == pytest.approx([mean - half, mean + half])
    assert wide['verdict'] == 'A better'


def test_verdict_rules():
    assert compare.verdict(0.1, 2.0) == 'A better'
    assert compare.verdict(-2.0, -0.1) == 'B better'
    assert compare.verdict(-1.0, 1.0) == 'no difference resolved at this K'
    # zero on an end of the interval is not resolved either
    assert compare.verdict(0.0, 1.0) == 'no difference resolved at this K'
    assert compare.verdict(-1.0, 0.0) == 'no difference resolved at this K'
    with pytest.raises(ValueError, match='reversed'):
        compare.verdict(1.0, -1.0)


def test_bad_statistics_input_is_named():
    with pytest.raises(ValueError, match='at least 2 seeds'):
        compare.paired_difference([90.0], [89.0])
    with pytest.raises(ValueError, match='same length'):
        compare.paired_difference([90.0, 91.0], [89.0, 90.0, 91.0])
    with pytest.raises(ValueError, match='confidence'):
        compare.paired_difference([90.0, 91.0], [89.0, 90.0], confidence=95)


def test_summarize_and_table_with_top5():
    metrics_a = {0: {'accuracy/top1': 70.0, 'accuracy/top5': 90.0},
                 1: {'accuracy/top1': 72.0, 'accuracy/top5': 91.0}}
    metrics_b = {0: {'accuracy/top1': 69.0, 'accuracy/top5': 89.0},
                 1: {'accuracy/top1': 70.0, 'accuracy/top5': 90.0}}
    summary = compare.summarize(['noah', 'base'], ['a.py', 'b.py'], [0, 1],
                                [metrics_a, metrics_b])
    a = summary['configs']['A']
    assert a['top1'] == [70.0, 72.0] and a['top1_mean'] == 71.0
    assert a['top1_std'] == pytest.approx(math.sqrt(2))
    assert a['top5'] == [90.0, 91.0]
    d = summary['paired_difference']
    assert d['differences'] == [1.0, 2.0]
    assert d['ci'] == pytest.approx(
        [1.5 - T975[1] * 0.5, 1.5 + T975[1] * 0.5], abs=1e-5)
    table = compare.format_table(summary)
    assert 'top-5 (%)' in table and '71.00 ± 1.41' in table
    assert 'verdict: no difference resolved at this K' in table
    # without top-5 in every run, no top-5 column
    del metrics_b[1]['accuracy/top5']
    summary = compare.summarize(['noah', 'base'], ['a.py', 'b.py'], [0, 1],
                                [metrics_a, metrics_b])
    assert 'top5' not in summary['configs']['A']
    assert 'top-5' not in compare.format_table(summary)


@pytest.mark.parametrize('extra, message', [
    (['--seeds', '1'], 'at least 2'),
    (['--seeds', '2', '--cfg-options', 'randomness.seed=3'],
     'must not set randomness.seed'),
    (['--seeds', '2', '--jobs', '0'], '--jobs'),
])
def test_bad_arguments_are_named(extra, message, capsys):
    cfg = osp.join(REPO, 'configs', 'demo', 'resnet18_digits.py')
    other = osp.join(REPO, 'configs', 'demo', 'resnet18_noah_digits.py')
    with pytest.raises(SystemExit):
        compare.parse_args([other, cfg, '--work-dir', 'w', *extra])
    assert message in capsys.readouterr().err


def test_same_config_name_and_missing_config_are_refused(tmp_path, capsys):
    cfg = osp.join(REPO, 'configs', 'demo', 'resnet18_digits.py')
    with pytest.raises(SystemExit):
        compare.parse_args([cfg, cfg, '--seeds', '2', '--work-dir', 'w'])
    assert 'same file name' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.parse_args([str(tmp_path / 'nope.py'), cfg, '--seeds', '2',
                            '--work-dir', 'w'])
    assert 'CONFIG_A' in capsys.readouterr().err


# --------------------------------------------------------------------------
# end to end
# --------------------------------------------------------------------------
TINY_CONFIG = '''
_base_ = [{base!r}]
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(in_channels=64))
train_dataloader = dict(batch_size=8, dataset=dict(data_root={data!r}))
val_dataloader = dict(batch_size=16, dataset=dict(data_root={data!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
param_scheduler = dict(T_max=1)
default_hooks = dict(logger=dict(interval=1))
'''


def _write_tiny_digits(root: str) -> None:
    """2 training and 1 held-out image of each digit, 32x32 as the demo."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    for cls in range(10):
        idx = np.flatnonzero(digits.target == cls)[:3]
        for split, indices in (('train', idx[:2]), ('val', idx[2:])):
            folder = osp.join(root, split, str(cls))
            os.makedirs(folder, exist_ok=True)
            for i in indices:
                prepare_digits.to_png_image(digits.images[i], 32).save(
                    osp.join(folder, f'{i:05d}.png'))


@pytest.fixture(scope='module')
def comparison(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('compare_heads')
    data = str(tmp / 'digits')
    _write_tiny_digits(data)
    configs = []
    for name, base in (('tiny_noah', 'resnet18_noah_digits.py'),
                       ('tiny_linear', 'resnet18_digits.py')):
        path = str(tmp / f'{name}.py')
        with open(path, 'w') as f:
            f.write(TINY_CONFIG.format(
                base=osp.join(REPO, 'configs', 'demo', base), data=data))
        configs.append(path)
    work_dir = str(tmp / 'compare')
    argv = [*configs, '--seeds', '2', '--work-dir', work_dir]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'tools', 'analysis_tools', 'compare_heads.py'),
         *argv, '--jobs', '2'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(argv=argv, work_dir=work_dir, out=proc.stdout)


def _run_dir(work_dir, name, seed):
    return osp.join(work_dir, name, f'seed{seed}')


def test_end_to_end_summary_matches_the_runs(comparison):
    work_dir, out = comparison['work_dir'], comparison['out']
    # progress: every run announced and finished, with an ETA
    assert out.count('[compare_heads] done') == 4
    assert 'done 4/4' in out and 'ETA' in out
    assert 'verdict:' in out
    with open(osp.join(work_dir, 'summary.json')) as f:
        summary = json.load(f)
    assert summary['seeds'] == [0, 1]
    per_config = []
    for label, name in (('A', 'tiny_noah'), ('B', 'tiny_linear')):
        entry = summary['configs'][label]
        assert entry['name'] == name
        top1 = []
        for seed in (0, 1):
            run = _run_dir(work_dir, name, seed)
            with open(osp.join(run, 'test_metrics.json')) as f:
                top1.append(json.load(f)['accuracy/top1'])
            # an ordinary work dir: its own log folder and checkpoint
            assert osp.isfile(osp.join(run, 'epoch_1.pth'))
        assert entry['top1'] == pytest.approx(top1)
        assert entry['top1_mean'] == pytest.approx(np.mean(top1))
        assert entry['top1_std'] == pytest.approx(np.std(top1, ddof=1))
        per_config.append(np.array(top1))
    diff = per_config[0] - per_config[1]
    d = summary['paired_difference']
    assert d['differences'] == pytest.approx(diff.tolist())
    assert d['mean'] == pytest.approx(diff.mean())
    half = T975[1] * np.std(diff, ddof=1) / math.sqrt(2)
    assert d['ci'] == pytest.approx([diff.mean() - half,
                                     diff.mean() + half], abs=1e-4)
    with open(osp.join(work_dir, 'summary.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_seed_s_of_both_configs_sees_the_same_data(comparison):
    """Same sampler seed and the same NumPy stream (the augmentation) for
    seed s of A and B; another seed gives another order."""

    def state(name, seed):
        ckpt = torch.load(
            osp.join(_run_dir(comparison['work_dir'], name, seed),
                     'epoch_1.pth'), map_location='cpu')
        return ckpt['data_order']['seed'], ckpt['rng_state'][0]['numpy']

    for seed in (0, 1):
        order_a, numpy_a = state('tiny_noah', seed)
        order_b, numpy_b = state('tiny_linear', seed)
        assert order_a == order_b
        assert numpy_a['pos'] == numpy_b['pos']
        assert torch.equal(numpy_a['key'], numpy_b['key'])
    assert state('tiny_noah', 0)[0] != state('tiny_noah', 1)[0]


def test_second_invocation_trains_nothing(comparison, monkeypatch, capsys):
    with open(osp.join(comparison['work_dir'], 'summary.json')) as f:
        before = json.load(f)

    def no_subprocess(cmd, log_path):
        raise AssertionError(f'a finished comparison ran {cmd}')

    monkeypatch.setattr(compare, 'launch', no_subprocess)
    summary = compare.main(comparison['argv'])
    out = capsys.readouterr().out
    assert out.count('[compare_heads] skip') == 4
    assert '0 to do' in out
    assert json.loads(json.dumps(summary)) == before


def test_other_settings_in_the_same_work_dir_are_refused(
        comparison, monkeypatch):
    monkeypatch.setattr(compare, 'launch', lambda cmd, log: None)
    with pytest.raises(ValueError, match='other settings'):
        compare.main(comparison['argv'] +
                     ['--cfg-options', 'train_cfg.max_epochs=2'])


def test_unfinished_run_is_continued_with_resume(comparison, monkeypatch):
    work_dir = comparison['work_dir']
    result = osp.join(_run_dir(work_dir, 'tiny_linear', 1),
                      'test_metrics.json')
    with open(result) as f:
        expected = json.load(f)['accuracy/top1']
    os.remove(result)  # as if the run had been killed during its test
    commands = []
    real_launch = compare.launch

    def recording_launch(cmd, log_path):
        commands.append(cmd)
        real_launch(cmd, log_path)

    monkeypatch.setattr(compare, 'launch', recording_launch)
    summary = compare.main(comparison['argv'] + ['--resume'])
    train, test = commands  # that run only: its training, then its test
    assert train[1].endswith('train.py') and '--resume' in train
    assert train[2].endswith('tiny_linear.py')
    assert train[-1] == 'randomness.seed=1'
    assert test[1].endswith('test.py')
    assert test[3].endswith('epoch_1.pth')
    # resumed at its last epoch: nothing trained again, the same result
    assert summary['configs']['B']['top1'][1] == pytest.approx(expected)
    assert osp.isfile(result)
