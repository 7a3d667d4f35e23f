"""The build cache: which image a build step made last time, by what went into it.

Docker's classic builder reuses a step when it finds an image whose parent is the current
image and whose config came from the same instruction (moby ``builder/dockerfile/
imageprobe.go``). pyker asks the same question with an explicit key:

* the parent image ID (the cache is a chain: a step is reusable only on the same base);
* the instruction's text *after* substitution (``ENV V=$X`` with another ``X`` differs);
* the build args it sees, as ``NAME=value`` (a RUN gets them in its environment);
* for COPY/ADD, the checksum of its sources (:meth:`BuildContext.checksum`: names, modes
  and contents; not mtimes, so a fresh checkout still hits), or the source image's ID for
  ``COPY --from``.

The key is the sha256 of those, JSON-encoded: stable across runs and machines, and any
change of one input changes it. The index (``<data-root>/buildcache/index.json``) maps keys
to image IDs; it is read without the lock (a stale read is only a miss) and written under
the store's lock, atomically. An entry whose image was removed since is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyker.errors import ImageNotFound
from pyker.fs import atomic
from pyker.image.store import Image, ImageStore

INDEX_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class StepKey:
    """What makes a step what it is (see the module docstring)."""

    parent: str                      # image ID the step starts from; "" for scratch
    instruction: str                 # the instruction's text after substitution
    build_args: Mapping[str, str] = field(default_factory=dict, hash=False)
    sources: str = ""                # COPY/ADD: context checksum, or the --from image ID

    def digest(self) -> str:
        doc = [INDEX_VERSION, self.parent, self.instruction,
               sorted(f"{k}={v}" for k, v in self.build_args.items()), self.sources]
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(data.encode("utf-8", "surrogateescape")).hexdigest()


class BuildCache:
    """The key → image ID index of one data root."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self.path = store.root / "buildcache" / "index.json"
        self.files_dir = store.root / "buildcache" / "files"  # :mod:`.filehash` tables
        self._last: tuple[bytes, dict[str, str]] | None = None  # the bytes parsed last

    def _current(self) -> Mapping[str, str]:
        """The entries, read from disk at each call (another build may have added some);
        parsed again only when the bytes changed (a build reads it at every step). Shared:
        not to be changed (see :meth:`_read`)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}  # none yet: a cold cache
        if self._last is None or self._last[0] != data:
            try:
                doc = json.loads(data)
            except ValueError:
                return {}  # unreadable: a cold cache, never a failed build
            entries = doc.get("entries", {}) if isinstance(doc, dict) else {}
            self._last = (data, {k: v for k, v in entries.items() if isinstance(v, str)})
        return self._last[1]

    def _read(self) -> dict[str, str]:
        return dict(self._current())

    def lookup(self, key: StepKey) -> Image | None:
        """The image this step made before, if it is still in the store; counted as a hit
        or a miss (:func:`lookup_counts`)."""
        image = self._find(key)
        count_lookup(self.store.root, hit=image is not None)
        return image

    def _find(self, key: StepKey) -> Image | None:
        image_id = self._current().get(key.digest())
        if not image_id:
            return None
        try:
            image = self.store.get(image_id)
        except ImageNotFound:
            return None
        # The chain must hold: an image recommitted with another parent is not this step.
        return image if image.parent == key.parent else None

    def record(self, key: StepKey, image_id: str) -> None:
        """Remember ``key`` → ``image_id``; call under :meth:`ImageStore.locked`."""
        entries = self._read()
        live = {i.id for i in self.store.images()}
        entries = {k: v for k, v in entries.items() if v in live}  # forget removed images
        entries[key.digest()] = image_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.atomic_write(self.path, json.dumps(
            {"version": INDEX_VERSION, "entries": entries}, sort_keys=True,
            indent=1).encode())

    def prune(self) -> int:
        """Forget every entry (``builder prune``); return how many there were."""
        count = len(self._read())
        if self.path.exists():
            atomic.atomic_write(self.path, json.dumps(
                {"version": INDEX_VERSION, "entries": {}}).encode())
        shutil.rmtree(self.files_dir, ignore_errors=True)  # the remembered file hashes too
        return count


def _counters(root: Path) -> Path:
    # Beside buildcache/, not in it: the index's directory is made by the first record.
    return root / "buildcache.counters"


def count_lookup(root: Path, *, hit: bool) -> None:
    """Add one hit (``h``) or miss (``m``) to ``<root>/buildcache.counters``.

    One byte appended per lookup with O_APPEND: each write(2) lands whole at the end even
    when builds run side by side, no lock is taken and a killed build cannot leave a
    half-written number. The cost is an open, a one-byte write and a close per build step
    (tens of microseconds) and a file that grows by a byte a step (a megabyte after a
    million steps). Metrics read it (:func:`lookup_counts`); ``builder prune`` keeps it, as
    counters only grow.
    """
    try:
        fd = os.open(_counters(root), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                     0o644)
        try:
            os.write(fd, b"h" if hit else b"m")
        finally:
            os.close(fd)
    except OSError:
        pass  # no data root yet, or a full disk: a lost count is not worth a failed build


def lookup_counts(root: Path) -> tuple[int, int]:
    """``(hits, misses)`` of the build cache of data root ``root`` since it was created."""
    try:
        data = _counters(root).read_bytes()
    except FileNotFoundError:
        return 0, 0
    return data.count(b"h"), data.count(b"m")


def read_entries(path: Path) -> dict[str, str]:
    """The raw index, for tests and ``system check``."""
    try:
        return dict(json.loads(path.read_bytes()).get("entries", {}))
    except (FileNotFoundError, ValueError):
        return {}
