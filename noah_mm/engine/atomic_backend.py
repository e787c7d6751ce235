# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""A local file backend whose writes are atomic.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes into
it: a process killed while a checkpoint is being written leaves a truncated
``epoch_N.pth`` behind, and when the target already existed the previous good
copy is gone too. :class:`AtomicLocalBackend` writes to a temporary file in the
same directory, flushes and fsyncs it, and moves it over the target with
:func:`os.replace` (atomic on POSIX and Windows): the target is always either
the complete old file or the complete new one.

Select it for checkpoints with::

    default_hooks = dict(
        checkpoint=dict(backend_args=dict(backend='atomic_local')))

(``tools/train.py`` does this for local work directories.)
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically.

    Args:
        data (bytes): What to write.
        filepath (str or Path): Target path; its directory is created if
            needed.
    """
    filepath = os.fspath(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    mmengine.mkdir_or_exist(directory)
    fd, tmp_path = tempfile.mkstemp(
        prefix=f'.{osp.basename(filepath)}.', suffix='.tmp', dir=directory)
    try:
        # mkstemp makes 0600 files; give the checkpoint the permissions a
        # plain open() would (0666 minus the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        # Interrupted or failed: drop the partial temporary file; the target
        # is untouched.
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
    # Make the rename itself durable where the platform allows it.
    if hasattr(os, 'O_DIRECTORY'):
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` with atomic ``put``/``put_text``.

    Registered in mmengine's file backends as ``'atomic_local'``.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` through a temporary file.

        Args:
            obj (bytes): Data to be written.
            filepath (str or Path): Path to write data.
        """
        if not isinstance(obj, (bytes, bytearray, memoryview)):
            raise TypeError('obj must be bytes (AtomicLocalBackend.put), '
                            f'but got {type(obj).__name__}; use put_text '
                            'for str')
        atomic_write_bytes(bytes(obj), filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` through a temporary file.

        Args:
            obj (str): Text to be written.
            filepath (str or Path): Path to write data.
            encoding (str): Text encoding. Defaults to 'utf-8'.
        """
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend, force=True)
