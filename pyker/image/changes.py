"""``--change`` / ``-c`` of ``import`` and ``commit``: Dockerfile instructions applied to a config.

Docker accepts here the instructions that only set metadata: CMD, ENTRYPOINT, ENV, EXPOSE,
LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. Exec form (a JSON array) is taken as is;
shell form becomes ``["/bin/sh", "-c", text]``, as in a Dockerfile.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

from pyker.errors import UsageError
from pyker.spec.image import ContainerConfig

SHELL = ("/bin/sh", "-c")


def _json_or_shell(args: str) -> tuple[str, ...]:
    if args.startswith("["):
        try:
            value = json.loads(args)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return (*SHELL, args)


def _json_or_words(args: str) -> tuple[str, ...]:
    if args.startswith("["):
        try:
            value = json.loads(args)
            if isinstance(value, list):
                return tuple(str(v) for v in value)
        except json.JSONDecodeError:
            pass
    return tuple(args.split())


def _pairs(args: str, instruction: str) -> dict[str, str]:
    words = shlex.split(args)
    if words and "=" not in words[0]:
        # The legacy form ``ENV key value with spaces``.
        if instruction == "ENV" and len(words) >= 2:
            return {words[0]: args.split(None, 1)[1]}
        raise UsageError(f'{instruction} {args}: expected key=value')
    out = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f'{instruction} {args}: expected key=value, got "{word}"')
        out[key] = value
    return out


def _set_env(env: tuple[str, ...], updates: dict[str, str]) -> tuple[str, ...]:
    kept = [e for e in env if e.partition("=")[0] not in updates]
    return (*kept, *(f"{k}={v}" for k, v in updates.items()))


def apply_change(config: ContainerConfig, change: str) -> ContainerConfig:
    """Apply one instruction line to ``config``.

    Raises:
        UsageError: an instruction Docker does not allow here, or malformed arguments.
    """
    instruction, _, args = change.strip().partition(" ")
    instruction, args = instruction.upper(), args.strip()
    if instruction == "CMD":
        return replace(config, cmd=_json_or_shell(args))
    if instruction == "ENTRYPOINT":
        return replace(config, entrypoint=_json_or_shell(args))
    if instruction == "ENV":
        return replace(config, env=_set_env(config.env, _pairs(args, "ENV")))
    if instruction == "LABEL":
        return replace(config, labels={**config.labels, **_pairs(args, "LABEL")})
    if instruction == "EXPOSE":
        ports = {p if "/" in p else f"{p}/tcp" for p in args.split()}
        return replace(config, exposed_ports=tuple(sorted(set(config.exposed_ports) | ports)))
    if instruction == "VOLUME":
        vols = set(_json_or_words(args))
        return replace(config, volumes=tuple(sorted(set(config.volumes) | vols)))
    if instruction in ("USER", "WORKDIR", "STOPSIGNAL"):
        if not args:
            raise UsageError(f"{instruction} requires exactly one argument")
        field = {"USER": "user", "WORKDIR": "working_dir", "STOPSIGNAL": "stop_signal"}
        return replace(config, **{field[instruction]: args})
    if instruction == "ONBUILD":
        return replace(config, on_build=(*config.on_build, args))
    raise UsageError(f"{instruction} is not a valid change command")


def apply_changes(config: ContainerConfig, changes: list[str]) -> ContainerConfig:
    for change in changes:
        config = apply_change(config, change)
    return config
