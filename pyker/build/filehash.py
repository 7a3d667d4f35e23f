"""Content hashes of build-context files, remembered by their stat so that a rebuild does not
read every file again (git's index and BuildKit's content-hash cache do the same).

A COPY's cache key is the *content* of its sources (:meth:`BuildContext.checksum`), so a
cached rebuild used to read and hash every file it copies: nothing for a small context,
seconds for a large one (a ``node_modules``, a data set). Here each regular file's sha256 is
kept with what ``lstat`` said of the file when it was read: device, inode, size, mtime and
ctime (ns). A later build that finds the same five values takes the hash without opening the
file. The key stays the content: the stat only decides whether the content must be read.

Why the five values are enough, and when they are not trusted:

* a write changes mtime and ctime; ``touch -d`` or ``os.utime`` can put mtime back, but
  ctime cannot be set by a user (it moves on any change, utime included); a file replaced
  by another (an editor's rename, a ``git checkout``) has another inode or ctime;
* timestamps are coarse (the kernel's clock tick, a second or two on some filesystems): a
  file written again within the same tick as the stat keeps the same times. As git's
  "racy" rule, a file whose mtime or ctime is less than :data:`RACY_NS` before the moment it
  was read is hashed but not remembered, so it is read again at every build until it is
  older than that;
* a stat that does not match (a changed file, a moved clock) is simply a miss: the file is
  read and its new hash remembered.

The table of one context directory is a JSON file under ``<data-root>/buildcache/files/``,
named by the hash of the directory's path; written atomically when it changed, only by a
build that had to read files. A context read from stdin (a temporary directory) has none.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyker.fs import atomic

#: A file changed less than this long before it was read is not remembered (see above).
RACY_NS = 2_000_000_000
TABLE_VERSION = 1
MAX_ENTRIES = 200_000
_CHUNK = 1 << 20


def _sha256_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    # O_NOFOLLOW: a file swapped for a symlink since its lstat is refused, not followed.
    with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


@dataclass(slots=True)
class FileHashes:
    """The remembered hashes of one context directory (``table`` None: remember nothing)."""

    table: Path | None = None
    root: str = ""
    # path -> [st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns, sha256 hex]
    entries: dict[str, list] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def load(cls, directory: Path, root: Path) -> FileHashes:
        """The table kept in ``directory`` for the context at ``root`` (empty if there is
        none or it is unreadable: a cold cache, never a failed build)."""
        text = os.fsdecode(root)
        table = directory / f"{hashlib.sha256(os.fsencode(root)).hexdigest()[:32]}.json"
        try:
            doc = json.loads(table.read_bytes())
            entries = doc["entries"] if doc["version"] == TABLE_VERSION and \
                doc["root"] == text else {}
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            entries = {}
        return cls(table=table, root=text, entries=entries if isinstance(entries, dict) else {})

    def content_hash(self, path: Path, st: os.stat_result) -> bytes:
        """sha256 of the regular file at ``path``, whose ``lstat`` is ``st``."""
        key = os.fsdecode(path)
        stamp = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        known = self.entries.get(key)
        if isinstance(known, list) and len(known) == 6 and known[:5] == stamp:
            try:
                return bytes.fromhex(known[5])
            except (TypeError, ValueError):
                pass  # a damaged entry: read the file
        read_at = time.time_ns()
        value = _sha256_file(path)
        if self.table is not None and max(st.st_mtime_ns, st.st_ctime_ns) < read_at - RACY_NS:
            self.entries[key] = [*stamp, value.hex()]
            self.changed = True
        return value

    def save(self) -> None:
        """Write the table if this build had to read files. Entries of files that are gone
        are dropped then (another Dockerfile of the same context keeps its own)."""
        if self.table is None or not self.changed:
            return
        kept = {k: v for k, v in self.entries.items() if os.path.lexists(k)}
        if len(kept) > MAX_ENTRIES:  # a bound for huge contexts: the last ones added
            kept = dict(list(kept.items())[-MAX_ENTRIES:])
        doc = {"version": TABLE_VERSION, "root": self.root, "entries": kept}
        try:
            self.table.parent.mkdir(parents=True, exist_ok=True)
            atomic.atomic_write(self.table, json.dumps(doc, separators=(",", ":")).encode())
        except OSError:
            pass  # a cache that cannot be written is a cold cache next time, not a failure
        self.changed = False
