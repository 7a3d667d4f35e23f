"""The host's apt sources: where this machine gets Debian from (sources.list(5)).

``pyker bootstrap debian`` runs debootstrap against the same mirror as the host's apt, read
from its configuration (one-line ``*.list`` files and deb822 ``*.sources`` files, in apt's
order), never a hard-coded address.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pyker.errors import BootstrapError

@dataclass(frozen=True, slots=True, kw_only=True)
class DebianSource:
    """One ``deb`` entry of the host's apt configuration: where Debian comes from here."""

    uri: str
    suite: str
    components: tuple[str, ...]
    keyring: Path | None = None  # Signed-By, when it names a keyring file


def host_debian_sources(apt_dir: Path = Path("/etc/apt")) -> DebianSource:
    """The host's source for the main Debian archive, in apt's own reading order.

    apt reads ``sources.list`` (one-line format), then ``sources.list.d/*.list`` and
    ``*.sources`` (deb822) in name order. The first ``deb`` entry that has the
    ``main`` component, a path segment ``debian`` in its URI (so neither
    ``debian-security`` nor a third-party repository) and a plain release suite
    (``bookworm``, not ``bookworm-updates``) wins. Files named ``*.disabled*`` are skipped.

    Raises:
        BootstrapError: no entry qualifies (the message lists the entries that were seen).
    """
    seen: list[DebianSource] = []
    for path in _source_files(apt_dir):
        entries = _parse_deb822(path) if path.suffix == ".sources" else _parse_one_line(path)
        for source in entries:
            if _is_debian_release(source):
                return source
            seen.append(source)
    listed = "; ".join(f"{s.uri} {s.suite}" for s in seen) or "no deb entry"
    raise BootstrapError(f"{apt_dir}: no source for the main Debian archive "
                         f"(deb <mirror>/debian <release> main); found: {listed}")


def _source_files(apt_dir: Path) -> list[Path]:
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    return [p for p in files if p.is_file() and ".disabled" not in p.name]


def _is_debian_release(source: DebianSource) -> bool:
    segments = source.uri.split("://", 1)[-1].lower().split("/")[1:]
    return ("debian" in segments and "main" in source.components
            and "-" not in source.suite and not source.suite.endswith("/"))


def _keyring(value: str | None) -> Path | None:
    """Signed-By is a keyring file, a fingerprint list, or an inline armored key; debootstrap
    can only use the first (for the others, it falls back to its default Debian keyring)."""
    if value and value.startswith("/") and "\n" not in value:
        return Path(value.strip())
    return None


def _parse_one_line(path: Path) -> Iterator[DebianSource]:
    """``deb [ key=value ... ] uri suite [component ...]`` lines (sources.list(5))."""
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        options: dict[str, str] = {}
        if line.startswith("deb") and "[" in line and "]" in line:
            head, rest = line.split("[", 1)
            inner, tail = rest.split("]", 1)
            options = dict(opt.split("=", 1) for opt in inner.split() if "=" in opt)
            line = f"{head.strip()} {tail.strip()}"
        words = line.split()
        if len(words) >= 3 and words[0] == "deb":
            yield DebianSource(uri=words[1], suite=words[2], components=tuple(words[3:]),
                               keyring=_keyring(options.get("signed-by")))


def _parse_deb822(path: Path) -> Iterator[DebianSource]:
    """Stanzas of ``Key: value`` fields separated by blank lines (deb822 format)."""
    for fields in _deb822_stanzas(path.read_text(errors="replace")):
        if fields.get("enabled", "yes").strip().lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield DebianSource(uri=uri, suite=suite, components=components,
                                   keyring=_keyring(fields.get("signed-by")))


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    key = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
        elif line[0] in " \t" and key:  # continuation of a multi-line field
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
