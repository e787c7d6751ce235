# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The families of the NOAH authors' released networks, one converter each.

A family knows the authors' module names for one kind of network (ResNet,
MobileNetV2, DeiT, ...), recognises a state dict of that kind, tells which of
our configs builds the same network, and maps the names (and, where the channel
order differs, the channels) onto that config's model.

Families register themselves with :func:`register_family`; the checkpoint
readers and the command-line converter look them up with
:func:`match_family`.
"""
from typing import Dict, List, NamedTuple, Type

import torch

StateDict = Dict[str, torch.Tensor]


class Conversion(NamedTuple):
    """The result of converting one released state dict.

    Args:
        config (str): Our config that builds the released network, relative to
            the repository's ``configs/`` folder, e.g.
            ``'noah/resnet50_noah_in1k.py'`` or ``'baseline/resnet50_in1k.py'``.
        state_dict (dict): The state dict for that config's model (keys as
            ``model.state_dict()`` names them, ``backbone.`` / ``head.``).
        info (dict): What was recognised, for the report: at least ``family``
            and ``head`` (``'noah'`` or ``'baseline'``), plus any shape facts.
    """
    config: str
    state_dict: StateDict
    info: dict


class Family:
    """One family of the authors' networks.

    Subclasses set :attr:`name` and implement :meth:`matches` and
    :meth:`convert`.
    """

    #: Short name used in reports and errors, e.g. ``'resnet'``.
    name: str = ''

    def matches(self, state: StateDict) -> bool:
        """Whether ``state`` (``module.`` prefix already removed) is a network
        of this family, NOAH or baseline."""
        raise NotImplementedError

    def convert(self, state: StateDict) -> Conversion:
        """Map ``state`` onto the config that builds the same network.

        Raises:
            ValueError: if the state dict is of this family but no config of
                ours builds it (the message names what was found).
        """
        raise NotImplementedError


_FAMILIES: List[Family] = []


def register_family(cls: Type[Family]) -> Type[Family]:
    """Class decorator: add one instance of ``cls`` to the known families."""
    if not cls.name:
        raise ValueError(f'{cls.__name__} must set a name.')
    if any(f.name == cls.name for f in _FAMILIES):
        raise ValueError(f'a family named {cls.name!r} is already registered.')
    _FAMILIES.append(cls())
    return cls


def families() -> List[Family]:
    """The registered families, in registration order."""
    return list(_FAMILIES)


def match_family(state: StateDict, source: str = 'the state dict') -> Family:
    """The one family that recognises ``state``.

    Args:
        state (dict): An authors' state dict, ``module.`` prefix removed.
        source (str): What to call it in errors (usually the file name).

    Raises:
        ValueError: if no family, or more than one, recognises it.
    """
    found = [f for f in _FAMILIES if f.matches(state)]
    if len(found) == 1:
        return found[0]
    sample = ', '.join(sorted(state)[:6])
    if not found:
        raise ValueError(
            f'{source}: not a network of the NOAH release (known families: '
            f'{", ".join(f.name for f in _FAMILIES)}); first keys: {sample}')
    raise ValueError(
        f'{source}: ambiguous, recognised by {[f.name for f in found]}; '
        f'first keys: {sample}')
