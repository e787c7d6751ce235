# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Reading the NOAH authors' checkpoint files, safely.

The release was saved by three training scripts, each with its own layout:

* ``cnn``: the CNN ``main.py`` (``checkpoint.pth.tar`` /
  ``model_best.pth.tar``): ``{'epoch', 'state_dict', 'acc', 'best_acc',
  'optimizer'}``; the state dict has the ``module.`` prefix of
  DistributedDataParallel;
* ``deit``: DeiT's and PVT's ``main.py`` (``checkpoint.pth``):
  ``{'model', 'optimizer', 'lr_scheduler', 'epoch', 'model_ema', 'scaler',
  'args'}``, ``args`` an ``argparse.Namespace``; PVT saves no
  ``model_ema``;
* ``timm``: timm's ``train.py`` (MLP-Mixer, gMLP; ``model_best.pth.tar``,
  ``last.pth.tar``, ``checkpoint-<epoch>.pth.tar``): ``{'epoch', 'arch',
  'state_dict', 'optimizer', 'version', 'args', 'state_dict_ema',
  'metric', ...}``.

A bare state dict (e.g. from timm's ``clean_checkpoint.py``) is read too.

Checkpoints are untrusted input: they are read with
``torch.load(weights_only=True)``, which rebuilds tensors and plain Python
containers only. Besides those, the release needs one class,
``argparse.Namespace`` (the ``args`` of DeiT, PVT and timm), and it is allowed
for the duration of the call only (see :data:`SAFE_GLOBALS`). A file that
pickles anything else is refused before any of it runs.

EMA weights: DeiT's ``main.py`` (``model_ema``) and timm's ``train.py``
(``state_dict_ema``, enabled in the authors' Mixer/gMLP config) keep an
exponential moving average of the weights; ``use_ema=True`` reads it. The
release does not say which weights its accuracies come from: DeiT's
``main.py`` evaluates the raw weights (``model``), timm's ``train.py``
picks and logs the best epoch by the EMA weights' accuracy when EMA is on,
and the authors' evaluation command for Mixer/gMLP (timm's ``validate.py
--checkpoint``, without ``--use-ema``) loads the raw ``state_dict``. The
default is the raw weights.
"""
import argparse
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Any, Dict, Tuple

import torch

from noah_mm.engine import verify_checkpoint
from .families import Conversion, StateDict, match_family

#: Classes the safe loader may rebuild besides tensors and containers, and
#: why each cannot run code while unpickled:
#:
#: - ``argparse.Namespace``: an attribute bag. The unpickler creates it with
#:   ``object.__new__`` and fills its ``__dict__`` with values that were
#:   themselves unpickled under the same restrictions (strings, numbers,
#:   lists, ...). It defines no ``__setstate__``, ``__reduce__`` or
#:   ``__del__`` that unpickling would call, and its constructor only sets
#:   keyword attributes.
#:
#: (Importing ``noah_mm`` also allow-lists, process-wide, what mmengine's own
#: checkpoints hold - see :mod:`noah_mm.engine.safe_globals`; no file of the
#: release needs those.)
SAFE_GLOBALS = (argparse.Namespace, )

#: Formats of the release: name -> (key of the weights, key of the EMA
#: weights or None, keys that tell the format apart).
FORMATS: Dict[str, Tuple[str, Any, Tuple[str, ...]]] = {
    'cnn': ('state_dict', None, ('acc', 'best_acc')),
    'deit': ('model', 'model_ema', ('lr_scheduler', 'scaler', 'model_ema',
                                    'args', 'optimizer', 'epoch')),
    'timm': ('state_dict', 'state_dict_ema', ('state_dict_ema', 'arch',
                                              'args', 'version', 'metric')),
}
EXPECTED = (
    "a checkpoint of the NOAH release: the CNN main.py's {'state_dict', "
    "'epoch', 'acc', 'best_acc', 'optimizer'}, DeiT/PVT main.py's {'model', "
    "'optimizer', 'lr_scheduler', 'epoch', 'model_ema', 'scaler', 'args'}, "
    "timm train.py's {'state_dict', 'state_dict_ema', 'args', ...} or a bare "
    'state dict')


#: What the safe unpickler says when it meets a forbidden object (any other
#: failure means the file is broken, not hostile).
REFUSALS = ('GLOBAL ', 'Trying to call reduce', 'Can only build',
            'Can only create new object')


def read_checkpoint(path: str) -> Any:
    """``torch.load`` of an untrusted file: tensors, containers and
    :data:`SAFE_GLOBALS` only.

    Raises:
        FileNotFoundError: if ``path`` is not a file.
        ValueError: if the file is not a PyTorch checkpoint or pickles
            anything else (the message names the file and the refused
            global).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such file; expected {EXPECTED}.')
    # Zip CRCs first: damaged bytes are named as such, never half-read.
    verify_checkpoint(path)
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if not any(r in text for r in REFUSALS):
            after = text.split('WeightsUnpickler error:')[-1]
            detail = next((line.strip() for line in after.splitlines()
                           if line.strip()), 'unpickling failed')
            raise ValueError(
                f'{path}: not a readable PyTorch checkpoint ({detail}); '
                f'expected {EXPECTED}. Is the download complete?') from None
        found = re.search(r'GLOBAL (\S+)', text)
        what = found.group(1) if found else 'a forbidden object'
        raise ValueError(
            f'{path}: refused by the safe loader: it pickles {what}, which '
            'is neither a tensor, a plain container nor argparse.Namespace. '
            'The release holds nothing else; do not load this file with '
            'weights_only=False unless you trust whoever made it.') from None
    except Exception as e:  # zip/storage errors, truncation, not a pickle
        raise ValueError(
            f'{path}: not a readable PyTorch checkpoint ({type(e).__name__}: '
            f'{e}); expected {EXPECTED}. Is the download complete?') from None


def detect_format(ckpt: Any, path: str = 'the checkpoint') -> str:
    """``'cnn'``, ``'deit'``, ``'timm'``, ``'bare'`` (a state dict) or
    ``'state_dict'`` (only a ``state_dict`` entry with tensors in it).

    Raises:
        ValueError: if ``ckpt`` is none of them or could be two of them.
    """
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path} holds a {type(ckpt).__name__}; expected '
                         f'{EXPECTED}.')
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return 'bare'
    has_model = isinstance(ckpt.get('model'), dict)
    has_state = isinstance(ckpt.get('state_dict'), dict)
    if has_model and has_state:
        raise ValueError(f"{path} is ambiguous: it has both 'model' (DeiT/PVT"
                         " main.py) and 'state_dict' (CNN main.py, timm); "
                         f'expected {EXPECTED}.')
    if has_model:
        return 'deit'
    if has_state:
        cnn = any(k in ckpt for k in FORMATS['cnn'][2])
        timm = any(k in ckpt for k in FORMATS['timm'][2])
        if cnn and timm:
            raise ValueError(
                f'{path} is ambiguous: it has keys of the CNN main.py '
                f"({sorted(k for k in FORMATS['cnn'][2] if k in ckpt)}) and "
                f"of timm's train.py ("
                f"{sorted(k for k in FORMATS['timm'][2] if k in ckpt)}); "
                f'expected {EXPECTED}.')
        return 'cnn' if cnn else 'timm' if timm else 'state_dict'
    raise ValueError(f'{path}: top-level keys {sorted(map(str, ckpt))[:8]} '
                     f'hold no weights; expected {EXPECTED}.')


def load_official(path: str, use_ema: bool = False) -> StateDict:
    """The weights of one released checkpoint, ``module.`` prefix removed.

    Args:
        path (str): A file of the release in any of its formats (see the
            module docstring).
        use_ema (bool): Read the EMA weights (``model_ema`` of DeiT,
            ``state_dict_ema`` of timm) instead of the raw ones. Files
            without EMA weights are refused. Defaults to False.

    Returns:
        dict: The state dict, keys as the authors' model names them.
    """
    ckpt = read_checkpoint(path)
    fmt = detect_format(ckpt, path)
    if fmt == 'bare':
        weights, key = ckpt, None
    else:
        key, ema_key = FORMATS.get(fmt, ('state_dict', None, ()))[:2]
        if use_ema and not isinstance(ckpt.get(ema_key), dict):
            raise ValueError(
                f'{path}: use_ema=True, but this {fmt} checkpoint holds no '
                'EMA weights (only the DeiT main.py and timm train.py save '
                "them, as 'model_ema' / 'state_dict_ema'; PVT's main.py "
                'does not); convert its raw weights (no --ema).')
        key = ema_key if use_ema else key
        weights = ckpt[key]
    if use_ema and fmt == 'bare':
        raise ValueError(f'{path}: use_ema=True, but the file is a bare state '
                         'dict; convert it without --ema.')
    where = 'the file' if key is None else repr(key)
    state = OrderedDict()
    for name, value in weights.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f'{path}: {where} entry {name!r} is a '
                f'{type(value).__name__}, not a tensor; expected {EXPECTED}.')
        state[name[len('module.'):] if name.startswith('module.') else
              name] = value
    if not state:
        raise ValueError(f'{path}: {where} is empty; expected {EXPECTED}.')
    return state


def convert_checkpoint(path: str, use_ema: bool = False) -> Conversion:
    """Read one released checkpoint and convert it for its config.

    Args:
        path (str): A file of the release (any format).
        use_ema (bool): Convert the EMA weights. Defaults to False.

    Returns:
        Conversion: our config (relative to ``configs/``), the state dict for
        that config's model, and what was recognised.

    Raises:
        ValueError: if the file cannot be read safely, is not a network of
            the release, or no config of ours builds it (the message starts
            with the file name).
    """
    state = load_official(path, use_ema)
    family = match_family(state, path)
    try:
        conversion = family.convert(state)
    except ValueError as e:
        raise ValueError(f'{path}: {e}') from None
    info = dict(conversion.info, use_ema=bool(use_ema))
    return Conversion(conversion.config, conversion.state_dict, info)
