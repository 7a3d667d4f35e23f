"""``-v``, ``--mount`` and ``--tmpfs``: what a container asks to mount, parsed as Docker does.

Three syntaxes, one value (:class:`MountSpec`):

* ``-v [SRC:]DST[:MODE]`` — SRC absolute is a host path (bind), else a volume name; no SRC is
  an anonymous volume. MODE is a comma list of ``ro``/``rw``, ``z``/``Z`` (SELinux labels:
  accepted, no LSM here), ``nocopy`` and one propagation word. A missing host path is made
  as a directory at create time (Docker's historical ``-v`` behaviour).
* ``--mount type=volume|bind|tmpfs,src=…,dst=…,readonly,…`` — CSV of key=value; a missing
  bind source is an error, not created.
* ``--tmpfs DST[:OPTIONS]`` — a tmpfs with ``size=``, ``mode=`` and mount(8) words.

Everything here is pure, so a bad flag fails before anything exists; messages are Docker's
(``invalid volume specification: ':/x'``, ``invalid mount config for type "bind": …``).
"""

from __future__ import annotations

import csv
import posixpath
import re
from dataclasses import asdict, dataclass, replace

from pyker.errors import UsageError

# Docker's local driver names: two characters at least, nothing that could be a path.
VOLUME_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
DEFAULT_PROPAGATION = "rprivate"
# The mount(8) words a tmpfs may take, and the data options tmpfs(5) knows.
_TMPFS_WORDS = {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "sync",
                "async", "dirsync", "atime", "noatime", "diratime", "nodiratime",
                "relatime", "norelatime", "strictatime"}
_TMPFS_DATA = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}
TMPFS_DEFAULTS = ("nosuid", "nodev", "noexec")


@dataclass(frozen=True, slots=True, kw_only=True)
class MountSpec:
    """One mount of a container: asked (CLI) and, after create, resolved (a volume name)."""

    type: str                       # volume, bind or tmpfs
    target: str                     # absolute path in the container, cleaned
    source: str = ""                # volume name or host path; "" = anonymous volume, tmpfs
    readonly: bool = False
    mode: str = ""                  # -v's MODE as given: inspect's Mounts[].Mode
    propagation: str = ""           # bind only: rprivate when not asked
    nocopy: bool = False            # volume: no copy-up of the image's content
    create_source: bool = False     # -v bind: a missing host path becomes a directory
    anonymous: bool = False         # volume made for this container (64-hex name)
    options: tuple[str, ...] = ()   # tmpfs: size=, mode=, mount(8) words
    labels: tuple[str, ...] = ()    # --mount volume-label=k=v, for a volume it creates

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> MountSpec:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "options": tuple(known.get("options", ())),
                      "labels": tuple(known.get("labels", ()))})


def check_volume_name(name: str) -> None:
    """Docker's local-driver rule: no ``/``, no ``..``, so a name stays under volumes/."""
    if not VOLUME_NAME_RE.fullmatch(name):
        raise UsageError(f'create {name}: "{name}" includes invalid characters for a local '
                         'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you '
                         "intended to pass a host directory, use absolute path")


def _clean_target(kind: str, target: str) -> str:
    if not target:
        raise UsageError(f'invalid mount config for type "{kind}": field Target must not '
                         "be empty")
    if not target.startswith("/"):
        raise UsageError(f'invalid mount config for type "{kind}": invalid mount path: '
                         f"'{target}' mount path must be absolute")
    cleaned = posixpath.normpath(target).replace("//", "/")
    if cleaned == "/":
        raise UsageError(f'invalid mount config for type "{kind}": destination can\'t be "/"')
    return cleaned


def _parse_mode(raw: str, mode: str) -> tuple[bool, str, bool]:
    """``-v``'s MODE → (readonly, propagation, nocopy); one rw word and one propagation."""
    words = mode.split(",") if mode else []
    rw = [w for w in words if w in ("ro", "rw")]
    prop = [w for w in words if w in PROPAGATIONS]
    rest = [w for w in words if w not in ("ro", "rw", "z", "Z", "nocopy", *PROPAGATIONS)]
    if rest or len(rw) > 1 or len(prop) > 1 or words.count("nocopy") > 1:
        raise UsageError(f"invalid mode: {mode}")
    return rw == ["ro"], prop[0] if prop else "", "nocopy" in words


def _valid_mode(text: str) -> bool:
    try:
        _parse_mode("", text)
    except UsageError:
        return False
    return True


def parse_volume(raw: str) -> MountSpec:
    """``-v``/``--volume``: ``[SRC:]DST[:MODE]``.

    Raises:
        UsageError: an empty section, too many sections, a bad mode, a relative target,
            or a volume name Docker refuses.
    """
    parts = raw.split(":")
    if not raw or len(parts) > 3 or any(p == "" for p in parts):
        raise UsageError(f"invalid volume specification: '{raw}'")
    if len(parts) == 2 and _valid_mode(parts[1]) and not parts[1].startswith("/"):
        raise UsageError(f"invalid volume specification: '{raw}'")  # DST:MODE, no source
    source, target = ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    mode = parts[2] if len(parts) == 3 else ""
    readonly, propagation, nocopy = _parse_mode(raw, mode)
    kind = "bind" if source.startswith("/") else "volume"
    target = _clean_target(kind, target)
    if kind == "bind":
        if nocopy:
            raise UsageError(f"invalid mode: {mode}")  # copy-up is a volume's
        return MountSpec(type="bind", source=posixpath.normpath(source), target=target,
                         readonly=readonly, mode=mode,
                         propagation=propagation or DEFAULT_PROPAGATION, create_source=True)
    if propagation:
        raise UsageError(f"invalid mode: {mode}")  # propagation is a bind mount's
    if source:
        check_volume_name(source)
    return MountSpec(type="volume", source=source, target=target, readonly=readonly,
                     mode=mode, nocopy=nocopy)


def _flag_bool(key: str, value: str | None, raw: str) -> bool:
    if value is None or value.lower() in ("1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise UsageError(f"invalid value for {key}: {value} in '{raw}'")


def _mount_fields(raw: str) -> dict[str, str | None]:
    try:
        row = next(csv.reader([raw]), [])
    except csv.Error as err:
        raise UsageError(f"invalid argument \"{raw}\" for \"--mount\" flag: {err}") from None
    fields: dict[str, str | None] = {}
    for item in row:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise UsageError(f"invalid field '{item}' must be a key=value pair")
        if key == "volume-label":
            fields["volume-label"] = ",".join(filter(None, (fields.get("volume-label"),
                                                            value)))
            continue
        fields[key] = value if sep else None
    return fields


_MOUNT_KEYS = {"type", "source", "src", "target", "destination", "dst", "readonly", "ro",
               "bind-propagation", "bind-nonrecursive", "volume-nocopy", "volume-label",
               "volume-driver", "volume-opt", "tmpfs-size", "tmpfs-mode", "consistency"}


def parse_mount(raw: str) -> MountSpec:
    """``--mount``: Docker's CSV of key=value (``type`` defaults to ``volume``).

    Raises:
        UsageError: an unknown key or type, a missing or relative target, a source where
            none belongs, or options of another mount type.
    """
    fields = _mount_fields(raw)
    for key in fields:
        if key not in _MOUNT_KEYS:
            raise UsageError(f"unexpected key '{key}' in '{raw}'")
    kind = fields.get("type") or "volume"
    if kind not in ("volume", "bind", "tmpfs"):
        raise UsageError(f'invalid mount config for type "{kind}": mount type unknown')
    source = fields.get("source") or fields.get("src") or ""
    target = fields.get("target") or fields.get("destination") or fields.get("dst") or ""
    if not target:
        raise UsageError("target is required")
    target = _clean_target(kind, target)
    readonly = any(_flag_bool(k, fields[k], raw) for k in ("readonly", "ro") if k in fields)
    for prefix in ("bind-", "volume-", "tmpfs-"):
        if prefix[:-1] != kind and any(k.startswith(prefix) for k in fields):
            raise UsageError(f"cannot mix '{prefix}*' options with mount type '{kind}'")
    if kind == "bind":
        return _bind_mount(fields, source, target, readonly)
    if kind == "tmpfs":
        if source:
            raise UsageError('invalid mount config for type "tmpfs": field Source must not '
                             "be specified")
        options = []
        if fields.get("tmpfs-size"):
            options.append(f"size={_size(fields['tmpfs-size'] or '', '--mount')}")
        if fields.get("tmpfs-mode"):
            options.append(f"mode={_octal(fields['tmpfs-mode'] or '')}")
        return MountSpec(type="tmpfs", target=target, readonly=readonly,
                         options=tuple(options))
    if fields.get("volume-driver") not in (None, "local"):
        raise UsageError(f"plugin \"{fields['volume-driver']}\" not found: pyker has the "
                         "local volume driver only")
    if source:
        check_volume_name(source)
    labels = tuple(filter(None, (fields.get("volume-label") or "").split(",")))
    return MountSpec(type="volume", source=source, target=target, readonly=readonly,
                     nocopy=_flag_bool("volume-nocopy", fields["volume-nocopy"], raw)
                     if "volume-nocopy" in fields else False, labels=labels)


def _bind_mount(fields: dict[str, str | None], source: str, target: str,
                readonly: bool) -> MountSpec:
    if not source:
        raise UsageError('invalid mount config for type "bind": field Source must not be '
                         "empty")
    if not source.startswith("/"):
        raise UsageError(f'invalid mount config for type "bind": invalid mount path: '
                         f"'{source}' mount path must be absolute")
    propagation = fields.get("bind-propagation") or DEFAULT_PROPAGATION
    if propagation not in PROPAGATIONS:
        raise UsageError(f"invalid value for bind-propagation: {propagation}")
    return MountSpec(type="bind", source=posixpath.normpath(source), target=target,
                     readonly=readonly, propagation=propagation)


def _size(text: str, flag: str) -> int:
    from pyker.runtime.options import parse_bytes

    return parse_bytes(text, flag)


def _octal(text: str) -> str:
    try:
        value = int(text, 8)
    except ValueError:
        raise UsageError(f"invalid tmpfs mode: {text}: want an octal number") from None
    if not 0 <= value <= 0o7777:
        raise UsageError(f"invalid tmpfs mode: {text}: want an octal number")
    return f"{value:o}"


def parse_tmpfs(raw: str) -> MountSpec:
    """``--tmpfs DST[:OPTIONS]``: ``size=64m`` becomes bytes, ``mode=`` must be octal.

    Raises:
        UsageError: a relative target, an option tmpfs(5) and mount(8) do not know.
    """
    target, _, text = raw.partition(":")
    target = _clean_target("tmpfs", target)
    options, readonly = [], False
    for word in filter(None, text.split(",")):
        key, sep, value = word.partition("=")
        if sep and key in _TMPFS_DATA:
            if key == "size":
                value = str(_size(value, "--tmpfs"))
            elif key == "mode":
                value = _octal(value)
            options.append(f"{key}={value}")
        elif not sep and word in _TMPFS_WORDS:
            if word in ("ro", "rw"):
                readonly = word == "ro"
            else:
                options.append(word)
        else:
            raise UsageError(f'invalid tmpfs option ["{word}"] in "{raw}"')
    return MountSpec(type="tmpfs", target=target, readonly=readonly, options=tuple(options))


def parse_volumes_from(raw: str) -> tuple[str, str]:
    """``--volumes-from CONTAINER[:ro|rw]`` → (container, mode); mode "" keeps each one's."""
    container, _, mode = raw.partition(":")
    if not container or mode not in ("", "ro", "rw"):
        raise UsageError(f"invalid mode: {mode}" if container else
                         f'invalid argument "{raw}" for "--volumes-from" flag')
    return container, mode


def check_unique(mounts: tuple[MountSpec, ...]) -> None:
    """Two mounts on one target: Docker's ``Duplicate mount point``."""
    seen: set[str] = set()
    for m in mounts:
        if m.target in seen:
            raise UsageError(f"Duplicate mount point: {m.target}")
        seen.add(m.target)


def with_readonly(m: MountSpec, mode: str) -> MountSpec:
    """A mount shared through ``--volumes-from`` with its ``:ro``/``:rw`` override."""
    if not mode:
        return m
    return replace(m, readonly=mode == "ro")
