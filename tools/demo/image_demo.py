# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Classify one image with a NOAH model and print the top-k classes.

Uses mmpretrain's :class:`ImageClassificationInferencer` (the config's test
pipeline and data preprocessor), so any config of this repository works.

Example::

    python tools/demo/image_demo.py demo/digit.png \
        configs/demo/resnet18_noah_digits.py work_dirs/epoch_5.pth
"""
import argparse
from typing import List, Optional, Tuple

import numpy as np


def top_k(img: str, config: str, checkpoint: Optional[str], k: int = 5,
          device: str = 'cpu') -> List[Tuple[int, Optional[str], float]]:
    """The ``k`` most likely classes as ``(index, name, probability)``.

    ``name`` comes from the checkpoint's ``meta.dataset_meta.classes`` or the
    config's dataset, and is None when neither names the classes.
    """
    from mmpretrain.apis import ImageClassificationInferencer

    from noah_mm.engine import verify_checkpoint
    if k < 1:
        raise ValueError(f'topk must be >= 1, got {k}.')
    if checkpoint:
        # a damaged or foreign file: CorruptedCheckpointError naming it
        verify_checkpoint(checkpoint)
    inferencer = ImageClassificationInferencer(
        model=config, pretrained=checkpoint or False, device=device)
    result = inferencer(img)[0]
    scores = np.asarray(result['pred_scores'])
    classes = inferencer.classes
    order = np.argsort(-scores, kind='stable')[:k]
    return [(int(i), classes[i] if classes is not None else None,
             float(scores[i])) for i in order]


def parse_args():
    parser = argparse.ArgumentParser(
        description='Print the top-k classes of an image for a NOAH model.')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--topk', type=int, default=5,
                        help='how many classes to print (default 5)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    return parser.parse_args()


def main():
    args = parse_args()
    ranked = top_k(args.img, args.config, args.checkpoint, args.topk,
                   args.device)
    # mmpretrain's progress bar may leave the cursor mid-line (no terminal).
    print(f'\ntop-{args.topk} classes of {args.img}:')
    for rank, (index, name, score) in enumerate(ranked, 1):
        label = f'{index} ({name})' if name is not None else str(index)
        print(f'{rank}. {label}: {score:.4f}')


if __name__ == '__main__':
    main()
