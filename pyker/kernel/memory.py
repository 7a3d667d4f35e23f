"""The process's own memory: its private writable mappings, and faulting them in ahead.

A forked child shares its parent's pages copy-on-write: the first write to each one (and in
CPython, reading an object writes its reference count) traps into the kernel, which copies
the page. ``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14) takes those faults in one call,
inside the kernel, for a whole range: the fork server's spare child does it while it waits
for a command (pyker.cli.forkchild), so that the command itself meets none.

See madvise(2), proc_pid_maps(5).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass

from pyker.kernel._libc import call, libc

MADV_POPULATE_WRITE = 23  # <asm-generic/mman-common.h>, Linux 5.14
_SPECIAL = ("[vvar]", "[vdso]", "[vsyscall]", "[vvar_vclock]")


@dataclass(frozen=True, slots=True)
class Mapping:
    start: int
    end: int
    name: str


def private_writable(maps: str | None = None) -> Iterator[Mapping]:
    """The ``rw-p`` mappings of ``/proc/self/maps`` (or of ``maps``, its text): the heap,
    anonymous memory, the stack, the data segments of the program and its libraries."""
    if maps is None:
        with open("/proc/self/maps") as f:
            maps = f.read()
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5 or not fields[1].startswith("rw") or fields[1][3] != "p":
            continue
        name = fields[5].strip() if len(fields) == 6 else ""
        if name in _SPECIAL:
            continue
        start, _, end = fields[0].partition("-")
        yield Mapping(int(start, 16), int(end, 16), name)


def populate_write(start: int, length: int) -> None:
    """Fault ``[start, start+length)`` in as if written to, copying shared pages.

    Raises:
        OSError: EINVAL where the kernel predates MADV_POPULATE_WRITE (or the range cannot
            be populated), EFAULT/ENOMEM for a range that is not all mapped memory.
    """
    fn = libc().madvise
    fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    call(fn, start, length, MADV_POPULATE_WRITE, syscall="madvise",
         path=f"{start:#x}+{length:#x}")
