"""A service's ``healthcheck`` → :class:`model.Healthcheck`, durations in nanoseconds.

``test`` is a string (run by the container's shell: ``("CMD-SHELL", text)``) or a list
that starts with how to run the rest: ``CMD`` (exec form), ``CMD-SHELL`` (one shell line)
or ``NONE`` (no health check, overriding the image's). ``disable: true`` and ``test:
["NONE"]`` mean the same, and both set ``disable``. ``start_interval`` is accepted and
has no effect: pyker probes at ``interval`` from the start.
"""

from __future__ import annotations

from typing import Any

from pyker.compose import model
from pyker.compose.fields import At, boolean, check_keys, duration, integer, mapping, strings

_KEYS = ("test", "interval", "timeout", "start_period", "start_interval", "retries",
         "disable")
_FORMS = ("NONE", "CMD", "CMD-SHELL")


def parse_healthcheck(value: Any, at: At) -> model.Healthcheck:
    spec = mapping(value, at)
    check_keys(spec, at, _KEYS)
    test = _test(spec["test"], at.child(spec, "test")) if spec.get("test") is not None else ()
    disable = boolean(spec.get("disable", False), at.child(spec, "disable"))
    if disable and test and test != ("NONE",):
        raise at.fail("test and disable can't be set at the same time")
    durations = {key: duration(spec[key], at.child(spec, key))
                 for key in ("interval", "timeout", "start_period", "start_interval")
                 if spec.get(key) is not None}
    durations.pop("start_interval", None)
    retries = integer(spec["retries"], at.child(spec, "retries")) if spec.get(
        "retries") is not None else 0
    if retries < 0:
        raise at.child(spec, "retries").fail(f"invalid number of retries {retries}")
    return model.Healthcheck(test=test, retries=retries,
                             disable=disable or test == ("NONE",), **durations)


def _test(value: Any, at: At) -> tuple[str, ...]:
    if isinstance(value, str):
        return ("CMD-SHELL", value)
    test = strings(value, at)
    if not test or test[0] not in _FORMS:
        first = f'"{test[0]}"' if test else "an empty list"
        raise at.fail(f"must start with NONE, CMD or CMD-SHELL, not {first}")
    if test[0] != "NONE" and len(test) < 2:
        raise at.fail(f"{test[0]} needs a command")
    return test

