"""The instructions that only change the image config, and the history text of each.

Each function takes the config as it stands and the instruction with its words already
expanded, and returns the new config and the ``created_by`` text Docker's classic builder
writes in the history (moby ``builder/dockerfile/dispatchers.go``): ``/bin/sh -c #(nop)  CMD
["sh"]``. The two spaces are Docker's: the comment is appended as its own word after
``#(nop) ``. No layer is made: the history row says ``empty_layer`` and ``history`` shows 0B.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import replace

from pyker.build import instructions as ins
from pyker.errors import BuildError
from pyker.spec.image import ContainerConfig, Healthcheck

DEFAULT_SHELL = ("/bin/sh", "-c")


# Args Docker lets a build use without declaring them (proxies): never "not consumed", and
# in RUN's environment while out of its history and cache key: a proxy is the host's affair.
PREDEFINED_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                             "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
                             "ALL_PROXY", "all_proxy"})


def proxy_env(build_args: Mapping[str, str], declared: Mapping[str, object],
              image_env: Mapping[str, str]) -> dict[str, str]:
    """The predefined args given with --build-arg that no ARG declared nor ENV set."""
    return {k: v for k, v in build_args.items()
            if k in PREDEFINED_ARGS and k not in declared and k not in image_env}


def go_quote_list(items: Sequence[str]) -> str:
    """A string list as Go's ``%q`` prints it (Docker's history text): ``["a" "b"]``."""
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def nop(shell: Sequence[str], comment: str, *, spaces: int = 2) -> str:
    return " ".join(shell) + " #(nop)" + " " * spaces + comment


def shell_of(config: ContainerConfig) -> tuple[str, ...]:
    return tuple(config.shell) if config.shell else DEFAULT_SHELL


def command_argv(command: ins.Command, config: ContainerConfig) -> tuple[str, ...]:
    """Exec form as is; shell form through the stage's SHELL."""
    return (*shell_of(config), command) if isinstance(command, str) else tuple(command)


def env_dict(config: ContainerConfig) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in config.env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def set_env(config: ContainerConfig, pairs: Sequence[tuple[str, str]]) -> ContainerConfig:
    env = env_dict(config)
    for key, value in pairs:
        env.pop(key, None)  # a redefined variable moves to the end, as Docker orders them
        env[key] = value
    return replace(config, env=tuple(f"{k}={v}" for k, v in env.items()))


def normalize_port(text: str) -> list[str]:
    """``80`` → ``80/tcp``; ``8000-8001/udp`` → each port (Docker's nat.ParsePortSpecs)."""
    port, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    start, _, end = port.partition("-")
    if not start.isdigit() or (end and not end.isdigit()):
        raise BuildError(f"invalid containerPort: {text}")
    last = int(end) if end else int(start)
    return [f"{p}/{proto}" for p in range(int(start), last + 1)]


def resolve_workdir(current: str, path: str) -> str:
    joined = path if path.startswith("/") else posixpath.join(current or "/", path)
    return posixpath.normpath(joined).replace("//", "/")


def _duration(ns: int) -> str:
    return f"{ns // 1_000_000_000}s" if ns % 1_000_000_000 == 0 else f"{ns / 1e9:g}s"


def apply(inst: ins.Instruction, config: ContainerConfig, words: dict[str, object],
          *, cmd_set: bool) -> tuple[ContainerConfig, str]:
    """The new config and the history comment of a metadata-only instruction.

    ``words`` holds the instruction's expanded values (``pairs``, ``ports``, ``value``…),
    prepared by the builder; ``cmd_set`` tells whether this stage set CMD itself (an
    ENTRYPOINT then keeps it; otherwise it drops the CMD inherited from the base image).
    """
    shell = shell_of(config)
    if isinstance(inst, ins.Cmd):
        argv = command_argv(inst.command, config)
        return replace(config, cmd=argv), nop(shell, f"CMD {go_quote_list(argv)}")
    if isinstance(inst, ins.Entrypoint):
        argv = command_argv(inst.command, config)
        cmd = config.cmd if cmd_set else None
        return (replace(config, entrypoint=argv, cmd=cmd),
                nop(shell, f"ENTRYPOINT {go_quote_list(argv)}"))
    if isinstance(inst, ins.Env):
        pairs = words["pairs"]
        text = "ENV" + "".join(f" {k}={v}" for k, v in pairs)
        return set_env(config, pairs), nop(shell, text)
    if isinstance(inst, ins.Label):
        pairs = words["pairs"]
        text = "LABEL" + "".join(f" {k}={v}" for k, v in pairs)
        return replace(config, labels={**config.labels, **dict(pairs)}), nop(shell, text)
    if isinstance(inst, ins.Expose):
        ports = sorted({p for word in words["ports"] for p in normalize_port(word)})
        merged = tuple(sorted(set(config.exposed_ports) | set(ports)))
        return replace(config, exposed_ports=merged), nop(shell, "EXPOSE " + " ".join(ports))
    if isinstance(inst, ins.User):
        return replace(config, user=words["value"]), nop(shell, f"USER {words['value']}")
    if isinstance(inst, ins.Volume):
        paths = words["paths"]
        merged = tuple(sorted(set(config.volumes) | set(paths)))
        return replace(config, volumes=merged), nop(shell, f"VOLUME [{' '.join(paths)}]")
    if isinstance(inst, ins.Stopsignal):
        return (replace(config, stop_signal=words["value"]),
                nop(shell, f"STOPSIGNAL {words['value']}"))
    if isinstance(inst, ins.Shell):
        return (replace(config, shell=tuple(inst.shell)),
                nop(shell, f"SHELL {go_quote_list(inst.shell)}"))
    if isinstance(inst, ins.Onbuild):
        return (replace(config, on_build=(*config.on_build, inst.expression)),
                nop(shell, f"ONBUILD {inst.expression}"))
    if isinstance(inst, ins.Healthcheck):
        check = Healthcheck(test=inst.test, interval=inst.interval, timeout=inst.timeout,
                            start_period=inst.start_period, retries=inst.retries)
        text = (f"HEALTHCHECK &{{{go_quote_list(inst.test)} \"{_duration(inst.interval)}\" "
                f"\"{_duration(inst.timeout)}\" \"{_duration(inst.start_period)}\" "
                f"'\\x{inst.retries:02x}'}}")
        return replace(config, healthcheck=check), nop(shell, text)
    if isinstance(inst, ins.Arg):
        return config, nop(shell, "ARG " + " ".join(words["args"]))
    if isinstance(inst, ins.Maintainer):
        return config, nop(shell, f"MAINTAINER {inst.name}")
    raise BuildError(f"line {inst.line}: {type(inst).__name__.upper()} is not a metadata "
                     "instruction")
