"""Several compose files (``-f base.yaml -f override.yaml``) merged into one, in order.

The rules follow the Compose specification's merge section, which ``docker compose``
applies, on the raw (interpolated, not yet normalised) documents:

* mappings merge key by key, recursively; a later scalar or list replaces an earlier one
  (``image``, ``command``, ``entrypoint``, ``healthcheck.test``: replaced whole);
* ``environment``, ``labels``, ``extra_hosts``, ``build.args``, ``build.labels``,
  ``depends_on`` and service ``networks`` merge by key, whether each file wrote the list or
  the mapping form (both are turned into mappings first);
* ``volumes`` (a service's) merge by mount target: a later mount of ``/data`` replaces the
  earlier one, other mounts add up;
* ``ports``, ``expose``, ``dns``, ``cap_add``, ``cap_drop``, ``security_opt``, ``tmpfs``,
  ``env_file``, ``links``, ``volumes_from``, ``profiles`` append, without duplicates;
* ``build: ./dir`` is read as ``{context: ./dir}`` so an override can change only the
  Dockerfile.

Marks travel with the values, so an error in an override file names that file.
"""

from __future__ import annotations

from typing import Any

from pyker.compose.yamlsrc import MarkedDict, MarkedList, mark_of

_BY_KEY = {"environment", "labels", "extra_hosts", "depends_on", "networks"}
_APPEND = {"ports", "expose", "dns", "cap_add", "cap_drop", "security_opt", "tmpfs",
           "env_file", "links", "volumes_from", "profiles"}
_BUILD_BY_KEY = {"args", "labels"}


def merge_documents(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The documents merged left to right (the first is not modified)."""
    merged = docs[0]
    for doc in docs[1:]:
        merged = _merge_top(merged, doc)
    return merged


def _merge_top(base: dict[str, Any], over: dict[str, Any]) -> MarkedDict:
    out = _copy(base)
    for key, value in over.items():
        if key == "services" and isinstance(out.get(key), dict) and isinstance(value, dict):
            services = _copy(out[key])
            for name, service in value.items():
                old = services.get(name)
                services[name] = (_merge_service(old, service)
                                  if isinstance(old, dict) and isinstance(service, dict)
                                  else service)
                services.marks[name] = mark_of(value, name)
            out[key] = services
        else:
            out[key] = _merge_maps(out.get(key), value)
        out.marks[key] = mark_of(over, key)
    return out


def _merge_service(base: dict[str, Any], over: dict[str, Any]) -> MarkedDict:
    out = _copy(base)
    for key, value in over.items():
        old = out.get(key)
        if key in _BY_KEY:
            value = _merge_maps(_as_map(old, key), _as_map(value, key))
        elif key in _APPEND and isinstance(old, (list, str)) and isinstance(value, (list, str)):
            value = _append(_as_list(old), _as_list(value))
        elif key == "volumes" and isinstance(old, list) and isinstance(value, list):
            value = _merge_mounts(old, value)
        elif key == "build":
            value = _merge_build(_as_build(old), _as_build(value))
        else:
            value = _merge_maps(old, value)
        out[key] = value
        out.marks[key] = mark_of(over, key)
    return out


def _merge_maps(old: Any, new: Any) -> Any:
    """Mappings recursively; anything else: the newer value."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    out = _copy(old)
    for key, value in new.items():
        out[key] = _merge_maps(out.get(key), value)
        out.marks[key] = mark_of(new, key)
    return out


def _merge_build(old: Any, new: Any) -> Any:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    out = _copy(old)
    for key, value in new.items():
        if key in _BUILD_BY_KEY:
            value = _merge_maps(_as_map(out.get(key), key), _as_map(value, key))
        out[key] = value
        out.marks[key] = mark_of(new, key)
    return out


def _merge_mounts(old: list[Any], new: list[Any]) -> MarkedList:
    by_target: dict[Any, tuple[Any, Any]] = {}
    for source in (old, new):
        for i, mount in enumerate(source):
            target = _mount_target(mount)
            key = target if target is not None else ("unnamed", id(mount))
            by_target.pop(key, None)  # the later mount takes the later position
            by_target[key] = (mount, mark_of(source, i))
    return _list(by_target.values(), getattr(new, "mark", None))


def _mount_target(mount: Any) -> str | None:
    if isinstance(mount, dict):
        target = mount.get("target")
        return target if isinstance(target, str) else None
    if isinstance(mount, str):
        parts = mount.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return None


def _append(old: MarkedList, new: MarkedList) -> MarkedList:
    entries: list[tuple[Any, Any]] = []
    for source in (old, new):
        for i, item in enumerate(source):
            if all(item != seen for seen, _ in entries):
                entries.append((item, mark_of(source, i)))
    return _list(entries, getattr(new, "mark", None))


def _as_list(value: Any) -> MarkedList:
    if isinstance(value, MarkedList):
        return value
    out = MarkedList([value] if isinstance(value, str) else value, mark=getattr(value, "mark",
                                                                             ("", 0)))
    out.marks = [out.mark] * len(out)
    return out


def _as_map(value: Any, key: str) -> Any:
    """The list form of a by-key field as its mapping form (other shapes: unchanged)."""
    if not isinstance(value, list):
        return value
    out = MarkedDict(mark=getattr(value, "mark", ("", 0)))
    for i, item in enumerate(value):
        if not isinstance(item, str):
            return value  # a wrong type: left for the normaliser to report
        name, entry = _list_entry(item, key)
        out[name] = entry
        out.marks[name] = mark_of(value, i)
    return out


def _list_entry(item: str, key: str) -> tuple[str, Any]:
    if key in ("depends_on", "networks"):
        return item, ({"condition": "service_started"} if key == "depends_on" else None)
    if key == "extra_hosts":
        sep = "=" if "=" in item else ":"
        name, _, value = item.partition(sep)
        return name, value
    name, has_value, value = item.partition("=")
    return name, (value if has_value else ("" if key == "labels" else None))


def _as_build(value: Any) -> Any:
    if isinstance(value, str):
        out = MarkedDict(mark=("", 0))
        out["context"] = value
        return out
    return value


def _copy(node: dict[str, Any]) -> MarkedDict:
    out = MarkedDict(node, mark=getattr(node, "mark", ("", 0)))
    out.marks = dict(getattr(node, "marks", {}))
    return out


def _list(entries: Any, mark: Any) -> MarkedList:
    pairs = list(entries)
    out = MarkedList((item for item, _ in pairs), mark=mark or ("", 0))
    out.marks = [where for _, where in pairs]
    return out
