"""Reading what is really there: a container as the engine records it, and its process as the
kernel shows it.

Everything here reads state, never output a notebook printed: the container record (through
pyker's Python API), ``/proc/<pid>/status`` (uids, capability sets, seccomp mode, see proc(5)),
``/proc/<pid>/cgroup`` joined with the host's cgroup mounts (cgroups(7)), the process's
network namespace's ``/proc/<pid>/net/{dev,tcp,tcp6}``, and its UTS namespace through
nsenter(1). Parsers of those files are pure functions, tested on exact texts.

Failures to find the state raise :class:`~grader.model.Unmet` with a French message that
tells the student what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from grader.context import Context
from grader.model import Unmet

TCP_LISTEN = "0A"  # include/net/tcp_states.h: TCP_LISTEN = 10


@dataclass(frozen=True, slots=True)
class Live:
    """A running container: its full id, name and the host PID of its init."""

    id: str
    name: str
    pid: int


def container(ctx: Context, name: str) -> Live:
    """The running container ``name`` of the store.

    Raises:
        Unmet: no container has that name, or it is not running.
    """
    from pyker.errors import ContainerNotFound

    try:
        record = ctx.engine.containers.resolve(name)
    except ContainerNotFound:
        raise Unmet(f"aucun conteneur nommé « {name} » : lancez-le avec --name {name}.",
                    container=name) from None
    state = record.state
    if state.status != "running" or state.pid <= 0:
        detail = f"code de sortie {state.exit_code}" if state.status == "exited" else state.status
        raise Unmet(f"le conteneur « {name} » existe mais ne tourne pas ({detail}) : "
                    "il doit être en marche (-d et une commande qui dure).",
                    container=name, status=state.status, exit_code=state.exit_code)
    return Live(id=record.id, name=record.name, pid=state.pid)


def proc_path(pid: int, *parts: str) -> Path:
    return Path("/proc", str(pid), *parts)


def read_proc(pid: int, *parts: str) -> str:
    path = proc_path(pid, *parts)
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        raise Unmet(f"le processus {pid} a disparu pendant la vérification ({path}).",
                    path=str(path)) from None


def parse_status(text: str) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict: ``{"Uid": "1000\\t1000\\t1000\\t1000", ...}``."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def capability_sets(status: dict[str, str]) -> dict[str, frozenset[str]]:
    """CapInh, CapPrm, CapEff, CapBnd, CapAmb decoded to names (``CAP_CHOWN``)."""
    from pyker.security.capabilities import decode_mask

    return {key: frozenset(decode_mask(status[key]))
            for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb") if key in status}


def uids(status: dict[str, str]) -> tuple[int, ...]:
    """Real, effective, saved and filesystem uid, from the ``Uid:`` line."""
    return tuple(int(v) for v in status["Uid"].split())


def parse_cgroup_membership(text: str) -> list[tuple[str, tuple[str, ...], str]]:
    """``/proc/<pid>/cgroup`` lines as (hierarchy id, controllers, path).

    A v1 line names its controllers (``8:pids:/pyker/<id>``); the v2 line has hierarchy 0 and
    none (``0::/pyker/<id>``). ``name=systemd`` is kept as a controller name; it matters not.
    """
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        hierarchy, controllers, path = line.split(":", 2)
        out.append((hierarchy, tuple(c for c in controllers.split(",") if c), path))
    return out


def cgroup_dir(pid: int, controller: str) -> Path:
    """The directory of ``pid``'s cgroup that holds ``controller``'s files, on this host.

    On a v1 or hybrid host that is the controller's hierarchy (``/sys/fs/cgroup/pids/...``),
    on a v2 host the unified one. Read from the process itself, so it is the cgroup the
    container really runs in, wherever its engine put it.

    Raises:
        Unmet: the process is gone, or no hierarchy of the host carries ``controller``.
    """
    from pyker.cgroups import detect

    layout = detect()
    entries = parse_cgroup_membership(read_proc(pid, "cgroup"))
    if layout.mode == "v2" and layout.unified is not None:
        for hierarchy, _controllers, path in entries:
            if hierarchy == "0":
                return layout.unified / path.lstrip("/")
    else:
        mount = layout.v1.get(controller)
        for _hierarchy, controllers, path in entries:
            if mount is not None and controller in controllers:
                return Path(mount) / path.lstrip("/")
    raise Unmet(f"aucune hiérarchie de cgroups de l'hôte ne porte le contrôleur {controller} "
                f"pour le processus {pid}.", pid=pid, controller=controller)


def read_cgroup_file(pid: int, controller: str, name: str) -> tuple[Path, str]:
    """(path, stripped content) of a cgroup file of ``pid``'s cgroup."""
    path = cgroup_dir(pid, controller) / name
    try:
        return path, path.read_text().strip()
    except FileNotFoundError:
        raise Unmet(f"le fichier {path} n'existe pas : le cgroup du conteneur n'a pas de "
                    f"contrôleur {controller}.", path=str(path)) from None


def parse_net_dev(text: str) -> list[str]:
    """Interface names of ``/proc/net/dev`` (two header lines, then ``name: counters``)."""
    return [line.split(":", 1)[0].strip() for line in text.splitlines()[2:] if ":" in line]


@dataclass(frozen=True, slots=True)
class Listener:
    address: str   # hex, as the kernel writes it
    port: int
    uid: int
    inode: int


def parse_tcp(text: str) -> list[Listener]:
    """Listening sockets of ``/proc/net/tcp`` or ``tcp6`` (state 0A)."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        address, port = fields[1].rsplit(":", 1)
        out.append(Listener(address=address, port=int(port, 16), uid=int(fields[7]),
                            inode=int(fields[9])))
    return out


def same_namespace(pid: int, kind: str) -> bool:
    """Whether ``pid`` shares this process's ``kind`` namespace (``net``, ``uts``...)."""
    try:
        return os.readlink(proc_path(pid, "ns", kind)) == os.readlink(f"/proc/self/ns/{kind}")
    except FileNotFoundError:
        raise Unmet(f"le processus {pid} a disparu pendant la vérification.", pid=pid) from None


def uts_hostname(ctx: Context, live: Live) -> str:
    """The hostname as the container's own UTS namespace answers it.

    ``nsenter -u`` enters only that namespace and runs the host's ``uname -n`` in it (the
    file /etc/hostname would only tell what was written, not what the kernel holds); without
    nsenter, the container's own ``hostname`` through ``pyker exec``.
    """
    if shutil.which("nsenter"):
        proc = subprocess.run(["nsenter", "-u", "-t", str(live.pid), "uname", "-n"],
                              capture_output=True, text=True, timeout=ctx.timeout)
    else:
        proc = ctx.pyker("exec", live.id, "hostname")
    if proc.returncode != 0:
        raise Unmet(f"impossible de lire le nom d'hôte du conteneur « {live.name} » : "
                    f"{proc.stderr.strip()}", pid=live.pid)
    return proc.stdout.strip()
