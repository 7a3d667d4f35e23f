"""A container's record on disk: what it is (config) and where it is in its life (state).

Each container owns ``<data-root>/containers/<id>/``: ``container.json`` (this record),
``bundle/config.json`` (the OCI runtime spec it runs), ``upper/`` and ``work/`` (its
copy-on-write layer), ``hostname``/``hosts``/``resolv.conf`` (bind-mounted into it) and its
json-lines log. Every write replaces the record atomically, under the container's own lock, so
the CLI, the monitor and a concurrent ``ps`` never see half a record.

Liveness is checked, not trusted: a record that says "running" whose monitor process is gone
(killed with SIGKILL, machine rebooted) is reported as exited or dead, never as a ghost.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from pyker.errors import ContainerNotFound
from pyker.fs.atomic import atomic_write

HEALTH_FILE = "health.json"
LOCK_FILE = "container.lock"  # held while the record is read, changed and written
STATUSES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    status: str = "created"
    pid: int = 0               # host PID of the container's init (its PID 1)
    pid_start: int = 0         # its start time (clock ticks since boot): guards PID reuse
    monitor_pid: int = 0
    monitor_start: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    restart_count: int = 0
    # Docker's State.Health while a HEALTHCHECK runs: {"Status": "starting"|"healthy"|
    # "unhealthy", "FailingStreak": n, "Log": [{"Start", "End", "ExitCode", "Output"}]}. The
    # monitor keeps the latest in health.json (ContainerStore.set_health); None: no check.
    health: dict | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    id: str
    name: str
    image_id: str
    image_ref: str             # the image as the user named it (``busybox``)
    created: str
    path: str                  # argv[0] and the rest, as Docker's Path/Args
    args: tuple[str, ...]
    options: dict[str, object] = field(default_factory=dict, hash=False)  # RunOptions.to_dict()
    state: State = State()

    def to_dict(self) -> dict[str, object]:
        """The document ``save`` writes. Shallow: asdict's deep copy of the options cost
        ~1 ms of each ``run``, for a document that is serialized at once."""
        doc: dict[str, object] = {name: getattr(self, name) for name in _RECORD_FIELDS}
        doc["args"] = list(self.args)
        doc["state"] = {name: getattr(self.state, name) for name in _STATE_FIELDS}
        doc["Image"] = self.image_id  # the key the image store reads to find users
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> Record:
        state = State(**{k: v for k, v in doc.get("state", {}).items()
                         if k in State.__dataclass_fields__})
        return cls(id=doc["id"], name=doc["name"], image_id=doc["image_id"],
                   image_ref=doc["image_ref"], created=doc["created"], path=doc["path"],
                   args=tuple(doc["args"]), options=dict(doc.get("options", {})), state=state)


_RECORD_FIELDS = tuple(f.name for f in fields(Record))
_STATE_FIELDS = tuple(f.name for f in fields(State))


def new_id() -> str:
    return secrets.token_hex(32)


def process_start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (proc(5)), or 0 when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):  # dead, not yet reaped by its parent: not alive
        return 0
    return int(fields[19])


def alive(pid: int, start: int) -> bool:
    return pid > 0 and start > 0 and process_start_time(pid) == start


def container_files(root: Path, name: str = "container.json") -> Iterator[Path]:
    """``root/<id>/name`` of each container in the store: a container being removed (a
    ``.tmp-`` name, pyker.runtime.container.remove) is no longer one."""
    for path in root.glob(f"*/{name}"):
        if not path.parent.name.startswith("."):
            yield path


class ContainerStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, container_id: str) -> Path:
        return self.root / container_id

    def save(self, record: Record, *, durable: bool = True) -> None:
        path = self.dir(record.id)
        path.mkdir(parents=True, exist_ok=True)
        # Compact: json's C encoder (an indented dump takes its pure-Python one, 5× slower).
        atomic_write(path / "container.json",
                     json.dumps(record.to_dict(), separators=(",", ":")).encode(),
                     durable=durable)

    def load(self, container_id: str) -> Record:
        return self.observed(self.load_raw(container_id))

    def modify(self, container_id: str, change: Callable[[Record], Record], *,
               durable: bool = True) -> Record:
        """Read the record, ``change`` it and write it, under the container's lock.

        Two processes write a record: its monitor (each state it goes through) and the
        commands (``stop`` and ``kill`` mark the user's request, ``update``, ``rename``). A
        read-modify-write of one between the other's read and write would lose the other's
        change: a ``stop`` whose mark the monitor overwrote restarted the container.

        Raises:
            ContainerNotFound: no such container (removed meanwhile).
        """
        try:
            lock = os.open(self.dir(container_id) / LOCK_FILE,
                           os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise ContainerNotFound(container_id) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            record = change(self.load_raw(container_id))
            self.save(record, durable=durable)
            return record
        finally:
            os.close(lock)

    def update_state(self, container_id: str, *, durable: bool = True,
                     **changes: object) -> Record:
        """``durable=False`` for states a crash makes meaningless anyway (a running PID:
        after a reboot the record is observed as exited whatever it says)."""
        return self.modify(container_id,
                           lambda record: replace(record, state=replace(record.state, **changes)),
                           durable=durable)

    def update_options(self, container_id: str, change: Callable[[dict], dict]) -> Record:
        """The options ``change`` makes of the current ones (see :meth:`modify`)."""
        return self.modify(container_id,
                           lambda record: replace(record, options=change(dict(record.options))))

    def rename(self, container_id: str, name: str) -> Record:
        """Give the container ``name`` (the caller checked it is valid and free)."""
        return self.modify(container_id, lambda record: replace(record, name=name))

    def load_raw(self, container_id: str) -> Record:
        try:
            doc = json.loads((self.dir(container_id) / "container.json").read_bytes())
        except FileNotFoundError:
            raise ContainerNotFound(container_id) from None
        record = Record.from_dict(doc)
        if record.state.health is not None:  # a HEALTHCHECK ran: its latest state is beside
            try:
                health = json.loads((self.dir(container_id) / HEALTH_FILE).read_bytes())
            except (FileNotFoundError, ValueError):
                return record
            record = replace(record, state=replace(record.state, health=health))
        return record

    def set_health(self, container_id: str, health: dict) -> None:
        """The monitor's record of its health checks (pyker.runtime.health).

        A file of its own, that only the monitor writes: a read-modify-write of the record at
        every probe would race with ``stop`` or ``pause`` writing theirs, and lose one. Not
        fsynced: a crash loses at most the last probe, which the next start resets anyway.
        """
        try:
            atomic_write(self.dir(container_id) / HEALTH_FILE, json.dumps(health).encode(),
                         durable=False)
        except FileNotFoundError:  # the container was removed meanwhile
            pass

    def all(self) -> Iterator[Record]:
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith("."):  # a container being removed (container.remove)
                continue
            try:
                yield self.load(entry.name)
            except (ContainerNotFound, ValueError, KeyError):
                continue  # a record being created or removed right now

    def resolve(self, text: str) -> Record:
        """Find a container by full ID, unique ID prefix, or name (``/name`` too)."""
        records = list(self.all())
        name = text.lstrip("/")
        for record in records:
            if record.id == text or record.name == name:
                return record
        found = [r for r in records if text and r.id.startswith(text)]
        if len(found) == 1:
            return found[0]
        raise ContainerNotFound(text)

    @staticmethod
    def observed(record: Record) -> Record:
        """The record corrected by what the process table says (no ghosts)."""
        s = record.state
        if s.status in ("running", "paused", "restarting") and not alive(s.monitor_pid,
                                                                          s.monitor_start):
            # The monitor died without recording an end: if the container's init is gone
            # too, it exited unobserved; if it still runs, nobody owns it any more.
            # Nobody probes its health any more: Docker says unhealthy then.
            health = None if s.health is None else {**s.health, "Status": "unhealthy"}
            if alive(s.pid, s.pid_start):
                return replace(record, state=replace(s, status="dead", health=health,
                                                     error="monitor process died"))
            return replace(record, state=replace(s, status="exited", exit_code=s.exit_code or 137,
                                                 error="monitor process died", pid=0,
                                                 health=health))
        return record

