# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Find the checkpoint to resume from, robust to an interrupted save."""
import glob
import os.path as osp
import re
from typing import Optional


def _step(path: str) -> int:
    match = re.search(r'(?:epoch|iter)_(\d+)\.pth$', path)
    return int(match.group(1)) if match else -1


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint in ``work_dir``, or None.

    mmengine's ``find_latest_checkpoint`` trusts the ``last_checkpoint`` text
    file, which ``CheckpointHook`` writes non-atomically after the
    checkpoint: a kill at that moment leaves it empty, or naming a file that
    was removed. This prefers ``last_checkpoint`` when it names an existing
    file and otherwise falls back to the highest ``epoch_N.pth`` /
    ``iter_N.pth`` in ``work_dir``.

    Args:
        work_dir (str): The run's work directory.

    Returns:
        str or None: Path of the checkpoint to resume from.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            return named
    found = [
        p for p in glob.glob(osp.join(work_dir, '*.pth')) if _step(p) >= 0
    ]
    if not found:
        return None
    return max(found, key=lambda p: (_step(p), osp.getmtime(p)))
