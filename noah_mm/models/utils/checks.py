# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Argument checks shared by noah_mm's components.

Each check returns the value it accepted, so it can stand on the right of an
assignment in ``__init__``, and raises an error that names the parameter and
says what is expected. Types are checked strictly: ``True`` is not an int,
and a string such as ``'False'`` is not a boolean (``bool('False')`` is
``True``, so a quoted boolean in a config would silently turn a switch on).
"""
import inspect
from typing import Any, Dict, Iterable, Optional, Sequence


def check_int(name: str, value: Any, minimum: int) -> int:
    """An ``int`` (not a ``bool``) that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int >= {minimum}, got {value!r} '
                        f'({type(value).__name__}).')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}.')
    return value


def check_float(name: str,
                value: Any,
                low: float,
                high: float,
                include_low: bool = True,
                include_high: bool = False) -> float:
    """A number (``int`` or ``float``, not a ``bool``) in an interval.

    Args:
        name (str): The parameter's name, for the error message.
        value: The value to check.
        low, high (float): The interval's bounds.
        include_low, include_high (bool): Whether each bound belongs to the
            interval. Defaults to ``[low, high)``.
    """
    interval = (f"{'[' if include_low else '('}{low}, {high}"
                f"{']' if include_high else ')'}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number in {interval}, got '
                        f'{value!r} ({type(value).__name__}).')
    above = value >= low if include_low else value > low
    below = value <= high if include_high else value < high
    if not (above and below):
        raise ValueError(f'{name} must be in {interval}, got {value}.')
    return value


def check_choice(name: str, value: Any, choices: Sequence) -> Any:
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got '
                         f'{value!r}.')
    return value


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False``, nothing that merely converts to one."""
    if not isinstance(value, bool):
        raise TypeError(
            f'{name} must be True or False, got {value!r} '
            f'({type(value).__name__}); write {name}=True or {name}=False '
            'without quotes.')
    return value


def bool_parameters(target: type) -> Iterable[str]:
    """The ``__init__`` parameters of ``target`` and its parent classes whose
    default is a ``bool``; a parent counts only while every ``__init__``
    below it passes ``**kwargs`` on."""
    names = set()
    for cls in target.__mro__:
        init = cls.__dict__.get('__init__')
        if init is None or cls is object:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params if isinstance(p.default, bool))
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return sorted(names)


def check_bool_kwargs(target: type, kwargs: Dict[str, Any]) -> None:
    """Check the keyword arguments a component forwards to ``target``
    (e.g. an mmdet class it extends): those that ``target`` declares with a
    boolean default must be booleans (see :func:`check_bool`)."""
    for name in bool_parameters(target):
        if name in kwargs:
            check_bool(name, kwargs[name])


def init_parameters(target: type, exclude: Sequence[str] = ()) -> list:
    """The keyword parameters of ``target.__init__`` not in ``exclude``."""
    return [
        p for p in inspect.signature(target.__init__).parameters
        if p != 'self' and p not in exclude
    ]


def check_pass_through(name: str,
                       value: Optional[dict],
                       target: type,
                       owner: str,
                       owned: Sequence[str] = ()) -> dict:
    """A dict of further keyword arguments that ``owner`` passes to
    ``target`` (e.g. ``poca_cfg`` of the NOAH heads, passed to ``POCA``).

    Args:
        name (str): The dict's parameter name, e.g. ``'poca_cfg'``.
        value (dict, optional): The dict; None means no further arguments.
        target (type): The class that receives the arguments; every key must
            be one of its ``__init__`` parameters.
        owner (str): The component that takes the dict, for the messages.
        owned (Sequence[str]): ``target``'s parameters that ``owner`` sets
            itself (explicit arguments or values it derives); the dict must
            not set them.

    Returns:
        dict: A copy of ``value`` (an empty dict for None).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f'{name} must be a dict of {target.__name__} '
                        f'arguments or None, got {type(value).__name__}.')
    accepted = init_parameters(target, exclude=owned)
    for key in value:
        if key in owned:
            raise ValueError(
                f'{name} must not set {key!r}: {owner} sets '
                f'{", ".join(owned)} from its own arguments; give {key} to '
                f'{owner} directly.')
        if key not in accepted:
            raise TypeError(f'{name} got an unknown {target.__name__} '
                            f'argument {key!r}; it accepts {accepted}.')
    return dict(value)
