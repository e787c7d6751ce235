# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""What checkpoint verification adds to loading a checkpoint.

Builds the model of a config with random weights, saves it as a runner does
(``state_dict`` and ``meta``) to a temporary file, and times side by side, in
interleaved rounds of one run (the file in the page cache, as a resumed run
finds the checkpoint it just wrote):

* ``torch.load``: torch's safe loader alone;
* ``verify``: :func:`noah_mm.engine.verify_checkpoint` alone (every zip
  member's CRC-32);
* ``verify + torch.load``: what noah_mm's local checkpoint loader does.

It prints the medians, the ratio of ``verify + torch.load`` to
``torch.load`` and the CRC throughput. Example::

    python tools/analysis_tools/benchmark_checkpoint_load.py \\
        configs/noah/resnet50_noah_in1k.py --rounds 11
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from noah_mm.engine import verify_checkpoint  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'config',
        nargs='?',
        default='configs/noah/resnet50_noah_in1k.py',
        help='the model to save (default: NOAH ResNet-50)')
    parser.add_argument('--rounds', type=int, default=11,
                        help='interleaved timing rounds (median is shown)')
    return parser.parse_args(argv)


def make_checkpoint(config: str, path: str) -> int:
    """Save ``config``'s model with random weights; return the file size."""
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmpretrain')
    with DefaultScope.overwrite_default_scope(scope):
        from mmengine.registry import MODELS
        model = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(epoch=1, iter=1), state_dict=model.state_dict()),
               path)
    return os.path.getsize(path)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'epoch_1.pth')
        size = make_checkpoint(args.config, path)
        steps = {
            'torch.load': lambda: torch.load(path, map_location='cpu'),
            'verify': lambda: verify_checkpoint(path),
            'verify + torch.load': lambda: (verify_checkpoint(path),
                                            torch.load(path,
                                                       map_location='cpu')),
        }
        for step in steps.values():  # warm-up: page cache, allocator
            step()
        times = {name: [] for name in steps}
        for _ in range(args.rounds):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f'{args.config}: checkpoint of {size / 2**20:.1f} MiB, '
          f'{args.rounds} interleaved rounds, 1 thread, medians')
    for name, seconds in median.items():
        print(f'  {name:<20} {seconds * 1e3:8.1f} ms')
    ratio = median['verify + torch.load'] / median['torch.load']
    print(f'  verify + torch.load / torch.load = {ratio:.2f}x; CRC-32 at '
          f'{size / median["verify"] / 2**30:.2f} GiB/s')
    return dict(size=size, ratio=ratio, **median)


if __name__ == '__main__':
    main()
