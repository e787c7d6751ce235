# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Draw NOAH's per-block attention, value and POCA maps over an image.

For one class (the predicted one unless ``--class-id`` is given) the figure
shows, over the image as the model sees it (after the test pipeline):

- top row: the image, then each block's attention map ``A_i``;
- bottom row: the summed POCA map ``P = sum_i A_i * V_i`` (with the default
  ``aggregation='sum'``, its sum over the positions is the class logit), then
  each block's value map ``V_i``.

The tensors come from the model itself: a forward hook on ``head.poca``
captures the feature map the POCA blocks read, and
:meth:`noah_mm.models.utils.POCA.block_tensors` gives ``A``, ``V`` and ``P``
(no copy of the head's maths here).

Example::

    python tools/visualization/vis_poca.py demo/digit.png \
        configs/demo/resnet18_noah_digits.py work_dirs/epoch_5.pth \
        --out poca.png
"""
import argparse
from typing import Dict, Optional

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def find_poca(model):
    """The :class:`POCA` module of a classifier with a NOAH head."""
    head = getattr(model, 'head', None)
    poca = getattr(head, 'poca', None)
    if poca is None or not hasattr(poca, 'block_tensors'):
        raise ValueError(
            f'the model has no NOAH head (model.head.poca); its head is '
            f'{type(head).__name__}: use a config with type=\'NOAHHead\'.')
    return poca


@torch.no_grad()
def collect_poca(model, image, class_id: Optional[int] = None,
                 inferencer=None) -> Dict:
    """Run ``model`` on ``image`` and return the POCA tensors of one class.

    Args:
        model (BaseModel): An mmpretrain classifier with a NOAH head, built by
            :func:`mmpretrain.apis.get_model` (it carries its config).
        image (str | np.ndarray): Image path or BGR array.
        class_id (int, optional): Class to show. Defaults to the prediction.
        inferencer (ImageClassificationInferencer, optional): Reused for its
            test pipeline; built from ``model`` when None.

    Returns:
        dict: ``image`` (H, W, 3) uint8 RGB as fed to the network,
        ``attention`` and ``value`` (N, h, w), ``poca`` (h, w) = sum over the
        blocks, ``class_id``, ``score`` (softmax probability), ``logit`` and
        ``class_name`` (or None).
    """
    from mmpretrain.apis import ImageClassificationInferencer
    poca = find_poca(model)
    if inferencer is None:
        inferencer = ImageClassificationInferencer(model)
    data = next(iter(inferencer.preprocess([image], batch_size=1)))
    raw = data['inputs'][0]
    data = model.data_preprocessor(data, False)

    captured = []
    handle = poca.register_forward_hook(
        lambda module, args, output: captured.append(args[0]))
    try:
        logits = model(data['inputs'], mode='tensor')
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError('the NOAH head did not run (no POCA input seen).')
    num_classes = logits.shape[1]
    if class_id is None:
        class_id = int(logits[0].argmax())
    elif not 0 <= class_id < num_classes:
        raise ValueError(f'class_id must be in [0, {num_classes}), got '
                         f'{class_id}.')

    tensors = poca.block_tensors(captured[0])
    attention = tensors['attention'][0]  # (N, M or 1, h, w)
    att_index = class_id if attention.shape[1] > 1 else 0
    classes = getattr(model, '_dataset_meta', {}).get('classes')
    img = raw.permute(1, 2, 0).cpu().numpy()
    if img.shape[-1] == 3:
        img = img[..., ::-1]  # mmcv reads BGR
    elif img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return dict(
        image=np.ascontiguousarray(img).astype(np.uint8),
        attention=attention[:, att_index].float().cpu(),
        value=tensors['value'][0, :, class_id].float().cpu(),
        poca=tensors['poca'][0, :, class_id].sum(0).float().cpu(),
        class_id=class_id,
        logit=float(logits[0, class_id]),
        score=float(logits[0].softmax(-1)[class_id]),
        class_name=(classes[class_id]
                    if classes is not None and class_id < len(classes) else
                    None))


def _overlay(ax, img, fmap, cmap, symmetric, title, interpolation):
    H, W = img.shape[:2]
    ax.imshow(img, extent=(0, W, H, 0))
    fmap = fmap.numpy()
    if symmetric:
        vmax = float(np.abs(fmap).max()) or 1.0
        vmin = -vmax
    else:
        vmin, vmax = float(fmap.min()), float(fmap.max())
    ax.imshow(fmap, cmap=cmap, alpha=0.55, vmin=vmin, vmax=vmax,
              extent=(0, W, H, 0), interpolation=interpolation)
    ax.set_title(f'{title}\n[{fmap.min():.3g}, {fmap.max():.3g}]',
                 fontsize=8)
    ax.axis('off')


def draw_poca(result: Dict, panel_size: float = 2.0,
              interpolation: str = 'bilinear') -> Figure:
    """A 2 x (N+1) grid: image and ``A_i`` on top, ``P`` and ``V_i`` below.

    ``interpolation`` (matplotlib's, e.g. ``'bilinear'`` or ``'nearest'``)
    is how the ``h x w`` maps are stretched over the image; ``'nearest'``
    shows the cells of a small map as they are.
    """
    N = result['attention'].shape[0]
    fig = Figure(figsize=(panel_size * (N + 1), panel_size * 2 + 0.8),
                 layout='constrained')
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, N + 1, squeeze=False)
    img = result['image']
    name = result['class_name']
    label = f"class {result['class_id']}" + (f' ({name})' if name else '')
    fig.suptitle(f"{label}: logit {result['logit']:.3g}, "
                 f"p={result['score']:.3f}", fontsize=10)
    axes[0, 0].imshow(img)
    axes[0, 0].set_title('input', fontsize=8)
    axes[0, 0].axis('off')
    _overlay(axes[1, 0], img, result['poca'], 'coolwarm', True,
             'P = sum_i A_i*V_i', interpolation)
    for i in range(N):
        _overlay(axes[0, i + 1], img, result['attention'][i], 'jet', False,
                 f'A_{i + 1}', interpolation)
        _overlay(axes[1, i + 1], img, result['value'][i], 'coolwarm', True,
                 f'V_{i + 1}', interpolation)
    return fig


def visualize(img: str, config: str, checkpoint: Optional[str], out: str,
              class_id: Optional[int] = None, device: str = 'cpu',
              seed: int = 0, interpolation: str = 'bilinear'):
    """Build the model, draw the POCA figure and save it to ``out``.

    ``checkpoint`` None (or ``'none'``) keeps the random initialisation drawn
    with ``seed``.

    Returns:
        tuple: The matplotlib ``Figure`` and the dict of :func:`collect_poca`.
    """
    from mmpretrain.apis import get_model
    if checkpoint is not None and checkpoint.lower() == 'none':
        checkpoint = None
    torch.manual_seed(seed)
    model = get_model(config, pretrained=checkpoint or False, device=device)
    result = collect_poca(model, img, class_id)
    fig = draw_poca(result, interpolation=interpolation)
    fig.savefig(out, dpi=100)
    return fig, result


def parse_args():
    parser = argparse.ArgumentParser(
        description="Draw NOAH's per-block attention A_i, value V_i and the "
        'summed POCA map over an image (paper Fig. 2).')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint',
        help="checkpoint file, or 'none' for random weights (see --seed)")
    parser.add_argument('--out', required=True, help='output PNG file')
    parser.add_argument('--class-id', type=int, default=None,
                        help='class to show (default: the predicted class)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--interpolation', default='bilinear',
                        choices=['bilinear', 'nearest', 'bicubic'],
                        help='how the maps are stretched over the image '
                        "(default bilinear; 'nearest' shows the cells)")
    parser.add_argument('--seed', type=int, default=0,
                        help="seed of the random weights with checkpoint "
                        "'none' (default 0)")
    return parser.parse_args()


def main():
    args = parse_args()
    _, result = visualize(args.img, args.config, args.checkpoint, args.out,
                          args.class_id, args.device, args.seed,
                          args.interpolation)
    name = f" ({result['class_name']})" if result['class_name'] else ''
    print(f"class {result['class_id']}{name}, p={result['score']:.4f}: "
          f'{result["attention"].shape[0]} blocks -> {args.out}')


if __name__ == '__main__':
    main()
