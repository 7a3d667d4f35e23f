"""What ``pyker run``/``create`` was asked, as one frozen value (Docker's run flags).

The CLI parses flags into :class:`RunOptions`; :mod:`pyker.runtime.specgen` turns them, with
the image's config, into the OCI runtime spec. Each small parser here names the flag and the
value at fault, as Docker does (``invalid argument "x" for "--restart" flag``).
"""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass, field, fields

from pyker.cgroups.resources import DeviceRule, Resources
from pyker.errors import UsageError
from pyker.runtime.userns import Remap
from pyker.spec.image import Healthcheck
from pyker.volume.mountspec import MountSpec

ULIMIT_NAMES = {"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
                "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
                "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
                "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
                "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
                "stack": "RLIMIT_STACK", "as": "RLIMIT_AS"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Ulimit:
    name: str   # RLIMIT_NOFILE
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    image: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    name: str = ""
    hostname: str = ""
    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    auto_remove: bool = False
    network: str = "bridge"           # bridge, none, host, container:NAME, or a network's name
    ip: str = ""                      # --ip on a user network
    aliases: tuple[str, ...] = ()     # --network-alias
    publish: tuple[str, ...] = ()     # -p, as given (pyker.network.ports parses them)
    publish_all: bool = False         # -P
    expose: tuple[str, ...] = ()      # --expose
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    add_hosts: tuple[str, ...] = ()   # --add-host name:ip
    links: tuple[str, ...] = ()       # --link name[:alias]
    pid: str = ""                     # --pid: "" (its own), host, container:NAME
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    seccomp: str = ""            # "" = default profile, "unconfined", or a file path
    no_new_privileges: bool = False
    security_opt: tuple[str, ...] = ()  # as inspect shows them (a seccomp file's JSON inlined)
    read_only: bool = False
    ulimits: tuple[Ulimit, ...] = ()
    limits: Resources = Resources()
    restart: str = "no"
    max_retries: int = 0
    # --stop-signal (else the image's STOPSIGNAL, filled in at create) and --stop-timeout:
    # what `stop` sends first, and how long it waits before SIGKILL ("" / None: Docker's
    # SIGTERM and 10 s)
    stop_signal: str = ""
    stop_timeout: int | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    runtime: str = "pyker"
    init: bool = False
    userns: str = ""                  # "host": out of a remapped daemon's user namespace
    userns_remap: Remap | None = None  # the remapped daemon's ranges, when the container has them
    # -v/--mount/--tmpfs as asked; after create, resolved (volumes named, image VOLUMEs,
    # --volumes-from included: pyker.runtime.volumes)
    mounts: tuple[MountSpec, ...] = ()
    volumes_from: tuple[str, ...] = ()  # --volumes-from CONTAINER[:ro|rw], as given
    # --health-* as given (("NONE",) for --no-healthcheck); the image's HEALTHCHECK fills the
    # unset fields when the container starts (pyker.runtime.health.effective)
    healthcheck: Healthcheck | None = None
    # --log-driver/--log-opt, resolved at create with daemon.json's defaults
    # (pyker.runtime.logdrivers.resolve); "" in a record from before drivers: json-file
    log_driver: str = ""
    log_opts: dict[str, str] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> RunOptions:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        for key in ("command", "env", "cap_add", "cap_drop", "aliases", "publish", "expose",
                    "dns", "dns_search", "dns_options", "add_hosts", "links", "volumes_from",
                    "security_opt"):
            values[key] = tuple(values.get(key, ()))
        if values.get("entrypoint") is not None:
            values["entrypoint"] = tuple(values["entrypoint"])
        values["ulimits"] = tuple(Ulimit(**u) for u in values.get("ulimits", ()))
        limits = dict(values.get("limits", {}))
        limits["devices"] = tuple(DeviceRule(**d) for d in limits.get("devices", ()))
        values["limits"] = Resources(**limits)
        values["mounts"] = tuple(MountSpec.from_dict(m) for m in values.get("mounts", ()))
        if values.get("userns_remap") is not None:
            values["userns_remap"] = Remap.from_dict(values["userns_remap"])
        if values.get("healthcheck") is not None:
            check = {k: v for k, v in values["healthcheck"].items()
                     if k in Healthcheck.__dataclass_fields__}
            values["healthcheck"] = Healthcheck(**{**check, "test": tuple(check.get("test", ()))})
        return cls(**values)


def signal_number(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``15``, ``SIGRTMIN+3`` → the signal's number.

    Raises:
        UsageError: not a signal of this host, with Docker's words.
    """
    import signal

    name = text.upper()
    if name.isdigit():
        number = int(name)
    else:
        name = name if name.startswith("SIG") else "SIG" + name
        base, plus, offset = name.partition("+")
        try:
            number = int(getattr(signal, base)) + (int(offset) if plus else 0)
        except (AttributeError, ValueError):
            number = 0
    if not 0 < number <= signal.SIGRTMAX:
        raise UsageError(f"invalid signal: {text}")
    return number


def parse_restart(text: str) -> tuple[str, int]:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped") or (
            count and (name != "on-failure" or not count.isdigit())):
        raise UsageError(f'invalid argument "{text}" for "--restart" flag: '
                         "use no, always, unless-stopped or on-failure[:max-retries]")
    return name, int(count or 0)


def parse_ulimit(text: str) -> Ulimit:
    """``nofile=1024[:2048]`` → an rlimit; refused above this host's hard limit.

    Raises:
        UsageError: unknown name, malformed values, soft above hard, or a hard limit this
            process cannot grant (raising it needs CAP_SYS_RESOURCE, which it lacks here).
    """
    name, sep, values = text.partition("=")
    if not sep or name not in ULIMIT_NAMES:
        raise UsageError(f'invalid argument "{text}" for "--ulimit" flag: '
                         f"want NAME=SOFT[:HARD] with NAME one of {', '.join(sorted(ULIMIT_NAMES))}")
    soft_text, _, hard_text = values.partition(":")
    try:
        soft = -1 if soft_text in ("-1", "unlimited") else int(soft_text)
        hard = soft if not hard_text else (-1 if hard_text in ("-1", "unlimited") else int(hard_text))
    except ValueError:
        raise UsageError(f'invalid argument "{text}" for "--ulimit" flag: values must be '
                         "integers") from None
    soft = resource.RLIM_INFINITY if soft < 0 else soft
    hard = resource.RLIM_INFINITY if hard < 0 else hard
    if hard != resource.RLIM_INFINITY and soft > hard:
        raise UsageError(f'ulimit "{name}": soft limit {soft} is above hard limit {hard}')
    host_hard = resource.getrlimit(getattr(resource, ULIMIT_NAMES[name]))[1]
    if host_hard != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > host_hard):
        raise UsageError(f'ulimit "{name}": hard limit {hard_text or soft_text} is above this '
                         f"host's hard limit {host_hard}, which pyker cannot raise "
                         "(it lacks CAP_SYS_RESOURCE)")
    return Ulimit(name=ULIMIT_NAMES[name], soft=soft, hard=hard)


_UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_bytes(text: str, flag: str) -> int:
    """Docker's RAMInBytes: ``10m``, ``1g``, ``512k``, ``1024`` (binary units)."""
    t = text.strip().lower().removesuffix("b") if text.lower().endswith(("kb", "mb", "gb", "tb")) \
        else text.strip().lower()
    unit = _UNITS.get(t[-1:], None) if t and not t[-1:].isdigit() else 1
    number = t[:-1] if unit and t and not t[-1:].isdigit() else t
    try:
        value = float(number) * (unit or 0)
    except ValueError:
        value = -1
    if unit is None or value < 0:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: invalid size')
    return int(value)


def parse_security_opts(opts: list[str]) -> tuple[str, bool, tuple[str, ...]]:
    """``--security-opt``: the seccomp setting, no-new-privileges, and the options as Docker
    keeps them in ``HostConfig.SecurityOpt``: as given, except that ``seccomp=FILE`` holds
    the profile's JSON (compacted) in place of its path, as the docker CLI sends it.

    Raises:
        UsageError: an unknown option, or a profile file that cannot be opened.
        SeccompProfileError: a profile that is not valid (file, line and column).
    """
    seccomp, nnp, kept = "", False, []
    for item in opts:
        key, sep, value = item.partition("=" if "=" in item else ":")
        if key == "seccomp" and sep:
            seccomp = "" if value == "builtin" else value  # Docker's name for its default
            if seccomp not in ("", "unconfined"):
                item = "seccomp=" + profile_json(value)
        elif key == "no-new-privileges":
            nnp = value in ("", "true")
        elif key not in ("label", "apparmor"):  # no LSM here: accepted so course lines run
            raise UsageError(f'invalid --security-opt: "{item}"')
        kept.append(item)
    return seccomp, nnp, tuple(kept)


def profile_json(path: str) -> str:
    """The profile at ``path`` as one line of JSON, checked as the runtime will read it (a
    bad profile fails at create, as with Docker, not at a later start)."""
    import json
    from pathlib import Path

    from pyker.security.seccomp.profile import parse

    try:
        text = Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"opening seccomp profile ({path}) failed: open {path}: "
                         f"{(err.strerror or str(err)).lower()}") from err
    parse(text, source=path)
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
