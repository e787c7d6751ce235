# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
from mmengine.fileio import get_file_backend

from noah_mm.engine import AtomicLocalBackend, atomic_write_bytes
from tool_loader import REPO as ROOT


def test_registered_and_writes(tmp_path):
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    target = tmp_path / 'sub' / 'epoch_1.pth'
    backend.put(b'first', target)
    backend.put(b'second', target)
    assert target.read_bytes() == b'second'
    backend.put_text('epoch_1.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_1.pth'
    assert sorted(os.listdir(tmp_path / 'sub')) == ['epoch_1.pth']
    with pytest.raises(TypeError, match='put_text'):
        backend.put('text', target)


def test_failure_while_writing_keeps_previous(tmp_path, monkeypatch):
    target = tmp_path / 'epoch_1.pth'
    atomic_write_bytes(b'good checkpoint', target)

    def die(fd):  # the process "dies" after the bytes were written
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'fsync', die)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(b'half-written' * 1000, target)
    assert target.read_bytes() == b'good checkpoint'
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temp file left


WRITER = '''
import importlib.util, sys
# load the module file alone (not the whole noah_mm package): quick start-up
spec = importlib.util.spec_from_file_location('atomic_backend', sys.argv[3])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
atomic_write_bytes = module.atomic_write_bytes
target, n = sys.argv[1], int(sys.argv[2])
atomic_write_bytes(b'a' * n, target)
open(target + '.ready', 'w').close()
i = 0
while True:  # rewrite until killed
    i += 1
    atomic_write_bytes((b'b' if i % 2 else b'a') * n, target)
'''


def test_sigkill_during_saving_leaves_a_complete_file(tmp_path):
    target = str(tmp_path / 'ckpt.pth')
    n = 4 * 1024 * 1024
    module = osp.join(ROOT, 'noah_mm', 'engine', 'atomic_backend.py')
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    proc = subprocess.Popen(
        [sys.executable, '-c', WRITER, target, str(n), module], env=env)
    try:
        deadline = time.time() + 120
        while not osp.exists(target + '.ready'):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        time.sleep(0.2)  # rewrites in flight
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open(target, 'rb') as f:
        data = f.read()
    assert len(data) == n
    assert data in (b'a' * n, b'b' * n)


def test_permissions_like_a_plain_write(tmp_path):
    plain = tmp_path / 'plain'
    plain.write_bytes(b'x')
    atomic = tmp_path / 'atomic'
    atomic_write_bytes(b'x', atomic)
    assert (os.stat(atomic).st_mode & 0o777) == (os.stat(plain).st_mode
                                                 & 0o777)


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_orphans_of_killed_writers_are_removed(tmp_path):
    from noah_mm.engine.atomic_backend import (FOREIGN_TMP_AGE, _host_tag,
                                               remove_orphan_temp_files)
    host = _host_tag()
    other_host = 'f' * 8 if host != 'f' * 8 else 'e' * 8
    live = subprocess.Popen([sys.executable, '-c',
                             'import time; time.sleep(60)'])
    try:
        files = {
            'dead': f'.epoch_2.pth.{host}-{_dead_pid()}.k2j4h1.tmp',
            'live': f'.epoch_2.pth.{host}-{live.pid}.a8d0q1.tmp',
            'foreign_old': f'.epoch_1.pth.{other_host}-12.zz9_01.tmp',
            'foreign_new': f'.epoch_1.pth.{other_host}-13.zz9_02.tmp',
            'unrelated': 'notes.tmp',
        }
        for name in files.values():
            (tmp_path / name).write_bytes(b'partial')
        old = time.time() - FOREIGN_TMP_AGE - 60
        os.utime(tmp_path / files['foreign_old'], (old, old))
        # the next atomic save in the directory cleans up
        atomic_write_bytes(b'x', tmp_path / 'epoch_3.pth')
        left = set(os.listdir(tmp_path))
        assert files['dead'] not in left
        assert files['foreign_old'] not in left
        for kept in ('live', 'foreign_new', 'unrelated'):
            assert files[kept] in left, kept
        assert remove_orphan_temp_files(tmp_path / 'missing') == []
    finally:
        live.kill()
        live.wait()
    assert remove_orphan_temp_files(tmp_path) == [
        str(tmp_path / files['live'])]
