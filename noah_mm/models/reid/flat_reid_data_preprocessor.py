# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""ReID data preprocessing for batches of many samples."""
import torch
from mmdet.models.data_preprocessors import ReIDDataPreprocessor

from noah_mm.models.utils.checks import check_bool_kwargs
from noah_mm.registry import DET_MODELS


@DET_MODELS.register_module()
class FlatReIDDataPreprocessor(ReIDDataPreprocessor):
    """:class:`mmdet.models.data_preprocessors.ReIDDataPreprocessor` for
    dataloader batches of any size.

    mmdet's ``PackReIDInputs`` packs every sample as an image group
    ``(N, C, H, W)`` (``N = 1`` for a single image, more with the data set's
    triplet sampler). The parent stacks the groups to ``(B, N, C, H, W)``,
    which ``BaseReID`` only accepts for ``B = 1``, and skips the BGR -> RGB
    conversion, which it applies to 3-D images only. This class unpacks the
    groups first, so the model receives the ``(sum N, C, H, W)`` images in
    RGB, in the order of the samples' concatenated labels; everything else
    (normalisation, padding, labels, batch augmentations) is the parent's.

    Args:
        **kwargs: :class:`ReIDDataPreprocessor` arguments (``mean``,
            ``std``, ``to_rgb``, ``pad_size_divisor``, ...).
    """

    def __init__(self, **kwargs):
        check_bool_kwargs(ReIDDataPreprocessor, kwargs)
        super().__init__(**kwargs)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Unpack the image groups, then preprocess as the parent does.

        Args:
            data (dict): A batch from the dataloader: ``inputs`` (a list of
                ``(N, C, H, W)`` or ``(C, H, W)`` tensors, or one stacked
                tensor) and ``data_samples``.
            training (bool): Whether batch augmentations apply.

        Returns:
            dict: ``inputs`` ``(sum N, C, H, W)`` and ``data_samples``.
        """
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            # (B, C, H, W) images or one group: the same list of images
            inputs = [inputs]
        images = []
        for group in inputs:
            if group.dim() == 3:
                images.append(group)
            elif group.dim() == 4:
                images.extend(group.unbind(0))
            else:
                raise ValueError(
                    f'ReID inputs must be (C, H, W) images or (N, C, H, W) '
                    f'groups (PackReIDInputs), got shape '
                    f'{tuple(group.shape)}.')
        return super().forward(dict(data, inputs=images), training)
