# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Build, cache, check and load a C++ source of ``noah_mm/ops/csrc``.

The kernels include no Python or torch header: they compile in about a second
with the system C++ compiler (``$CXX``, else ``c++``/``g++``/``clang++``),
``-O3 -march=native`` and OpenMP where the compiler has them, into
``~/.cache/noah_mm/kernels`` (or ``$NOAH_MM_KERNEL_DIR``), keyed by the
source, the flags, the compiler and the CPU, and load with :mod:`ctypes`.

What is loaded is checked first, so a damaged cache cannot crash or fool a
process:

* each build is stored under a fresh name (``<name>-<key>-<id>.so``) and
  recorded in ``<name>-<key>.json`` (file, size and SHA-256), written
  atomically after the library;
* before ``dlopen`` the library must have an ELF header for this machine
  (class, byte order, architecture, shared object) and the size and digest
  of its record; after it, the caller's ``check`` (an ABI version and struct
  layout) must pass before anything else is called;
* a library that fails is removed and rebuilt once; the warning names what
  was wrong;
* the compiler runs under a time limit (``$NOAH_MM_KERNEL_BUILD_TIMEOUT``
  seconds, 120 by default), after which it is killed;
* an unwritable cache directory is reported as such, with the variable that
  moves it.

This module imports neither torch nor the rest of noah_mm.
"""
import ctypes
import errno
import hashlib
import json
import os
import os.path as osp
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from typing import Callable, NamedTuple, Optional, Tuple

CSRC = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc')
FLAGS = ('-O3', '-std=c++17', '-shared', '-fPIC', '-fno-math-errno')
# Tried in order: OpenMP (threads) and the host's vector units where the
# compiler has them.
EXTRA_FLAGS = (('-march=native', '-fopenmp'), ('-fopenmp', ),
               ('-march=native', ), ())
DEFAULT_TIMEOUT = 120.0
# ELF e_machine of the architectures platform.machine() names.
ELF_MACHINES = {
    'x86_64': 62, 'amd64': 62, 'aarch64': 183, 'arm64': 183, 'ppc64le': 21,
    'ppc64': 21, 's390x': 22, 'riscv64': 243, 'i386': 3, 'i686': 3,
    'armv7l': 40, 'loongarch64': 258
}
WRITE_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)


class KernelStatus(NamedTuple):
    """What :meth:`KernelLibrary.status` reports.

    Attributes:
        available (bool): The library is built, checked and loaded.
        path (str | None): The loaded library.
        error (str | None): Why it is unavailable (also the warning's text).
        repaired (str | None): What was wrong with the cached library that
            was removed and rebuilt, if anything.
    """
    available: bool
    path: Optional[str]
    error: Optional[str]
    repaired: Optional[str]


class KernelError(RuntimeError):
    """A build or load step failed; the message names the cause."""


class DamagedLibrary(KernelError):
    """A cached library failed a check (it is rebuilt once)."""


def enabled() -> bool:
    """False when ``NOAH_MM_CPU_KERNELS`` is set to 0/false/off/no."""
    value = os.environ.get('NOAH_MM_CPU_KERNELS', '1').strip().lower()
    return value not in ('0', 'false', 'off', 'no')


def cache_dir() -> str:
    """Where built kernels are kept (``$NOAH_MM_KERNEL_DIR`` moves it)."""
    return os.environ.get('NOAH_MM_KERNEL_DIR') or osp.join(
        osp.expanduser('~'), '.cache', 'noah_mm', 'kernels')


def build_timeout() -> float:
    """Seconds the compiler may run (``$NOAH_MM_KERNEL_BUILD_TIMEOUT``)."""
    value = os.environ.get('NOAH_MM_KERNEL_BUILD_TIMEOUT')
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise KernelError(f'NOAH_MM_KERNEL_BUILD_TIMEOUT must be a positive '
                          f'number of seconds, got {value!r}')
    return seconds


def compiler() -> Optional[str]:
    """The C++ compiler: ``$CXX``, else the first of c++, g++, clang++."""
    for name in (os.environ.get('CXX'), 'c++', 'g++', 'clang++'):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_signature() -> str:
    """What -march=native depends on: the machine and its CPU flags."""
    parts = [platform.machine()]
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.split(':')[0].strip() in ('model name', 'flags',
                                                  'Features', 'CPU part'):
                    parts.append(line.strip())
                    if len(parts) > 4:
                        break
    except OSError:
        parts.append(platform.processor())
    return '\n'.join(parts)


def _run(command, deadline: float) -> subprocess.CompletedProcess:
    """Run ``command`` until ``deadline`` (time.monotonic()); on timeout kill
    its whole process group (a compiler driver's children included) and
    raise a :class:`KernelError` naming the limit."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=max(deadline - time.monotonic(),
                                                0.01))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise KernelError(
            f'the C++ compiler ({command[0]}) did not finish within the '
            f'{build_timeout():g} s build time limit and was stopped; raise '
            f'NOAH_MM_KERNEL_BUILD_TIMEOUT or point $CXX at a working '
            f'compiler') from None
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def elf_problem(header: bytes) -> Optional[str]:
    """Why ``header`` (a file's first 20 bytes) is not an ELF shared object
    for this machine, or None."""
    if len(header) < 20 or header[:4] != b'\x7fELF':
        return 'not an ELF file'
    bits = 64 if sys.maxsize > 2**32 else 32
    if header[4] != (2 if bits == 64 else 1):
        return f'an ELF file for another word size (this Python is {bits}-bit)'
    order = 'little' if header[5] == 1 else 'big'
    if order != sys.byteorder:
        return f'a {order}-endian ELF file on a {sys.byteorder}-endian machine'
    e_type = int.from_bytes(header[16:18], order)
    machine = int.from_bytes(header[18:20], order)
    expected = ELF_MACHINES.get(platform.machine().lower())
    if expected is not None and machine != expected:
        return (f'an ELF file for another architecture (e_machine {machine}, '
                f'this {platform.machine()} machine has {expected})')
    if e_type != 3:  # ET_DYN
        return f'an ELF file that is not a shared library (e_type {e_type})'
    return None


def _digest(path: str) -> Tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _not_writable(directory: str, error: OSError) -> KernelError:
    return KernelError(
        f'the kernel cache directory {directory} is not writable '
        f'({error.strerror or error}); set NOAH_MM_KERNEL_DIR to a writable '
        f'directory (e.g. NOAH_MM_KERNEL_DIR=/tmp/noah_mm_kernels) to build '
        f'the kernels there')


def _remove(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno in WRITE_ERRORS:
                raise _not_writable(osp.dirname(path), e) from None
            raise


class KernelLibrary:
    """One C++ source of ``csrc/``, built, checked and loaded on first use.

    Args:
        name (str): The source's stem (``csrc/<name>.cpp``).
        check (callable): Called with the freshly loaded ``ctypes.CDLL``
            before anything else in it is called; declares its functions'
            types and raises :class:`KernelError` when the library is not the
            one expected (ABI version, struct layout).
    """

    def __init__(self, name: str, check: Callable[[ctypes.CDLL], None]):
        self.name = name
        self.source = osp.join(CSRC, f'{name}.cpp')
        self.check = check
        self._lock = threading.Lock()
        self._tried = False
        self._lib = None
        self._status = KernelStatus(False, None, None, None)

    # -------------------------------------------------------------- #
    def library(self) -> Optional[ctypes.CDLL]:
        """The loaded library, building it on the first call; None when the
        kernels are turned off or unavailable (warned once, with the cause;
        :meth:`status` keeps it)."""
        if not enabled():
            return None
        if self._tried:
            return self._lib
        with self._lock:
            if not self._tried:
                self._load()
                self._tried = True
        return self._lib

    def status(self) -> KernelStatus:
        """Whether the library is loaded, from where, and why not."""
        if not enabled():
            return KernelStatus(False, None,
                                'turned off by NOAH_MM_CPU_KERNELS=0', None)
        self.library()
        return self._status

    def reset(self) -> None:
        """Forget the loaded library: the next call builds or loads again
        (for a changed ``$NOAH_MM_KERNEL_DIR`` or ``$CXX``)."""
        with self._lock:
            self._tried, self._lib = False, None
            self._status = KernelStatus(False, None, None, None)

    # -------------------------------------------------------------- #
    def _load(self) -> None:
        repaired = None
        try:
            cxx = compiler()
            if cxx is None:
                raise KernelError('no C++ compiler found; install g++ or '
                                  'clang++, or set $CXX')
            deadline = time.monotonic() + build_timeout()
            record = self._record_path(cxx, deadline)
            try:
                path, lib = self._open_cached(record)
            except DamagedLibrary as e:
                repaired = str(e)
                path, lib = None, None
            if lib is None:
                built = self._build(cxx, record, deadline)
                try:
                    path, lib = self._open(built)
                except DamagedLibrary as e:
                    raise KernelError(f'the freshly built library failed its '
                                      f'check: {e}') from None
            self._lib = lib
            self._status = KernelStatus(True, path, None, repaired)
            if repaired:
                warnings.warn(f'noah_mm: the cached {self.name} kernel '
                              f'library was damaged ({repaired}); it was '
                              f'rebuilt and the cache repaired.')
        except (KernelError, OSError) as e:
            message = str(e)
            if repaired:
                message = (f'{message} (after finding the cached library '
                           f'damaged: {repaired})')
            self._status = KernelStatus(False, None, message, repaired)
            warnings.warn(
                f'noah_mm: the fused {self.name} CPU kernels are unavailable: '
                f'{message}. POCA uses its PyTorch path, which gives the same '
                f'results more slowly on CPU; NOAH_MM_CPU_KERNELS=0 silences '
                f'this.')

    def _record_path(self, cxx: str, deadline: float):
        """The record file of this source, compiler and CPU, per flag set:
        a function of the extra flags."""
        with open(self.source, 'rb') as f:
            source = f.read()
        version = _run([cxx, '--version'], deadline).stdout.splitlines()[:1]

        def record(extra) -> str:
            flags = (*FLAGS, *extra)
            key = hashlib.sha256(b'\0'.join([
                source, ' '.join(flags).encode(), ''.join(version).encode(),
                _cpu_signature().encode()
            ])).hexdigest()[:16]
            return osp.join(cache_dir(), f'{self.name}-{key}.json')

        return record

    def _open_cached(self, record):
        """Load the first cached build (by flag preference) that passes
        every check; ``(None, None)`` when none is cached. Raises
        :class:`DamagedLibrary` naming the fault of a damaged one, after
        removing it."""
        for extra in EXTRA_FLAGS:
            path = record(extra)
            if osp.exists(path):
                return self._open(path)
        return None, None

    def _open(self, record: str):
        try:
            with open(record) as f:
                meta = json.load(f)
            library = osp.join(osp.dirname(record), meta['file'])
            size, digest = int(meta['size']), str(meta['sha256'])
        except (OSError, ValueError, KeyError, TypeError) as e:
            self._fail(f'its record {record} is unreadable: {e}', record)
        problem = None
        if not osp.isfile(library):
            problem = f'{library} is missing'
        else:
            with open(library, 'rb') as f:
                header = f.read(20)
            actual_size, actual_digest = _digest(library)
            why = elf_problem(header)
            if actual_size != size:
                problem = (f'{library} has {actual_size} bytes, its build '
                           f'recorded {size} (truncated or overwritten)')
                if why:
                    problem += f'; it is {why}'
            elif why:
                problem = f'{library} is {why}'
            elif actual_digest != digest:
                problem = (f'the SHA-256 of {library} differs from the one '
                           f'recorded at its build (replaced or corrupted)')
        if problem:
            self._fail(problem, record, library)
        try:
            lib = ctypes.CDLL(library)
            self.check(lib)
        except (OSError, AttributeError, KernelError) as e:
            cause = (f'a symbol is missing ({e})' if isinstance(
                e, AttributeError) else str(e))
            self._fail(f'{library} failed to load as the {self.name} '
                       f'kernels: {cause}', record, library)
        return library, lib

    @staticmethod
    def _fail(problem: str, record: str, library: Optional[str] = None):
        """Remove a damaged record and its library (so no process meets
        them again) and raise :class:`DamagedLibrary`; where the cache is
        read-only, a :class:`KernelError` that says so."""
        try:
            _remove(record, *([library] if library else []))
        except KernelError as e:
            raise KernelError(f'{problem}, and it cannot be repaired: '
                              f'{e}') from None
        raise DamagedLibrary(problem)

    def _build(self, cxx: str, record, deadline: float) -> str:
        """Compile with the first flag set the compiler accepts; store the
        library under its digest and then its record, both atomically.
        Returns the record's path."""
        directory = cache_dir()
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix='.so.tmp', dir=directory)
            os.close(fd)
        except OSError as e:
            if e.errno in WRITE_ERRORS:
                raise _not_writable(directory, e) from None
            raise
        errors = []
        try:
            for extra in EXTRA_FLAGS:
                flags = (*FLAGS, *extra)
                result = _run([cxx, *flags, self.source, '-o', tmp], deadline)
                if result.returncode == 0:
                    return self._store(tmp, record(extra))
                errors.append(f'{" ".join(flags)}: '
                              f'{result.stderr.strip()[-400:]}')
        finally:
            if osp.exists(tmp):
                os.unlink(tmp)
        raise KernelError('the C++ compiler failed: ' + '; '.join(errors))

    @staticmethod
    def _store(tmp: str, record: str) -> str:
        """Move the build in place and record it; returns the record."""
        size, digest = _digest(tmp)
        # A fresh name per build: a process that still maps a replaced
        # library is not handed that mapping again by dlopen.
        library = f'{osp.splitext(record)[0]}-{uuid.uuid4().hex[:16]}.so'
        os.replace(tmp, library)  # atomic: concurrent builders are safe
        fd, tmp_record = tempfile.mkstemp(suffix='.json.tmp',
                                          dir=osp.dirname(record))
        with os.fdopen(fd, 'w') as f:
            json.dump(dict(file=osp.basename(library), size=size,
                           sha256=digest), f)
        os.replace(tmp_record, record)
        return record
