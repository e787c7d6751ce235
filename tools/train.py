# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Train a model from an mmpretrain/mmdet-style config.

Same command line as mmpretrain's ``tools/train.py``; on top of it, through
:mod:`noah_mm.engine`:

- distributed runs work on CPU-only machines (gloo, DDP without devices);
  on CUDA machines nothing changes (NCCL as usual);
- checkpoints are written atomically and carry every rank's random state and
  the data order, so ``--resume`` after a kill continues exactly;
- ``--resume`` without a path picks the newest complete checkpoint even if
  the run died while writing ``last_checkpoint``;
- checkpoints are loaded with torch's safe ``weights_only`` loader, with
  mmengine's own classes allow-listed.

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
from mmengine.fileio import LocalBackend, get_file_backend  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import noah_mm  # noqa: E402,F401  (registers the modules and engine hooks)
from noah_mm.engine import (find_resume_checkpoint,  # noqa: E402
                            setup_cpu_distributed)

RESUME_HOOKS = ('RNGStateHook', 'DataOrderHook')


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
        'newest checkpoint in the work directory')
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


def _is_local(path: str) -> bool:
    return isinstance(get_file_backend(path), LocalBackend)


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
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # resume: a path, or the newest complete checkpoint of the work dir
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
        if cfg.load_from is None:
            print(f'[train] --resume: no checkpoint in {cfg.work_dir}, '
                  'starting from scratch', flush=True)
            cfg.resume = False
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    # exact resumption: random state and data order in every checkpoint
    hooks = list(cfg.get('custom_hooks', None) or [])
    present = {h.get('type') for h in hooks if isinstance(h, dict)}
    hooks += [dict(type=t) for t in RESUME_HOOKS if t not in present]
    cfg.custom_hooks = hooks

    # atomic checkpoint files for local work directories
    ckpt_hook = cfg.get('default_hooks', {}).get('checkpoint', None)
    if ckpt_hook is not None and ckpt_hook.get('backend_args') is None \
            and ckpt_hook.get('file_client_args') is None:
        out_dir = ckpt_hook.get('out_dir', None) or cfg.work_dir
        if _is_local(out_dir):
            ckpt_hook.backend_args = dict(backend='atomic_local')
    return cfg


def build_runner(cfg: Config):
    """A runner from ``cfg`` (``runner_type`` picks a custom one)."""
    setup_cpu_distributed(cfg, cfg.launcher)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
