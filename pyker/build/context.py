"""The build context: the files COPY and ADD may read, and nothing else.

``pyker build PATH`` takes a directory (or ``-``: a tar archive on stdin, or a lone
Dockerfile on stdin with no context at all) and a Dockerfile (``-f``; by default
``PATH/Dockerfile``; ``-f -`` reads it from stdin). Docker sends the context to its daemon,
so a build can never read outside it; pyker reads the directory in place, so it must keep
the same promise by itself:

* a source is a path *in the context*: ``/x`` means ``x`` at the context's root (as Docker
  does), and a ``..`` that climbs above the root is refused (``COPY ../secret``), as
  Docker's classic builder did ("forbidden path outside the build context");
* symlinks are followed as if the context were ``/``
  (:func:`pyker.fs.safepath.resolve_in_root`): ``etc -> /etc`` leads to the context's own
  ``etc``, which does not exist, never to the host's;
* inside a copied directory a symlink is copied as a symlink (:meth:`walk` lists it and
  never enters it);
* what ``.dockerignore`` excludes is not there, exactly as if it had not been sent.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from pyker.build.dockerignore import DockerIgnore
from pyker.build.filehash import FileHashes
from pyker.errors import BuildContextError, BuildError
from pyker.fs import safepath
from pyker.fs.compression import sniff
from pyker.fs.layer import apply_layer

DEFAULT_DOCKERFILE = "Dockerfile"
_GLOB = re.compile(r"[*?\[]")
_REMOTE = re.compile(r"^(https?://|git@|git://)")
# Leads every checksum: a change of what is hashed (v2: a file's sha256 rather than its
# bytes) must not let an old cache entry match.
CHECKSUM_FORMAT = b"pyker context checksum v2\0"
_NOT_FOUND = "file not found in build context or excluded by .dockerignore"


def is_remote(source: str) -> bool:
    """An ADD source fetched from the network rather than read from the context."""
    return bool(_REMOTE.match(source))


class BuildContext:
    """A context directory, the Dockerfile's text and the ``.dockerignore`` rules.

    Use as a context manager, or call :meth:`close`: a context read from stdin lives in a
    temporary directory until then.
    """

    def __init__(self, root: Path, dockerfile: str, *, dockerfile_name: str = DEFAULT_DOCKERFILE,
                 ignore: DockerIgnore | None = None, temporary: bool = False) -> None:
        self.root = root
        self.dockerfile = dockerfile
        self.dockerfile_name = dockerfile_name
        self.ignore = ignore or DockerIgnore()
        self._temporary = temporary
        # Remembered file hashes (:meth:`remember_hashes`); by default none: every file read.
        self.hashes = FileHashes()

    def remember_hashes(self, directory: Path) -> None:
        """Keep the hashes of this context's files in ``directory`` across builds (a
        context from stdin is new each time: nothing to remember)."""
        if not self._temporary:
            self.hashes = FileHashes.load(directory, self.root)

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def load(cls, context: str, dockerfile: str | None = None, *,
             stdin: BinaryIO | None = None, cwd: Path | None = None) -> BuildContext:
        """``pyker build [-f DOCKERFILE] CONTEXT`` as Docker reads its arguments.

        ``-f`` is relative to the current directory, not to the context (Docker's rule),
        except for a context from stdin, where it names a file of the archive.

        Raises:
            BuildError: stdin asked for twice, a missing context or Dockerfile.
        """
        cwd = cwd or Path.cwd()
        if context == "-":
            if dockerfile == "-":
                raise BuildError("invalid argument: can't use stdin for both build context "
                                 "and dockerfile")
            return cls.from_stdin(_need(stdin), dockerfile)
        root = (cwd / context).resolve()
        if not root.is_dir():
            raise BuildError(f"unable to prepare context: path {context!r} not found")
        if dockerfile == "-":
            text = _need(stdin).read().decode("utf-8", "surrogateescape")
            return cls(root, text, dockerfile_name=DEFAULT_DOCKERFILE,
                       ignore=DockerIgnore.load(root / ".dockerignore"))
        path = cwd / dockerfile if dockerfile else _default_dockerfile(root)
        name = dockerfile or DEFAULT_DOCKERFILE
        return cls(root, _read_dockerfile(path, name), dockerfile_name=name,
                   ignore=_ignore_for(root, path))

    @classmethod
    def from_stdin(cls, stream: BinaryIO, dockerfile: str | None = None) -> BuildContext:
        """``pyker build - < x``: a tar archive (maybe compressed) is the context; anything
        else is the Dockerfile itself, with an empty context (Docker tells them apart by
        the archive's magic bytes, as here)."""
        head = stream.read(512)
        stream = io.BufferedReader(_Prepended(head, stream))  # type: ignore[arg-type]
        root = Path(tempfile.mkdtemp(prefix="pyker-context-"))
        try:
            if sniff(head) is None and head[257:262] != b"ustar":
                text = stream.read().decode("utf-8", "surrogateescape")
                return cls(root, text, temporary=True)
            # A context tar is untrusted like a layer tar: the same unpacker and rules.
            apply_layer(stream, root, name="build context")
            name = dockerfile or DEFAULT_DOCKERFILE
            path = safepath.resolve_in_root(root, name)
            return cls(root, _read_dockerfile(path, name), dockerfile_name=name,
                       ignore=_ignore_for(root, path), temporary=True)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)
            self._temporary = False

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sources --------------------------------------------------------------------------

    def excluded(self, rel: str) -> bool:
        return self.ignore.matches(rel)

    def resolve(self, source: str) -> list[Path]:
        """The host paths a COPY/ADD source names, all inside the context.

        ``source`` may be absolute (taken from the context root), end with ``/`` (then it
        must be a directory), and hold ``*``, ``?`` and ``[…]`` globs, matched one path
        component at a time as Go's ``filepath.Match``. A directory is returned as itself:
        COPY copies its *contents* (see :meth:`walk`).

        Raises:
            BuildContextError: outside the context, not found (or excluded), not a
                directory despite a trailing ``/``.
        """
        try:
            parts = safepath.clean_parts(source)
        except ValueError:
            raise BuildContextError(source, "forbidden path outside the build context") from None
        if not parts:
            return [self.root]
        found = self._glob(parts) if any(_GLOB.search(p) for p in parts) else \
            self._literal(parts)
        if not found:
            if any(_GLOB.search(p) for p in parts):
                raise BuildContextError(source, "no source files were specified")
            raise BuildContextError(source, _NOT_FOUND)
        if source.endswith("/") and not all(p.is_dir() for p in found):
            raise BuildContextError(source, "not a directory")
        return found

    def _visible(self, host: Path) -> bool:
        """Exists (after the symlinks followed to reach it) and is not excluded."""
        rel = host.relative_to(self.root).as_posix()
        return os.path.lexists(host) and not self.excluded(rel)

    def _literal(self, parts: tuple[str, ...]) -> list[Path]:
        if self.excluded("/".join(parts)):
            return []
        host = safepath.resolve_in_root(self.root, "/".join(parts))
        return [host] if self._visible(host) else []

    def _glob(self, parts: tuple[str, ...]) -> list[Path]:
        current = [self.root]
        for part in parts:
            following: list[Path] = []
            for directory in current:
                following.extend(self._step(directory, part))
            current = following
        return sorted(p for p in current if self._visible(p))

    def _step(self, directory: Path, part: str) -> list[Path]:
        """The entries of ``directory`` that ``part`` names, symlinks resolved in the root."""
        rel_dir = directory.relative_to(self.root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        if not _GLOB.search(part):
            names = [part]
        else:
            regex = _component_regex(part)
            try:
                names = sorted(e.name for e in os.scandir(directory) if regex.fullmatch(e.name))
            except (FileNotFoundError, NotADirectoryError):
                return []
        return [safepath.resolve_in_root(self.root, prefix + name) for name in names
                if not self.excluded(prefix + name)]

    def walk(self, source: Path) -> list[Path]:
        """``source`` and, for a directory, everything below it that is not excluded,
        sorted; symlinks are listed, never entered."""
        out = [source]
        if source.is_symlink() or not source.is_dir():
            return out
        for dirpath, dirnames, filenames in os.walk(source):
            base = Path(dirpath)
            kept = []
            for name in sorted(dirnames):
                rel = (base / name).relative_to(self.root).as_posix()
                if not self.ignore.can_skip_dir(rel):
                    kept.append(name)  # os.walk does not follow symlinked dirs: listed below
                if not self.excluded(rel):
                    out.append(base / name)
            dirnames[:] = kept
            for name in filenames:
                if not self.excluded((base / name).relative_to(self.root).as_posix()):
                    out.append(base / name)
        return sorted(out)

    def checksum(self, paths: Iterable[Path]) -> str:
        """``sha256:…`` of what COPY would copy from ``paths`` (as :meth:`resolve` gives).

        Per entry: its name relative to its source, its mode (type and permissions), and
        its content (a symlink's target; a file's size and sha256). Modification times are
        left out on purpose, as Docker leaves them out of its cache keys: a fresh ``git
        clone`` or a CI checkout stamps every file with the current time, and a cache that
        looked at mtimes would rebuild everything after each checkout though not a byte
        changed; it also makes the same context give the same image on two machines.

        A file's sha256 comes from :attr:`hashes` when its stat is the one it had when it
        was last read (:mod:`pyker.build.filehash`): still the content, without reading it.
        """
        digest = hashlib.sha256()
        digest.update(CHECKSUM_FORMAT)
        for source in paths:
            base = source.parent if not source.is_dir() or source.is_symlink() else source
            entries = sorted((p.relative_to(base).as_posix(), p) for p in self.walk(source))
            for name, path in entries:
                _hash_entry(digest, name, path, self.hashes)
        return "sha256:" + digest.hexdigest()


def _hash_entry(digest: hashlib._Hash, name: str, path: Path, hashes: FileHashes) -> None:
    st = os.lstat(path)
    digest.update(f"{name}\0{st.st_mode:o}\0".encode("utf-8", "surrogateescape"))
    if stat.S_ISLNK(st.st_mode):
        digest.update(os.fsencode(os.readlink(path)))
    elif stat.S_ISREG(st.st_mode):
        digest.update(f"{st.st_size}\0".encode())
        digest.update(hashes.content_hash(path, st))
    digest.update(b"\0")


def _component_regex(part: str) -> re.Pattern[str]:
    """One path component of a glob as Go's ``filepath.Match`` reads it."""
    out, i, in_class = [], 0, False
    while i < len(part):
        ch = part[i]
        i += 1
        if in_class:
            out.append(ch if ch != "\\" else "\\\\")
            in_class = ch != "]"
        elif ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            out.append("[")
            in_class = True
        elif ch == "\\" and i < len(part):
            out.append(re.escape(part[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        raise BuildError(f'syntax error in pattern "{part}"') from None


def _default_dockerfile(root: Path) -> Path:
    path = root / DEFAULT_DOCKERFILE
    # Docker falls back to a lowercase ``dockerfile`` when there is no ``Dockerfile``.
    return path if path.exists() or not (root / "dockerfile").exists() else root / "dockerfile"


def _read_dockerfile(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise BuildError(f"unable to prepare context: cannot find {name}: {path}") from None
    except IsADirectoryError:
        raise BuildError(f"unable to prepare context: {name} is a directory") from None


def _ignore_for(root: Path, dockerfile: Path) -> DockerIgnore:
    """A Dockerfile's own ignore file (``app.Dockerfile.dockerignore`` beside it) wins over
    the context's ``.dockerignore``, as in BuildKit."""
    own = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return DockerIgnore.load(own if own.is_file() else root / ".dockerignore")


def _need(stdin: BinaryIO | None) -> BinaryIO:
    if stdin is None:
        raise BuildError("no standard input to read the build context or Dockerfile from")
    return stdin


class _Prepended(io.RawIOBase):
    """``head`` (already read to sniff the format) followed by the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
