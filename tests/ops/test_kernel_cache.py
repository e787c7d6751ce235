"""The kernel cache checks what it loads, repairs itself and says why.

Each test works in its own ``$NOAH_MM_KERNEL_DIR``, filled with a copy of one
real build (a fresh inode: nothing in it is mapped by this process yet), and
damages it the way a disk, a user or another tool would.
"""
import ctypes.util
import json
import os
import os.path as osp
import shutil
import stat
import subprocess
import sys
import time
import warnings

import pytest
import torch

from noah_mm.ops import kernel_loader
from noah_mm.ops import poca as poca_op
from poca_testing import fast_and_reference

FAULT = 'kernel library was damaged'


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """One real build of the kernels, shared by the tests below."""
    directory = tmp_path_factory.mktemp('built')
    previous = os.environ.get('NOAH_MM_KERNEL_DIR')
    os.environ['NOAH_MM_KERNEL_DIR'] = str(directory)
    try:
        assert poca_op.reload_kernels().available
    finally:
        if previous is None:
            del os.environ['NOAH_MM_KERNEL_DIR']
        else:
            os.environ['NOAH_MM_KERNEL_DIR'] = previous
    poca_op.reload_kernels()
    return directory


@pytest.fixture
def cache(built, tmp_path, monkeypatch):
    """A kernel directory holding a copy of the build (record + library),
    in use until the test ends."""
    directory = tmp_path / 'kernels'
    shutil.copytree(built, directory)
    monkeypatch.setenv('NOAH_MM_KERNEL_DIR', str(directory))
    yield directory
    monkeypatch.undo()
    poca_op.reload_kernels()


def library_file(directory):
    (record, ) = directory.glob('*.json')
    return directory / json.loads(record.read_text())['file']


def assert_results_equal_reference():
    fast, ref = fast_and_reference(32, 4, 10, key_ratio=0.25)
    x = torch.randn(2, 32, 3, 3)
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)


def reload_with_warning(match):
    with pytest.warns(UserWarning, match=match) as record:
        status = poca_op.reload_kernels()
    return status, ' '.join(str(w.message) for w in record)


def test_a_valid_cache_loads_without_rebuilding(cache):
    library = library_file(cache)
    mtime = library.stat().st_mtime_ns
    status = poca_op.reload_kernels()
    assert status.available and status.repaired is None
    assert status.path == str(library)
    assert library.stat().st_mtime_ns == mtime
    meta = json.loads(next(cache.glob('*.json')).read_text())
    assert meta['size'] == library.stat().st_size
    assert len(meta['sha256']) == 64
    assert_results_equal_reference()


@pytest.mark.parametrize('size', [4096, 0])
def test_a_truncated_library_is_rebuilt_not_loaded(cache, size):
    library = library_file(cache)
    with open(library, 'r+b') as f:
        f.truncate(size)
    status, message = reload_with_warning(FAULT)
    # The cause is named; the truncated file was never dlopen-ed (a
    # truncated mapping raises SIGBUS at the first call: this process
    # would not be here to check).
    assert f'has {size} bytes' in message and 'truncated' in message
    assert status.available and f'has {size} bytes' in status.repaired
    # The cache is repaired: the next process loads it without a word.
    assert library_file(cache).stat().st_size > size
    status = poca_op.reload_kernels()
    assert status.available and status.repaired is None
    assert_results_equal_reference()


def test_a_foreign_library_is_never_loaded(cache):
    library = library_file(cache)
    foreign = ctypes.util.find_library('m') or 'libm.so.6'
    source = next(p for p in ('/lib/x86_64-linux-gnu', '/usr/lib64', '/lib64',
                              '/usr/lib/aarch64-linux-gnu', '/usr/lib')
                  if osp.exists(osp.join(p, foreign)))
    shutil.copyfile(osp.join(source, foreign), library)
    foreign_bytes = library.read_bytes()
    status, message = reload_with_warning(FAULT)
    assert 'truncated or overwritten' in message or 'SHA-256' in message
    assert status.available
    assert library_file(cache).read_bytes() != foreign_bytes  # repaired
    assert_results_equal_reference()


def test_a_foreign_library_with_a_forged_record_fails_the_abi_check(
        cache, tmp_path):
    """Size and digest match (both files replaced): the library is loaded
    but nothing in it is called before its ABI check, which fails."""
    source = tmp_path / 'other.cpp'
    source.write_text('extern "C" int noah_poca_abi(long long* layout, '
                      'int capacity) { return 1; }\n')
    library = library_file(cache)
    subprocess.run([kernel_loader.compiler(), '-shared', '-fPIC',
                    str(source), '-o', str(library)], check=True)
    record = next(cache.glob('*.json'))
    meta = json.loads(record.read_text())
    meta['size'], meta['sha256'] = kernel_loader._digest(str(library))
    record.write_text(json.dumps(meta))
    status, message = reload_with_warning(FAULT)
    assert 'ABI version 1, expected 2' in message
    assert status.available
    assert_results_equal_reference()


def test_elf_headers_for_other_machines_are_refused():
    with open(sys.executable, 'rb') as f:
        own = bytearray(f.read(20))
    own[16:18] = (3).to_bytes(2, sys.byteorder)  # make it a shared object
    assert kernel_loader.elf_problem(bytes(own)) is None
    assert kernel_loader.elf_problem(b'') == 'not an ELF file'
    assert kernel_loader.elf_problem(b'MZ' + bytes(18)) == 'not an ELF file'
    other_class = bytearray(own)
    other_class[4] = 1 if own[4] == 2 else 2
    assert 'word size' in kernel_loader.elf_problem(bytes(other_class))
    other_machine = bytearray(own)
    other_machine[18:20] = (0x1234).to_bytes(2, sys.byteorder)
    assert 'architecture' in kernel_loader.elf_problem(bytes(other_machine))
    executable = bytearray(own)
    executable[16:18] = (2).to_bytes(2, sys.byteorder)
    assert 'not a shared library' in kernel_loader.elf_problem(
        bytes(executable))


def test_a_hanging_compiler_is_stopped_at_the_time_limit(
        tmp_path, monkeypatch):
    hanging = tmp_path / 'hanging-c++'
    hanging.write_text('#!/bin/sh\nsleep 60\n')
    hanging.chmod(hanging.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('NOAH_MM_KERNEL_DIR', str(tmp_path / 'kernels'))
    monkeypatch.setenv('CXX', str(hanging))
    monkeypatch.setenv('NOAH_MM_KERNEL_BUILD_TIMEOUT', '1')
    start = time.monotonic()
    try:
        status, message = reload_with_warning('build time limit')
        assert time.monotonic() - start < 10
        assert not status.available
        assert 'did not finish within the 1 s build time limit' in message
        assert 'NOAH_MM_KERNEL_BUILD_TIMEOUT' in message
        assert_results_equal_reference()  # the PyTorch path
    finally:
        monkeypatch.undo()
        poca_op.reload_kernels()


def test_a_failing_compiler_warns_once_and_falls_back(tmp_path, monkeypatch):
    broken = tmp_path / 'broken-c++'
    broken.write_text('#!/bin/sh\necho "no compiler here" >&2\nexit 1\n')
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('NOAH_MM_KERNEL_DIR', str(tmp_path / 'kernels'))
    monkeypatch.setenv('CXX', str(broken))
    try:
        status, message = reload_with_warning('NOAH_MM_CPU_KERNELS=0')
        assert not status.available and 'no compiler here' in status.error
        assert 'no compiler here' in message
        assert not list((tmp_path / 'kernels').glob('*.so'))
        with warnings.catch_warnings():
            warnings.simplefilter('error')  # once: not again at the forward
            assert_results_equal_reference()
    finally:
        monkeypatch.undo()
        poca_op.reload_kernels()


READ_ONLY_CHILD = r'''
import importlib.util, os, sys, warnings
spec = importlib.util.spec_from_file_location('kernel_loader', sys.argv[1])
loader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loader)
for directory in sys.argv[2:]:
    os.environ['NOAH_MM_KERNEL_DIR'] = directory
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        status = loader.KernelLibrary('poca_cpu', lambda lib: None).status()
    print(status.available, status.error)
'''


def run_read_only(*directories):
    """Run READ_ONLY_CHILD with ``directories`` read-only: a read-only bind
    mount in a user namespace when running as root (root writes through
    permission bits), else the directories' write bits cleared."""
    command = [sys.executable, '-c', READ_ONLY_CHILD, kernel_loader.__file__,
               *map(str, directories)]
    if os.geteuid() == 0:
        mounts = ' && '.join(
            f'mount --bind {d} {d} && mount -o remount,bind,ro {d} {d}'
            for d in directories)
        command = ['unshare', '-rm', 'sh', '-c',
                   f'{mounts} && exec "$@"', 'sh', *command]
    else:
        for d in directories:
            d.chmod(0o555)
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=300)
    finally:
        for d in directories:
            d.chmod(0o755)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_read_only_cache_dir_is_named_as_such(built, tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    filled = tmp_path / 'filled'
    shutil.copytree(built, filled)
    damaged = tmp_path / 'damaged'
    shutil.copytree(built, damaged)
    library_file(damaged).write_bytes(b'')
    empty_line, filled_line, damaged_line = run_read_only(
        empty, filled, damaged)
    # Nothing to load and nowhere to build: the hint moves the cache.
    assert empty_line.startswith('False')
    assert f'kernel cache directory {empty} is not writable' in empty_line
    assert 'NOAH_MM_KERNEL_DIR' in empty_line
    assert 'compiler' not in empty_line
    # A valid build in a read-only directory loads.
    assert filled_line == 'True None'
    # A damaged one is reported with both causes.
    assert damaged_line.startswith('False') and 'has 0 bytes' in damaged_line
    assert 'not writable' in damaged_line
