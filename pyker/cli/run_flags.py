"""The flags of ``pyker run`` and ``pyker create`` (Docker's names), parsed into RunOptions."""

from __future__ import annotations

import argparse
from pathlib import Path

from pyker.cli.main import Parser
from pyker.errors import UsageError


def add_run_flags(p: Parser) -> None:
    a = p.add_argument
    a("image", metavar="IMAGE")
    a("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    a("-d", "--detach", action="store_true", help="run in the background, print its ID")
    a("-i", "--interactive", action="store_true", help="keep STDIN open")
    a("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    a("--rm", action="store_true", help="remove the container when it exits")
    a("--name", default="")
    a("--pull", default="missing", metavar="POLICY",
      help="pull the image before running: missing, always or never")
    a("--entrypoint", default=None)
    a("-e", "--env", action="append", default=[])
    a("--env-file", action="append", default=[])
    a("-w", "--workdir", default="")
    a("-u", "--user", default="")
    a("-h", "--hostname", default="")
    a("--help", action="help", help="show this help")
    a("--network", "--net", default="bridge",
      help="bridge (default), none, host, container:NAME, or a network's name")
    a("--ip", default="", help="IPv4 address on a user network")
    a("--network-alias", "--net-alias", action="append", default=[], dest="aliases")
    a("-p", "--publish", action="append", default=[], help="[ip:][hostPort:]containerPort[/proto]")
    a("-P", "--publish-all", action="store_true", help="publish every exposed port")
    a("--expose", action="append", default=[])
    a("--dns", action="append", default=[])
    a("--dns-search", action="append", default=[])
    a("--dns-option", action="append", default=[])
    a("--add-host", action="append", default=[])
    a("--link", action="append", default=[])
    a("--pid", default="", help="PID namespace: host, or container:NAME (a sidecar)")
    a("--cap-add", action="append", default=[])
    a("--cap-drop", action="append", default=[])
    a("--privileged", action="store_true")
    a("--security-opt", action="append", default=[])
    a("--read-only", action="store_true")
    a("--ulimit", action="append", default=[])
    a("-m", "--memory")
    a("--memory-swap")
    a("--memory-reservation")
    a("--oom-kill-disable", action="store_true")
    a("--cpus")
    a("-c", "--cpu-shares", type=int)
    a("--cpu-period", type=int)
    a("--cpu-quota", type=int)
    a("--cpuset-cpus")
    a("--cpuset-mems")
    a("--pids-limit", type=int)
    a("--restart", default="no")
    a("--stop-signal", default="", help="signal to stop the container (default SIGTERM)")
    a("--stop-timeout", type=int, default=None,
      help="seconds `stop` waits before SIGKILL (default 10)")
    a("-l", "--label", action="append", default=[])
    a("--runtime", default="pyker", choices=["pyker", "runc", "crun"])
    a("--init", action="store_true", help="run an init (tini) as PID 1, reaping zombies")
    a("--cidfile", default="", help="write the container ID to the file")
    a("--userns", default="", help='"host": no user namespace in a userns-remap daemon')
    a("-v", "--volume", action="append", default=[], dest="volumes",
      help="[NAME|/host/path:]/container/path[:ro]")
    a("--mount", action="append", default=[], dest="mounts",
      help="type=volume|bind|tmpfs,src=…,dst=…[,readonly]")
    a("--tmpfs", action="append", default=[], help="/path[:size=64m,mode=1777]")
    a("--volumes-from", action="append", default=[], help="CONTAINER[:ro|rw]")
    a("--health-cmd", default="", help="command to run to check health (in a shell)")
    a("--health-interval", default="0s", help="time between running the check (ms|s|m|h)")
    a("--health-timeout", default="0s", help="maximum time to allow one check to run")
    a("--health-start-period", default="0s",
      help="start period: failures do not count yet, until a first success")
    a("--health-start-interval", default="0s", help="time between checks during it")
    a("--health-retries", default="0", help="consecutive failures needed to report unhealthy")
    a("--no-healthcheck", action="store_true", help="disable any container-specified HEALTHCHECK")
    a("--log-driver", default="", help="logging driver: json-file (default), local, none, "
                                       "journald")
    a("--log-opt", action="append", default=[], help="log driver option KEY=VALUE")


def _env_file(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise UsageError(f"open {path}: {err.strerror}") from err
    out = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("="):
            raise UsageError(f"{path}:{number}: invalid environment variable: {line}")
        out.append(line)
    return out


def _from_client(env: list[str]) -> list[str]:
    """Docker's ``-e NAME`` (or a bare NAME line of an env file): the client's value of
    NAME, or no variable at all when the client has none."""
    import os

    return [e if "=" in e else f"{e}={os.environ[e]}" for e in env
            if "=" in e or e in os.environ]


def _limits(args: argparse.Namespace):
    from pyker.cgroups.resources import Resources
    from pyker.runtime.options import parse_bytes

    nano = None
    if args.cpus:
        try:
            nano = int(round(float(args.cpus) * 1e9))
        except ValueError:
            raise UsageError(f'invalid argument "{args.cpus}" for "--cpus" flag') from None
    swap = None
    if args.memory_swap:
        swap = -1 if args.memory_swap == "-1" else parse_bytes(args.memory_swap, "--memory-swap")
    return Resources(
        memory=parse_bytes(args.memory, "--memory") if args.memory else None,
        memory_swap=swap,
        memory_reservation=(parse_bytes(args.memory_reservation, "--memory-reservation")
                            if args.memory_reservation else None),
        oom_kill_disable=args.oom_kill_disable, cpu_shares=args.cpu_shares,
        cpu_quota=args.cpu_quota, cpu_period=args.cpu_period, nano_cpus=nano,
        cpuset_cpus=args.cpuset_cpus, cpuset_mems=args.cpuset_mems,
        pids_limit=args.pids_limit)


def _userns_remap(args: argparse.Namespace):
    """A remapped daemon's ranges for this container (Docker's daemon-side checks)."""
    from pyker import config
    from pyker.runtime import userns

    if args.userns not in ("", "host"):
        raise UsageError(f'invalid argument "{args.userns}" for "--userns" flag: '
                         "--userns: invalid USER mode")
    remap = config.load().userns_remap
    if remap is None or args.userns == "host":
        return None
    userns.refuse_conflicts(privileged=args.privileged, network=args.network)
    return remap


def _pid_mode(value: str) -> str:
    if value in ("", "host") or (value.startswith("container:") and len(value) > 10):
        return value
    raise UsageError(f'invalid argument "{value}" for "--pid" flag: --pid: invalid PID mode')


def _check_network_flags(args: argparse.Namespace) -> None:
    """Docker's create-time checks: bad values fail before anything exists."""
    from pyker.network.ports import parse_publish
    from pyker.network.resolvconf import parse_add_host

    for spec in args.publish:
        parse_publish(spec)
    for entry in args.add_host:
        parse_add_host(entry)
    predefined = args.network in ("bridge", "default", "none", "host")
    if args.network.startswith("container:"):
        if args.publish or args.publish_all:
            raise UsageError("conflicting options: port publishing and the container type "
                             "network mode")
        if args.hostname:
            raise UsageError("conflicting options: hostname and the network mode")
    elif not predefined:
        from pyker.engine import Engine

        Engine().networks.get(args.network)  # NetworkNotFound: "network X not found"
    if args.ip and predefined:
        raise UsageError("user specified IP address is supported on user defined networks only")
    if args.aliases and predefined:
        raise UsageError("network-scoped alias is supported only for containers in user "
                         "defined networks")
    if args.network == "host" and (args.publish or args.publish_all):
        import sys

        print("WARNING: Published ports are discarded when using host network mode",
              file=sys.stderr)
        args.publish, args.publish_all = [], False


def _mounts(args: argparse.Namespace):
    """-v, --mount and --tmpfs, parsed (pyker.volume.mountspec): a bad one fails here."""
    from pyker.volume import mountspec

    mounts = (*(mountspec.parse_volume(v) for v in args.volumes),
              *(mountspec.parse_mount(m) for m in args.mounts),
              *(mountspec.parse_tmpfs(t) for t in args.tmpfs))
    mountspec.check_unique(mounts)
    for raw in args.volumes_from:
        mountspec.parse_volumes_from(raw)
    return mounts


def parse_duration(text: str, flag: str) -> int:
    """A Go duration flag (``30s``, ``1m30s``, ``500ms``) in nanoseconds.

    Raises:
        UsageError: Docker's words, e.g. ``invalid argument "5" for "--health-interval"
            flag: time: missing unit in duration "5"``.
    """
    from pyker.build.shellwords import ArgumentError, go_duration

    try:
        return go_duration(text)
    except ArgumentError as err:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: {err}') from None


def healthcheck(args: argparse.Namespace):
    """``--health-*`` and ``--no-healthcheck`` as the docker CLI reads them (its opts.go):
    None when none is given, the image's HEALTHCHECK then applying unchanged.

    Raises:
        UsageError: a bad duration or count, a negative one, or a conflict.
    """
    from pyker.runtime import health
    from pyker.spec.image import Healthcheck

    ns = {name: parse_duration(getattr(args, "health_" + name), "--health-" + flag)
          for name, flag in (("interval", "interval"), ("timeout", "timeout"),
                             ("start_period", "start-period"),
                             ("start_interval", "start-interval"))}
    try:
        retries = int(args.health_retries, 10)
    except ValueError:
        raise UsageError(f'invalid argument "{args.health_retries}" for "--health-retries" '
                         f'flag: strconv.ParseInt: parsing "{args.health_retries}": '
                         "invalid syntax") from None
    if args.no_healthcheck:
        if args.health_cmd or retries or any(ns.values()):
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return Healthcheck(test=("NONE",))
    if not (args.health_cmd or retries or any(ns.values())):
        return None
    for name, value in (*ns.items(), ("retries", retries)):
        if value < 0:
            raise UsageError(f"--health-{name.replace('_', '-')} cannot be negative")
    # --health-start-interval is accepted and checked; the image spec's Healthcheck has no
    # field to carry it yet, so probes in the start period use Docker's default (5s).
    check = Healthcheck(test=("CMD-SHELL", args.health_cmd) if args.health_cmd else (),
                        interval=ns["interval"], timeout=ns["timeout"],
                        start_period=ns["start_period"], retries=retries)
    health.validate(check)
    if 0 < ns["start_interval"] < health.MIN_DURATION:
        raise UsageError("StartInterval in Healthcheck cannot be less than 1ms")
    return check


def log_config(driver: str, opts: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The container's logging driver and options with daemon.json's defaults, checked as
    Docker's daemon checks them at create (its words, after "Error response from daemon")."""
    from pyker import config
    from pyker.runtime import logdrivers

    engine = config.load()
    try:
        return logdrivers.resolve(driver, opts, default_driver=engine.log_driver,
                                  default_opts=engine.log_opts)
    except UsageError as err:
        raise UsageError(f"Error response from daemon: {err}") from None


def run_options(args: argparse.Namespace):
    from pyker.runtime.options import (RunOptions, parse_restart, parse_security_opts,
                                       parse_ulimit)

    from pyker.runtime.logdrivers import parse_log_opts

    if args.log_driver == "none" and args.log_opt:  # the docker CLI's own check
        raise UsageError("invalid logging opts for driver none")
    log_driver, log_opts = log_config(args.log_driver, parse_log_opts(args.log_opt))
    _check_network_flags(args)
    restart, retries = parse_restart(args.restart)
    if restart != "no" and args.rm:
        raise UsageError("conflicting options: --restart and --rm")
    seccomp, nnp, security_opt = parse_security_opts(args.security_opt)
    env = _from_client([e for f in args.env_file for e in _env_file(f)] + args.env)
    labels = dict(item.partition("=")[::2] for item in args.label)
    # Docker takes --entrypoint as one executable, never split; "" clears the image's.
    entrypoint = None if args.entrypoint is None else (
        (args.entrypoint,) if args.entrypoint else ())
    return RunOptions(
        image=args.image, command=tuple(args.command), entrypoint=entrypoint, name=args.name,
        hostname=args.hostname, env=tuple(env), workdir=args.workdir, user=args.user,
        tty=args.tty, interactive=args.interactive, detach=args.detach, auto_remove=args.rm,
        network="bridge" if args.network == "default" else args.network, ip=args.ip,
        aliases=tuple(args.aliases), publish=tuple(args.publish),
        publish_all=args.publish_all, expose=tuple(args.expose), dns=tuple(args.dns),
        dns_search=tuple(args.dns_search), dns_options=tuple(args.dns_option),
        add_hosts=tuple(args.add_host), links=tuple(args.link), pid=_pid_mode(args.pid),
        cap_add=tuple(args.cap_add), cap_drop=tuple(args.cap_drop),
        privileged=args.privileged, seccomp=seccomp, no_new_privileges=nnp,
        security_opt=security_opt,
        read_only=args.read_only, ulimits=tuple(parse_ulimit(u) for u in args.ulimit),
        limits=_limits(args), restart=restart, max_retries=retries, labels=labels,
        stop_signal=args.stop_signal, stop_timeout=args.stop_timeout,
        runtime=args.runtime, init=args.init, userns=args.userns,
        userns_remap=_userns_remap(args), mounts=_mounts(args),
        volumes_from=tuple(args.volumes_from), healthcheck=healthcheck(args),
        log_driver=log_driver, log_opts=log_opts)
