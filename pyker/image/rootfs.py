"""Base-image root filesystems, built from the host's own Debian packages.

A container image starts from a root filesystem. Docker Hub's ``busybox`` and ``debian``
images are such trees packed as one layer; this lab cannot reach Docker Hub, so pyker
builds the same two trees locally:

* ``busybox``: one statically linked binary (Debian's ``busybox-static``) plus one hard
  link per applet in ``/bin``, and the ``passwd``/``group``/``shadow`` files of buildroot's
  skeleton, laid out like the official image (docker-library/busybox runs
  ``busybox --install /bin``, which makes hard links, never symlinks).
* ``debian``: ``debootstrap --variant=minbase`` (debootstrap(8)) from the mirror the host's
  apt already uses (sources.list(5)), then cleaned like Docker's official image
  (debuerreotype): no package caches, no apt lists, no device nodes, no host identity.

Nothing here packs a layer: the callers turn the tree into a layer tarball.
"""

from __future__ import annotations

import collections
import os
import shutil
import stat
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from pyker.errors import BootstrapError
from pyker.image.aptsources import DebianSource, host_debian_sources

# --- busybox -------------------------------------------------------------------------------

# buildroot's system/skeleton, which the official busybox image copies (with root's
# password locked, CVE-2019-5021).
_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = "".join(f"{name}:x:{gid}:{members}\n" for name, gid, members in (
    ("root", 0, ""), ("daemon", 1, ""), ("bin", 2, ""), ("sys", 3, ""), ("adm", 4, ""),
    ("tty", 5, ""), ("disk", 6, ""), ("lp", 7, ""), ("mail", 8, ""), ("kmem", 9, ""),
    ("wheel", 10, "root"), ("cdrom", 11, ""), ("dialout", 18, ""), ("floppy", 19, ""),
    ("video", 28, ""), ("audio", 29, ""), ("tape", 32, ""), ("www-data", 33, ""),
    ("operator", 37, ""), ("utmp", 43, ""), ("plugdev", 46, ""), ("staff", 50, ""),
    ("lock", 54, ""), ("netdev", 82, ""), ("users", 100, ""), ("nobody", 65534, ""),
))
_SHADOW = "".join(f"{line.split(':')[0]}:*:10933:0:99999:7:::\n"
                  for line in _PASSWD.splitlines())

# (path, mode, uid, gid) of every directory, parents first. Owners follow the official
# image: a user's home directory that did not exist before belongs to that user.
_BUSYBOX_DIRS = (
    ("bin", 0o755, 0, 0), ("dev", 0o755, 0, 0), ("etc", 0o755, 0, 0),
    ("etc/network", 0o755, 0, 0), ("etc/network/if-down.d", 0o755, 0, 0),
    ("etc/network/if-post-down.d", 0o755, 0, 0), ("etc/network/if-pre-up.d", 0o755, 0, 0),
    ("etc/network/if-up.d", 0o755, 0, 0), ("home", 0o755, 65534, 65534),
    ("proc", 0o555, 0, 0), ("root", 0o700, 0, 0), ("sys", 0o555, 0, 0),
    ("tmp", 0o1777, 0, 0), ("usr", 0o755, 0, 0), ("usr/bin", 0o755, 0, 0),
    ("usr/sbin", 0o755, 1, 1), ("var", 0o755, 0, 0), ("var/spool", 0o755, 0, 0),
    ("var/spool/mail", 0o755, 8, 8), ("var/www", 0o755, 33, 33),
)
_BUSYBOX_FILES = (("etc/passwd", _PASSWD, 0o644), ("etc/group", _GROUP, 0o644),
                  ("etc/shadow", _SHADOW, 0o600))

_PT_INTERP = 3
# Where an ELF header keeps e_phoff and e_phentsize/e_phnum, and how a program header
# starts, per ELF class (elf(5)); the last two numbers index p_offset and p_filesz.
_ELF_LAYOUT = {
    1: (28, "I", 42, "IIIII", 1, 4),   # ELFCLASS32: p_type p_offset p_vaddr p_paddr p_filesz
    2: (32, "Q", 54, "IIQQQQ", 2, 5),  # ELFCLASS64: p_type p_flags p_offset ... p_filesz
}


def elf_interpreter(path: Path) -> str | None:
    """The program interpreter (``PT_INTERP``, the dynamic loader) an ELF file asks for.

    None means the kernel maps the binary alone: it is statically linked (see elf(5)).

    Raises:
        BootstrapError: ``path`` is missing or is not an ELF file.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BootstrapError(f"{path}: cannot read the busybox binary ({err.strerror}): "
                             "apt-get install busybox-static") from err
    if data[:4] != b"\x7fELF" or len(data) < 64 or data[4] not in _ELF_LAYOUT \
            or data[5] not in (1, 2):
        raise BootstrapError(f"{path}: not an ELF executable")
    phoff_at, phoff_fmt, phnum_at, header_fmt, offset_i, size_i = _ELF_LAYOUT[data[4]]
    end = "<" if data[5] == 1 else ">"  # ELFDATA2LSB or ELFDATA2MSB
    try:
        phoff, = struct.unpack_from(end + phoff_fmt, data, phoff_at)
        phentsize, phnum = struct.unpack_from(end + "HH", data, phnum_at)
        for i in range(phnum):
            header = struct.unpack_from(end + header_fmt, data, phoff + i * phentsize)
            if header[0] == _PT_INTERP:
                interp = data[header[offset_i]:header[offset_i] + header[size_i]]
                return interp.rstrip(b"\0").decode(errors="replace")
    except struct.error as err:
        raise BootstrapError(f"{path}: truncated ELF program headers") from err
    return None


def busybox_rootfs(dest: Path, *, busybox: Path = Path("/bin/busybox")) -> None:
    """Build the tree of Docker Hub's ``busybox`` image in ``dest`` (missing or empty).

    Every applet is a hard link to ``/bin/busybox``. All mtimes are set to the binary's
    own, so two builds from the same package give the same layer digest.

    Raises:
        BootstrapError: ``busybox`` is missing or dynamically linked (a dynamic binary
            would need the host's libc inside the image), or ``dest`` is not empty.
    """
    interpreter = elf_interpreter(busybox)
    if interpreter is not None:
        raise BootstrapError(f"{busybox}: dynamically linked (interpreter {interpreter}), "
                             "a base image needs the static one: apt-get install busybox-static")
    applets = _busybox_applets(busybox)
    _require_empty(dest)
    dest.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    for rel, mode, uid, gid in _BUSYBOX_DIRS:
        _make(dest / rel, mode, uid if as_root else None, gid)
    binary = dest / "bin/busybox"
    shutil.copyfile(busybox, binary)
    _make(binary, 0o755, 0 if as_root else None, 0)
    # All in /bin, as the official image's "busybox --install /bin" does (not at the
    # sbin/ and usr/ paths --list-full suggests): `which wget` answers /bin/wget there.
    for name in applets:
        if name != "busybox":
            os.link(binary, dest / "bin" / name)
    # the official image adds it so that "#!/usr/bin/env sh" scripts run
    os.symlink("../../bin/env", dest / "usr/bin/env")
    for rel, text, mode in _BUSYBOX_FILES:
        (dest / rel).write_text(text)
        _make(dest / rel, mode, 0 if as_root else None, 0)
    _make(dest, 0o755, 0 if as_root else None, 0)
    _set_mtimes(dest, int(busybox.stat().st_mtime))


def _busybox_applets(busybox: Path) -> list[str]:
    """Applet names, from ``busybox --list-full`` (which also says where each one goes)."""
    try:
        out = subprocess.run([str(busybox), "--list-full"], capture_output=True,
                             text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise BootstrapError(f"{busybox} --list-full failed: {err}") from err
    names = sorted({line.rsplit("/", 1)[-1] for line in out.split() if line})
    if "sh" not in names:
        raise BootstrapError(f"{busybox} --list-full: no sh applet in {len(names)} applets")
    return names


def _make(path: Path, mode: int, uid: int | None, gid: int) -> None:
    """Create ``path`` as a directory unless it exists, then set its mode (never the umask's)
    and, when ``uid`` is given (we are root), its owner."""
    if not path.exists():
        path.mkdir()
    os.chmod(path, mode)
    if uid is not None:
        os.lchown(path, uid, gid)


def _walk(root: Path) -> Iterator[Path]:
    """Every entry below ``root``, children before their directory, never following links."""
    for top, dirs, files in os.walk(root, topdown=False):
        for name in (*files, *dirs):
            yield Path(top, name)


def _set_mtimes(root: Path, mtime: int) -> None:
    for path in (*_walk(root), root):
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def _require_empty(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BootstrapError(f"{dest}: exists and is not an empty directory")


# --- debian by debootstrap -----------------------------------------------------------------

def debootstrap_argv(dest: Path, source: DebianSource, *, suite: str, variant: str,
                     cache_dir: Path | None) -> list[str]:
    """The debootstrap command line: the host's mirror and keyring, the requested suite."""
    argv = ["debootstrap", f"--variant={variant}"]
    if source.keyring is not None:
        argv.append(f"--keyring={source.keyring}")
    if cache_dir is not None:
        argv.append(f"--cache-dir={cache_dir.resolve()}")
    return [*argv, suite, str(dest), source.uri]


def debian_rootfs(dest: Path, *, suite: str = "bookworm", variant: str = "minbase",
                  progress: Callable[[str], None] = print, cache_dir: Path | None = None,
                  source: DebianSource | None = None) -> None:
    """Build a Debian root filesystem in ``dest`` (missing or empty), like ``debian:<suite>``.

    debootstrap downloads and unpacks about 90 packages (~35 s with a warm ``cache_dir``).
    Each line it prints goes to ``progress`` (except ``I: Validating …``, which only
    repeats each ``I: Retrieving …``). ``source`` defaults to :func:`host_debian_sources`.

    Raises:
        BootstrapError: not root, debootstrap is missing, ``dest`` is not empty, the host
            has no Debian source, or debootstrap fails (with the end of its log).
    """
    if os.geteuid() != 0:
        raise BootstrapError("debootstrap needs root (it chroots and creates device nodes)")
    if shutil.which("debootstrap") is None:
        raise BootstrapError("debootstrap not found: apt-get install debootstrap")
    _require_empty(dest)
    source = source or host_debian_sources()
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    argv = debootstrap_argv(dest, source, suite=suite, variant=variant, cache_dir=cache_dir)
    _run_debootstrap(argv, dest, progress)
    make_image_like(dest)


def _run_debootstrap(argv: list[str], dest: Path, progress: Callable[[str], None]) -> None:
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    env.pop("LANGUAGE", None)
    tail: collections.deque[str] = collections.deque(maxlen=15)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, errors="replace",
                          env=env) as proc:
        for raw in proc.stdout or ():
            line = raw.rstrip()
            if not line:
                continue
            tail.append(line)
            if not line.startswith("I: Validating"):
                progress(line)
    if proc.returncode != 0:
        log = dest / "debootstrap" / "debootstrap.log"
        if log.is_file():
            tail.extend(log.read_text(errors="replace").splitlines()[-15:])
        last = "\n  ".join(tail)
        raise BootstrapError(f"{' '.join(argv)} exited {proc.returncode}; "
                             f"full log: {log}\n  {last}")


# Files that say which host and which day built the tree, not what Debian is.
_HOST_TRACES = (
    "etc/hostname",                      # the runtime writes the container's own
    "etc/apt/apt.conf.d/01autoremove-kernels",  # names the host's kernels
    "var/log/dpkg.log", "var/log/bootstrap.log", "var/log/alternatives.log",
    "var/log/apt/history.log", "var/log/apt/term.log",
    "var/cache/ldconfig/aux-cache", "run/mount/utab",
)
# Docker's official image configuration (debuerreotype-minimizing-config), in short.
_DOCKER_CONFIG = {
    "usr/sbin/policy-rc.d": (0o755, "#!/bin/sh\n# In an image build no service may start: "
                             "invoke-rc.d obeys this answer (101: action forbidden).\n"
                             "exit 101\n"),
    "etc/dpkg/dpkg.cfg.d/docker-apt-speedup": (0o644, "# builds are thrown away on a crash: "
                                               "no fsync per file\nforce-unsafe-io\n"),
    "etc/apt/apt.conf.d/docker-clean": (0o644, (
        "# a downloaded .deb in a layer is dead weight: remove them after each run\n"
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n')),
    "etc/apt/apt.conf.d/docker-autoremove-suggests": (
        0o644, '# autoremove also what was kept only as a Suggests\n'
               'Apt::AutoRemove::SuggestsImportant "false";\n'),
    "etc/apt/apt.conf.d/docker-gzip-indexes": (0o644, "# keep apt lists small in layers\n"
                                               'Acquire::GzipIndexes "true";\n'),
    "etc/apt/apt.conf.d/docker-no-languages": (0o644, "# no translated descriptions\n"
                                               'Acquire::Languages "none";\n'),
}


def make_image_like(root: Path) -> None:
    """Turn a fresh debootstrap tree into an image tree, as Docker's debian image is made.

    * package caches and apt lists go: an image is run, ``apt-get update`` comes first;
    * ``/dev`` is emptied: the runtime mounts its own (device nodes in a layer would be
      copied into every container, and a layer tar with char devices needs CAP_MKNOD);
    * ``/etc/hostname`` goes and ``/etc/resolv.conf`` is left empty: debootstrap copied
      the host's, and the runtime bind-mounts the container's own over the empty file
      (kept so the mount point exists, as in the official image);
    * ``/etc/machine-id``, if any, is emptied: systemd's "not yet set" (machine-id(5));
    * Docker's apt and dpkg settings are added (no service starts during a build).
    """
    _clear(root / "var/cache/apt/archives", lambda p: p.name.endswith(".deb"))
    _clear(root / "var/cache/apt", lambda p: p.name.endswith(".bin"))
    _clear(root / "var/lib/apt/lists", lambda p: True)
    for entry in sorted((root / "dev").iterdir()) if (root / "dev").is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for rel in _HOST_TRACES:
        (root / rel).unlink(missing_ok=True)
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_bytes(b"")
    os.chmod(root / "etc/resolv.conf", 0o644)
    if (root / "etc/machine-id").is_file():
        (root / "etc/machine-id").write_bytes(b"")
    for rel, (mode, text) in _DOCKER_CONFIG.items():
        if (root / rel).parent.is_dir():
            (root / rel).write_text(text)
            os.chmod(root / rel, mode)
    os.chmod(root, 0o755)


def _clear(directory: Path, matches: Callable[[Path], bool]) -> None:
    """Remove the entries of ``directory`` (recursively) that ``matches`` selects."""
    if not directory.is_dir():
        return
    for path in list(_walk(directory)):
        if matches(path) and not stat.S_ISDIR(path.lstat().st_mode):
            path.unlink()
