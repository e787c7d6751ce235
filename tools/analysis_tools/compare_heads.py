# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Is config A better than config B on my data? A paired multi-seed answer.

Trains and evaluates both configs (typically one model with two heads, e.g.
NOAH and the usual pooling + linear classifier) with the same ``K`` seeds and
reports the mean paired difference of top-1 with its Student-t confidence
interval::

    python tools/analysis_tools/compare_heads.py \\
        configs/demo/resnet18_noah_digits.py configs/demo/resnet18_digits.py \\
        --seeds 5 --work-dir work_dirs/compare_resnet18

Every run is an ordinary ``tools/train.py`` run followed by ``tools/test.py``
on its last checkpoint, in ``DIR/<config name>/seed<s>/`` (logs, checkpoints,
``test_metrics.json``), started as subprocesses from the current directory
(relative data paths in the configs resolve as for ``tools/train.py``).

Pairing: run ``s`` of both configs gets ``randomness.seed=s``. mmengine seeds
Python, NumPy and torch with it, gives it to the train sampler as its
shuffling seed (unless the config sets ``sampler.seed`` itself) and seeds the
dataloader workers from it; the random augmentations draw from NumPy's
generator in the main process (``num_workers=0``) or in those workers. So
seed ``s`` of A and seed ``s`` of B read the images in the same order with
the same crops as long as the two configs share the data settings. What
differs is only what the configs differ in (the head, its initialisation
and dropout). The per-seed differences then cancel the seed-to-seed
variation both heads share, and the interval is a t interval with ``K - 1``
degrees of freedom on those differences.

Resuming: a run with a ``test_metrics.json`` is finished and skipped, so the
same command continues an interrupted comparison. An unfinished run starts
again from scratch, or continues from its newest checkpoint with
``--resume``. The settings of every run (config, seed, ``--cfg-options``)
are recorded in ``compare_run.json``; a run folder made with another seed
or other ``--cfg-options`` is refused rather than mixed in.

The end is a table (mean +- sample std of top-1, and of top-5 where the
configs report it; the paired difference A - B with its interval; a verdict),
``DIR/summary.json`` and ``DIR/summary.png``.
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TRAIN_TOOL = osp.join(REPO, 'tools', 'train.py')
TEST_TOOL = osp.join(REPO, 'tools', 'test.py')

RESULT_FILE = 'test_metrics.json'
RECORD_FILE = 'compare_run.json'
RUN_LOG = 'compare_heads.log'
TOP1 = 'accuracy/top1'
TOP5 = 'accuracy/top5'

A_BETTER = 'A better'
B_BETTER = 'B better'
UNRESOLVED = 'no difference resolved at this K'


# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------
def mean_std(values: Sequence[float]) -> Dict[str, float]:
    """Mean and sample standard deviation (``ddof=1``).

    Args:
        values (Sequence[float]): At least two numbers.

    Returns:
        dict: ``mean`` and ``std``.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError('mean_std needs a flat sequence of at least 2 '
                         f'values, got shape {values.shape}')
    return dict(mean=float(values.mean()), std=float(values.std(ddof=1)))


def verdict(low: float, high: float) -> str:
    """Plain words for a confidence interval of the difference A - B.

    Args:
        low (float): Lower end of the interval.
        high (float): Upper end of the interval.

    Returns:
        str: ``'A better'`` when the whole interval is above zero,
        ``'B better'`` when it is below zero, otherwise
        ``'no difference resolved at this K'`` (zero is inside, or on an
        end of, the interval).
    """
    if low > high:
        raise ValueError(f'the interval is reversed: low={low} > high={high}')
    if low > 0:
        return A_BETTER
    if high < 0:
        return B_BETTER
    return UNRESOLVED


def paired_difference(a: Sequence[float],
                      b: Sequence[float],
                      confidence: float = 0.95) -> dict:
    """Mean paired difference ``a - b`` and its Student-t interval.

    ``a[i]`` and ``b[i]`` are the results of seed ``i``. With ``K`` pairs and
    differences ``d``, the interval is ``mean(d) +- t * std(d) / sqrt(K)``
    with ``std`` the sample standard deviation and ``t`` the
    ``(1 + confidence) / 2`` quantile of Student's t with ``K - 1`` degrees
    of freedom.

    Args:
        a (Sequence[float]): Results of config A, one per seed.
        b (Sequence[float]): Results of config B for the same seeds.
        confidence (float): Coverage of the interval, in (0, 1).
            Defaults to 0.95.

    Returns:
        dict: ``differences`` (list), ``mean``, ``std``, ``sem`` (standard
        error of the mean), ``dof``, ``confidence``, ``t_quantile``,
        ``ci`` (``[low, high]``) and ``verdict`` (see :func:`verdict`).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError('a and b must be flat sequences of the same length '
                         f'(one value per seed), got shapes {a.shape} and '
                         f'{b.shape}')
    if len(a) < 2:
        raise ValueError('a paired t interval needs at least 2 seeds '
                         f'(K - 1 >= 1 degrees of freedom), got {len(a)}')
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    diff = a - b
    k = len(diff)
    spread = mean_std(diff)
    sem = spread['std'] / math.sqrt(k)
    t_quantile = float(stats.t.ppf((1 + confidence) / 2, k - 1))
    low = spread['mean'] - t_quantile * sem
    high = spread['mean'] + t_quantile * sem
    return dict(
        differences=diff.tolist(),
        mean=spread['mean'],
        std=spread['std'],
        sem=sem,
        dof=k - 1,
        confidence=confidence,
        t_quantile=t_quantile,
        ci=[low, high],
        verdict=verdict(low, high))


def summarize(names: Sequence[str], configs: Sequence[str],
              seeds: Sequence[int], metrics: Sequence[Dict[int, dict]],
              confidence: float = 0.95) -> dict:
    """The content of ``summary.json`` from the per-run test metrics.

    Args:
        names (Sequence[str]): Names of configs A and B.
        configs (Sequence[str]): Their config files.
        seeds (Sequence[int]): The seeds, in order.
        metrics (Sequence[dict]): For A and for B, ``{seed: metrics}`` as
            written by ``tools/test.py --out``.
        confidence (float): Coverage of the interval. Defaults to 0.95.

    Returns:
        dict: ``seeds``, ``metric``, ``configs`` (``A`` and ``B``: name,
        config, per-seed ``top1`` with ``top1_mean``/``top1_std``, and the
        same for ``top5`` when both report it) and ``paired_difference``
        (A - B in top-1 points, see :func:`paired_difference`).
    """
    report_top5 = all(TOP5 in m[s] for m in metrics for s in seeds)
    out = dict(seeds=list(seeds), metric=TOP1, configs={})
    top1 = []
    for label, name, config, per_seed in zip('AB', names, configs, metrics):
        entry = dict(name=name, config=config)
        keys = [TOP1, TOP5] if report_top5 else [TOP1]
        for key in keys:
            short = key.split('/')[-1]
            values = [float(per_seed[s][key]) for s in seeds]
            spread = mean_std(values)
            entry[short] = values
            entry[f'{short}_mean'] = spread['mean']
            entry[f'{short}_std'] = spread['std']
        top1.append(entry['top1'])
        out['configs'][label] = entry
    out['paired_difference'] = paired_difference(top1[0], top1[1],
                                                 confidence)
    return out


def format_table(summary: dict) -> str:
    """The final table and verdict as text."""
    conf, d = summary['configs'], summary['paired_difference']
    lines = [f'{"seed":<6}{"A top-1":>10}{"B top-1":>10}{"A - B":>10}']
    for seed, a_val, b_val, diff in zip(summary['seeds'], conf['A']['top1'],
                                        conf['B']['top1'], d['differences']):
        lines.append(f'{seed:<6}{a_val:>10.2f}{b_val:>10.2f}{diff:>+10.2f}')
    lines.append('')
    has_top5 = 'top5' in conf['A']
    width = max(len(conf[k]['name']) for k in 'AB') + 2
    header = f'{"":4}{"config":<{width}}{"top-1 (%)":>16}'
    lines.append(header + (f'{"top-5 (%)":>16}' if has_top5 else ''))
    for label in 'AB':
        c = conf[label]
        row = f'{label:<4}{c["name"]:<{width}}' \
              f'{c["top1_mean"]:>9.2f} ± {c["top1_std"]:<4.2f}'
        if has_top5:
            row += f'{c["top5_mean"]:>9.2f} ± {c["top5_std"]:<4.2f}'
        lines.append(row)
    k = d['dof'] + 1
    lines.append(
        f'A - B, paired over K={k} seeds: {d["mean"]:+.2f} top-1 points, '
        f'{d["confidence"]:.0%} CI [{d["ci"][0]:+.2f}, {d["ci"][1]:+.2f}] '
        f'(Student t, {d["dof"]} dof, t={d["t_quantile"]:.3f})')
    names = {A_BETTER: f' ({conf["A"]["name"]})',
             B_BETTER: f' ({conf["B"]["name"]})', UNRESOLVED: ''}
    lines.append(f'verdict: {d["verdict"]}{names[d["verdict"]]}')
    return '\n'.join(lines)


def plot_summary(summary: dict, out: str) -> str:
    """Per-seed top-1 of both configs with their means, and the paired
    differences with their mean and interval, side by side in a PNG.

    Args:
        summary (dict): As returned by :func:`summarize`.
        out (str): Output PNG path.

    Returns:
        str: ``out``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    conf, d = summary['configs'], summary['paired_difference']
    seeds = summary['seeds']
    fig, (ax_acc, ax_diff) = plt.subplots(
        1, 2, figsize=(9, 4), dpi=100, gridspec_kw=dict(width_ratios=[3, 2]))
    for a_val, b_val in zip(conf['A']['top1'], conf['B']['top1']):
        ax_acc.plot([0, 1], [a_val, b_val], color='0.75', lw=1, zorder=1)
    for x, label, color in ((0, 'A', 'tab:orange'), (1, 'B', 'tab:blue')):
        ax_acc.scatter([x] * len(seeds), conf[label]['top1'], color=color,
                       zorder=2)
        ax_acc.hlines(conf[label]['top1_mean'], x - 0.2, x + 0.2,
                      color='black', lw=2, zorder=3)
    ax_acc.set_xticks([0, 1], [f'A\n{conf["A"]["name"]}',
                               f'B\n{conf["B"]["name"]}'])
    ax_acc.set_xlim(-0.5, 1.5)
    ax_acc.set(ylabel='top-1 (%)',
               title='per seed (grey: same seed), bar: mean')

    ax_diff.axhline(0, color='0.5', ls='--', lw=1)
    ax_diff.scatter(np.zeros(len(seeds)) - 0.15, d['differences'],
                    color='0.4', label='per seed')
    ax_diff.errorbar([0.15], [d['mean']],
                     yerr=[[d['mean'] - d['ci'][0]], [d['ci'][1] - d['mean']]],
                     fmt='o', color='black', capsize=6,
                     label=f'mean, {d["confidence"]:.0%} t interval')
    ax_diff.set_xticks([])
    ax_diff.set_xlim(-0.6, 0.6)
    ax_diff.set(ylabel='A - B top-1 (points)', title=d['verdict'])
    ax_diff.legend(loc='upper center', bbox_to_anchor=(0.5, -0.03),
                   fontsize=8, frameon=False)
    for ax in (ax_acc, ax_diff):
        ax.grid(alpha=0.3, axis='y')
    fig.suptitle(f'paired comparison over {len(seeds)} seeds')
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------
@dataclass
class Run:
    """One training + test of one config with one seed."""
    label: str
    name: str
    config: str
    seed: int
    work_dir: str

    @property
    def result_file(self) -> str:
        return osp.join(self.work_dir, RESULT_FILE)

    @property
    def record_file(self) -> str:
        return osp.join(self.work_dir, RECORD_FILE)

    def __str__(self) -> str:
        return f'{self.label} {self.name} seed {self.seed}'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train and test two configs with the same seeds and '
        'compare their top-1 (paired t interval)')
    parser.add_argument('config_a', help='config A (e.g. the NOAH config)')
    parser.add_argument('config_b', help='config B (e.g. the baseline)')
    parser.add_argument(
        '--seeds', type=int, required=True,
        help='number of seeds K (runs 0..K-1 of each config); at least 2')
    parser.add_argument(
        '--work-dir', required=True,
        help='output folder: DIR/<config name>/seed<s>/ per run, '
        'DIR/summary.json and DIR/summary.png')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='key=value overrides for both configs, passed to tools/train.py '
        'and tools/test.py (e.g. train_cfg.max_epochs=1)')
    parser.add_argument(
        '--jobs', type=int, default=1,
        help='runs at the same time (1); each run uses the threads torch '
        'picks unless OMP_NUM_THREADS says otherwise')
    parser.add_argument(
        '--resume', action='store_true',
        help='continue unfinished runs from their newest checkpoint instead '
        'of training them again from scratch')
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error('--seeds must be at least 2: the t interval needs '
                     f'K - 1 >= 1 degrees of freedom, got {args.seeds}')
    if args.jobs < 1:
        parser.error(f'--jobs must be at least 1, got {args.jobs}')
    for option in args.cfg_options:
        if '=' not in option:
            parser.error(f'--cfg-options entries are key=value, got '
                         f'{option!r}')
        if option.split('=', 1)[0].strip() == 'randomness.seed':
            parser.error('--cfg-options must not set randomness.seed: every '
                         'run gets its own seed (0..K-1) from --seeds')
    for flag, path in (('CONFIG_A', args.config_a),
                       ('CONFIG_B', args.config_b)):
        if not osp.isfile(path):
            parser.error(f'{flag} {path!r} is not a file: give the path of '
                         'a config, e.g. configs/demo/resnet18_digits.py')
    if config_name(args.config_a) == config_name(args.config_b):
        parser.error('CONFIG_A and CONFIG_B have the same file name '
                     f'{config_name(args.config_a)!r}, so their runs would '
                     'share DIR/<config name>/: rename one of them')
    return args


def config_name(path: str) -> str:
    """``configs/demo/resnet18_digits.py`` -> ``resnet18_digits``."""
    return osp.splitext(osp.basename(path))[0]


def plan_runs(config_a: str, config_b: str, seeds: int,
              work_dir: str) -> List[Run]:
    """All runs, seed by seed (A then B), so pairs complete early."""
    runs = []
    for seed in range(seeds):
        for label, config in (('A', config_a), ('B', config_b)):
            name = config_name(config)
            runs.append(
                Run(label, name, config, seed,
                    osp.join(work_dir, name, f'seed{seed}')))
    return runs


def run_settings(run: Run, cfg_options: Sequence[str]) -> dict:
    """What makes a run what it is besides its config (whose name is the
    folder's); compared when a work dir is reused."""
    return dict(seed=run.seed, cfg_options=list(cfg_options))


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f'cannot read {path}: {err}; delete it to run that '
                         'run again') from err


def _write_json(obj: dict, path: str) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def check_record(run: Run, cfg_options: Sequence[str]) -> Optional[dict]:
    """The run's record, after checking it was made with these settings.

    Returns:
        dict or None: The record, or None when there is none yet.
    """
    if not osp.isfile(run.record_file):
        return None
    record = _read_json(run.record_file)
    wanted = run_settings(run, cfg_options)
    found = {k: record.get(k) for k in wanted}
    if found != wanted:
        raise ValueError(
            f'{run.work_dir} holds a run made with other settings '
            f'({found}) than this comparison ({wanted}): give another '
            '--work-dir, or delete that folder to run it again')
    return record


def finished_metrics(run: Run, cfg_options: Sequence[str]
                     ) -> Tuple[Optional[dict], Optional[dict]]:
    """The test metrics and record of a run.

    Returns:
        tuple: ``(metrics, record)``; ``metrics`` is None when the run is
        not finished, ``record`` when it was never started.
    """
    record = check_record(run, cfg_options)
    if not osp.isfile(run.result_file):
        return None, record
    return _read_json(run.result_file), record


def launch(cmd: List[str], log_path: str) -> None:
    """Run one tool as a subprocess, its output appended to ``log_path``.

    Raises:
        RuntimeError: When it fails; the message ends with the log's tail.
    """
    with open(log_path, 'a') as log:
        log.write(f'\n$ {subprocess.list2cmdline(cmd)}\n')
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        with open(log_path) as log:
            tail = ''.join(log.readlines()[-25:])
        raise RuntimeError(f'{osp.basename(cmd[1])} exited with {code}; its '
                           f'output is in {log_path}; the end:\n{tail}')


def execute(run: Run, cfg_options: Sequence[str], resume: bool) -> dict:
    """Train and test one run; returns its test metrics.

    The metrics become ``test_metrics.json`` only when the test succeeded, so
    an interrupted run is never taken for a finished one.
    """
    os.makedirs(run.work_dir, exist_ok=True)
    record = check_record(run, cfg_options) or dict(
        config=run.config, **run_settings(run, cfg_options))
    _write_json(record, run.record_file)
    log_path = osp.join(run.work_dir, RUN_LOG)
    py = sys.executable

    start = time.time()
    train = [py, TRAIN_TOOL, run.config, '--work-dir', run.work_dir]
    if resume:
        train.append('--resume')
    train += ['--cfg-options', *cfg_options, f'randomness.seed={run.seed}']
    launch(train, log_path)
    train_seconds = time.time() - start

    last = osp.join(run.work_dir, 'last_checkpoint')
    checkpoint = None
    if osp.isfile(last):
        with open(last) as f:
            checkpoint = f.read().strip()
    if not checkpoint or not osp.isfile(checkpoint):
        raise RuntimeError(
            f'training {run} left no final checkpoint ({last} names none): '
            'the config must keep a checkpoint of the last epoch '
            "(default_hooks.checkpoint, mmengine's default)")

    start = time.time()
    partial = osp.join(run.work_dir, 'test_metrics.partial.json')
    test = [py, TEST_TOOL, run.config, checkpoint, '--work-dir',
            osp.join(run.work_dir, 'test'), '--out', partial,
            '--out-item', 'metrics']
    if cfg_options:
        test += ['--cfg-options', *cfg_options]
    launch(test, log_path)
    metrics = _read_json(partial)
    if TOP1 not in metrics:
        raise RuntimeError(
            f'the test of {run} reported no {TOP1!r} (got {sorted(metrics)}): '
            'compare_heads compares classifiers evaluated with '
            "val/test_evaluator=dict(type='Accuracy')")
    record.update(checkpoint=checkpoint, train_seconds=train_seconds,
                  test_seconds=time.time() - start)
    _write_json(record, run.record_file)
    os.replace(partial, run.result_file)
    return metrics


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


class Progress:
    """Prints which run starts/ends and an ETA from finished runs' times."""

    def __init__(self, total: int, jobs: int):
        self.total, self.jobs = total, jobs
        self.done = 0
        self.durations: List[float] = []

    def eta(self) -> str:
        left = self.total - self.done
        if not left:
            return 'all runs finished'
        if not self.durations:
            return f'{left} runs to go, ETA after the first finishes'
        rounds = math.ceil(left / self.jobs)
        return (f'{left} runs to go, ETA '
                f'{_duration(rounds * np.mean(self.durations))}')

    def say(self, text: str) -> None:
        print(f'[compare_heads] {text}', flush=True)

    def skipped(self, run: Run, metrics: dict, record: Optional[dict]):
        self.done += 1
        if record and 'train_seconds' in record:
            self.durations.append(record['train_seconds'] +
                                  record.get('test_seconds', 0.0))
        self.say(f'skip {self.done}/{self.total} {run}: finished before '
                 f'(top-1 {metrics[TOP1]:.2f})')

    def started(self, run: Run, resume: bool):
        how = 'resume or start' if resume else 'start'
        self.say(f'{how} {run} in {run.work_dir} ({self.eta()})')

    def finished(self, run: Run, metrics: dict, seconds: float):
        self.done += 1
        self.durations.append(seconds)
        self.say(f'done {self.done}/{self.total} {run}: top-1 '
                 f'{metrics[TOP1]:.2f} in {_duration(seconds)} '
                 f'({self.eta()})')


def run_all(runs: List[Run], cfg_options: Sequence[str], resume: bool,
            jobs: int) -> Dict[str, Dict[int, dict]]:
    """Run what is not finished, ``jobs`` at a time; stop at the first
    failure (runs already going are let finish).

    Returns:
        dict: ``{config name: {seed: test metrics}}``.
    """
    results: Dict[str, Dict[int, dict]] = {r.name: {} for r in runs}
    progress = Progress(len(runs), jobs)
    todo = []
    for run in runs:
        metrics, record = finished_metrics(run, cfg_options)
        if metrics is None:
            todo.append(run)
        else:
            results[run.name][run.seed] = metrics
            progress.skipped(run, metrics, record)
    progress.say(f'{len(runs)} runs, {len(runs) - len(todo)} finished '
                 f'before, {len(todo)} to do, {jobs} at a time')

    def one(run: Run) -> None:
        progress.started(run, resume)
        start = time.time()
        metrics = execute(run, cfg_options, resume)
        results[run.name][run.seed] = metrics
        progress.finished(run, metrics, time.time() - start)

    if jobs == 1:
        for run in todo:
            one(run)
        return results
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, run) for run in todo]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and \
                    future.exception() is not None:
                raise future.exception()
    return results


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    runs = plan_runs(args.config_a, args.config_b, args.seeds, args.work_dir)
    results = run_all(runs, args.cfg_options, args.resume, args.jobs)
    names = [config_name(args.config_a), config_name(args.config_b)]
    seeds = list(range(args.seeds))
    summary = summarize(names, [args.config_a, args.config_b], seeds,
                        [results[n] for n in names])
    summary['cfg_options'] = list(args.cfg_options)
    summary['runs'] = {
        n: {s: osp.join(args.work_dir, n, f'seed{s}')
            for s in seeds} for n in names}
    json_path = osp.join(args.work_dir, 'summary.json')
    _write_json(summary, json_path)
    png_path = plot_summary(summary, osp.join(args.work_dir, 'summary.png'))
    print(format_table(summary))
    print(f'[compare_heads] wrote {json_path} and {png_path}', flush=True)
    return summary


if __name__ == '__main__':
    main()
