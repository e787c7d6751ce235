# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Verify local checkpoints before loading them, with a clear error on damage.

``torch.save`` writes a zip archive whose members carry CRC-32 checksums, but
``torch.load`` never checks them: flipped bytes inside a tensor load silently
and the model is quietly wrong. A truncated file, or a file that is no
checkpoint at all, fails deep inside torch (``PytorchStreamReader failed
reading zip archive``, ``IndexError: pop from empty list``, ``KeyError``)
without saying which file or what to do.

:func:`verify_checkpoint` checks a file before it is unpickled: it must be a
complete zip archive whose every member matches its CRC-32 (or a legacy,
pre-zip torch pickle, which has no checksums). The checksums are computed on a
memory map of the file (by a few threads for large files), so the check costs
one pass of ``zlib.crc32`` over the bytes and leaves them in the page cache
for the load that follows (see
``docs/en/training_behaviour.md`` for the measured overhead).

:func:`load_from_local` is registered for local paths (mmengine's
``CheckpointLoader`` scheme ``''``) when :mod:`noah_mm` is imported, so every
loader that goes through mmengine checks the file first: ``--resume``,
``load_from``, ``init_cfg=dict(type='Pretrained', ...)``, ``tools/test.py``,
the inferencers. It keeps torch's default ``weights_only=True`` loading (see
:mod:`noah_mm.engine.safe_globals`) and turns damage into a
:class:`CorruptedCheckpointError` naming the file and the fix.
"""
import mmap
import os
import os.path as osp
import pickle
import struct
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import torch
from mmengine.runner import CheckpointLoader

from . import safe_globals  # noqa: F401  (allow-list before any load)

# What torch's readers say when the bytes themselves are bad.
_DAMAGE_MARKERS = ('PytorchStreamReader', 'zip archive', 'central directory',
                   'unexpected EOF', 'invalid header', 'file read failed',
                   'Ran out of input')

# What torch's weights-only unpickler says about a global it was not allowed
# to load (an allow-list matter, not damage).
_ALLOW_LIST_MARKERS = ('Unsupported global', 'allowed global',
                       'refused getattr', 'blocked')

_ZIP_MAGIC = b'PK\x03\x04'
# torch.save(..., _use_new_zipfile_serialization=False) and torch < 1.6
# write a pickle stream; its first byte is the PROTO opcode.
_PICKLE_PROTO = b'\x80'
_LOCAL_HEADER = struct.Struct('<4sHHHHHIIIHH')
# Checksums of archives from this size on are computed by up to this many
# threads.
_THREADED_BYTES = 16 * 2**20
_CRC_THREADS = 4


class CorruptedCheckpointError(ValueError):
    """A checkpoint file exists but is truncated, damaged or no checkpoint."""


def _fix_hint() -> str:
    return ('Delete or replace it: resume from an earlier checkpoint '
            '(tools/train.py CONFIG --resume PATH/TO/epoch_N.pth, or '
            '--resume alone to pick the newest complete one) or copy or '
            'download the file again.')


def _damaged(filename: str, what: str) -> CorruptedCheckpointError:
    return CorruptedCheckpointError(
        f'Checkpoint file {filename!r} {what}. {_fix_hint()}')


def _check_members(filename: str, zf: zipfile.ZipFile, data) -> None:
    """Compare every member's CRC-32 with its bytes in ``data`` (a map).

    The checksums of large archives are computed by a few threads
    (``zlib.crc32`` releases the GIL), on views of the map (no copies).
    """
    spans = []  # (info, begin, end) of the stored members
    for info in zf.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            # torch writes (and reads) uncompressed members only
            raise _damaged(filename, f'is damaged: member {info.filename!r} '
                           'is not stored the way torch.save stores it')
        start = info.header_offset
        header = data[start:start + _LOCAL_HEADER.size]
        if len(header) < _LOCAL_HEADER.size:
            raise _damaged(filename, f'is damaged: member {info.filename!r} '
                           'lies beyond the end of the file')
        fields = _LOCAL_HEADER.unpack(header)
        name = info.orig_filename.encode(
            'utf-8' if info.flag_bits & 0x800 else 'cp437')
        name_start = start + _LOCAL_HEADER.size
        if fields[0] != _ZIP_MAGIC or data[name_start:name_start +
                                           fields[9]] != name:
            raise _damaged(filename, 'is damaged: the local header of '
                           f'member {info.filename!r} is broken')
        begin = name_start + fields[9] + fields[10]
        end = begin + info.compress_size
        if end > len(data):
            raise _damaged(filename, f'is truncated: member '
                           f'{info.filename!r} ends beyond the file')
        spans.append((info, begin, end))
    view, views = memoryview(data), []
    try:
        views = [view[begin:end] for _, begin, end in spans]
        workers = min(_CRC_THREADS, os.cpu_count() or 1)
        if workers > 1 and len(data) >= _THREADED_BYTES:
            with ThreadPoolExecutor(workers) as pool:
                crcs = list(pool.map(zlib.crc32, views))
        else:
            crcs = [zlib.crc32(v) for v in views]
    finally:
        for v in views:  # the map cannot close while views exist
            v.release()
        view.release()
    for (info, _, _), crc in zip(spans, crcs):
        if crc != info.CRC:
            raise _damaged(
                filename, f'is corrupted: the bytes of member '
                f'{info.filename!r} do not match their CRC-32 checksum '
                '(flipped bits on disk or in transfer)')


def verify_checkpoint(filename: str) -> None:
    """Check that ``filename`` is a complete, undamaged torch checkpoint.

    A zip checkpoint (what ``torch.save`` writes) must have its end record
    and every member must match its CRC-32. A legacy (pre-zip) torch pickle
    has no checksums and is accepted as is. Anything else is refused before
    it reaches the unpickler.

    Args:
        filename (str): Local checkpoint path.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CorruptedCheckpointError: the file is empty, truncated, fails a
            checksum or is not a torch checkpoint. The message names the
            file and what to do.
    """
    filename = osp.expanduser(os.fspath(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file {filename!r} can not be '
                                'found.')
    if osp.getsize(filename) == 0:
        raise _damaged(filename, 'is empty (0 bytes): it was probably '
                       'interrupted while being written')
    with open(filename, 'rb') as f:
        magic = f.read(4)
        if magic.startswith(_PICKLE_PROTO):
            return  # legacy format: nothing to check
        if magic != _ZIP_MAGIC:
            raise _damaged(
                filename, f'is not a checkpoint (it starts with {magic!r}, '
                'neither a zip archive written by torch.save nor a legacy '
                'torch pickle)')
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                with zipfile.ZipFile(f) as zf:
                    _check_members(filename, zf, data)
            except (zipfile.BadZipFile, ValueError, OverflowError,
                    NotImplementedError, struct.error) as e:
                if isinstance(e, CorruptedCheckpointError):
                    raise
                raise _damaged(
                    filename, 'is truncated or damaged: its zip directory '
                    f'cannot be read ({e}); it was probably interrupted '
                    'while being written or copied') from e


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename, map_location):
    """Verify, then load a local checkpoint with torch's safe loader.

    Args:
        filename (str): Local checkpoint file path.
        map_location (str, optional): Same as :func:`torch.load`.

    Returns:
        dict or OrderedDict: The loaded checkpoint.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CorruptedCheckpointError: the file is empty, truncated, fails its
            checksums or cannot be read as a torch checkpoint.
    """
    filename = osp.expanduser(filename)
    verify_checkpoint(filename)
    try:
        return torch.load(filename, map_location=map_location)
    except pickle.UnpicklingError as e:
        if any(m in str(e) for m in _ALLOW_LIST_MARKERS):
            # A global outside the allow-list: not damage, keep torch's
            # message (it names the global) and say how to allow it.
            raise pickle.UnpicklingError(
                f'{e}\n[noah_mm] {filename!r} holds an object outside the '
                'safe-loading allow-list. If you trust the file, allow the '
                'class with torch.serialization.add_safe_globals([...]) '
                'before loading; noah_mm never turns weights_only off.'
            ) from e
        raise _damaged(filename,
                       f'cannot be unpickled ({e})') from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, IndexError,
            KeyError) as e:
        if isinstance(e, RuntimeError) and not any(
                m in str(e) for m in _DAMAGE_MARKERS):
            raise  # e.g. a map_location problem: not damage
        raise _damaged(
            filename, f'cannot be loaded ({type(e).__name__}: {e})') from e
