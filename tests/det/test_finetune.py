# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""End-to-end detection fine-tuning on CPU: one training iteration and one
evaluation pass (CocoMetric) per family, backbone from a classification
checkpoint written in the test, 128x128 images set via cfg options."""
import glob
import math
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from tool_loader import REPO as ROOT


def small_run_options(name: str) -> dict:
    """Config overrides for a 1-iteration CPU run on the tiny data set.

    The stock COCO pipelines have Resize at index 2 (train) and 1 (test);
    fewer proposals/RoIs and detections keep the RoI heads cheap.
    """
    options = {
        'train_cfg.max_epochs': 1,
        'train_dataloader.dataset.pipeline.2.scale': (128, 128),
        'test_dataloader.dataset.pipeline.1.scale': (128, 128),
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'visualizer.name': f'det_test_{name}',
        'default_hooks.checkpoint.interval': 100,  # no checkpoint to write
    }
    if name.startswith('retinanet'):
        # a 1-iteration RetinaNet scores ~0.01 (focal-loss prior): keep all
        # boxes so that COCOeval really runs
        options.update({
            'model.test_cfg.score_thr': 0.0,
            'model.test_cfg.max_per_img': 20
        })
    else:
        options.update({
            'model.train_cfg.rpn_proposal.max_per_img': 64,
            'model.train_cfg.rcnn.sampler.num': 32,
            'model.test_cfg.rpn.max_per_img': 32,
            'model.test_cfg.rcnn.max_per_img': 20,
        })
    return options


def _log_text(work_dir: str) -> str:
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        return f.read()


@pytest.mark.parametrize('config, segm', [
    ('retinanet_r50-noah-pre_fpn_1x_coco.py', False),
    ('mask-rcnn_r50-noah-pre_fpn_noah-roi-head_1x_coco.py', True),
])
def test_family_trains_and_evaluates(config, segm, det_tool, tiny_coco,
                                     r50_cls_work_dir, tmp_path):
    finetune = det_tool('finetune')
    work_dir = str(tmp_path / 'work')
    name = config.split('_')[0]
    result = finetune.finetune(
        osp.join(ROOT, 'configs', 'det', config),
        r50_cls_work_dir['work_dir'],
        data_root=tiny_coco,
        work_dir=work_dir,
        skip_val=True,
        cfg_options=small_run_options(name))
    # the checkpoint was found in the classification work dir, and every
    # backbone tensor came from it
    assert result['checkpoint'] == r50_cls_work_dir['checkpoint']
    report = result['backbone']
    assert len(report['loaded']) == 318  # all of ResNet-50's tensors
    assert report['missing'] == report['mismatched'] == report['unused'] == []
    assert math.isfinite(result['train_loss']) and result['train_loss'] > 0
    metrics = result['metrics']
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    if segm:
        assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0
    log = _log_text(work_dir)
    # mmengine logs the Pretrained load and, per parameter, where it came from
    ckpt = r50_cls_work_dir['checkpoint']
    assert f'load backbone. in model from: {ckpt}' in log
    assert re.search(r'backbone\.layer4\.2\.conv3\.weight - torch\.Size'
                     r'\(\[2048, 512, 1, 1\]\): \s*BackbonePretrainedInit: load from '
                     + re.escape(ckpt), log)
    assert 'backbone: 318 of 318 tensors loaded from' in log
    # the classes came from the data set (3 shapes), not COCO's 80
    with open(glob.glob(osp.join(work_dir, '*.py'))[0]) as f:
        dumped = f.read()
    assert "'square'" in dumped and 'num_classes=3' in dumped


def test_noah_roi_head_faster_rcnn_one_command(det_tool, tiny_coco,
                                               r50_cls_work_dir, tmp_path,
                                               capsys):
    """The tool as users run it (its command line, in-process to save the
    import time): one command, prints the loss and bbox mAP."""
    finetune = det_tool('finetune')
    work_dir = str(tmp_path / 'work')
    options = [
        f'{k}={v!r}'.replace(' ', '')
        for k, v in small_run_options('faster-rcnn').items()
    ]
    finetune.main([
        osp.join(ROOT, 'configs', 'det',
                 'faster-rcnn_r50-noah-pre_fpn_noah-roi-head_1x_coco.py'),
        r50_cls_work_dir['work_dir'], '--data-root', tiny_coco, '--work-dir',
        work_dir, '--skip-val', '--cfg-options', *options
    ])
    out = capsys.readouterr().out
    assert f'backbone checkpoint: {r50_cls_work_dir["checkpoint"]} ' \
        '(318 backbone tensors loaded)' in out
    loss = float(re.search(r'last training loss: (\S+)', out).group(1))
    assert math.isfinite(loss) and loss > 0
    bbox_map = float(re.search(r'^bbox mAP: ([0-9.]+)$', out, re.M).group(1))
    assert 0.0 <= bbox_map <= 1.0
    log = _log_text(work_dir)
    assert "type='NOAHBBoxHead'" in log  # the config the runner logged
    # the test pass really ran COCOeval (not the "no detections" fallback)
    assert 'coco/bbox_mAP:' in log


def test_find_checkpoint(det_tool, tmp_path):
    """A work dir or a checkpoint file; anything else says what to pass."""
    from noah_mm.engine import CorruptedCheckpointError
    finetune = det_tool('finetune')
    work = tmp_path / 'cls'
    work.mkdir()
    with pytest.raises(FileNotFoundError, match='no complete checkpoint'):
        finetune.find_checkpoint(str(work))
    with pytest.raises(FileNotFoundError,
                       match='does not exist.*work dir.*tools/train.py'):
        finetune.find_checkpoint(str(tmp_path / 'nowhere'))
    for name in ('best_accuracy_top1_epoch_7.pth', 'epoch_2.pth',
                 'epoch_10.pth'):
        torch.save({'state_dict': {}}, str(work / name))
    # the highest epoch, not the lexically last or the best-metric file,
    # even when mmengine's last_checkpoint names an older one
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    assert finetune.find_checkpoint(str(work)) == str(work / 'epoch_10.pth')
    # a damaged newest checkpoint is passed over
    data = (work / 'epoch_10.pth').read_bytes()
    (work / 'epoch_10.pth').write_bytes(data[:len(data) // 2])
    assert finetune.find_checkpoint(str(work)) == str(work / 'epoch_2.pth')
    # a file is used as is, if it is an intact checkpoint
    best = str(work / 'best_accuracy_top1_epoch_7.pth')
    assert finetune.find_checkpoint(best) == best
    notes = tmp_path / 'notes.txt'
    notes.write_text('the classifier reached 82.7% top-1\n')
    with pytest.raises(CorruptedCheckpointError, match='not a checkpoint'):
        finetune.find_checkpoint(str(notes))
    only_best = tmp_path / 'only_best'
    only_best.mkdir()
    torch.save({}, str(only_best / 'best_accuracy_top1_epoch_3.pth'))
    assert finetune.find_checkpoint(str(only_best)).endswith('epoch_3.pth')


def test_wrong_backbone_is_refused(det_tool, tiny_coco, pvt_cls_checkpoint,
                                   tmp_path):
    """A PVT classifier into a ResNet detector loads nothing: say so."""
    finetune = det_tool('finetune')
    backbone = _r50_backbone()
    report = finetune.backbone_load_report(backbone,
                                           pvt_cls_checkpoint['checkpoint'])
    assert report['loaded'] == [] and len(report['missing']) == 318
    # the hook the tool registers stops before training on a wrong backbone
    hook = finetune.BackboneLoadReport(pvt_cls_checkpoint['checkpoint'])
    runner = SimpleNamespace(model=SimpleNamespace(backbone=backbone))
    with pytest.raises(ValueError, match='none of the backbone tensors'):
        hook.before_train(runner)
    # a stock config (torchvision weights, no prefix) is not for this tool
    with pytest.raises(ValueError, match='does not start its backbone'):
        finetune.build_config(_stock_config(tmp_path), 'x.pth')


def _r50_backbone():
    from mmdet.models.backbones import ResNet
    return ResNet(depth=50)


def _stock_config(tmp_path) -> str:
    path = tmp_path / 'stock.py'
    path.write_text(
        "_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']\n")
    return str(path)
