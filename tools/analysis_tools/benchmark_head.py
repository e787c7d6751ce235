"""Benchmark the NOAH head against its GEMM floor and the grouped-conv form.

For the ResNet-50, MobileNetV2 and DeiT-Tiny head shapes, at batch 1 and 32,
with 1 thread and all threads, forward (inference) and forward+backward, it
times side by side, in interleaved rounds of one run:

* ``fast``: NOAH's default implementation (``POCA(impl='fast')``): on the
  CPU in fp32, the fused kernels of :mod:`noah_mm.ops.poca_cpu`;
* ``eager``: the same fast path with the kernels off (PyTorch ops only);
* ``grouped-conv``: the reference formulation (``POCA(impl='reference')``,
  two grouped 1x1 convolutions, the authors' layout);
* ``gemm``: one dense GEMM of the same multiply-adds, ``(M, C) @ (C, B*H*W)``
  (for forward+backward: the same GEMM as a linear layer with its backward).

and prints ratios (times relative to the GEMM, and grouped-conv over fast),
plus the bytes each keeps for backward (parameters and the packed copy of
the weights that POCA caches between calls are not counted). Example::

    python tools/analysis_tools/benchmark_head.py --threads 1
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from noah_mm.models.utils.poca import POCA
from noah_mm.ops import poca_cpu

# name: (C, H=W, N, r), M = 1000 (paper Table 1)
SHAPES = {
    'resnet50': (2048, 7, 4, 1 / 8),
    'mobilenetv2-1.0x': (1280, 7, 8, 1 / 4),
    'deit-tiny': (192, 14, 4, 1 / 2),
}
NUM_CLASSES = 1000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--shapes', nargs='+', default=list(SHAPES),
                        choices=list(SHAPES))
    parser.add_argument('--batches', nargs='+', type=int, default=[1, 32])
    parser.add_argument('--threads', nargs='+', type=int,
                        default=[1, torch.get_num_threads()],
                        help='thread counts to run (default: 1 and all)')
    parser.add_argument('--rounds', type=int, default=11,
                        help='interleaved timing rounds (median is shown)')
    parser.add_argument('--modes', nargs='+', default=['fwd', 'fwd+bwd'],
                        choices=['fwd', 'fwd+bwd'])
    parser.add_argument('--dropout', type=float, default=0.0,
                        help='head dropout on the values (fwd+bwd runs in '
                        'training mode, as the zoo CNN configs train)')
    return parser.parse_args()


def saved_bytes(fn, exclude):
    """Bytes of distinct storages autograd keeps for backward of ``fn()``.

    Parameters (``exclude``) are left out: every formulation keeps them.
    """
    storages = {}

    def pack(t):
        if t.data_ptr() not in exclude:
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def measure(fns, rounds):
    """Median seconds per function, measured in interleaved rounds."""
    for fn in fns.values():  # warm-up
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_shape(name, batch, mode, rounds, dropout=0.0):
    C, S, N, r = SHAPES[name]
    M = NUM_CLASSES
    torch.manual_seed(0)
    fast = POCA(C, M, num_heads=N, key_ratio=r, dropout=dropout, impl='fast')
    ref = POCA(C, M, num_heads=N, key_ratio=r, dropout=dropout,
               impl='reference')
    for module in (fast, ref):
        module.train(mode == 'fwd+bwd')
    ref.load_state_dict(fast.state_dict())
    weight = torch.randn(M, C, requires_grad=True) * 0.01
    weight = weight.detach().requires_grad_()
    x = torch.randn(batch, C, S, S)
    tokens = x.flatten(2).transpose(1, 2).reshape(-1, C)  # (B*H*W, C)
    if mode == 'fwd':
        def run(module):
            def fn():
                with torch.inference_mode():
                    module(x)
            return fn

        def gemm():
            with torch.inference_mode():
                F.linear(tokens, weight)
    else:
        xg = x.clone().requires_grad_()
        tg = tokens.clone().requires_grad_()

        def run(module):
            def fn():
                module(xg).sum().backward()
            return fn

        def gemm():
            F.linear(tg, weight).sum().backward()
    def eager(fn):
        def wrapped():
            previous = os.environ.get('NOAH_MM_CPU_KERNELS')
            os.environ['NOAH_MM_CPU_KERNELS'] = '0'
            try:
                fn()
            finally:
                if previous is None:
                    del os.environ['NOAH_MM_CPU_KERNELS']
                else:
                    os.environ['NOAH_MM_CPU_KERNELS'] = previous
        return wrapped

    fns = {'gemm': gemm, 'fast': run(fast), 'eager': eager(run(fast)),
           'grouped-conv': run(ref)}
    times = measure(fns, rounds)
    row = dict(times)
    if mode == 'fwd+bwd':
        params = {p.data_ptr() for m in (fast, ref) for p in m.parameters()}
        row['saved_fast'] = saved_bytes(lambda: fast(xg), params)
        row['saved_ref'] = saved_bytes(lambda: ref(xg), params)
    return row


def main():
    args = parse_args()
    all_threads = torch.get_num_threads()
    kernels = ('fused CPU kernels' if poca_cpu.available() else
               f'PyTorch ops (kernels unavailable: {poca_cpu._state["error"]})')
    print(f'torch {torch.__version__}, {all_threads} threads available; '
          f'M={NUM_CLASSES}; dropout={args.dropout}; median of '
          f'{args.rounds} interleaved rounds; fast = {kernels}')
    header = (f'{"shape":<17}{"batch":>6}{"thr":>4} {"mode":<8}'
              f'{"gemm ms":>9}{"fast/gemm":>10}{"eager/gemm":>11}'
              f'{"conv/gemm":>10}{"conv/fast":>10}{"saved fast/conv":>17}')
    print(header)
    print('-' * len(header))
    for threads in args.threads:
        torch.set_num_threads(threads)
        for mode in args.modes:
            for name in args.shapes:
                for batch in args.batches:
                    row = bench_shape(name, batch, mode, args.rounds,
                                      args.dropout)
                    saved = ''
                    if 'saved_fast' in row:
                        saved = (f' {row["saved_fast"] / row["saved_ref"]:.3f}'
                                 f' ({row["saved_fast"] / 2**20:.1f}/'
                                 f'{row["saved_ref"] / 2**20:.1f} MiB)')
                    print(f'{name:<17}{batch:>6}{threads:>4} {mode:<8}'
                          f'{row["gemm"] * 1e3:>9.2f}'
                          f'{row["fast"] / row["gemm"]:>10.2f}'
                          f'{row["eager"] / row["gemm"]:>11.2f}'
                          f'{row["grouped-conv"] / row["gemm"]:>10.2f}'
                          f'{row["grouped-conv"] / row["fast"]:>10.2f}'
                          f'{saved:>17}', flush=True)
    torch.set_num_threads(all_threads)


if __name__ == '__main__':
    main()
