# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Model-zoo table from ``configs/noah/metafile.yml`` (and the MAdds counter).

The metafile holds the NOAH paper's figures (Params, MAdds, Top-1, Top-5) for
every config of the zoo. This tool renders them as the README's Markdown
table and, with ``--count``, builds every model and puts the Params and MAdds
counted here next to the paper's.

MAdds are counted with mmengine's complexity analysis
(:class:`mmengine.analysis.FlopAnalyzer`, the engine of
``get_model_complexity_info``) restricted to multiply-accumulate operators:
convolutions, linear layers and matrix products (``_convolution``,
``linear``, ``addmm``, ``mm``, ``bmm``, ``matmul``, ``einsum``), plus
``scaled_dot_product_attention`` (``Q K^T`` and ``A V``), which mmengine does
not count by default. Normalisation layers, pooling, activations, softmax and
element-wise products are not counted - the convention of the paper's
figures (e.g. MobileNetV2 1.0x: 299.5M in convolutions + 1.3M in the
classifier = the paper's 300.8M). NOAH heads are counted through POCA's
reference path (grouped 1x1 convolutions: ``H*W*M*C`` MAdds); the fused path
is an opaque autograd function to the tracer.

Example::

    python tools/analysis_tools/complexity_table.py                 # print it
    python tools/analysis_tools/complexity_table.py --count resnet  # check a family
    python tools/analysis_tools/complexity_table.py \
        --update configs/noah/README.md   # rewrite the table between the
                                          # ZOO_TABLE_BEGIN/END markers
"""
import argparse
import contextlib
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
import yaml

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METAFILE = osp.join(REPO, 'configs', 'noah', 'metafile.yml')

#: mmengine operator handles kept by :func:`count_madds`.
MAC_OPS = ('aten::_convolution', 'aten::linear', 'aten::addmm', 'aten::mm',
           'aten::bmm', 'aten::matmul', 'aten::einsum')


def load_metafile(path: str = METAFILE) -> List[dict]:
    """The ``Models`` of an OpenMMLab metafile."""
    with open(path) as f:
        meta = yaml.safe_load(f)
    if not isinstance(meta, dict) or 'Models' not in meta:
        raise ValueError(f'{path} is not a model-index metafile: it has no '
                         '"Models" list.')
    return meta['Models']


def _sdpa_madds(inputs, outputs) -> int:
    """MAdds of ``scaled_dot_product_attention``: ``Q K^T`` and ``A V``."""
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    length, dim = q[-2], q[-1]
    return batch * length * k[-2] * (dim + v[-1])


@contextlib.contextmanager
def _reference_poca(model):
    """Run POCA through its traceable reference path inside the block."""
    from noah_mm.models.utils.poca import POCA
    saved = []
    for module in model.modules():
        if isinstance(module, POCA) and hasattr(module, 'impl'):
            saved.append((module, module.impl))
            module.impl = 'reference'
    try:
        yield
    finally:
        for module, impl in saved:
            module.impl = impl


def count_madds(module, inputs: Tuple) -> Tuple[int, Dict[str, int]]:
    """MAdds of ``module(*inputs)`` (see the module docstring).

    Returns:
        tuple: the total and a ``{operator: MAdds}`` dict.
    """
    from mmengine.analysis import FlopAnalyzer
    from mmengine.analysis.complexity_analysis import \
        _DEFAULT_SUPPORTED_FLOP_OPS
    with _reference_poca(module), torch.no_grad():
        analyzer = FlopAnalyzer(module, inputs)
        analyzer.clear_op_handles()
        analyzer.set_op_handle(
            **{op: _DEFAULT_SUPPORTED_FLOP_OPS[op]
               for op in MAC_OPS},
            **{'aten::scaled_dot_product_attention': _sdpa_madds})
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        total = analyzer.total()
        by_op = dict(analyzer.by_operator())
    return total, by_op


class TensorMode(torch.nn.Module):
    """``model(x, mode='tensor')`` as a module for the tracer.

    Args:
        model (nn.Module): An mmpretrain classifier.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


def count_config(config: str, img_size: int = 224) -> Tuple[int, int]:
    """Build a config's model and count its Params and MAdds."""
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    import mmpretrain.models  # noqa: F401  (registers the models)
    model = MODELS.build(cfg.model).eval()
    params = sum(p.numel() for p in model.parameters())
    madds, _ = count_madds(
        TensorMode(model), (torch.zeros(1, 3, img_size, img_size), ))
    return params, madds


def fmt_params(value: float) -> str:
    """``25557032 -> '25.56M'``."""
    return f'{value / 1e6:.2f}M'


def fmt_madds(value: float) -> str:
    """The paper's style: ``300.8M`` below 1G, ``3.86G`` above."""
    if value < 1e9:
        return f'{value / 1e6:.1f}M'
    return f'{value / 1e9:.2f}G'


def _metrics(model: dict) -> dict:
    return model['Results'][0]['Metrics']


#: Markers around the generated table in a Markdown file (``--update``).
TABLE_BEGIN = '<!-- ZOO_TABLE_BEGIN -->'
TABLE_END = '<!-- ZOO_TABLE_END -->'


def render_table(models: List[dict],
                 counted: Optional[Dict[str, Tuple[int, int]]] = None,
                 link_prefix: str = '') -> str:
    """Markdown table of the metafile's models (one row per config).

    Args:
        models (list[dict]): The metafile's ``Models``.
        counted (dict, optional): ``{name: (params, madds)}`` counted here;
            adds two columns.
        link_prefix (str): Put before the config paths in the links (the
            path from the Markdown file to the repository root, e.g.
            ``'../../'``). Defaults to ``''``.
    """
    header = ['Model', 'Head', 'Params', 'MAdds', 'Top-1 (%)', 'Top-5 (%)']
    if counted is not None:
        header += ['Params (counted)', 'MAdds (counted)']
    header += ['Config']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    notes = []  # one footnote per distinct reason
    for model in models:
        meta = model['Metadata']
        metrics = _metrics(model)
        params = fmt_params(meta['Parameters'])
        madds = fmt_madds(meta['FLOPs'])
        deviation = model.get('Deviation') or {}
        if deviation:
            reason = ' '.join(deviation['Reason'].split())
            if reason not in notes:
                notes.append(reason)
            mark = f' [{notes.index(reason) + 1}]'
            if 'Parameters' in deviation:
                params += mark
            if 'FLOPs' in deviation:
                madds += mark
        row = [
            model['Name'], model.get('Head', ''), params, madds,
            f"{metrics['Top 1 Accuracy']:.2f}",
            f"{metrics['Top 5 Accuracy']:.2f}"
        ]
        if counted is not None:
            p, m = counted.get(model['Name'], (None, None))
            row += [fmt_params(p) if p else '', fmt_madds(m) if m else '']
        row.append(f"[config]({link_prefix}{model['Config']})")
        lines.append('| ' + ' | '.join(row) + ' |')
    for i, reason in enumerate(notes, 1):
        lines.append('')
        lines.append(f'[{i}] {reason}')
    return '\n'.join(lines)


def update_markdown(path: str, table: str) -> bool:
    """Replace the text between :data:`TABLE_BEGIN` and :data:`TABLE_END`.

    Args:
        path (str): The Markdown file.
        table (str): The new table.

    Returns:
        bool: Whether the file changed.

    Raises:
        ValueError: The file lacks one of the markers.
    """
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if text.count(TABLE_BEGIN) != 1 or text.count(TABLE_END) != 1 or \
            text.index(TABLE_BEGIN) > text.index(TABLE_END):
        raise ValueError(
            f'{path} must hold the lines {TABLE_BEGIN} and {TABLE_END} once '
            'each, in that order: the table goes between them.')
    head, rest = text.split(TABLE_BEGIN)
    tail = rest.split(TABLE_END)[1]
    new = f'{head}{TABLE_BEGIN}\n{table}\n{TABLE_END}{tail}'
    if new == text:
        return False
    with open(path, 'w', encoding='utf-8') as f:
        f.write(new)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Render the model-zoo table from the metafile.')
    parser.add_argument(
        '--metafile', default=METAFILE, help='the OpenMMLab metafile')
    parser.add_argument(
        '--count',
        nargs='?',
        const='',
        default=None,
        metavar='SUBSTRING',
        help='also build the models (whose name contains SUBSTRING, all '
        'without one) and count their Params and MAdds at 224x224')
    parser.add_argument(
        '--update',
        metavar='MARKDOWN',
        help=f'write the table into this file, between {TABLE_BEGIN} and '
        f'{TABLE_END}, instead of printing it')
    args = parser.parse_args(argv)
    models = load_metafile(args.metafile)
    counted = None
    if args.count is not None:
        models = [m for m in models if args.count in m['Name']]
        counted = {
            m['Name']: count_config(osp.join(REPO, m['Config']))
            for m in models
        }
    if args.update:
        prefix = osp.relpath(REPO, osp.dirname(osp.abspath(args.update)))
        prefix = '' if prefix == '.' else prefix + '/'
        changed = update_markdown(args.update,
                                  render_table(models, counted, prefix))
        print(f'{args.update}: ' + ('table updated' if changed else
                                    'table already up to date'))
    else:
        print(render_table(models, counted))


if __name__ == '__main__':
    main()
