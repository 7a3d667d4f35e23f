"""The course's ENTRYPOINT × CMD table, cell by cell, on real containers.

Each image is ``pyker import``-ed from one busybox root filesystem (taken out of a container
with ``pyker cp CONTAINER:/ -``) with ``-c 'ENTRYPOINT …' -c 'CMD …'``. That rootfs holds
three tiny programs named as the table's words, ``exec_entry``, ``exec_cmd`` and ``p1_cmd``,
each printing its own name and arguments: what a container prints *is* the table's cell.
``inspect``'s Path and Args give the argv itself, which for a shell-form ENTRYPOINT shows
how CMD is "ignored": it is appended, and lands in ``$0 $1`` of ``sh -c``, unused.
"""

from __future__ import annotations

import json

import pytest

from conftest import Pyker

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

PROGRAMS = ("exec_entry", "exec_cmd", "p1_cmd")
ENTRYPOINTS = {"none": None, "shell": "ENTRYPOINT exec_entry p1_entry",
               "exec": 'ENTRYPOINT ["exec_entry", "p1_entry"]'}
CMDS = {"none": None, "exec": 'CMD ["exec_cmd", "p1_cmd"]', "params": 'CMD ["p1_cmd", "p2_cmd"]',
        "shell": "CMD exec_cmd p1_cmd"}

# (entrypoint, cmd) -> the argv Docker runs, as the course's table writes it; None: refused.
TABLE = {
    ("none", "none"): None,
    ("none", "exec"): ["exec_cmd", "p1_cmd"],
    ("none", "params"): ["p1_cmd", "p2_cmd"],
    ("none", "shell"): ["/bin/sh", "-c", "exec_cmd p1_cmd"],
    ("shell", "none"): ["/bin/sh", "-c", "exec_entry p1_entry"],
    ("shell", "exec"): ["/bin/sh", "-c", "exec_entry p1_entry"],
    ("shell", "params"): ["/bin/sh", "-c", "exec_entry p1_entry"],
    ("shell", "shell"): ["/bin/sh", "-c", "exec_entry p1_entry"],
    ("exec", "none"): ["exec_entry", "p1_entry"],
    ("exec", "exec"): ["exec_entry", "p1_entry", "exec_cmd", "p1_cmd"],
    ("exec", "params"): ["exec_entry", "p1_entry", "p1_cmd", "p2_cmd"],
    ("exec", "shell"): ["exec_entry", "p1_entry", "/bin/sh", "-c", "exec_cmd p1_cmd"],
}

@pytest.fixture(scope="module")
def rootfs(pk: Pyker) -> bytes:
    """A busybox root filesystem as a tar, with the table's programs in /usr/local/bin."""
    script = "; ".join(
        f"printf '#!/bin/sh\\necho {name} \"$@\"\\n' > /usr/local/bin/{name}; "
        f"chmod 755 /usr/local/bin/{name}" for name in PROGRAMS)
    pk("run", "--name", "maker", "busybox", "sh", "-c", f"mkdir -p /usr/local/bin; {script}")
    tar = pk("cp", "maker:/", "-").stdout
    pk("rm", "maker")
    return tar

def _image(pk: Pyker, rootfs: bytes, name: str, *changes: str | None) -> str:
    flags = [arg for change in changes if change for arg in ("-c", change)]
    pk("import", *flags, "-", name, input=rootfs)
    return name

def _argv(pk: Pyker, container: str) -> list[str]:
    doc = json.loads(pk.out("inspect", container))[0]
    return [doc["Path"], *doc["Args"]]

@pytest.mark.parametrize("entrypoint, cmd", sorted(TABLE))
def test_table_cell(pk, rootfs, entrypoint, cmd):
    image = _image(pk, rootfs, f"cell-{entrypoint}-{cmd}", ENTRYPOINTS[entrypoint], CMDS[cmd])
    expected = TABLE[(entrypoint, cmd)]
    proc = pk("run", "--name", "cell", image, check=False)
    if expected is None:  # "error, not allowed"
        assert proc.returncode == 125 and b"no command specified" in proc.stderr
        pk("rmi", image)
        return
    assert proc.returncode == 0, proc.stderr
    argv = _argv(pk, "cell")
    if entrypoint == "shell":
        # CMD is passed on, but as $0 $1… of `sh -c`, which the string never reads.
        assert argv == expected + (TABLE[("none", cmd)] or [])
        assert proc.stdout == b"exec_entry p1_entry\n"
    else:
        assert argv == expected
        # The programs print their own argv; `sh -c STRING` prints what STRING runs.
        words = expected[2:] if expected[0] == "/bin/sh" else expected
        assert proc.stdout.decode().split() == " ".join(words).split()
    pk("rm", "cell")
    pk("rmi", image)

def test_run_arguments_replace_cmd_and_entrypoint_flag_drops_it(pk, rootfs):
    both = _image(pk, rootfs, "both", ENTRYPOINTS["exec"], CMDS["exec"])
    assert pk.out("run", "--rm", both, "x", "y") == "exec_entry p1_entry x y\n"
    assert pk.out("run", "--rm", "--entrypoint", "exec_cmd", both) == "exec_cmd\n"
    assert pk.out("run", "--rm", "--entrypoint", "exec_cmd", both, "z") == "exec_cmd z\n"
    shell = _image(pk, rootfs, "shell-ep", ENTRYPOINTS["shell"], CMDS["exec"])
    assert pk.out("run", "--rm", shell, "ignored") == "exec_entry p1_entry\n"
    only_cmd = _image(pk, rootfs, "only-cmd", CMDS["exec"])
    assert pk.out("run", "--rm", only_cmd, "p1_cmd", "a") == "p1_cmd a\n"
    pk("rmi", both, shell, only_cmd)

def test_course_examples(pk, rootfs):
    hello = _image(pk, rootfs, "hello", 'ENTRYPOINT ["/bin/echo", "Hello"]', 'CMD ["world"]')
    assert pk.out("run", "--rm", hello) == "Hello world\n"
    assert pk.out("run", "--rm", hello, "Olivier") == "Hello Olivier\n"
    shell_cmd = _image(pk, rootfs, "shell-cmd", 'CMD echo "Hello world"')
    assert pk.out("run", "--rm", shell_cmd) == "Hello world\n"
    assert pk.out("run", "--rm", shell_cmd, "/bin/echo", "other") == "other\n"
    pk("rmi", hello, shell_cmd)
