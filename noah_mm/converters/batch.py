# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Converting a folder of released checkpoints, with a report and a
self-check.

Each file is read safely (:func:`.checkpoint_io.convert_checkpoint`),
recognised, converted, checked - the config's model is built and the state
dict loaded with ``strict=True`` - and saved as ``<config name>.pth``
(``{'state_dict', 'meta'}``, loadable by ``tools/test.py --checkpoint`` and
``init_cfg=dict(type='Pretrained', ...)``).
"""
import copy
import functools
import os
import os.path as osp
from typing import Iterable, List, NamedTuple, Optional

import torch

from .checkpoint_io import convert_checkpoint
from .families import Conversion

#: Names the release's files end with (the three training scripts save
#: ``*.pth.tar`` and ``*.pth``; downloads may be renamed ``*.pt``).
CHECKPOINT_SUFFIXES = ('.pth', '.pth.tar', '.pt', '.tar', '.ckpt', '.bin')


class Result(NamedTuple):
    """One line of the report.

    Args:
        source (str): The file read.
        status (str): ``'converted'``, ``'failed'`` or ``'duplicate'``
            (another file converts to the same config; none of them is
            written).
        config (str): Our config (relative to ``configs/``), if recognised.
        output (str): The file written, if any.
        message (str): What was recognised, or why it failed.
    """
    source: str
    status: str
    config: str = ''
    output: str = ''
    message: str = ''


def find_checkpoints(folder: str) -> List[str]:
    """Files under ``folder`` (recursively) with a checkpoint suffix,
    sorted."""
    found = []
    for root, _, files in os.walk(folder):
        found.extend(
            osp.join(root, f) for f in files
            if f.lower().endswith(CHECKPOINT_SUFFIXES))
    return sorted(found)


def output_name(config: str) -> str:
    """``'noah/resnet50_noah_in1k.py'`` -> ``'resnet50_noah_in1k.pth'``."""
    return osp.splitext(osp.basename(config))[0] + '.pth'


@functools.lru_cache(maxsize=None)
def _parsed_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(path)


def load_config(path: str):
    """``Config.fromfile(path)``, parsed once per process (mmengine reads
    every metafile of mmpretrain to resolve an ``mmpretrain::`` base, which
    takes seconds), with its ``custom_imports`` imported.

    Returns:
        Config: a copy of the parsed config, free to modify.
    """
    from mmengine.utils import import_modules_from_strings
    cfg = _parsed_config(osp.abspath(path))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    return copy.deepcopy(cfg)


def check_strict_load(conversion: Conversion, config_root: str):
    """Build the config's model and load the state dict with
    ``strict=True``.

    Args:
        conversion (Conversion): A converted checkpoint.
        config_root (str): The folder holding our ``configs/``.

    Returns:
        nn.Module: The config's model with the converted weights.

    Raises:
        RuntimeError: with the missing / unexpected / mis-shaped keys.
    """
    from mmpretrain.registry import MODELS
    import mmpretrain.models  # noqa: F401  (registers the models)
    cfg = load_config(osp.join(config_root, conversion.config))
    model = MODELS.build(cfg.model)
    model.load_state_dict(conversion.state_dict, strict=True)
    return model


def save_conversion(conversion: Conversion, path: str, source: str) -> None:
    """Save ``{'state_dict', 'meta'}``; ``meta`` says where it came from."""
    meta = dict(converted_from=osp.basename(source), config=conversion.config,
                **{k: v for k, v in conversion.info.items()
                   if isinstance(v, (str, int, float, bool))})
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save(dict(state_dict=conversion.state_dict, meta=meta), path)


def describe(conversion: Conversion) -> str:
    """What was recognised, in a few words."""
    info = conversion.info
    text = f"{info.get('arch', info.get('family'))}, {info.get('head')} head"
    if 'num_heads' in info:
        text += (f" (N={info['num_heads']}, C_k={info['key_channels']}, "
                 f"C_v={info['value_channels']})")
    if info.get('use_ema'):
        text += ', EMA weights'
    return text


def convert_files(sources: Iterable[str], out_dir: str, config_root: str,
                  use_ema: bool = False, check: bool = True,
                  out_file: Optional[str] = None) -> List[Result]:
    """Convert released checkpoints into ``out_dir``.

    Args:
        sources (Iterable[str]): Files of the release.
        out_dir (str): Where ``<config name>.pth`` files are written.
        config_root (str): Our ``configs/`` folder (for the self-check).
        use_ema (bool): Convert the EMA weights. Defaults to False.
        check (bool): Load each result strictly into its config's model
            before saving. Defaults to True.
        out_file (str, optional): Write the (single) result here instead of
            ``out_dir/<config name>.pth``.

    Returns:
        list[Result]: One result per source, in order.
    """
    results, done = [], {}
    for source in sources:
        try:
            conversion = convert_checkpoint(source, use_ema)
            if check:
                check_strict_load(conversion, config_root)
        except (ValueError, RuntimeError, FileNotFoundError) as e:
            results.append(Result(source, 'failed', message=str(e)))
            continue
        done.setdefault(conversion.config, []).append(
            (len(results), conversion))
        results.append(Result(source, 'converted', conversion.config,
                              message=describe(conversion)))
    for config, entries in done.items():
        if len(entries) > 1:
            others = [results[i].source for i, _ in entries]
            for i, _ in entries:
                results[i] = results[i]._replace(
                    status='duplicate',
                    message=f'{len(entries)} files convert to {config} '
                    f'({", ".join(others)}); none written: convert the one '
                    'you want on its own')
            continue
        i, conversion = entries[0]
        path = out_file or osp.join(out_dir, output_name(config))
        save_conversion(conversion, path, results[i].source)
        results[i] = results[i]._replace(output=path)
    return results


def format_report(results: List[Result]) -> str:
    """A plain-text table: file, result, config, output, details."""
    rows = [('file', 'result', 'config', 'written to', 'recognised as')]
    rows += [(r.source, r.status, r.config or '-', r.output or '-',
              r.message) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ['  '.join(cell.ljust(w) for cell, w in zip(row[:4], widths)) +
             '  ' + row[4] for row in rows]
    converted = sum(r.status == 'converted' for r in results)
    lines.append(f'{converted} of {len(results)} files converted.')
    return '\n'.join(lines)
