"""A service's ``volumes``, short and long syntax, as :class:`model.ServiceVolume`.

Short syntax ``SOURCE:TARGET[:MODE]`` (MODE: ``ro``, ``rw``, ``nocopy``, ``z``/``Z``,
comma-separated) reads SOURCE by its first character, as Compose does:

* ``/abs`` is a bind mount; ``./rel`` and ``../rel`` are binds resolved against the project
  directory (so the same file works from any working directory); ``~/x`` is under $HOME;
* anything else is a *named volume* and must be declared under top-level ``volumes:``
  (Compose refuses an undeclared one rather than create it silently);
* a lone ``/path`` is an anonymous volume.

Short-syntax binds create a missing host directory (Docker's ``-v`` legacy); long-syntax
binds do so only with ``bind: {create_host_path: true}``, as the Compose specification
says. SELinux labels (``z``/``Z``) are accepted and have no effect: pyker does not label.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from pyker.compose import model
from pyker.compose.fields import (At, Context, boolean, check_keys, optional_mapping,
                                  sequence, size, string)

_MODES = {"ro", "rw", "nocopy", "z", "Z"}
_LONG_KEYS = ("type", "source", "target", "read_only", "bind", "volume", "tmpfs",
              "consistency")
_TYPES = ("volume", "bind", "tmpfs")


def parse_volumes(value: Any, at: At, ctx: Context) -> tuple[model.ServiceVolume, ...]:
    """Raises: ComposeError naming the item (``volumes[1]``) and what is wrong with it."""
    found: list[model.ServiceVolume] = []
    for i, item in enumerate(sequence(value, at)):
        where = at.item(value, i)
        if isinstance(item, dict):
            found.append(_long(item, where, ctx))
        elif isinstance(item, str):
            found.append(_short(item, where, ctx))
        else:
            raise where.must_be("a string or a mapping")
    return tuple(found)


def _short(text: str, at: At, ctx: Context) -> model.ServiceVolume:
    parts = text.split(":")
    if len(parts) > 3 or any(not part for part in parts):
        raise at.fail(f'invalid volume specification "{text}"')
    if len(parts) == 1:
        return model.ServiceVolume(type="volume", target=_target(parts[0], at))
    source, target = parts[0], _target(parts[1], at)
    words = set(parts[2].split(",")) if len(parts) == 3 else set()
    if words - _MODES or {"ro", "rw"} <= words:
        raise at.fail(f'invalid mode "{parts[2]}" in "{text}": use ro or rw, nocopy, z or Z')
    read_only = "ro" in words
    if _is_path(source):
        if "nocopy" in words:
            raise at.fail(f'invalid mode "{parts[2]}" in "{text}": nocopy is for volumes')
        return model.ServiceVolume(type="bind", source=_host_path(source, ctx),
                                   target=target, read_only=read_only)
    _check_declared(source, at, ctx)
    return model.ServiceVolume(type="volume", source=source, target=target,
                               read_only=read_only, nocopy="nocopy" in words)


def _long(item: dict[str, Any], at: At, ctx: Context) -> model.ServiceVolume:
    check_keys(item, at, _LONG_KEYS)
    kind = string(item.get("type") or "", at.child(item, "type"))
    if kind not in _TYPES:
        raise at.child(item, "type").fail(
            f'invalid mount type "{kind}": pyker supports volume, bind and tmpfs')
    if "target" not in item:
        raise at.fail("missing target")
    target = _target(string(item["target"], at.child(item, "target")), at)
    source = string(item.get("source") or "", at.child(item, "source"))
    read_only = boolean(item.get("read_only", False), at.child(item, "read_only"))
    options = {key: optional_mapping(item.get(key), at.child(item, key))
               for key in ("bind", "volume", "tmpfs")}
    for key, opts in options.items():
        if opts and key != kind:
            raise at.child(item, key).fail(f'options of a "{key}" mount on a "{kind}" mount')
    common = {"type": kind, "target": target, "read_only": read_only}
    if kind == "bind":
        return _long_bind(source, options["bind"], at.child(item, "bind"), ctx, common)
    if kind == "tmpfs":
        if source:
            raise at.child(item, "source").fail("a tmpfs mount has no source")
        return model.ServiceVolume(**common, tmpfs_size=_tmpfs_size(
            options["tmpfs"], at.child(item, "tmpfs")))
    check_keys(options["volume"], at.child(item, "volume"), ("nocopy",))
    if source:
        _check_declared(source, at, ctx)
    nocopy = boolean(options["volume"].get("nocopy", False), at.child(item, "volume"))
    return model.ServiceVolume(**common, source=source, nocopy=nocopy)


def _long_bind(source: str, opts: dict[str, Any], at: At, ctx: Context,
               common: dict[str, Any]) -> model.ServiceVolume:
    check_keys(opts, at, ("create_host_path", "selinux"))
    if not source:
        raise at.fail("a bind mount needs a source")
    create = boolean(opts.get("create_host_path", False), at.child(opts, "create_host_path"))
    return model.ServiceVolume(**common, source=_host_path(source, ctx),
                               create_host_path=create)


def _tmpfs_size(opts: dict[str, Any], at: At) -> int:
    check_keys(opts, at, ("size",))
    return size(opts["size"], at.child(opts, "size")) if "size" in opts else 0


def _target(text: str, at: At) -> str:
    if not text.startswith("/"):
        raise at.fail(f'invalid mount target "{text}": must be an absolute path')
    cleaned = posixpath.normpath(text)
    if cleaned == "/":
        raise at.fail('invalid mount target "/": cannot mount over the root')
    return cleaned.replace("//", "/")


def _is_path(source: str) -> bool:
    return source.startswith(("/", ".", "~"))


def _host_path(source: str, ctx: Context) -> str:
    if source == "~" or source.startswith("~/"):
        source = ctx.home + source[1:]
    return os.path.normpath(os.path.join(ctx.project_dir, source))


def _check_declared(source: str, at: At, ctx: Context) -> None:
    if source not in ctx.volumes:
        raise at.error(f"{at.owner} refers to undefined volume {source}: "
                       "invalid compose project")
