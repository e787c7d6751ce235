# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Train a model from an mmpretrain/mmdet-style config.

mmpretrain's ``tools/train.py`` command line and flow: load the config, put
the command-line choices into it, build the runner it names
(``runner_type``) and train. The training behaviour (exact resume, atomic
checkpoint files, ``--resume`` from the newest complete checkpoint, data
checks, CPU-only distributed runs) comes with the configs through
``NOAHRunner`` (see ``docs/en/training_behaviour.md``), so mmpretrain's and
mmdet's own ``tools/train.py`` and ``mim train`` give the same runs. The one
difference: a config that names no ``runner_type`` (one not inheriting
ours) is run with ``NOAHRunner`` here as well.

Examples::

    python tools/train.py configs/demo/resnet18_noah_digits.py
    python tools/train.py CONFIG --resume                 # newest checkpoint
    python tools/train.py CONFIG --cfg-options train_cfg.max_epochs=1
    bash tools/dist_train.sh CONFIG 8                     # 8 processes
"""
import argparse
import os
import os.path as osp
import sys

# Make ``import noah_mm`` work from a source checkout without installing.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.config import Config, DictAction  # noqa: E402

import noah_mm  # noqa: E402,F401  (registers the modules)
from noah_mm.engine import build_runner  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or, without a path, from the '
        'newest complete checkpoint in the work directory')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision training')
    parser.add_argument(
        '--no-validate', action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate with the actual total batch size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (e.g. '
        'train_dataloader.dataset.data_root=data/imagenet '
        'train_cfg.max_epochs=1); lists as key="[a,b]" without spaces')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    """Put the command-line choices into ``cfg``."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher

    # work_dir: command line > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    # resume: a path, or (load_from=None) the newest complete checkpoint of
    # the work dir, which the runner finds
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = build_runner(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
