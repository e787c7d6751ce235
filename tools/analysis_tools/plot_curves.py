# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Draw a run's training curves (loss and top-1 per epoch) into a PNG.

Reads the json scalar logs mmengine writes (``<work_dir>/<timestamp>/
vis_data/<timestamp>.json``) with mmpretrain's own reader
(:func:`mmpretrain.utils.load_json_log`). A work directory may hold several
logs (a run that was resumed): they are read in time order and a later
value for the same epoch replaces an earlier one. Several runs can share one
picture::

    python tools/analysis_tools/plot_curves.py \\
        work_dirs/resnet18_noah_digits work_dirs/resnet18_digits \\
        --legend NOAH baseline --out curves.png
"""
import argparse
import glob
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from mmpretrain.utils import load_json_log  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot loss and top-1 per epoch from mmengine json logs')
    parser.add_argument(
        'runs', nargs='+',
        help='work directories (or json log files) of the runs to draw')
    parser.add_argument('--legend', nargs='+', help='one name per run')
    parser.add_argument(
        '--metric', default='accuracy/top1',
        help='validation metric to draw (accuracy/top1)')
    parser.add_argument(
        '--out', default='training_curves.png', help='output PNG path')
    parser.add_argument('--title', default=None, help='figure title')
    args = parser.parse_args(argv)
    if args.legend is not None and len(args.legend) != len(args.runs):
        parser.error(f'--legend needs one name per run ({len(args.runs)}), '
                     f'got {len(args.legend)}')
    return args


def find_json_logs(run: str) -> List[str]:
    """The json scalar logs of ``run`` (a work dir or a json file), oldest
    first.

    Args:
        run (str): Work directory, run directory or json file.

    Returns:
        list[str]: Paths of the json logs.
    """
    if osp.isfile(run):
        return [run]
    patterns = [
        osp.join(run, '*', 'vis_data', '*.json'),
        osp.join(run, 'vis_data', '*.json'),
    ]
    found = sorted({p for pat in patterns for p in glob.glob(pat)
                    if not osp.basename(p) == 'scalars.json'})
    if not found:
        raise FileNotFoundError(
            f'no mmengine json log under {run!r}: expected '
            '<work_dir>/<timestamp>/vis_data/<timestamp>.json (written by '
            "LocalVisBackend, mmpretrain's default visualizer)")
    # timestamps in the names sort chronologically
    return sorted(found, key=osp.basename)


def epoch_curves(run: str, metric: str = 'accuracy/top1'
                 ) -> Tuple[Dict[int, float], Dict[int, float]]:
    """Mean training loss and validation ``metric`` per epoch.

    Args:
        run (str): Work directory or json log file.
        metric (str): The validation metric. Defaults to 'accuracy/top1'.

    Returns:
        tuple[dict, dict]: ``{epoch: mean loss}`` and ``{epoch: metric}``.
    """
    loss_by_epoch: Dict[int, float] = {}
    metric_by_epoch: Dict[int, float] = {}
    for path in find_json_logs(run):
        log = load_json_log(path)
        losses = defaultdict(list)
        for entry in log['train']:
            if 'loss' in entry and 'epoch' in entry:
                losses[int(entry['epoch'])].append(float(entry['loss']))
        for epoch, values in losses.items():
            loss_by_epoch[epoch] = sum(values) / len(values)
        for entry in log['val']:
            if metric in entry:
                # mmengine logs val lines with the epoch as ``step``
                metric_by_epoch[int(entry['step'])] = float(entry[metric])
    return loss_by_epoch, metric_by_epoch


def plot(runs: List[str], out: str, legend=None, metric='accuracy/top1',
         title=None) -> str:
    """Draw the curves of ``runs`` into ``out``.

    Returns:
        str: ``out``.
    """
    legend = legend or [osp.basename(osp.normpath(r)) for r in runs]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for run, name in zip(runs, legend):
        loss, acc = epoch_curves(run, metric)
        if not loss and not acc:
            raise ValueError(f'{run!r} has no per-epoch loss or {metric!r} '
                             'in its log')
        if loss:
            epochs = sorted(loss)
            ax_loss.plot(epochs, [loss[e] for e in epochs], marker='o',
                         label=name)
        if acc:
            epochs = sorted(acc)
            ax_acc.plot(epochs, [acc[e] for e in epochs], marker='o',
                        label=name)
    ax_loss.set(xlabel='epoch', ylabel='mean training loss',
                title='training loss')
    ax_acc.set(xlabel='epoch', ylabel=metric, title=f'validation {metric}')
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv=None):
    args = parse_args(argv)
    out = plot(args.runs, args.out, args.legend, args.metric, args.title)
    print(f'curves written to {out}')


if __name__ == '__main__':
    main()
