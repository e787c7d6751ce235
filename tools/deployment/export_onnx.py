# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Export a NOAH classifier to ONNX and check it with onnxruntime.

The graph maps a *normalised* image batch ``(B, 3, H, W)`` (the output of the
config's data preprocessor: RGB if ``to_rgb``, ``(x - mean) / std``) to the
class logits ``(B, num_classes)``. The preprocessing constants and class names
are stored in the ONNX metadata (``mean``, ``std``, ``to_rgb``, ``classes``).
The batch axis is dynamic unless ``--static-batch`` is given.

``--verify`` runs the exported file with onnxruntime on random inputs (batch
sizes 1 and 2 when the batch is dynamic) and fails when the largest absolute
difference to PyTorch exceeds ``--atol`` (default 1e-4).

Example::

    python tools/deployment/export_onnx.py configs/noah/resnet18_noah_in1k.py \
        resnet18_noah.pth --out resnet18_noah.onnx --verify
"""
import argparse
import json
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn


class LogitsModel(nn.Module):
    """``model(x, mode='tensor')``: normalised images -> class logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, mode='tensor')


def _metadata(model) -> Dict[str, str]:
    meta = {}
    pre = getattr(model, 'data_preprocessor', None)
    for name in ('mean', 'std'):
        value = getattr(pre, name, None)
        if isinstance(value, torch.Tensor):
            meta[name] = json.dumps([round(float(v), 6)
                                     for v in value.flatten()])
    if isinstance(getattr(pre, 'to_rgb', None), bool):
        meta['to_rgb'] = json.dumps(pre.to_rgb)
    classes = getattr(model, '_dataset_meta', {}).get('classes')
    if classes:
        meta['classes'] = json.dumps(list(classes))
    return meta


def export(model: nn.Module, out: str, shape: Sequence[int] = (224, 224),
           opset: int = 18, dynamic_batch: bool = True,
           exporter: str = 'dynamo') -> LogitsModel:
    """Export ``model`` (an mmpretrain classifier) to ``out``.

    Args:
        model (nn.Module): The classifier (its head may be a NOAHHead).
        out (str): Output ``.onnx`` path.
        shape (Sequence[int]): Input ``(H, W)``. Defaults to ``(224, 224)``.
        opset (int): ONNX opset. Defaults to 18.
        dynamic_batch (bool): Make the batch axis dynamic. Defaults to True.
        exporter (str): ``'dynamo'`` (``torch.export``, the default) or
            ``'torchscript'`` (the legacy tracer).

    Returns:
        LogitsModel: The wrapped module that was exported (in eval mode).
    """
    if exporter not in ('dynamo', 'torchscript'):
        raise ValueError(f"exporter must be 'dynamo' or 'torchscript', got "
                         f'{exporter!r}.')
    if len(shape) != 2 or any(int(s) < 1 for s in shape):
        raise ValueError(f'shape must be (H, W) with positive sizes, got '
                         f'{tuple(shape)}.')
    # A fresh nn.Module is in training mode and the exporter restores the
    # mode it found: put the wrapper (hence the model) in eval mode first.
    wrapper = LogitsModel(model).eval()
    device = next(model.parameters()).device
    # torch.export specialises a size-1 axis: trace a batch of 2 when the
    # batch is to stay dynamic.
    example = torch.randn(2 if dynamic_batch else 1, 3, *map(int, shape),
                          device=device)
    kwargs = dict(input_names=['input'], output_names=['logits'],
                  opset_version=opset)
    if exporter == 'dynamo':
        kwargs['dynamo'] = True
        if dynamic_batch:
            kwargs['dynamic_shapes'] = {
                'x': {0: torch.export.Dim('batch', min=1, max=4096)}}
    else:
        kwargs['dynamo'] = False
        if dynamic_batch:
            kwargs['dynamic_axes'] = {'input': {0: 'batch'},
                                      'logits': {0: 'batch'}}
    with torch.no_grad():
        torch.onnx.export(wrapper, (example, ), out, **kwargs)
    wrapper.eval()

    meta = _metadata(model)
    if meta:
        import onnx
        proto = onnx.load(out)
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, out)
    return wrapper


def verify(wrapper: nn.Module, onnx_file: str, shape: Sequence[int],
           batch_sizes: Sequence[int] = (1, 2), seed: int = 0) -> float:
    """Largest ``|onnxruntime - PyTorch|`` over random inputs."""
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_file,
                                   providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    gen = torch.Generator().manual_seed(seed)
    device = next(wrapper.parameters()).device
    worst = 0.0
    for b in batch_sizes:
        x = torch.randn(b, 3, *map(int, shape), generator=gen)
        with torch.no_grad():
            ref = wrapper(x.to(device)).cpu().numpy()
        got = session.run(None, {name: x.numpy()})[0]
        if got.shape != ref.shape:
            raise RuntimeError(f'onnxruntime gave {got.shape}, PyTorch '
                               f'{ref.shape} for a batch of {b}.')
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Export a NOAH classifier to ONNX (normalised images -> '
        'logits) and optionally check it with onnxruntime.')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'), help='input size (default 224)')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--static-batch', action='store_true',
                        help='fix the batch size to 1')
    parser.add_argument('--exporter', default='dynamo',
                        choices=['dynamo', 'torchscript'])
    parser.add_argument('--verify', action='store_true',
                        help='compare onnxruntime with PyTorch')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Optional[float]:
    args = parse_args(argv)
    from mmpretrain.apis import get_model
    model = get_model(args.config, pretrained=args.checkpoint,
                      device=args.device)
    wrapper = export(model, args.out, args.shape, args.opset,
                     not args.static_batch, args.exporter)
    print(f'exported {args.out} (input 3x{args.shape[0]}x{args.shape[1]}, '
          f"{'static' if args.static_batch else 'dynamic'} batch)")
    if not args.verify:
        return None
    sizes = (1, ) if args.static_batch else (1, 2)
    diff = verify(wrapper, args.out, args.shape, sizes)
    print(f'onnxruntime vs PyTorch: max |diff| = {diff:.3g} '
          f'(batch sizes {list(sizes)}, atol {args.atol})')
    if not diff <= args.atol:
        raise SystemExit(f'ONNX output differs from PyTorch by {diff:.3g} '
                         f'> atol {args.atol}')
    return diff


if __name__ == '__main__':
    main()
