"""``--change`` / ``-c`` of ``import`` and ``commit``: Dockerfile instructions applied to a config.

Docker accepts here the instructions that only set metadata: CMD, ENTRYPOINT, ENV, EXPOSE,
LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. Exec form (a JSON array) is taken as is;
shell form becomes ``["/bin/sh", "-c", text]``, as in a Dockerfile.
"""

from __future__ import annotations

from dataclasses import replace

from pyker.build import instructions as ins
from pyker.build.parser import parse_instruction
from pyker.build.substitution import SubstitutionError, expand
from pyker.errors import DockerfileSyntaxError, UsageError
from pyker.spec.image import ContainerConfig

SHELL = ("/bin/sh", "-c")


def _argv(command: ins.Command) -> tuple[str, ...]:
    return command if isinstance(command, tuple) else (*SHELL, command)


def _set_env(env: tuple[str, ...], updates: dict[str, str]) -> tuple[str, ...]:
    kept = [e for e in env if e.partition("=")[0] not in updates]
    return (*kept, *(f"{k}={v}" for k, v in updates.items()))


def _apply(config: ContainerConfig, inst: ins.Instruction) -> ContainerConfig:
    # As in a Dockerfile, the words of ENV, LABEL and the like are expanded against the
    # environment the config already has; CMD and ENTRYPOINT are left to the shell.
    env = dict(e.partition("=")[::2] for e in config.env)

    def x(word: str) -> str:
        return expand(word, env)

    if isinstance(inst, ins.Cmd):
        return replace(config, cmd=_argv(inst.command))
    if isinstance(inst, ins.Entrypoint):
        return replace(config, entrypoint=_argv(inst.command))
    if isinstance(inst, ins.Env):
        updates = {}
        for key, value in inst.pairs:
            updates[x(key)] = env[x(key)] = x(value)  # later pairs see earlier ones
        return replace(config, env=_set_env(config.env, updates))
    if isinstance(inst, ins.Label):
        return replace(config, labels={**config.labels, **{x(k): x(v) for k, v in inst.pairs}})
    if isinstance(inst, ins.Expose):
        ports = {p if "/" in p else f"{p}/tcp" for p in map(x, inst.ports)}
        return replace(config, exposed_ports=tuple(sorted(set(config.exposed_ports) | ports)))
    if isinstance(inst, ins.Volume):
        vols = {x(v) for v in inst.paths}
        return replace(config, volumes=tuple(sorted(set(config.volumes) | vols)))
    if isinstance(inst, ins.User):
        return replace(config, user=x(inst.user))
    if isinstance(inst, ins.Workdir):
        return replace(config, working_dir=x(inst.path))
    if isinstance(inst, ins.Stopsignal):
        return replace(config, stop_signal=x(inst.signal))
    if isinstance(inst, ins.Onbuild):
        return replace(config, on_build=(*config.on_build, inst.expression))
    raise UsageError(f"{inst.original.split()[0].upper()} is not a valid change command")


def apply_change(config: ContainerConfig, change: str) -> ContainerConfig:
    """Apply one instruction line to ``config``, parsed as a Dockerfile line would be.

    Raises:
        UsageError: an instruction Docker does not allow here, or malformed arguments.
    """
    try:
        return _apply(config, parse_instruction(change))
    except DockerfileSyntaxError as err:
        raise UsageError(f"--change {change!r}: {err.message}") from None
    except SubstitutionError as err:
        raise UsageError(f"--change {change!r}: {err.reason}") from None


def apply_changes(config: ContainerConfig, changes: list[str]) -> ContainerConfig:
    for change in changes:
        config = apply_change(config, change)
    return config
