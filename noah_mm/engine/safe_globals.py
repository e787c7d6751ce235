# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Allow-list what mmengine checkpoints hold for torch's safe loader.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it only
unpickles tensors, containers and primitive types, plus the globals that were
explicitly allow-listed with :func:`torch.serialization.add_safe_globals`.
An mmengine checkpoint also holds the message hub (``HistoryBuffer`` objects
with NumPy arrays inside) and, in ``meta``, NumPy scalars and arrays, so
``runner.resume`` fails with ``UnpicklingError`` on the safe loader.

The fix here keeps the safe loader on and allow-lists exactly those classes.
One more name needs care: ``HistoryBuffer.__getstate__`` stores its
statistics methods, which pickle as ``builtins.getattr(HistoryBuffer, 'min')``.
Allowing ``builtins.getattr`` itself would let a crafted file reach any
attribute of any allowed object (a classic way out of a restricted
unpickler), so the name ``builtins.getattr`` is mapped, for the safe loader
only, to :func:`history_buffer_getattr`, which returns HistoryBuffer's
statistics methods and refuses everything else. Nothing here switches
``weights_only`` off.
"""
from pickle import UnpicklingError
from typing import List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals() -> List[object]:
    """NumPy globals needed to rebuild arrays, dtypes and scalars."""
    # numpy 2.x pickles arrays through ``numpy._core.multiarray``; numpy 1.x
    # through ``numpy.core.multiarray``. Take whichever this numpy uses.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore
    found = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # The dtype classes (``numpy.dtypes.Float64DType`` ...) are pickled by
    # reference since numpy 1.25.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            obj = getattr(dtypes, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                found.append(obj)
    return found


def history_buffer_getattr(obj: object, name: str) -> object:
    """``getattr`` restricted to HistoryBuffer's statistics methods.

    Stands in for ``builtins.getattr`` inside torch's weights-only unpickler
    (see the module docstring).

    Args:
        obj: Must be the ``HistoryBuffer`` class.
        name (str): A statistics method name (``min``, ``max``, ``current``,
            ``mean`` or one registered with
            ``HistoryBuffer.register_statistics``).

    Returns:
        The unbound method ``HistoryBuffer.<name>``.
    """
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed \
            and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise UnpicklingError(
        'Safe checkpoint loading refused getattr('
        f'{getattr(obj, "__name__", type(obj).__name__)}, {name!r}): only '
        'HistoryBuffer statistics methods may be looked up this way.')


def mmengine_checkpoint_safe_globals() -> List[object]:
    """The globals an mmengine checkpoint may hold besides tensors.

    Returns:
        list: ``HistoryBuffer``, the NumPy classes/functions needed to
        rebuild the arrays and scalars it and ``meta`` contain, and
        ``(history_buffer_getattr, 'builtins.getattr')``.
    """
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')
            ] + _numpy_globals()


def allow_mmengine_checkpoint_globals() -> None:
    """Register :func:`mmengine_checkpoint_safe_globals` with torch.

    Idempotent. A no-op on torch builds without
    ``torch.serialization.add_safe_globals`` (torch < 2.4), which do not
    default to the safe loader either.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return
    known = torch.serialization.get_safe_globals()
    new = [g for g in mmengine_checkpoint_safe_globals() if g not in known]
    if new:
        add(new)


allow_mmengine_checkpoint_globals()
