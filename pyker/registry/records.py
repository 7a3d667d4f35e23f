"""What this store remembers of registries: where a blob is known to live, and which image a
registry's manifest digest gave (Docker keeps the same two tables, its "v2 metadata" and
``RepoDigests``).

* **Blob sources** make cross-repository mounts possible: pushing ``app2`` after ``app1`` on
  the same registry, a layer ``app1`` already has is *mounted* (``Mounted from app1``)
  instead of sent again.
* **Repo digests**: a pull converts a registry's image into the store's own form (as
  ``pyker load`` does: OCI manifest, uncompressed layers), so a gzip'd image's local
  manifest digest differs from the registry's; the record maps ``host/repo@sha256:…`` to the
  image ID, for ``pull`` to see an image it already has, and for ``inspect``'s RepoDigests.

One JSON file, ``<data-root>/distribution/records.json``, replaced atomically under a lock of
its own (the image store's lock is not held across network transfers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pyker.fs import lock
from pyker.fs.atomic import atomic_write

MAX_SOURCES = 8       # repositories remembered per blob
MAX_ENTRIES = 20_000  # per table; the oldest go first


class Records:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "records.json"

    def _read(self) -> dict[str, dict]:
        try:
            doc = json.loads(self.path.read_bytes())
        except (FileNotFoundError, ValueError):
            doc = {}  # a lost record costs a re-upload or a re-download, never correctness
        if not isinstance(doc, dict):
            doc = {}
        return {"sources": dict(doc.get("sources") or {}),
                "repodigests": dict(doc.get("repodigests") or {})}

    def sources(self, digest: str, registry: str) -> list[str]:
        """Repositories of ``registry`` known to hold ``digest``, most recent first."""
        names = self._read()["sources"].get(digest) or []
        prefix = f"{registry}/"
        return [n[len(prefix):] for n in reversed(names) if n.startswith(prefix)]

    def image_for(self, repo_digest: str) -> str | None:
        """The image ID a ``host/repo@sha256:…`` gave when it was pulled or pushed."""
        found = self._read()["repodigests"].get(repo_digest)
        return found if isinstance(found, str) else None

    def repo_digests(self, image_id: str) -> list[str]:
        return sorted(k for k, v in self._read()["repodigests"].items() if v == image_id)

    def remember(self, *, registry: str, repository: str, blobs: Iterable[str] = (),
                 manifest_digest: str | None = None, image_id: str | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        where = f"{registry}/{repository}"
        with lock.exclusive(self.root / "lock"):
            doc = self._read()
            sources = doc["sources"]
            for digest in blobs:
                names = [n for n in sources.pop(digest, []) if n != where] + [where]
                sources[digest] = names[-MAX_SOURCES:]
            if manifest_digest and image_id:
                doc["repodigests"].pop(f"{where}@{manifest_digest}", None)
                doc["repodigests"][f"{where}@{manifest_digest}"] = image_id
            for table in doc.values():
                for key in list(table)[:max(0, len(table) - MAX_ENTRIES)]:
                    del table[key]
            atomic_write(self.path, json.dumps(doc, sort_keys=False).encode(), mode=0o600)
