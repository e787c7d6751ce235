"""benchmark_head.py runs and reports what it promises (no timing asserted)."""
import torch
from tool_loader import load_tool

bench = load_tool('tools/analysis_tools/benchmark_head.py')


def test_saved_bytes_counts_distinct_storages_without_parameters():
    weight = torch.nn.Parameter(torch.randn(8, 4))
    x = torch.randn(3, 4, requires_grad=True)

    def fn():
        y = x @ weight.t()      # saves x (weight is excluded)
        return (y * y).sum()    # saves y twice: one storage

    assert bench.saved_bytes(fn, {weight.data_ptr()}) == (3 * 4 + 3 * 8) * 4


def test_one_small_run_prints_every_column(run_main):
    out = run_main(bench, '--shapes', 'deit-tiny', '--batches', '1',
                   '--threads', '1', '--rounds', '1')
    assert 'fast = fused CPU kernels' in out
    for column in ('fast/gemm', 'eager/gemm', 'conv/gemm', 'conv/fast',
                   'saved fast/conv'):
        assert column in out
    rows = [line.split() for line in out.splitlines()
            if line.startswith('deit-tiny')]
    assert [(r[1], r[2], r[3]) for r in rows] == [('1', '1', 'fwd'),
                                                  ('1', '1', 'fwd+bwd')]
    # The fast path keeps its input only: 196*192 floats vs the reference's
    # attention and value tensors (2*4*1000*196) and its block inputs.
    saved_ratio = float(rows[1][9])
    assert 0 < saved_ratio < 0.05


def test_compile_column_times_a_compiled_head_that_runs_the_kernels(
        run_main):
    # aot_eager: Dynamo and AOTAutograd as with inductor, without codegen.
    out = run_main(bench, '--shapes', 'deit-tiny', '--batches', '2',
                   '--threads', '1', '--rounds', '1', '--compile',
                   '--backend', 'aot_eager')
    assert "backend='aot_eager', fullgraph=True" in out
    for column in ('comp/fast', 'compile s', 'comp |d|', 'kernel calls'):
        assert column in out
    rows = [line.split() for line in out.splitlines()
            if line.startswith('deit-tiny')]
    assert [r[3] for r in rows] == ['fwd', 'fwd+bwd']
    # fwd: one forward kernel call, fwd+bwd: forward and backward; the
    # compiled head agrees with the eager one.
    assert [int(r[-1]) for r in rows] == [1, 2]
    assert all(float(r[-2]) <= 1e-4 for r in rows)
