# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The model zoo: every classification config under ``configs/`` builds and
runs a forward pass, and every model of ``configs/noah/metafile.yml`` has the
paper's Params (to 0.01M) and MAdds (to 3%).

Each config is built once. The forward pass uses a small input where the model
allows (64x64; MLP-Mixer and gMLP mix a fixed number of tokens: 224x224).
MAdds are counted at 224x224 with mmengine's complexity analysis (see
``tools/analysis_tools/complexity_table.py`` for what is counted); the backbone's
count is shared by the configs that use the same backbone (baseline, NOAH and
ablations), the head is counted on the backbone's output.
"""
import copy
import glob
import json
import os.path as osp

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from tool_loader import REPO, load_tool

CONFIGS = osp.join(REPO, 'configs')
METAFILE = osp.join(CONFIGS, 'noah', 'metafile.yml')
SLUGS = ('resnet18 resnet50 resnet101 resnet152 mobilenetv2-1.0x '
         'mobilenetv2-0.75x mobilenetv2-0.5x mobilenetv2-0.35x '
         'mobilenetv3-small shufflenetv2-1.0x deit-base deit-small deit-tiny '
         'deit-tiny-0.75x deit-tiny-0.5x pvt-tiny pvt-tiny-0.75x '
         'pvt-tiny-0.5x mixer-base mixer-small mixer-small-0.75x '
         'mixer-small-0.5x gmlp-small gmlp-tiny gmlp-tiny-0.75x '
         'gmlp-tiny-0.5x').split()
# the CNN backbones of the authors' release: their zoo configs build the
# released networks, so their metafile Params are exact counts
CNN_SLUGS = SLUGS[:10]
# backbones that mix a fixed number of tokens
FIXED_SIZE_BACKBONES = ('MlpMixer', 'GMLP')
# settings that change training, not the architecture's Params or MAdds
TRAIN_ONLY_KEYS = ('drop_path_rate', 'drop_rate', 'init_cfg', 'frozen_stages',
                   'norm_eval', 'with_cp')


complexity_table = load_tool('tools/analysis_tools/complexity_table.py')


def _classification_configs():
    """Every classification config under configs/: not the shared
    ``_base_`` pieces, not mmdet's configs (configs/det/, configs/reid/ or
    any config that inherits ``mmdet::``)."""
    found = []
    for path in sorted(glob.glob(osp.join(CONFIGS, '**', '*.py'),
                                 recursive=True)):
        rel = osp.relpath(path, REPO)
        parts = rel.split(osp.sep)
        if '_base_' in parts or parts[1] in ('det', 'reid'):
            continue
        with open(path) as f:
            if 'mmdet::' in f.read():
                continue
        found.append(rel)
    return found


def _metafile_models():
    with open(METAFILE) as f:
        return {m['Config']: m for m in yaml.safe_load(f)['Models']}


ALL_CONFIGS = _classification_configs()
META = _metafile_models()
_BACKBONE_MADDS = {}


def _build(rel_path):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, rel_path))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    import mmpretrain.models  # noqa: F401
    torch.manual_seed(0)
    return cfg, MODELS.build(cfg.model)


def _is_released_cnn(rel_path):
    """A zoo config of a CNN of the authors' release (NOAH or baseline,
    the aggressive ResNet-50 pair included; not an ablation)."""
    folder, name = osp.split(rel_path)
    return folder in ('configs/noah', 'configs/baseline') and any(
        name in (f'{slug}_in1k.py', f'{slug}_noah_in1k.py',
                 f'{slug}_in1k_aggressive.py', f'{slug}_noah_in1k_aggressive.py')
        for slug in CNN_SLUGS)


def _backbone_key(cfg):
    backbone = copy.deepcopy(cfg.model.backbone.to_dict())
    for key in TRAIN_ONLY_KEYS:
        backbone.pop(key, None)
    return json.dumps(backbone, sort_keys=True, default=str)


class _NeckHead(torch.nn.Module):
    """The classifier after its backbone: ``head(neck(feats))``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *feats):
        feats = tuple(feats)
        if self.model.with_neck:
            feats = self.model.neck(feats)
        return self.model.head(feats)


def _madds_224(cfg, model):
    """MAdds at 224x224: the backbone's (counted once per backbone, with the
    shapes of its outputs) + the neck's and head's on such outputs."""
    key = _backbone_key(cfg)
    if key not in _BACKBONE_MADDS:
        shapes = []

        def record(module, inputs, outputs):
            outputs = outputs if isinstance(outputs,
                                            (tuple, list)) else (outputs, )
            shapes.append([tuple(t.shape) for t in outputs])

        handle = model.backbone.register_forward_hook(record)
        try:
            madds, _ = complexity_table.count_madds(
                model.backbone, (torch.zeros(1, 3, 224, 224), ))
        finally:
            handle.remove()
        _BACKBONE_MADDS[key] = (madds, shapes[0])
    backbone_madds, shapes = _BACKBONE_MADDS[key]
    feats = tuple(torch.zeros(shape) for shape in shapes)
    head_madds, _ = complexity_table.count_madds(_NeckHead(model), feats)
    return backbone_madds + head_madds


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Many small models: one intra-op thread is faster than two (measured
    90 s vs 230 s for this module on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_zoo_paths_and_metafile():
    """52 configs at the issue's paths, all in the metafile with the paper's
    figures, and the metafile reachable from model-index.yml."""
    for slug in SLUGS:
        for rel in (f'configs/noah/{slug}_noah_in1k.py',
                    f'configs/baseline/{slug}_in1k.py'):
            assert osp.isfile(osp.join(REPO, rel)), rel
            assert rel in META, f'{rel} is not in {METAFILE}'
    for rel, model in META.items():
        assert osp.isfile(osp.join(REPO, rel)), rel
        assert model['Name'] == osp.basename(rel)[:-3]
        assert model['Results'][0]['Dataset'] == 'ImageNet-1k'
        metrics = model['Results'][0]['Metrics']
        assert 0 < metrics['Top 5 Accuracy'] <= 100
        assert metrics['Top 1 Accuracy'] < metrics['Top 5 Accuracy']
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert 'configs/noah/metafile.yml' in index['Import']


@pytest.mark.parametrize('rel_path', ALL_CONFIGS)
def test_zoo_config(rel_path):
    """Builds, runs a forward pass (logits and loss, in training mode) and,
    for a zoo model, has the metafile's Params and MAdds."""
    from mmpretrain.structures import DataSample
    cfg, model = _build(rel_path)
    assert cfg.model.get('type') == 'ImageClassifier', (
        f'{rel_path} is not an image classifier; only configs/det/ may hold '
        'other models')
    num_classes = cfg.model.head.num_classes
    fixed = cfg.model.backbone.type in FIXED_SIZE_BACKBONES
    batch, size = (1, 224) if fixed else (2, 64)
    x = torch.rand(batch, 3, size, size)
    samples = [
        DataSample().set_gt_label(i % num_classes) for i in range(batch)
    ]
    model.train()
    with torch.no_grad():
        feats = model.extract_feat(x)
        logits = model.head(feats)
        losses = model.head.loss(feats, samples)
    assert logits.shape == (batch, num_classes)
    assert torch.isfinite(logits).all()
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    model.eval()

    meta = META.get(rel_path)
    if meta is None:
        return
    deviation = meta.get('Deviation') or {}
    params = sum(p.numel() for p in model.parameters())
    expected = deviation.get('Parameters', meta['Metadata']['Parameters'])
    assert abs(params - expected) <= 0.01e6, (
        f'{rel_path}: {params / 1e6:.4f}M params, metafile '
        f'{expected / 1e6:.2f}M')
    if _is_released_cnn(rel_path):
        assert params == meta['Metadata']['Parameters'], (
            f"{rel_path}: {params} params, the released network has "
            f"{meta['Metadata']['Parameters']}")
    madds = _madds_224(cfg, model)
    expected = deviation.get('FLOPs', meta['Metadata']['FLOPs'])
    assert abs(madds - expected) <= 0.03 * expected, (
        f'{rel_path}: {madds / 1e6:.1f}M MAdds, metafile '
        f'{expected / 1e6:.1f}M')


def test_paper_bottleneck_resnet_madds_are_v1_counts():
    """The paper's ResNet-50 figure (3.86G) is the MAdds of He et al.'s
    original ResNet-50 with the stride in the first 1x1 conv of a block
    (mmpretrain ``style='caffe'``); the torchvision/mmpretrain layout the zoo
    trains (stride in the 3x3 conv, ``style='pytorch'``) counts 4.09G. Both
    have the same Params."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/baseline/resnet50_in1k.py'))
    cfg.model.backbone.style = 'caffe'
    from mmpretrain.registry import MODELS
    model = MODELS.build(cfg.model).eval()
    madds, _ = complexity_table.count_madds(
        complexity_table.TensorMode(model), (torch.zeros(1, 3, 224, 224), ))
    meta = META['configs/baseline/resnet50_in1k.py']
    paper = meta['Metadata']['FLOPs']
    assert abs(madds - paper) <= 0.01 * paper
    # the zoo's layout, counted by test_zoo_config
    assert meta['Deviation']['FLOPs'] > 1.05 * paper


def test_zoo_table_is_generated_from_metafile():
    """configs/noah/README.md's zoo table is the output of
    complexity_table.py."""
    with open(osp.join(CONFIGS, 'noah', 'README.md')) as f:
        readme = f.read()
    table = complexity_table.render_table(
        complexity_table.load_metafile(METAFILE), link_prefix='../../')
    assert (f'{complexity_table.TABLE_BEGIN}\n{table}\n'
            f'{complexity_table.TABLE_END}') in readme, (
                'the table of configs/noah/README.md is out of date: run '
                '`python tools/analysis_tools/complexity_table.py --update '
                'configs/noah/README.md`')


# family: (slugs, optimiser, lr, weight decay, epochs, paper batch,
#          NOAH head dropout)
RECIPES = {
    'ResNet': (('resnet18', 'resnet50', 'resnet101', 'resnet152'), 'SGD', 0.1,
               1e-4, 100, 256, 0.1),
    'MobileNet': (('mobilenetv2-1.0x', 'mobilenetv2-0.75x', 'mobilenetv2-0.5x',
                   'mobilenetv2-0.35x', 'mobilenetv3-small'), 'SGD', 0.05,
                  4e-5, 150, 256, 0.2),
    'ShuffleNetV2': (('shufflenetv2-1.0x', ), 'SGD', 0.5, 4e-5, 240, 1024, 0),
}


@pytest.mark.parametrize('family', sorted(RECIPES))
def test_cnn_recipes_follow_the_paper(family):
    """Paper appendix A.1.1: optimiser, lr, wd, epochs, 8 GPUs x per-GPU batch =
    the paper's batch, head dropout, and the schedule's end."""
    slugs, optim, lr, wd, epochs, batch, dropout = RECIPES[family]
    for slug in slugs:
        for rel in (f'configs/baseline/{slug}_in1k.py',
                    f'configs/noah/{slug}_noah_in1k.py'):
            cfg = Config.fromfile(osp.join(REPO, rel))
            opt = cfg.optim_wrapper.optimizer
            assert (opt.type, opt.lr, opt.weight_decay) == (optim, lr, wd)
            assert opt.momentum == 0.9
            assert cfg.train_cfg.max_epochs == epochs
            assert cfg.train_dataloader.batch_size * 8 == batch
            assert cfg.auto_scale_lr.base_batch_size == batch
            assert cfg.val_evaluator.topk == (1, 5)
            if 'noah' in rel:
                assert cfg.model.head.type == 'NOAHHead'
                assert cfg.model.neck is None
                assert cfg.model.head.get('dropout', 0) == dropout
            no_bn_wd = slug.startswith(('mobilenetv3', 'shufflenet'))
            paramwise = cfg.optim_wrapper.get('paramwise_cfg', {})
            assert (paramwise.get('norm_decay_mult') == 0) == no_bn_wd


def test_no_weight_decay_on_norm_layers_where_stated():
    """MobileNetV3-Small's optimiser leaves its BN parameters undecayed and
    decays its convolutions; the step/cosine/linear schedules end where the
    paper's do."""
    from mmengine.optim import build_optim_wrapper
    cfg, model = _build('configs/noah/mobilenetv3-small_noah_in1k.py')
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    norm = {id(p) for m in model.modules()
            if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[id(p)] = group['weight_decay']
    assert norm and all(decay[i] == 0 for i in norm)
    assert decay[id(model.backbone.layer0.conv.weight)] == 4e-5

    step = Config.fromfile(osp.join(REPO, 'configs/baseline/resnet50_in1k.py'))
    assert step.param_scheduler.milestones == [30, 60, 90]
    assert step.param_scheduler.gamma == 0.1
    cos = Config.fromfile(
        osp.join(REPO, 'configs/baseline/mobilenetv2-1.0x_in1k.py'))
    assert (cos.param_scheduler.type, cos.param_scheduler.eta_min,
            cos.param_scheduler.end) == ('CosineAnnealingLR', 0.0, 150)
    lin = Config.fromfile(
        osp.join(REPO, 'configs/baseline/shufflenetv2-1.0x_in1k.py'))
    assert (lin.param_scheduler.type, lin.param_scheduler.end_factor,
            lin.param_scheduler.end) == ('LinearLR', 0.0, 240)


def test_aggressive_regime_follows_table_8():
    """The ConvNeXt-style regime: AdamW 4e-3, wd 0.05, 20 warm-up epochs then
    cosine, 300 epochs, 8 x 512 = 4096, EMA, Mixup/CutMix, label smoothing,
    stochastic depth, RandAugment and RandomErasing."""
    for rel in ('configs/baseline/resnet50_in1k_aggressive.py',
                'configs/noah/resnet50_noah_in1k_aggressive.py'):
        cfg = Config.fromfile(osp.join(REPO, rel))
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 4e-3, 0.05)
        warmup, cosine = cfg.param_scheduler
        assert (warmup.type, warmup.end) == ('LinearLR', 20)
        assert (cosine.type, cosine.begin, cosine.end) == (
            'CosineAnnealingLR', 20, 300)
        assert cfg.train_cfg.max_epochs == 300
        assert cfg.train_dataloader.batch_size * 8 == 4096
        assert [h.type for h in cfg.custom_hooks] == ['EMAHook']
        assert [a.type for a in cfg.model.train_cfg.augments] == [
            'Mixup', 'CutMix'
        ]
        assert cfg.model.head.loss.type == 'LabelSmoothLoss'
        assert cfg.model.backbone.drop_path_rate > 0
        steps = [t.type for t in cfg.train_dataloader.dataset.pipeline]
        assert 'RandAugment' in steps and 'RandomErasing' in steps
