# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Reading the release's three checkpoint formats (and bare state dicts)
with the safe loader; hostile, corrupt and foreign files are refused with a
message naming the file."""
import argparse
import os
import os.path as osp

import pytest
import torch

from converters.authors_cnn import build, randomise, save_cnn_checkpoint
from noah_mm.converters import convert_checkpoint, load_official
from noah_mm.engine import CorruptedCheckpointError


@pytest.fixture(scope='module')
def authors():
    """A small released network: ShuffleNetV2 1.0x with NOAH."""
    torch.manual_seed(0)
    return randomise(build('shufflenet_v2', True))


def _ema(state):
    return {k: v + 1 if v.is_floating_point() else v
            for k, v in state.items()}


def _optimizer_state(model):
    params = [p.detach().clone().requires_grad_()
              for p in list(model.parameters())[:2]]
    opt = torch.optim.AdamW(params, lr=5e-4)
    params[0].grad = torch.ones_like(params[0])
    opt.step()  # holds per-parameter state: step, exp_avg, ...
    return opt.state_dict()


def _deit_args():
    """A real ``argparse.Namespace`` as DeiT's main.py keeps it."""
    return argparse.Namespace(
        model='noah_deit_tiny_patch16_224', input_size=224, drop=0.0,
        drop_path=0.1, model_ema=True, model_ema_decay=0.99996,
        opt='adamw', opt_eps=1e-8, opt_betas=None, clip_grad=None, lr=5e-4,
        lr_noise=None, smoothing=0.1, aa='rand-m9-mstd0.5-inc1',
        data_path='/data/ILSVRC2012', output_dir='checkpoints/noah',
        device='cuda', seed=0, distributed=True, gpu=0, rank=0,
        world_size=8, dist_url='env://', dist_backend='nccl',
        nb_classes=1000)


def _timm_args():
    return argparse.Namespace(
        model='noah_gmlp_ti16_224', ratio=[0.67, 1.5], scale=[0.08, 1.0],
        mean=None, opt_betas=None, model_ema=True, model_ema_decay=0.99992,
        lr=0.0007, weight_decay=0.067, prefetcher=True, distributed=True,
        device='cuda:0', world_size=8, rank=0, img_size=224, crop_pct=0.9)


def _save(path, obj):
    torch.save(obj, path)
    return str(path)


def _formats(tmp_path, model):
    """The model wrapped the way each training script saves it:
    ``{name: (path, has EMA)}``."""
    state = model.state_dict()
    files = {
        'cnn': (str(save_cnn_checkpoint(model, tmp_path / 'checkpoint.pth.tar')
                    ), False),
        'deit': (_save(tmp_path / 'checkpoint.pth', {
            'model': state, 'optimizer': _optimizer_state(model),
            'lr_scheduler': {'base_values': [5e-4], 't_in_epochs': True,
                             'noise_range_t': None}, 'epoch': 299,
            'model_ema': _ema(state),
            'scaler': {'scale': 65536.0, 'growth_factor': 2.0,
                       '_growth_tracker': 10}, 'args': _deit_args()}), True),
        'pvt': (_save(tmp_path / 'pvt_checkpoint.pth', {
            'model': state, 'optimizer': _optimizer_state(model),
            'lr_scheduler': {'base_values': [5e-4]}, 'epoch': 299,
            'scaler': {'scale': 65536.0}, 'args': _deit_args()}), False),
        'timm': (_save(tmp_path / 'model_best.pth.tar', {
            'epoch': 288, 'arch': 'noah_gmlp_ti16_224', 'state_dict': state,
            'optimizer': _optimizer_state(model), 'version': 2,
            'args': _timm_args(), 'state_dict_ema': _ema(state),
            'metric': 73.39}), True),
        'timm-no-ema': (_save(tmp_path / 'last.pth.tar', {
            'epoch': 299, 'arch': 'noah_gmlp_ti16_224', 'state_dict': state,
            'version': 2, 'args': _timm_args()}), False),
        'bare': (_save(tmp_path / 'clean.pth', state), False),
    }
    return files


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_every_format_loads(tmp_path, authors):
    state = authors.state_dict()
    reference = convert_checkpoint(_save(tmp_path / 'ref.pth', state))
    for name, (path, has_ema) in _formats(tmp_path, authors).items():
        assert _same(load_official(path), state), name
        conversion = convert_checkpoint(path)
        assert conversion.config == 'noah/shufflenetv2-1.0x_noah_in1k.py'
        assert _same(conversion.state_dict, reference.state_dict), name
        if has_ema:
            assert _same(load_official(path, use_ema=True), _ema(state))
            assert convert_checkpoint(path, use_ema=True).info['use_ema']
        else:
            with pytest.raises(ValueError, match=r'(?s)use_ema=True.*no '
                               r'--ema|without --ema') as e:
                load_official(path, use_ema=True)
            assert osp.basename(path) in str(e.value)


class _Marker:
    """Unpickling it would create a file (a stand-in for running any
    command)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f'touch {self.path}', )


class _Exec:

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return exec, (f'open({self.path!r}, "w").close()', )


@pytest.mark.parametrize('hostile', [_Marker, _Exec])
def test_hostile_pickles_are_refused(tmp_path, authors, hostile):
    marker = tmp_path / 'pwned'
    evil = hostile(str(marker))
    state = authors.state_dict()
    module_state = {'module.' + k: v for k, v in state.items()}
    files = {
        'cnn': {'epoch': 1, 'state_dict': module_state, 'acc': evil,
                'best_acc': torch.tensor(1.), 'optimizer': {}},
        'deit': {'model': state, 'optimizer': {}, 'lr_scheduler': {},
                 'epoch': 1, 'model_ema': state, 'scaler': {},
                 'args': argparse.Namespace(model='x', hook=evil)},
        'timm': {'epoch': 1, 'state_dict': state, 'state_dict_ema': state,
                 'args': evil, 'version': 2},
        'in-weights': {'state_dict': dict(module_state, extra=evil),
                       'best_acc': torch.tensor(1.)},
    }
    for name, obj in files.items():
        path = _save(tmp_path / f'{name}.pth.tar', obj)
        with pytest.raises(ValueError, match='refused by the safe loader') \
                as e:
            convert_checkpoint(path)
        assert f'{name}.pth.tar' in str(e.value)
        assert not marker.exists(), name


def test_safe_globals_are_scoped_to_the_call(tmp_path, authors):
    """argparse.Namespace is allowed while reading a release file only."""
    path = _formats(tmp_path, authors)['deit'][0]
    load_official(path)
    with pytest.raises(Exception, match='Namespace'):
        torch.load(path, weights_only=True)


def _flip_middle(data: bytes, count: int = 64) -> bytes:
    middle = len(data) // 2
    flipped = bytes(b ^ 0xFF for b in data[middle:middle + count])
    return data[:middle] + flipped + data[middle + count:]


def test_foreign_and_broken_files(tmp_path, authors):
    state = authors.state_dict()
    good = _save(tmp_path / 'good.pth', {'state_dict': state, 'acc': 1.0})
    cases = {
        'missing.pth': (None, FileNotFoundError, 'no such file'),
        'truncated.pth': (open(good, 'rb').read()[:4096],
                          CorruptedCheckpointError, 'truncated|damaged'),
        'flipped.pth': (_flip_middle(open(good, 'rb').read()),
                        CorruptedCheckpointError, 'CRC|damaged'),
        'text.pth': (b'not a checkpoint\n' * 10, CorruptedCheckpointError,
                     'is not a checkpoint'),
        'list.pth': ([torch.zeros(1)], ValueError, 'holds a list'),
        'both.pth': ({'model': state, 'state_dict': state}, ValueError,
                     'ambiguous'),
        'mixed.pth': ({'state_dict': state, 'best_acc': 1.0,
                       'state_dict_ema': state}, ValueError, 'ambiguous'),
        'foreign.pth': ({'meta': {'x': 1}, 'epoch': 3}, ValueError,
                        r"\['epoch', 'meta'\] hold no weights"),
        'strings.pth': ({'state_dict': {'a': 'b'}, 'epoch': 1, 'acc': 1.0},
                        ValueError, "'a' is a str, not a tensor"),
    }
    for name, (content, error, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            torch.save(content, path)
        with pytest.raises(error, match=message) as e:
            load_official(str(path))
        assert name in str(e.value), name
