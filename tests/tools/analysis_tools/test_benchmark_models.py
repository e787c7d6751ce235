"""benchmark_models.py --compile runs and reports what it promises (no timing
asserted)."""
from tool_loader import load_tool

bench = load_tool('tools/analysis_tools/benchmark_models.py')


def test_compile_table_compares_a_compiled_zoo_model(run_main):
    # The 'eager' backend: Dynamo's capture without codegen, to keep it short.
    out = run_main(bench, '--compile', '--backend', 'eager', '--slugs',
                   'mobilenetv3-small', 'no-such-model', '--rounds', '1')
    assert "torch.compile backend 'eager'" in out
    for column in ('compile s', 'eager ms', 'compiled ms', 'compiled/eager',
                   'max |d|'):
        assert column in out
    (row, ) = [line.split() for line in out.splitlines()
               if line.startswith('mobilenetv3-small')]
    assert float(row[1]) > 0 and float(row[-1]) <= 1e-4
    assert 'no-such-model' in out and '(config missing)' in out
