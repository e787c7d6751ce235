# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Evaluate a checkpoint with the config's test set-up and print the metrics.

Same command line as mmpretrain's ``tools/test.py`` (the essentials) and the
same runner (the config's ``runner_type``; ``NOAHRunner`` when it names
none): works on CPU-only machines, single process or ``tools/dist_test.sh``
(gloo), and on GPUs unchanged. The checkpoint is verified (zip CRCs) and read
with torch's safe ``weights_only`` loader: a damaged or foreign file fails
with :class:`noah_mm.engine.CorruptedCheckpointError` naming it.

Examples::

    python tools/test.py configs/demo/resnet18_noah_digits.py \\
        work_dirs/resnet18_noah_digits/epoch_4.pth
    python tools/test.py CONFIG CKPT --out results.json          # metrics
    python tools/test.py CONFIG CKPT --out preds.pkl --out-item pred
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import mmengine  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402

import noah_mm  # noqa: E402,F401  (registers NOAHRunner and the modules)
from noah_mm.engine import build_runner  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint and print its metrics')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the test log goes')
    parser.add_argument(
        '--out',
        help='write the metrics (--out-item metrics, json/yaml/pkl) or the '
        'per-sample predictions (--out-item pred, pkl) to this file')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        default='metrics',
        help='what --out holds (metrics)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.out is not None and args.out_item == 'pred' and \
            not args.out.endswith(('.pkl', '.pickle')):
        parser.error('--out with --out-item pred must be a .pkl file')
    return args


def merge_args(cfg: Config, args) -> Config:
    """Put the command-line choices into ``cfg``."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.out is not None and args.out_item == 'pred':
        evaluator = cfg.test_evaluator
        if not isinstance(evaluator, (list, tuple)):
            evaluator = [evaluator]
        cfg.test_evaluator = list(evaluator) + [
            dict(type='DumpResults', out_file_path=args.out)
        ]
    return cfg


def format_metrics(metrics: dict) -> str:
    """One ``name: value`` per line."""
    return '\n'.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}'
                     for k, v in metrics.items())


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint) and '://' not in args.checkpoint:
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint!r} does not exist: give the path '
            'of a .pth file written by tools/train.py')
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = build_runner(cfg)
    metrics = runner.test()
    if is_main_process():
        print(format_metrics(metrics), flush=True)
        if args.out is not None and args.out_item == 'metrics':
            if args.out.endswith('.json'):
                with open(args.out, 'w') as f:
                    json.dump(metrics, f, indent=2)
            else:
                mmengine.dump(metrics, args.out)
    return metrics


if __name__ == '__main__':
    main()
