"""A service's ``ports`` and ``expose``, in every syntax, as :class:`model.Port` and strings.

Short syntax is ``run -p``'s (``"80"``, ``"8080:80"``, ``"127.0.0.1:8080:80"``,
``"127.0.0.1::80"``, ``"8000-8001:80-81"``, ``"53:53/udp"``; a bare integer is a container
port), so it is parsed by :func:`pyker.network.ports.parse_publish`, which ``run -p``
uses: a compose port and a ``-p`` flag cannot drift apart. A range maps one to one and is
expanded into one Port per container port; a host range against one container port
(``"8000-8010:80"``) stays one Port whose ``published`` is the range. The long syntax
(``{target, published, host_ip, protocol, mode}``) is written back into the short one and
goes through the same parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyker.compose import model
from pyker.compose.fields import At, check_keys, integer, sequence, string
from pyker.errors import UsageError
from pyker.network.ports import (PROTOCOLS, PortBinding, PortRangeError, exposed_ports,
                                 parse_port_number, parse_port_range, parse_publish)

_LONG_KEYS = ("target", "published", "host_ip", "protocol", "mode", "name", "app_protocol")


def parse_ports(value: Any, at: At) -> tuple[model.Port, ...]:
    """Raises: ComposeError ``service "web": ports[1]: invalid port "abc"`` and the like."""
    found: list[model.Port] = []
    for i, item in enumerate(sequence(value, at)):
        where = at.item(value, i)
        if isinstance(item, dict):
            found.extend(_long(item, where))
        elif isinstance(item, (str, int)) and not isinstance(item, bool):
            found.extend(_short(str(item), where))
        else:
            raise where.must_be("a string, an integer or a mapping")
    return tuple(found)


def _short(text: str, at: At) -> list[model.Port]:
    try:
        bindings = parse_publish(text.strip())
    except UsageError:
        raise at.fail(f'invalid port "{text}"') from None
    return [_port(binding) for binding in bindings]


def _port(binding: PortBinding) -> model.Port:
    published = ""
    if binding.host_port:
        published = str(binding.host_port)
        if binding.host_port_end > binding.host_port:
            published += f"-{binding.host_port_end}"
    return model.Port(target=binding.container_port, published=published,
                      host_ip=binding.host_ip, protocol=binding.proto)


def _long(item: dict[str, Any], at: At) -> list[model.Port]:
    check_keys(item, at, _LONG_KEYS)
    if "target" not in item:
        raise at.fail("missing target")
    target = integer(item["target"], at.child(item, "target"))
    published = string(item.get("published") or "", at.child(item, "published"))
    host_ip = string(item.get("host_ip") or "", at.child(item, "host_ip"))
    protocol = string(item.get("protocol") or "tcp", at.child(item, "protocol"))
    mode = string(item.get("mode") or "ingress", at.child(item, "mode"))
    if mode not in ("ingress", "host"):
        raise at.child(item, "mode").fail(f'invalid mode "{mode}": use ingress or host')
    _check_part(str(target), "target", item, at, parse_port_number)
    if published:
        _check_part(published, "published", item, at, parse_port_range)
    if protocol not in PROTOCOLS:
        raise at.child(item, "protocol").fail(f'invalid protocol "{protocol}"')
    host = f"{host_ip}:{published}:" if host_ip else (f"{published}:" if published else "")
    return _short(f"{host}{target}/{protocol}", at)  # what is left to check: host_ip


def _check_part(text: str, key: str, item: dict[str, Any], at: At,
                parse: Callable[[str], object]) -> None:
    try:
        parse(text)
    except PortRangeError:
        raise at.child(item, key).fail(f'invalid port "{text}"') from None


def parse_expose(value: Any, at: At) -> tuple[str, ...]:
    """``expose: ["80", 8080, "53/udp", "8000-8002"]`` as strings, checked as ``--expose``."""
    found: list[str] = []
    for i, item in enumerate(sequence(value, at)):
        where = at.item(value, i)
        text = string(item, where)
        try:
            exposed_ports((), [text])
        except UsageError:
            raise where.fail(f'invalid port "{text}"') from None
        found.append(text)
    return tuple(found)
