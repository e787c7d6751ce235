# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The model zoo's names in mmpretrain's model hub.

``import noah_mm`` calls :func:`register_model_index`, which adds every model
of ``model-index.yml`` (``configs/noah/metafile.yml``: the NOAH models, their
baselines and the ablations) to :class:`mmpretrain.apis.ModelHub`, so that
mmpretrain's name-based API works for them::

    import noah_mm  # noqa: F401
    from mmpretrain import get_model, inference_model, list_models
    list_models('*noah*')                    # the NOAH zoo
    model = get_model('resnet18_noah_in1k')  # pretrained=PATH loads weights

The repository ships configs, not checkpoints, so ``pretrained=True`` has
nothing to download; pass a checkpoint path instead.

The model index and the configs are looked up in the package's ``.mim``
folder (an installed wheel, or an editable install whose ``setup.py`` linked
them) and otherwise in the source checkout that holds the package.
"""
import os.path as osp
from typing import List

PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
MODEL_INDEX = 'model-index.yml'

_registered: List[str] = []


def mim_root() -> str:
    """The folder holding ``model-index.yml``, ``configs/`` and ``tools/``.

    Returns:
        str: ``noah_mm/.mim`` when it holds the model index (an installed
        package), else the checkout that contains ``noah_mm/``.

    Raises:
        FileNotFoundError: Neither place has ``model-index.yml``.
    """
    candidates = (osp.join(PACKAGE_DIR, '.mim'), osp.dirname(PACKAGE_DIR))
    for root in candidates:
        if osp.isfile(osp.join(root, MODEL_INDEX)) and osp.isdir(
                osp.join(root, 'configs')):
            return root
    raise FileNotFoundError(
        f'noah_mm cannot find its {MODEL_INDEX} and configs/ in '
        f'{candidates[0]} (installed package) or {candidates[1]} (source '
        'checkout); reinstall noah_mm from its repository (pip install .).')


def register_model_index() -> List[str]:
    """Register the zoo in mmpretrain's ``ModelHub`` (once per process).

    Config paths of the model index are resolved against :func:`mim_root`.
    Calling it again does nothing.

    Returns:
        list[str]: The registered model names (lower case, as ``ModelHub``
        stores them).
    """
    if _registered:
        return list(_registered)
    from mmpretrain.apis import ModelHub
    root = mim_root()
    before = set(ModelHub._models_dict)
    ModelHub.register_model_index(
        osp.join(root, MODEL_INDEX), config_prefix=root)
    _registered.extend(sorted(set(ModelHub._models_dict) - before))
    return list(_registered)
