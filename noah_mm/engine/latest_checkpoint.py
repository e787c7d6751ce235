# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Find the checkpoint to resume from, robust to an interrupted save."""
import os.path as osp
import re
from typing import List, Optional, Sequence

from mmengine.fileio import get_file_backend
from mmengine.logging import print_log

from .checkpoint_loader import CorruptedCheckpointError, verify_checkpoint

DEFAULT_TEMPLATES = ('epoch_{}.pth', 'iter_{}.pth')


def _step_pattern(templates: Sequence[str]) -> 're.Pattern':
    parts = [re.escape(t).replace(r'\{\}', r'(\d+)') for t in templates]
    return re.compile('^(?:' + '|'.join(parts) + ')$')


def _step(pattern, path: str) -> int:
    match = pattern.match(osp.basename(path))
    if match is None:
        return -1
    return int(next(g for g in match.groups() if g is not None))


def is_local_path(path: str) -> bool:
    """Whether ``path`` is a local file path, not a URI (``s3://...``).

    mmengine's file I/O sends paths without ``'://'`` to the local backend
    and the others to the backend registered for their prefix.

    Args:
        path (str): A file or directory path or URI.
    """
    return '://' not in str(path)


def _listed(directory: str) -> List[str]:
    backend = get_file_backend(directory)
    try:
        names = backend.list_dir_or_file(
            directory, list_dir=False, suffix='.pth')
        return [backend.join_path(directory, n) for n in names]
    except (NotImplementedError, FileNotFoundError, OSError):
        return []


def find_resume_checkpoint(
        work_dir: str,
        checkpoint_dir: Optional[str] = None,
        filename_tmpls: Sequence[str] = DEFAULT_TEMPLATES) -> Optional[str]:
    """The newest complete checkpoint of a run, or None.

    mmengine resumes from the file that the ``last_checkpoint`` text file
    names. That file is written after the checkpoint, so a kill between the
    two writes leaves it naming an older checkpoint (or empty). Here the
    candidates are every ``epoch_N.pth`` / ``iter_N.pth`` (or the given
    templates) in ``checkpoint_dir`` plus the file ``last_checkpoint`` names;
    the one with the highest step that passes :func:`verify_checkpoint` wins.
    Damaged candidates are skipped with a warning naming them.

    Remote checkpoint directories (e.g. ``s3://``) are listed through
    mmengine's file backend where it can list; their files are not downloaded
    for verification here (objects are written whole), only when loaded.

    Args:
        work_dir (str): The run's (local) work directory, which holds
            ``last_checkpoint``.
        checkpoint_dir (str, optional): Where the checkpoints are, when not
            in ``work_dir`` (``CheckpointHook(out_dir=...)``).
        filename_tmpls (Sequence[str]): Checkpoint name templates with one
            ``{}`` for the step. Defaults to ``('epoch_{}.pth',
            'iter_{}.pth')``.

    Returns:
        str or None: Path of the checkpoint to resume from.
    """
    pattern = _step_pattern(filename_tmpls)
    candidates = _listed(checkpoint_dir or work_dir)
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
        if named and named not in candidates:
            candidates.append(named)
    # Highest step first; a named file of another pattern comes last.
    ordered = sorted(
        candidates, key=lambda p: _step(pattern, p), reverse=True)
    for path in ordered:
        if not is_local_path(path):
            if get_file_backend(path).exists(path):
                return path
            continue
        try:
            verify_checkpoint(path)
        except (CorruptedCheckpointError, FileNotFoundError) as e:
            print_log(f'Not resuming from {path}: {e}', logger='current',
                      level=30)
            continue
        return path
    return None
