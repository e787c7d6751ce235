# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Registries noah_mm registers into.

Classification modules go straight into mmpretrain's ``MODELS`` so that
``type='NOAHHead'`` works in any mmpretrain config once ``noah_mm`` is imported
(``custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)``);
detection modules go into mmdet's ``MODELS`` (``DET_MODELS`` here). noah_mm's
own scope has one registry, ``WEIGHT_INITIALIZERS`` (see
:mod:`noah_mm.models.pretrained_init`).

mmdet is optional: without it ``import noah_mm`` still works for
classification, :data:`WITH_MMDET` is False, and every detection part fails
with an ``ImportError`` that says how to install it (:func:`require_mmdet`,
:func:`register_mmdet_placeholders`).
"""
from typing import Sequence

from mmengine.registry import Registry
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
from mmpretrain.registry import MODELS

try:
    from mmdet.registry import MODELS as DET_MODELS
    WITH_MMDET = True
except ImportError:
    DET_MODELS = None
    WITH_MMDET = False

#: Weight initialisers of noah_mm's scope: an ``init_cfg`` with
#: ``_scope_='noah_mm'`` looks its ``type`` up here first (then in mmengine's).
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_INITIALIZERS,
    scope='noah_mm',
    locations=['noah_mm.models'])

#: How to get the detection parts.
MMDET_HINT = ('install mmdet (pip install "mmdet>=3.3.0,<3.4", or '
              'pip install "noah_mm[det]")')

__all__ = [
    'MODELS', 'DET_MODELS', 'WEIGHT_INITIALIZERS', 'WITH_MMDET', 'require_mmdet',
    'register_mmdet_placeholders'
]


def require_mmdet(what: str) -> None:
    """Raise a clear ``ImportError`` when mmdet is not installed.

    Args:
        what (str): The part that needs mmdet, named in the message.

    Raises:
        ImportError: mmdet cannot be imported.
    """
    if not WITH_MMDET:
        raise ImportError(f'{what} needs mmdet, which is not installed: '
                          f'{MMDET_HINT}.')


def register_mmdet_placeholders(names: Sequence[str], registry=MODELS) -> None:
    """Register stand-ins for modules that need mmdet.

    A config naming one of them (e.g. ``type='PyramidVisionTransformerCls'``
    in the PVT classification configs) then fails at build time with an
    ``ImportError`` that says to install mmdet, instead of a ``KeyError``
    saying the type is not registered.

    Args:
        names (Sequence[str]): Registered names of the real modules.
        registry (mmengine.Registry): Where the configs look them up.
            Defaults to mmpretrain's ``MODELS``.
    """
    for name in names:

        def __init__(self, *args, _name=name, **kwargs):
            require_mmdet(_name)

        registry.register_module(
            name=name, module=type(name, (), {'__init__': __init__}))
