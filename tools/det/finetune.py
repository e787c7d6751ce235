# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""COCO fine-tuning from a classification work dir, in one command.

Finds the checkpoint in the classification run's work dir, starts the
detector's backbone from it (``init_cfg=dict(type='Pretrained', ...,
prefix='backbone.')`` in every ``configs/det`` config), trains, then tests with
the config's ``CocoMetric`` and prints bbox mAP (and mask mAP for Mask R-CNN).

Example::

    python tools/det/finetune.py \\
        configs/det/faster-rcnn_r50-noah-pre_fpn_noah-roi-head_1x_coco.py \\
        work_dirs/resnet50_noah_in1k --data-root data/coco/

``CLS_WORK_DIR`` may also be a checkpoint file; anything else (a missing
path, a directory without checkpoints, a file that is no intact checkpoint)
fails with an error that says what to pass. The run uses the config's runner
(``NOAHRunner``), so it resumes exactly and saves atomically like
``tools/train.py``. When the annotation files'
categories are not COCO's 80, the data sets' classes and the heads'
``num_classes`` follow them (so any COCO-format data set works).
"""
import argparse
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint

import noah_mm  # noqa: F401  (NOAHBBoxHead, NOAHRunner, checkpoint checks)
from noah_mm.engine import (CorruptedCheckpointError, build_runner,
                            find_resume_checkpoint, verify_checkpoint)

PREFIX = 'backbone.'


def find_checkpoint(cls_source: str) -> str:
    """The classification checkpoint to start the backbone from.

    Args:
        cls_source (str): A classification run's work dir, or a checkpoint
            file (``.pth``).

    Returns:
        str: ``cls_source`` itself if it is a checkpoint file; for a work
        dir, its newest complete ``epoch_N`` / ``iter_N.pth`` (see
        :func:`noah_mm.engine.find_resume_checkpoint`), else its newest
        other complete ``*.pth`` (e.g. ``best_*``).

    Raises:
        FileNotFoundError: ``cls_source`` does not exist, or is a directory
            without a checkpoint.
        CorruptedCheckpointError: ``cls_source`` is a file but not an intact
            checkpoint.
    """
    if osp.isfile(cls_source):
        verify_checkpoint(cls_source)
        return cls_source
    if not osp.isdir(cls_source):
        raise FileNotFoundError(
            f'the classification source {cls_source!r} does not exist: pass '
            f'the work dir of a classification run or a checkpoint file '
            f'(.pth). Make one with e.g. `python tools/train.py '
            f'configs/noah/resnet50_noah_in1k.py --work-dir '
            f'work_dirs/resnet50_noah_in1k`.')
    found = find_resume_checkpoint(cls_source)
    if found is None:
        for other in sorted(glob.glob(osp.join(cls_source, '*.pth')),
                            key=osp.getmtime, reverse=True):
            try:
                verify_checkpoint(other)
            except CorruptedCheckpointError:
                continue
            found = other
            break
    if found is None:
        raise FileNotFoundError(
            f'no complete checkpoint (*.pth) in {cls_source!r}: train the '
            f'classifier there first (python tools/train.py CONFIG '
            f'--work-dir {cls_source}) or pass the checkpoint file itself.')
    return found


class BackboneLoadReport(Hook):
    """Log which backbone tensors came from the classification checkpoint.

    Runs before the first iteration (after the runner's weight init), compares
    the backbone's state with the checkpoint's ``backbone.*`` tensors and
    logs how many were loaded, the backbone keys the checkpoint lacked and the
    checkpoint keys that were not used. Raises ``ValueError`` when nothing was
    loaded (the config does not match the classifier's backbone).

    Args:
        checkpoint (str): The classification checkpoint.
    """

    priority = 'VERY_HIGH'

    def __init__(self, checkpoint: str):
        self.checkpoint = checkpoint
        self.report: Dict[str, List[str]] = {}

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.report = backbone_load_report(model.backbone, self.checkpoint)
        loaded, missing = self.report['loaded'], self.report['missing']
        unused = self.report['unused']
        total = len(loaded) + len(missing) + len(self.report['mismatched'])
        print_log(
            f'backbone: {len(loaded)} of {total} tensors loaded from '
            f'{self.checkpoint} (prefix {PREFIX!r}); not in the checkpoint '
            f'or differing: {missing + self.report["mismatched"] or "none"}; '
            f'{len(unused)} {PREFIX}* checkpoint keys unused'
            f'{": " + str(unused) if unused else ""}.',
            logger='current')
        if not loaded:
            raise ValueError(
                f'none of the backbone tensors came from {self.checkpoint}: '
                f'its {PREFIX}* keys do not match the detector\'s backbone. '
                f'Use a configs/det config whose backbone is the '
                f'classifier\'s (ResNet-50 or PVT-Tiny).')


def backbone_load_report(backbone: torch.nn.Module,
                         checkpoint: str) -> Dict[str, List[str]]:
    """Compare a backbone's tensors with a checkpoint's ``backbone.*`` ones.

    Returns:
        dict: ``loaded`` (equal to the checkpoint's), ``mismatched`` (in the
        checkpoint, different shape or value), ``missing`` (not in the
        checkpoint) backbone keys, and ``unused`` checkpoint keys (without
        the prefix).
    """
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    source = {
        k[len(PREFIX):]: v
        for k, v in state.items() if k.startswith(PREFIX)
    }
    report = dict(loaded=[], mismatched=[], missing=[], unused=[])
    own = backbone.state_dict()
    for key, value in own.items():
        if key not in source:
            report['missing'].append(key)
        elif source[key].shape == value.shape and torch.equal(
                source[key].to(value.dtype), value):
            report['loaded'].append(key)
        else:
            report['mismatched'].append(key)
    report['unused'] = sorted(set(source) - set(own))
    return report


def _categories(ann_file: str) -> List[str]:
    with open(ann_file) as f:
        cats = json.load(f)['categories']
    return [c['name'] for c in sorted(cats, key=lambda c: c['id'])]


def _set_num_classes(model_cfg, num_classes: int) -> None:
    """Set ``num_classes`` of the heads that predict classes."""
    heads = [model_cfg.get('bbox_head')]
    roi_head = model_cfg.get('roi_head')
    if roi_head is not None:
        heads += [roi_head.get('bbox_head'), roi_head.get('mask_head')]
    for head in heads:
        for h in (head if isinstance(head, list) else [head]):
            if h is not None and 'num_classes' in h:
                h.num_classes = num_classes


def build_config(config: str,
                 checkpoint: str,
                 data_root: Optional[str] = None,
                 work_dir: Optional[str] = None,
                 skip_val: bool = False,
                 cfg_options: Optional[dict] = None) -> Config:
    """The detection config for fine-tuning from ``checkpoint``.

    Args:
        config (str): A detection config (``configs/det/*.py``).
        checkpoint (str): The classification checkpoint for the backbone.
        data_root (str, optional): COCO-layout data root
            (``annotations/instances_{train,val}2017.json``,
            ``train2017/``, ``val2017/``); the config's when None.
        work_dir (str, optional): Defaults to
            ``work_dirs/det_<config name>``.
        skip_val (bool): No validation during training; the final test
            still runs. Defaults to False.
        cfg_options (dict, optional): Overrides applied last.

    Returns:
        Config: The config, ready for :func:`noah_mm.engine.build_runner`.
    """
    cfg = Config.fromfile(config)
    init_cfg = cfg.model.backbone.get('init_cfg')
    if not (isinstance(init_cfg, dict) and init_cfg.get('type') ==
            'Pretrained' and init_cfg.get('prefix') == PREFIX):
        raise ValueError(
            f'{config} does not start its backbone from a classification '
            f"checkpoint (model.backbone.init_cfg must be dict(type="
            f"'Pretrained', checkpoint=..., prefix='{PREFIX}')); use a "
            f'configs/det config.')
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    if data_root is not None:
        data_root = osp.join(data_root, '')
        for split in ('train', 'val', 'test'):
            loader = cfg.get(f'{split}_dataloader')
            if loader is not None:
                loader.dataset.data_root = data_root
            evaluator = cfg.get(f'{split}_evaluator')
            if isinstance(evaluator, dict) and 'ann_file' in evaluator:
                evaluator.ann_file = osp.join(
                    data_root, cfg[f'{split}_dataloader'].dataset.ann_file)
        train_ann = osp.join(data_root, cfg.train_dataloader.dataset.ann_file)
        classes = _categories(train_ann)
        from mmdet.datasets import CocoDataset
        if tuple(classes) != tuple(CocoDataset.METAINFO['classes']):
            for split in ('train', 'val', 'test'):
                loader = cfg.get(f'{split}_dataloader')
                if loader is not None:
                    loader.dataset.metainfo = dict(classes=tuple(classes))
            _set_num_classes(cfg.model, len(classes))
    if skip_val:
        cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.work_dir = work_dir or osp.join(
        'work_dirs', 'det_' + osp.splitext(osp.basename(config))[0])
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def finetune(config: str,
             cls_work_dir: str,
             data_root: Optional[str] = None,
             work_dir: Optional[str] = None,
             skip_val: bool = False,
             cfg_options: Optional[dict] = None) -> dict:
    """Train the detector from the classifier's backbone, then test it.

    Returns:
        dict: ``checkpoint`` (the classification checkpoint used),
        ``backbone`` (the load report, see :func:`backbone_load_report`;
        empty when ``load_from`` or ``resume`` is set),
        ``train_loss`` (the last iteration's total loss), ``metrics``
        (the test metrics) and ``bbox_mAP``.
    """
    checkpoint = find_checkpoint(cls_work_dir)
    cfg = build_config(config, checkpoint, data_root, work_dir, skip_val,
                       cfg_options)
    # the config's runner (NOAHRunner): exact resume, atomic checkpoints,
    # data checks, as with tools/train.py
    runner = build_runner(cfg)
    report = BackboneLoadReport(checkpoint)
    if not (cfg.get('load_from') or cfg.get('resume')):
        # resuming (or loading a detector) replaces the classifier's tensors
        runner.register_hook(report)
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    metrics = runner.test()
    bbox_map = metrics.get('coco/bbox_mAP')
    return dict(checkpoint=checkpoint, backbone=report.report,
                train_loss=float(loss), metrics=metrics, bbox_mAP=bbox_map)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Fine-tune a configs/det detector on COCO from a '
        'classification work dir, then test it (CocoMetric) and print '
        'bbox mAP.')
    parser.add_argument('config', help='detection config (configs/det/*.py)')
    parser.add_argument(
        'cls_work_dir',
        help='work dir of the classification run (its newest complete '
        'checkpoint is used) or a checkpoint file')
    parser.add_argument(
        '--data-root',
        help='COCO-layout data root (annotations/instances_{train,val}2017'
        '.json, train2017/, val2017/); default: the config\'s data/coco/')
    parser.add_argument('--work-dir', help='where to save logs and models')
    parser.add_argument(
        '--skip-val',
        action='store_true',
        help='no validation during training (the final test still runs)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=1')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = finetune(args.config, args.cls_work_dir, args.data_root,
                      args.work_dir, args.skip_val, args.cfg_options)
    report = result['backbone']
    loaded = (f'{len(report["loaded"])} backbone tensors loaded'
              if report else 'not compared: load_from/resume was set')
    print(f'backbone checkpoint: {result["checkpoint"]} ({loaded})')
    print(f'last training loss: {result["train_loss"]:.4f}')
    bbox_map = result['bbox_mAP']
    if bbox_map is None:
        # CocoMetric returns nothing when no box passes the score threshold;
        # COCO's AP is then 0 for every category with ground truth.
        print('bbox mAP: 0.000 (no detections above the test score '
              'threshold)')
    else:
        print(f'bbox mAP: {bbox_map:.3f}')
    segm_map = result['metrics'].get('coco/segm_mAP')
    if segm_map is not None:
        print(f'segm mAP: {segm_map:.3f}')
    if not math.isfinite(result['train_loss']):
        raise RuntimeError(
            f'the training loss is {result["train_loss"]}: lower the '
            f'learning rate (optim_wrapper.optimizer.lr) or check the data.')
    return result


if __name__ == '__main__':
    main()
