"""Baseline vs NOAH latency for the model zoo, next to the paper's Table 10.

For each zoo slug it builds ``configs/baseline/{slug}_in1k.py`` and
``configs/noah/{slug}_noah_in1k.py`` and times inference side by side
(interleaved rounds, median or ``--stat min``), on the CPU with 1 thread and batch 1 by default
(``--device cuda`` uses batch 200). It prints the extra latency of NOAH in %,
the paper's Table 10 CPU figure, and the GEMM floor: the extra latency the
dense GEMMs of the head's multiply-adds (``M x C x H*W``, plus the 1x1 input
projection over ``H*W`` positions where the head has one, minus the same
GEMMs on one pooled vector, as a baseline classifier does) would cost on this
machine, relative to the baseline.

With ``--compile`` it instead compares, per slug, the NOAH model's tensor
forward (``model(x, mode='tensor')``) compiled with ``torch.compile``
(inductor unless ``--backend``) against eager, in the same rounds, and prints
the compile time (first call), both times, their ratio and the largest
difference of the logits. Examples::

    python tools/analysis_tools/benchmark_models.py --slugs resnet50 deit-tiny
    python tools/analysis_tools/benchmark_models.py --compile --slugs \
        resnet50 mobilenetv2-1.0x deit-tiny
"""
import argparse
import os.path as osp
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from mmengine.config import Config

from noah_mm.registry import MODELS

# mmengine imports pkg_resources on every config load; keep the table readable.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Paper Table 10, CPU (1 core, batch 1): extra latency of NOAH in %.
PAPER_EXTRA = {
    'resnet18': 6.01, 'resnet50': 3.85, 'resnet101': 3.75,
    'resnet152': 2.79, 'mobilenetv2-1.0x': 7.59, 'mobilenetv2-0.75x': 14.72,
    'mobilenetv2-0.5x': 19.52, 'mobilenetv2-0.35x': 20.75,
    'mobilenetv3-small': 27.29, 'shufflenetv2-1.0x': 14.99,
    'deit-base': 3.05, 'deit-small': 4.03, 'deit-tiny': 7.68,
    'deit-tiny-0.75x': 11.82, 'deit-tiny-0.5x': 15.10, 'pvt-tiny': 3.40,
    'pvt-tiny-0.75x': 8.01, 'pvt-tiny-0.5x': 13.81, 'mixer-base': 3.76,
    'mixer-small': 5.15, 'mixer-small-0.75x': 6.04,
    'mixer-small-0.5x': 13.65, 'gmlp-small': 5.20, 'gmlp-tiny': 9.82,
    'gmlp-tiny-0.75x': 10.55, 'gmlp-tiny-0.5x': 14.29,
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--slugs', nargs='+', default=list(PAPER_EXTRA))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=None,
                        help='default: 1 on CPU, 200 on CUDA')
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--stat', choices=['median', 'min'], default='median',
                        help='per-model statistic over the rounds; min is '
                        'the steadier one on a shared, noisy machine')
    parser.add_argument('--compile', action='store_true',
                        help='compare torch.compile\'d NOAH models with '
                        'eager instead of NOAH with the baseline')
    parser.add_argument('--backend', default='inductor',
                        help='torch.compile backend (with --compile)')
    return parser.parse_args()


def build(path, device):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    model.eval()
    return model.to(device)


def timer(device):
    def sync():
        if device.startswith('cuda'):
            torch.cuda.synchronize()
    return sync


def round_times(fns, rounds, sync, stat='median', mode=torch.inference_mode):
    with mode():
        for fn in fns.values():
            fn()
        sync()
        times = {k: [] for k in fns}
        for _ in range(rounds):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                sync()
                times[name].append(time.perf_counter() - start)
    reduce = statistics.median if stat == 'median' else min
    return {k: reduce(v) for k, v in times.items()}


def head_shape(model, inputs):
    """``(C, H*W)`` of the map the NOAH head's POCA reads, via a hook."""
    seen = {}

    def hook(module, args):
        seen['shape'] = args[0].shape

    handle = model.head.poca.register_forward_pre_hook(hook)
    with torch.inference_mode():
        model(inputs[:1])
    handle.remove()
    _, C, H, W = seen['shape']
    return C, H * W


def floor_gemms(head, C, L, M, batch, device):
    """The dense GEMMs NOAH's head cannot avoid, on all ``L`` positions,
    and the same GEMMs on one pooled vector (what a baseline classifier
    does): POCA's ``M x C`` and, where the head has one (MobileNetV3), its
    1x1 input projection."""
    shapes = [('poca', M, C)]
    if getattr(head, 'in_proj', None) is not None:
        conv = head.in_proj[0]
        shapes.append(('in_proj', conv.out_channels, conv.in_channels))
    fns = {}
    for name, out_ch, in_ch in shapes:
        weight = torch.randn(out_ch, in_ch, device=device)
        tokens = torch.randn(batch * L, in_ch, device=device)
        pooled = torch.randn(batch, in_ch, device=device)
        fns[f'{name}@positions'] = (
            lambda tokens=tokens, weight=weight: F.linear(tokens, weight))
        fns[f'{name}@pooled'] = (
            lambda pooled=pooled, weight=weight: F.linear(pooled, weight))
    return fns


class TensorForward(torch.nn.Module):
    """``model(x, mode='tensor')`` as a module, for torch.compile."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


def zoo_configs(slugs, header):
    """Print ``header`` and yield ``(slug, baseline config, NOAH config)``
    for the slugs whose two configs exist (a line for the others)."""
    print(header)
    print('-' * len(header))
    for slug in slugs:
        base_cfg = osp.join(ROOT, 'configs', 'baseline', f'{slug}_in1k.py')
        noah_cfg = osp.join(ROOT, 'configs', 'noah', f'{slug}_noah_in1k.py')
        if osp.exists(base_cfg) and osp.exists(noah_cfg):
            yield slug, base_cfg, noah_cfg
        else:
            print(f'{slug:<20} (config missing)')


def compare_compiled(args, batch, sync):
    """Print compiled vs eager NOAH models, one row per slug."""
    for slug, _, noah_cfg in zoo_configs(
            args.slugs, f'{"model":<20}{"compile s":>10}{"eager ms":>10}'
            f'{"compiled ms":>12}{"compiled/eager":>15}{"max |d|":>10}'):
        model = TensorForward(build(noah_cfg, args.device))
        torch._dynamo.reset()
        compiled = torch.compile(model, backend=args.backend)
        x = torch.randn(batch, 3, 224, 224, device=args.device)
        # no_grad, not inference_mode: Dynamo fails its own guards on
        # tensors that mmpretrain's DropPath builds under inference_mode.
        with torch.no_grad():
            start = time.perf_counter()
            out = compiled(x)
            sync()
            compile_s = time.perf_counter() - start
            diff = (out - model(x)).abs().max().item()
        t = round_times({'eager': lambda: model(x),
                         'compiled': lambda: compiled(x)}, args.rounds, sync,
                        args.stat, torch.no_grad)
        print(f'{slug:<20}{compile_s:>10.1f}{t["eager"] * 1e3:>10.2f}'
              f'{t["compiled"] * 1e3:>12.2f}'
              f'{t["compiled"] / t["eager"]:>15.3f}{diff:>10.1e}', flush=True)
        del model, compiled


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    batch = args.batch or (200 if args.device.startswith('cuda') else 1)
    sync = timer(args.device)
    print(f'device={args.device} threads={args.threads} batch={batch} '
          f'{args.stat} of {args.rounds} interleaved rounds' +
          (f'; torch.compile backend {args.backend!r}'
           if args.compile else ''))
    if args.compile:
        compare_compiled(args, batch, sync)
        return
    for slug, base_cfg, noah_cfg in zoo_configs(
            args.slugs, f'{"model":<20}{"base ms":>9}{"noah ms":>9}'
            f'{"extra %":>9}{"paper %":>9}{"floor %":>9}{"extra/floor":>12}'):
        base, noah = build(base_cfg, args.device), build(noah_cfg, args.device)
        x = torch.randn(batch, 3, 224, 224, device=args.device)
        C, L = head_shape(noah, x)
        M = noah.head.num_classes
        fns = {'base': lambda: base(x), 'noah': lambda: noah(x)}
        fns.update(floor_gemms(noah.head, C, L, M, batch, args.device))
        t = round_times(fns, args.rounds, sync, args.stat)
        extra = 100 * (t['noah'] / t['base'] - 1)
        floor = 100 * sum(t[k] for k in fns if k.endswith('@positions'))
        floor -= 100 * sum(t[k] for k in fns if k.endswith('@pooled'))
        floor = max(floor, 0) / t['base']
        ratio = (100 + extra) / (100 + floor)
        print(f'{slug:<20}{t["base"] * 1e3:>9.2f}{t["noah"] * 1e3:>9.2f}'
              f'{extra:>9.2f}{PAPER_EXTRA.get(slug, float("nan")):>9.2f}'
              f'{floor:>9.2f}{ratio:>12.3f}', flush=True)
        del base, noah


if __name__ == '__main__':
    main()
