"""``-u name[:group]`` resolved in the *container's* /etc/passwd and /etc/group (passwd(5)).

Docker looks the user up in the image, not on the host: ``-u nobody`` is whatever uid the
image's passwd file gives it. A numeric uid need not exist there. Supplementary groups are
those of group(5) that list the user, as login(1) would set them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyker.errors import UsageError
from pyker.fs.safepath import resolve_in_root


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


def _rows(rootfs: Path, name: str) -> list[list[str]]:
    try:
        text = resolve_in_root(rootfs, f"/etc/{name}").read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, ValueError, OSError):
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve(rootfs: Path, spec: str) -> ExecUser:
    """Resolve ``user[:group]`` (names or numbers) inside ``rootfs``.

    Raises:
        UsageError: a name not in the image's passwd/group (Docker's wording).
    """
    user, _, group = (spec or "0").partition(":")
    passwd = _rows(rootfs, "passwd")
    entry = next((r for r in passwd if len(r) >= 7 and (r[0] == user or r[2] == user)), None)
    if entry is not None:
        uid, gid, home, name = int(entry[2]), int(entry[3]), entry[5], entry[0]
    elif user.isdigit():
        uid, gid, home, name = int(user), 0, "/", ""
    else:
        raise UsageError(f"unable to find user {user}: no matching entries in passwd file")
    groups = _rows(rootfs, "group")
    if group:
        found = next((r for r in groups if len(r) >= 3 and (r[0] == group or r[2] == group)), None)
        if found is not None:
            gid = int(found[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise UsageError(f"unable to find group {group}: no matching entries in group file")
    extra = tuple(sorted({int(r[2]) for r in groups if len(r) >= 4 and name
                          and name in r[3].split(",") and int(r[2]) != gid}))
    return ExecUser(uid=uid, gid=gid, additional_gids=extra, home=home or "/")
