"""User namespaces: Docker's ``userns-remap``, and the process model that makes it work.

A user namespace maps ranges of user and group IDs: inside, a process is uid 0 with every
capability *over the namespace's own objects*; outside, the same process is an unprivileged
uid of a subordinate range (user_namespaces(7)). The map is one line per range of
``/proc/<pid>/uid_map`` (``container_id host_id size``), written once, by a process of the
parent namespace; root of the host may write any range.

**Remapping (Docker's daemon option).** ``"userns-remap"`` in the daemon configuration names
the ranges, taken from /etc/subuid and /etc/subgid (subuid(5): ``name:start:count``):

* ``"default"``: Docker creates a user ``dockremap`` and gives it ranges; pyker never edits
  /etc, so it takes dockremap's ranges when they are there, and otherwise the range
  ``100000:65536`` (subuid(5)'s customary first range);
* ``"user[:group]"``: that user's ranges (by name, or by uid from /etc/passwd), and the
  group's (the user's name when no group is given).

The data root becomes ``<data-root>/<uid>.<gid>`` (the host ids of the container's root):
a store of its own, whose layers are unpacked with every id shifted into the range.

**Process model.** Every other namespace of the container must be *owned* by its user
namespace, or the kernel refuses to mount /proc (needs a PID namespace owned by it), sysfs
(a network namespace owned by it) or mqueue (an IPC one). A namespace is owned by the user
namespace its creator was in, so the user namespace comes first:

1. the monitor forks a *helper* (a host root process) that unshares ``CLONE_NEWUSER`` and
   reports it through a pipe;
2. the monitor writes the helper's ``uid_map`` and ``gid_map`` and tells it to go on;
3. the helper becomes uid/gid 0 of its namespace (with every capability there), unshares
   ``CLONE_NEWPID`` and forks the container's init, which is PID 1 of a PID namespace owned
   by the new user namespace; the init unshares the rest itself (mount, UTS, IPC, net,
   cgroup) and so they are owned by it too;
4. the helper sends the init's host PID to the monitor, which puts the init (not the
   helper) in the container's cgroup and lets it run; the helper closes everything, waits
   for the init and exits with its status, which the monitor records as the container's.

``stop``/``kill``/``top``/``exec`` act on the init's host PID, as without a user namespace;
``exec`` joins the user namespace first (with it, the capabilities to join the others).
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pyker.errors import ConfigError, PykerError
from pyker.kernel.fds import null_stdio
from pyker.kernel.namespaces import CloneFlag, unshare
from pyker.spec.runtime import IdMapping, Spec

SUBUID = Path("/etc/subuid")
SUBGID = Path("/etc/subgid")
PASSWD = Path("/etc/passwd")
GROUP = Path("/etc/group")
DEFAULT_USER = "dockremap"
#: The range "default" falls back to when /etc/subuid has no dockremap entry.
FALLBACK_RANGE = (100000, 65536)

#: moby's daemon/daemon_unix.go (verifyPlatformContainerSettings), word for word.
PRIVILEGED_REFUSED = ("privileged mode is incompatible with user namespaces.  You must run the "
                      "container in the host namespace when running privileged mode")
HOST_NETWORK_REFUSED = ("cannot share the host's network namespace when user namespaces are "
                        "enabled")


@dataclass(frozen=True, slots=True, kw_only=True)
class Remap:
    """The ranges of a remapped daemon, as the spec's mappings (container id 0 first)."""

    uid_maps: tuple[IdMapping, ...]
    gid_maps: tuple[IdMapping, ...]

    @property
    def root_uid(self) -> int:
        return self.uid_maps[0].host_id

    @property
    def root_gid(self) -> int:
        return self.gid_maps[0].host_id

    @property
    def dir_name(self) -> str:
        """Docker's ``<uid>.<gid>`` subdirectory of the data root."""
        return f"{self.root_uid}.{self.root_gid}"

    @classmethod
    def from_dict(cls, doc: dict[str, list[dict[str, int]]]) -> Remap:
        """From ``dataclasses.asdict`` (how RunOptions keep it in the container's record)."""
        return cls(uid_maps=tuple(IdMapping(**m) for m in doc["uid_maps"]),
                   gid_maps=tuple(IdMapping(**m) for m in doc["gid_maps"]))


# -- /etc/subuid, /etc/subgid ------------------------------------------------------------------

def parse_subid(text: str, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """The ``(start, count)`` ranges of ``names`` (a name and/or its numeric id), file order.

    Blank lines and ``#`` comments are skipped; a malformed line is skipped as shadow-utils
    does (it would never match ``newuidmap`` either).
    """
    ranges = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) != 3 or fields[0] not in names:
            continue
        try:
            start, count = int(fields[1]), int(fields[2])
        except ValueError:
            continue
        if start >= 0 and count > 0:
            ranges.append((start, count))
    return ranges


def mappings(ranges: list[tuple[int, int]]) -> tuple[IdMapping, ...]:
    """Host ranges laid end to end from container id 0, sorted by host start (moby's
    ``idtools.createIDMap``)."""
    out, next_id = [], 0
    for start, count in sorted(ranges):
        out.append(IdMapping(container_id=next_id, host_id=start, size=count))
        next_id += count
    return tuple(out)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _numeric_id(database: Path, name: str) -> str | None:
    """``name``'s id in /etc/passwd or /etc/group (field 3), as text."""
    for line in _read(database).splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name:
            return fields[2]
    return None


def resolve(setting: str, *, subuid: Path = SUBUID, subgid: Path = SUBGID,
            passwd: Path = PASSWD, group: Path = GROUP, source: str = "daemon.json") -> Remap:
    """The ranges that ``"userns-remap": setting`` names.

    Raises:
        ConfigError: an empty setting, or a user/group without subordinate ranges.
    """
    if not setting:
        raise ConfigError(source, '"userns-remap": empty value, use "default" or "user[:group]"')
    if setting == "default":
        uids = parse_subid(_read(subuid), (DEFAULT_USER,))
        gids = parse_subid(_read(subgid), (DEFAULT_USER,))
        if not uids or not gids:
            uids = gids = [FALLBACK_RANGE]
        return Remap(uid_maps=mappings(uids), gid_maps=mappings(gids))
    user, _, grp = setting.partition(":")
    grp = grp or user
    uid_names = tuple(n for n in (user, _numeric_id(passwd, user)) if n)
    gid_names = tuple(n for n in (grp, _numeric_id(group, grp)) if n)
    uids = parse_subid(_read(subuid), uid_names)
    gids = parse_subid(_read(subgid), gid_names)
    if not uids:
        raise ConfigError(source, f'"userns-remap": no subordinate uid range for user '
                                  f'"{user}" in {subuid}')
    if not gids:
        raise ConfigError(source, f'"userns-remap": no subordinate gid range for group '
                                  f'"{grp}" in {subgid}')
    return Remap(uid_maps=mappings(uids), gid_maps=mappings(gids))


# -- checks before a container is made or started -----------------------------------------------

def refuse_conflicts(*, privileged: bool, network: str) -> None:
    """What Docker refuses for a container in a user namespace of a remapped daemon."""
    if privileged:
        raise PykerError(PRIVILEGED_REFUSED)
    if network == "host":
        raise PykerError(HOST_NETWORK_REFUSED)


def _searchable(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def check_traversable(path: Path, remap: Remap) -> None:
    """The container's init looks up its root and mount sources as the remapped root, which
    has no privilege over host-owned directories: each one up to ``path`` must let it pass.

    Raises:
        PykerError: Docker's advice, naming the first directory in the way.
    """
    for directory in reversed(path.parents):
        if not _searchable(os.stat(directory), remap.root_uid, remap.root_gid):
            raise PykerError(f"a subdirectory in your graphroot path ({directory}) restricts "
                             "access to the remapped root uid/gid; please fix by allowing "
                             "'o+x' permissions on existing directories")


def chown_to_root(paths: list[Path], remap: Remap) -> None:
    """Give the container's root what it must write: its upper and work dirs, its /etc
    files (hosts, hostname, resolv.conf) — not recursively: what it made is its already."""
    for path in paths:
        if path.exists():
            os.chown(path, remap.root_uid, remap.root_gid, follow_symlinks=False)


# -- the process model ----------------------------------------------------------------------------

def new_user_namespace(spec: Spec) -> bool:
    return any(ns.type == "user" and not ns.path for ns in spec.linux.namespaces)


def _map_text(maps: tuple[IdMapping, ...]) -> bytes:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps).encode()


def write_maps(pid: int, spec: Spec) -> None:
    """uid_map and gid_map of ``pid``'s user namespace, each in one write(2) as the kernel
    requires. Root of the parent namespace may map any ids, so ``setgroups`` stays allowed."""
    for name, maps in (("uid_map", spec.linux.uid_mappings),
                       ("gid_map", spec.linux.gid_mappings)):
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, _map_text(maps))
        finally:
            os.close(fd)


_RESET = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD)


class Helper:
    """The pipes between the monitor and the helper; made before the fork, used on each side."""

    def __init__(self) -> None:
        self._unshared = os.pipe2(os.O_CLOEXEC)   # helper -> monitor: in the new namespace
        self._mapped = os.pipe2(os.O_CLOEXEC)     # monitor -> helper: the maps are written
        self._init_pid = os.pipe2(os.O_CLOEXEC)   # helper -> monitor: the init's host PID

    # -- in the helper (the monitor's child) --------------------------------------------------

    def run(self, start_init: Callable[[], NoReturn], fail: Callable[[str], NoReturn]) -> NoReturn:
        """Steps 1 and 3 of the module's model; ``start_init`` runs in the forked init."""
        try:
            for fd in (self._unshared[0], self._mapped[1], self._init_pid[0]):
                os.close(fd)
            signal.set_wakeup_fd(-1)
            for sig in _RESET:  # the monitor's Python handlers: not for the helper or init
                signal.signal(sig, signal.SIG_DFL)
            os.setsid()  # off the terminal's process group: Ctrl-C is the monitor's to relay
            unshare(CloneFlag.CLONE_NEWUSER)
            os.write(self._unshared[1], b"u")
            os.close(self._unshared[1])
            if os.read(self._mapped[0], 1) != b"m":
                os._exit(125)  # the monitor gave up
            os.close(self._mapped[0])
            os.setresgid(0, 0, 0)
            os.setgroups([])
            os.setresuid(0, 0, 0)  # root of the namespace; its capabilities are kept
            unshare(CloneFlag.CLONE_NEWPID)
            init = os.fork()
            if init == 0:
                os.close(self._init_pid[1])
                start_init()
            os.write(self._init_pid[1], str(init).encode())
        except BaseException as err:  # noqa: BLE001 — a forked child must never unwind
            fail(f"user namespace: {err}")
        self._wait(init)

    @staticmethod
    def _wait(init: int) -> NoReturn:
        """Hold nothing of the container's (its output pipes' EOF is the init's exit), wait."""
        null_stdio()
        os.closerange(3, 65536)
        while True:
            try:
                _, status = os.waitpid(init, 0)
                break
            except ChildProcessError:
                os._exit(125)
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status))

    # -- in the monitor -------------------------------------------------------------------------

    def start(self, helper: int, spec: Spec) -> int:
        """Step 2 and 4's first half: map, let go, return the init's host PID (0: failed)."""
        for fd in (self._unshared[1], self._mapped[0], self._init_pid[1]):
            os.close(fd)
        try:
            if os.read(self._unshared[0], 1) != b"u":
                return 0
            write_maps(helper, spec)
            os.write(self._mapped[1], b"m")
            os.close(self._mapped[1])
            self._mapped = (-1, -1)
            text = b""
            while chunk := os.read(self._init_pid[0], 32):
                text += chunk
            return int(text) if text.isdigit() else 0
        finally:
            for fd in (self._unshared[0], self._mapped[1], self._init_pid[0]):
                if fd >= 0:
                    os.close(fd)
