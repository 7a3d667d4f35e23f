"""Paths that cannot leave their root (pyker.fs.safepath), on small trees in tmp_path."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyker.fs import safepath


@pytest.mark.parametrize(("path", "parts"), [
    ("a/b", ("a", "b")),
    ("./a//b/./c/", ("a", "b", "c")),
    ("a/../b", ("b",)),
    ("a/b/../../c", ("c",)),
    (".", ()),
    ("./", ()),
    ("", ()),
    ("/etc/passwd", ("etc", "passwd")),  # absolute paths are the caller's policy
])
def test_clean_parts(path: str, parts: tuple[str, ...]) -> None:
    assert safepath.clean_parts(path) == parts


@pytest.mark.parametrize("path", ["..", "../etc/passwd", "a/../../x", "./a/b/../../../x"])
def test_clean_parts_refuses_to_climb(path: str) -> None:
    with pytest.raises(ValueError, match="climbs above the root"):
        safepath.clean_parts(path)


@pytest.mark.parametrize(("base", "target", "climbs"), [
    ((), "x", False),
    ((), "../x", True),
    (("a",), "../x", False),
    (("a",), "../../x", True),
    (("a", "b"), "../../x", False),
    (("a", "b"), "../../../../", True),
    ((), "a/../../x", True),
    ((), "./a/./b", False),
])
def test_climbs_out(base: tuple[str, ...], target: str, climbs: bool) -> None:
    assert safepath.climbs_out(base, target) is climbs


# -- open_dir -------------------------------------------------------------------------------

@pytest.fixture
def root_fd(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "root").mkdir()
    fd = safepath.open_root(tmp_path / "root")
    yield fd
    os.close(fd)


def _real(fd: int) -> str:
    return os.readlink(safepath.proc_path(fd))


def test_open_dir_walks_real_directories(tmp_path: Path, root_fd: int) -> None:
    (tmp_path / "root/a/b").mkdir(parents=True)
    fd = safepath.open_dir(root_fd, ("a", "b"))
    try:
        assert _real(fd) == str(tmp_path / "root/a/b")
    finally:
        os.close(fd)


def test_open_dir_of_no_parts_is_the_root(tmp_path: Path, root_fd: int) -> None:
    fd = safepath.open_dir(root_fd, ())
    try:
        assert _real(fd) == str(tmp_path / "root")
    finally:
        os.close(fd)


def test_open_dir_creates_missing_components(tmp_path: Path, root_fd: int) -> None:
    os.close(safepath.open_dir(root_fd, ("x", "y", "z"), create=True))
    assert (tmp_path / "root/x/y/z").is_dir()


def test_open_dir_names_the_missing_component(root_fd: int) -> None:
    with pytest.raises(FileNotFoundError) as exc:
        safepath.open_dir(root_fd, ("x", "y"))
    assert exc.value.filename == "x"


def test_open_dir_refuses_a_symlinked_component(tmp_path: Path, root_fd: int) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root/a").mkdir()
    (tmp_path / "root/a/link").symlink_to(outside)
    with pytest.raises(OSError) as exc:
        safepath.open_dir(root_fd, ("a", "link", "new"), create=True)
    assert exc.value.errno == errno.ELOOP
    assert exc.value.filename == "a/link"
    assert list(outside.iterdir()) == []


def test_open_dir_refuses_a_relative_symlink_too(tmp_path: Path, root_fd: int) -> None:
    (tmp_path / "root/real").mkdir()
    (tmp_path / "root/link").symlink_to("real")
    with pytest.raises(OSError) as exc:
        safepath.open_dir(root_fd, ("link",))
    assert exc.value.errno == errno.ELOOP


def test_open_dir_says_when_a_component_is_a_file(tmp_path: Path, root_fd: int) -> None:
    (tmp_path / "root/f").touch()
    with pytest.raises(NotADirectoryError) as exc:
        safepath.open_dir(root_fd, ("f", "x"), create=True)
    assert exc.value.filename == "f"


# -- resolve_in_root ------------------------------------------------------------------------

@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A tiny container root: /bin/sh -> /bin/busybox, /lib -> usr/lib."""
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin/busybox").touch()
    (root / "bin/sh").symlink_to("/bin/busybox")
    (root / "usr/lib").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "etc").mkdir()
    return root


def test_absolute_target_restarts_at_the_root(rootfs: Path) -> None:
    assert safepath.resolve_in_root(rootfs, "/bin/sh") == rootfs / "bin/busybox"


def test_relative_target(rootfs: Path) -> None:
    assert safepath.resolve_in_root(rootfs, "lib/libc.so") == rootfs / "usr/lib/libc.so"


def test_absolute_link_to_a_host_directory_stays_inside(rootfs: Path) -> None:
    (rootfs / "hostetc").symlink_to("/etc")
    assert safepath.resolve_in_root(rootfs, "hostetc/passwd") == rootfs / "etc/passwd"


def test_dotdot_at_the_root_stays_there(rootfs: Path) -> None:
    (rootfs / "etc/evil").symlink_to("../../../../../etc")
    assert safepath.resolve_in_root(rootfs, "../../etc/passwd") == rootfs / "etc/passwd"
    assert safepath.resolve_in_root(rootfs, "/etc/evil/passwd") == rootfs / "etc/passwd"


def test_missing_components_are_kept(rootfs: Path) -> None:
    assert safepath.resolve_in_root(rootfs, "lib/new/../x/y") == rootfs / "usr/lib/x/y"


def test_final_link_is_kept_when_asked(rootfs: Path) -> None:
    assert safepath.resolve_in_root(rootfs, "bin/sh", follow_final=False) == rootfs / "bin/sh"
    assert safepath.resolve_in_root(rootfs, "lib/", follow_final=False) == rootfs / "lib"
    # A link in the middle is always followed.
    assert safepath.resolve_in_root(rootfs, "lib/x", follow_final=False) == rootfs / "usr/lib/x"


def test_a_loop_is_elooped(rootfs: Path) -> None:
    (rootfs / "a").symlink_to("b")
    (rootfs / "b").symlink_to("/a")
    with pytest.raises(OSError) as exc:
        safepath.resolve_in_root(rootfs, "a/x")
    assert exc.value.errno == errno.ELOOP


def _chain(root: Path, links: int) -> None:
    """l0 -> l1 -> … -> l<links-1> -> target: ``links`` symlinks to follow."""
    (root / "target").touch()
    for i in range(links):
        nxt = f"l{i + 1}" if i + 1 < links else "target"
        (root / f"l{i}").symlink_to(nxt)


def test_forty_links_are_followed(tmp_path: Path) -> None:
    _chain(tmp_path, safepath.MAX_SYMLINKS)
    assert safepath.resolve_in_root(tmp_path, "l0") == tmp_path / "target"


def test_forty_one_links_are_too_many(tmp_path: Path) -> None:
    _chain(tmp_path, safepath.MAX_SYMLINKS + 1)
    with pytest.raises(OSError) as exc:
        safepath.resolve_in_root(tmp_path, "l0")
    assert exc.value.errno == errno.ELOOP
