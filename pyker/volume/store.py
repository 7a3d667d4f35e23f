"""The volumes on disk, in Docker's layout for its ``local`` driver.

Each volume is a directory ``<data-root>/volumes/<name>/`` holding ``_data`` (what containers
see, bind-mounted at their target) and ``volume.json`` (Name, Driver, Mountpoint, CreatedAt,
Labels, Scope, Options). A name matches ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``, so it has no ``/``
and is never ``..``: it cannot lead out of ``volumes/``.

Writes happen under one lock (``volumes/lock``) and each record is replaced atomically; a
volume is created as ``.tmp-<pid>-<name>`` then renamed into place, so a killed command
leaves no half volume (the sweep removes the temporary). Who uses a volume is its caller's
knowledge (containers): :meth:`VolumeStore.remove` takes a function that answers it, called
under the lock, so a container created meanwhile cannot start using a volume being removed
if its creator holds the same lock (``pyker.runtime.volumes`` does).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pyker.errors import StoreCorrupt, VolumeError, VolumeInUse, VolumeNotFound
from pyker.fs import atomic, lock
from pyker.volume.mountspec import VOLUME_NAME_RE, check_volume_name

# Docker's marker of an anonymous volume (23.0+): ``volume prune`` without -a removes these.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
RECORD = "volume.json"

Users = Callable[[str], list[str]]   # volume name -> ids of the containers that use it


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    name: str
    mountpoint: str
    created: str
    driver: str = "local"
    scope: str = "local"
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    options: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def to_dict(self) -> dict[str, object]:
        """``docker volume inspect``'s document (its key names)."""
        return {"CreatedAt": self.created, "Driver": self.driver, "Labels": dict(self.labels),
                "Mountpoint": self.mountpoint, "Name": self.name,
                "Options": dict(self.options) or None, "Scope": self.scope}

    @classmethod
    def from_dict(cls, doc: dict) -> Volume:
        return cls(name=doc["Name"], mountpoint=doc["Mountpoint"], created=doc["CreatedAt"],
                   driver=doc.get("Driver", "local"), scope=doc.get("Scope", "local"),
                   labels=dict(doc.get("Labels") or {}), options=dict(doc.get("Options") or {}))


def _now() -> str:
    """Go's RFC 3339 in local time, as Docker writes CreatedAt (``Z`` for UTC)."""
    text = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _event(action: str, volume: Volume, volumes_dir: Path) -> None:
    """Docker's volume event (pyker.events), in the journal of the data root."""
    from pyker import events

    events.volume(volumes_dir.parent, action, volume.name, driver=volume.driver)


class VolumeStore:
    """The volumes under ``<root>/volumes/`` (``root`` is the data root)."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "volumes"

    def data_dir(self, name: str) -> Path:
        check_volume_name(name)
        return self.dir / name / "_data"

    # --- reading (no lock) -------------------------------------------------------------

    def _read(self, name: str) -> Volume | None:
        path = self.dir / name / RECORD
        try:
            return Volume.from_dict(json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as err:
            raise StoreCorrupt(f"{path}: unreadable volume record: {err}") from None

    def list(self) -> list[Volume]:
        if not self.dir.is_dir():
            return []
        found = []
        for entry in sorted(self.dir.iterdir()):
            if entry.is_dir() and VOLUME_NAME_RE.fullmatch(entry.name):
                volume = self._read(entry.name)
                if volume is not None:
                    found.append(volume)
        return found

    def get(self, name: str) -> Volume:
        """Raises: VolumeNotFound."""
        volume = self._read(name) if VOLUME_NAME_RE.fullmatch(name) else None
        if volume is None:
            raise VolumeNotFound(name)
        return volume

    # --- writing (under the lock) ------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the volumes lock (also taken by container creation: see module doc)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with lock.exclusive(self.dir / "lock"):
            atomic.sweep_temporaries(self.dir)
            yield

    def create(self, name: str = "", *, labels: dict[str, str] | None = None,
               anonymous: bool = False) -> Volume:
        """A new volume, or the existing one of that name (Docker's create is idempotent).

        Call under :meth:`locked`. ``name`` "" draws 64 hex digits.

        Raises:
            UsageError: a name Docker refuses.
        """
        name = name or secrets.token_hex(32)
        check_volume_name(name)
        existing = self._read(name)
        if existing is not None:
            _event("create", existing, self.dir)  # as Docker's, whose create is idempotent
            return existing
        labels = {**(labels or {}), **({ANONYMOUS_LABEL: ""} if anonymous else {})}
        volume = Volume(name=name, mountpoint=str(self.dir / name / "_data"), created=_now(),
                        labels=labels)
        tmp = self.dir / f"{atomic.temp_prefix()}{name}"
        (tmp / "_data").mkdir(parents=True)
        os.chmod(tmp, 0o701)  # Docker's: the owner lists it; others reach _data by name only
        (tmp / "_data").chmod(0o755)
        (tmp / RECORD).write_text(json.dumps(volume.to_dict(), indent=1, sort_keys=True))
        try:
            os.rename(tmp, self.dir / name)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise VolumeError(f"create {name}: rename {tmp}: {err.strerror}") from err
        atomic.fsync_dir(self.dir)
        _event("create", volume, self.dir)
        return volume

    def remove(self, name: str, users: Users, *, force: bool = False) -> None:
        """Delete a volume and its data, refused while a container uses it.

        ``force`` only makes a missing volume no error (Docker's ``volume rm -f``): a volume in
        use is never deleted.

        Raises:
            VolumeNotFound: no such volume (without ``force``).
            VolumeInUse: containers use it, running or not.
        """
        with self.locked():
            self._remove(name, users, force=force)

    def _remove(self, name: str, users: Users, *, force: bool) -> None:
        volume = self._read(name) if VOLUME_NAME_RE.fullmatch(name) else None
        if volume is None:
            if force:
                return
            raise VolumeNotFound(name)
        using = users(name)
        if using:
            raise VolumeInUse(name, using)
        # Rename first: the volume disappears at once, whole; the data goes after.
        doomed = self.dir / f"{atomic.temp_prefix()}rm-{name}"
        os.rename(self.dir / name, doomed)
        atomic.fsync_dir(self.dir)
        shutil.rmtree(doomed)
        _event("destroy", volume, self.dir)

    def prune(self, users: Users, *, all_volumes: bool = False) -> list[str]:
        """Remove the unused volumes (anonymous only unless ``all_volumes``): their names."""
        removed = []
        with self.locked():
            for volume in self.list():
                if (all_volumes or volume.anonymous) and not users(volume.name):
                    self._remove(volume.name, users, force=True)
                    removed.append(volume.name)
        return removed
