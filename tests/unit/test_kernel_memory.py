"""pyker.kernel.memory: which mappings the spare faults in, and the madvise wrapper."""

from __future__ import annotations

import ctypes
import mmap

import pytest

from pyker.kernel import memory

MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 1234  /usr/bin/python3.11
55d0c0e00000-55d0c0e10000 rw-p 00400000 fe:00 1234  /usr/bin/python3.11
55d0c2000000-55d0c4000000 rw-p 00000000 00:00 0     [heap]
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
7f0000100000-7f0000200000 rw-s 00000000 00:01 99    /dev/shm/x
7f0000200000-7f0000201000 ---p 00000000 00:00 0
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0     [stack]
7ffc00100000-7ffc00104000 r--p 00000000 00:00 0     [vvar]
7ffc00104000-7ffc00106000 r-xp 00000000 00:00 0     [vdso]
"""


def test_only_private_writable_mappings() -> None:
    found = list(memory.private_writable(MAPS))
    assert [(m.name, m.end - m.start) for m in found] == [
        ("/usr/bin/python3.11", 0x10000), ("[heap]", 0x2000000), ("", 0x100000),
        ("[stack]", 0x21000)]


def test_own_maps_include_the_heap_or_anonymous_memory() -> None:
    assert any(m.name in ("[heap]", "") for m in memory.private_writable())


def test_populate_write_on_a_fresh_mapping() -> None:
    area = mmap.mmap(-1, 1 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = ctypes.c_char.from_buffer(area)
    address = ctypes.addressof(view)
    try:
        memory.populate_write(address, 1 << 20)
    except OSError as err:
        if err.errno == 22:  # EINVAL: a kernel before 5.14
            pytest.skip("no MADV_POPULATE_WRITE on this kernel")
        raise
    finally:
        del view
        area.close()


def test_populate_write_names_the_range_on_failure() -> None:
    with pytest.raises(OSError) as err:
        memory.populate_write(0x1000, 0x1000)  # nothing is mapped there
    assert "madvise 0x1000+0x1000" in str(err.value)
