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

(:class:`noah_mm.engine.NOAHRunner` does this for local checkpoint
directories.)

The temporary file is named ``.<target name>.<host>-<pid>.<random>.tmp``. A
process killed while writing leaves it behind; :func:`remove_orphan_temp_files`
removes the temporary files whose writer is gone (a process of this host that
no longer exists, or, for another host, a file untouched for an hour). It runs
after every atomic write and when a run starts.
"""
import hashlib
import os
import os.path as osp
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import List, Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend

# A temporary file of another host counts as orphaned when untouched this
# long (seconds): a live write keeps changing it.
FOREIGN_TMP_AGE = 3600
_TMP_NAME = re.compile(
    r'^\.(?P<target>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[a-z0-9_]+\.tmp$')


def _host_tag() -> str:
    """8 hex digits that identify this host in temporary file names."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_orphan_temp_files(directory: Union[str, Path]) -> List[str]:
    """Remove the temporary files of interrupted atomic writes.

    Only files named as :func:`atomic_write_bytes` names them are touched, and
    only when their writer is gone: a process of this host that no longer
    exists, or (another host's file, e.g. on a shared file system) a file not
    modified for ``FOREIGN_TMP_AGE`` seconds. Writes in flight in other live
    processes are left alone.

    Args:
        directory (str or Path): The directory to clean; a missing one is
            fine.

    Returns:
        list[str]: The removed paths.
    """
    directory = os.fspath(directory)
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    host, removed = _host_tag(), []
    for name in names:
        match = _TMP_NAME.match(name)
        if match is None:
            continue
        path = osp.join(directory, name)
        if match['host'] == host:
            orphan = not _pid_alive(int(match['pid']))
        else:
            try:
                orphan = time.time() - osp.getmtime(path) > FOREIGN_TMP_AGE
            except FileNotFoundError:
                continue
        if orphan:
            try:
                os.remove(path)
            except FileNotFoundError:
                continue
            removed.append(path)
    return removed


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically.

    Afterwards, temporary files that killed writers left in the same
    directory are removed (:func:`remove_orphan_temp_files`).

    Args:
        data (bytes): What to write.
        filepath (str or Path): Target path; its directory is created if
            needed.
    """
    filepath = os.fspath(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    mmengine.mkdir_or_exist(directory)
    fd, tmp_path = tempfile.mkstemp(
        prefix=f'.{osp.basename(filepath)}.{_host_tag()}-{os.getpid()}.',
        suffix='.tmp',
        dir=directory)
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
    remove_orphan_temp_files(directory)
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
