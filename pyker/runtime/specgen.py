"""Run options + image config → the OCI runtime spec (config.json), as dockerd builds it.

The spec is the seam: pyker's own runtime and runc/crun read the same file. What Docker
decides lives here, in one place: the command (ENTRYPOINT + CMD, overridden by the run
line, the course's table), environment (PATH default, HOSTNAME, TERM with a tty), user
(resolved in the image's passwd), capabilities (Docker's 14, ``--cap-add/--cap-drop``),
seccomp (Docker's default profile, a file, or none), namespaces, mounts, masked paths,
devices, cgroup limits and rlimits.
"""

from __future__ import annotations

from pathlib import Path

from pyker.errors import UsageError
from pyker.image.store import Image
from pyker.runtime import defaults
from pyker.cgroups.resources import DOCKER_DEFAULT_DEVICE_RULES, Resources
from pyker.runtime.options import RunOptions
from pyker.runtime.users import resolve as resolve_user
from pyker.security import capabilities
from pyker.spec.runtime import (
    Capabilities, DeviceCgroup, Linux, LinuxCPU, LinuxMemory, LinuxPids, LinuxResources, Mount,
    Namespace, Process, Rlimit, Root, Spec, User,
)


# Docker's device allow-list, in the spec's terms (-1, "all", is the spec's absent value).
DEVICE_RULES = tuple(
    DeviceCgroup(allow=r.allow, type=r.type, major=None if r.major < 0 else r.major,
                 minor=None if r.minor < 0 else r.minor, access=r.access)
    for r in DOCKER_DEFAULT_DEVICE_RULES)


def command(opts: RunOptions, image: Image) -> tuple[str, ...]:
    """ENTRYPOINT + CMD with Docker's overrides: ``--entrypoint`` drops the image's CMD."""
    c = image.config.config
    if opts.entrypoint is not None:
        entrypoint, cmd = opts.entrypoint, opts.command
    else:
        entrypoint, cmd = c.entrypoint or (), opts.command or c.cmd or ()
    args = tuple(entrypoint) + tuple(cmd)
    if not args:
        raise UsageError("no command specified")
    return args


def environment(opts: RunOptions, image: Image, hostname: str) -> tuple[str, ...]:
    env: dict[str, str] = {}
    for item in (defaults.DEFAULT_ENV_PATH, f"HOSTNAME={hostname}",
                 *image.config.config.env, *(("TERM=xterm",) if opts.tty else ()), *opts.env):
        key, sep, value = item.partition("=")
        env[key] = value if sep else env.get(key, "")
    if "HOME" not in env:
        env["HOME"] = "/root"
    return tuple(f"{k}={v}" for k, v in env.items())


def resources(limits: Resources) -> LinuxResources:
    quota, period = limits.cpu_quota, limits.cpu_period
    if limits.nano_cpus:
        period = period or 100_000
        quota = limits.nano_cpus * period // 1_000_000_000
    memory = None
    if limits.memory is not None or limits.memory_reservation is not None \
            or limits.oom_kill_disable:
        swap = limits.memory_swap
        if swap is None and limits.memory:
            swap = 2 * limits.memory  # Docker: swap defaults to as much as the memory
        memory = LinuxMemory(limit=limits.memory, reservation=limits.memory_reservation,
                             swap=swap, disable_oom_killer=limits.oom_kill_disable or None)
    cpu = None
    if any(v is not None for v in (limits.cpu_shares, quota, period, limits.cpuset_cpus,
                                   limits.cpuset_mems)):
        cpu = LinuxCPU(shares=limits.cpu_shares, quota=quota, period=period,
                       cpus=limits.cpuset_cpus, mems=limits.cpuset_mems)
    pids = LinuxPids(limit=limits.pids_limit) if limits.pids_limit not in (None, 0) else None
    return LinuxResources(devices=DEVICE_RULES, memory=memory, cpu=cpu, pids=pids)


# ``--init``: Docker's docker-init *is* tini; Debian ships it statically linked, so the host's
# binary runs in any image. It is bound read-only and becomes PID 1, the command its child.
TINI = Path("/usr/bin/tini-static")
INIT_PATH = "/sbin/docker-init"


def _mounts(container_dir: Path, opts: RunOptions, rootfs: Path) -> tuple[Mount, ...]:
    binds = tuple(Mount(destination=f"/etc/{name}", type="bind",
                        source=str(container_dir / name), options=("rbind", "rprivate"))
                  for name in ("resolv.conf", "hostname", "hosts"))
    init = (Mount(destination=INIT_PATH, type="bind", source=str(TINI),
                  options=("bind", "ro")),) if opts.init else ()
    if not opts.mounts:
        return (*defaults.DEFAULT_MOUNTS, *binds, *init)
    from pyker.runtime.volumes import oci_mounts

    # The container's own mounts (volumes, binds, tmpfs) come last, and replace a default
    # one on the same target (``--tmpfs /dev/shm``), as in Docker.
    user = oci_mounts(container_dir.parent, opts.mounts, rootfs)
    targets = {m.destination for m in user}
    kept = tuple(m for m in (*defaults.DEFAULT_MOUNTS, *binds) if m.destination not in targets)
    return (*kept, *init, *user)


def _with_init(opts: RunOptions, args: tuple[str, ...]) -> tuple[str, ...]:
    if not opts.init:
        return args
    if not TINI.is_file():
        raise UsageError(f"--init needs {TINI} (Debian package tini), which is not installed")
    return (INIT_PATH, "--", *args)


def generate(opts: RunOptions, image: Image, *, container_id: str, rootfs: Path,
             container_dir: Path, cgroups_path: str, cgroup_v2: bool,
             netns_path: str = "", pid_ns_path: str = "") -> Spec:
    """The spec for one start of the container (rootfs mounted, for the user lookup);
    ``netns_path``: a network namespace prepared for it (pyker.runtime.network_bridge);
    ``pid_ns_path``: another container's PID namespace (``--pid container:NAME``)."""
    from pyker.runtime.seccomp_bridge import spec_seccomp

    hostname = opts.hostname or container_id[:12]
    user = resolve_user(rootfs, opts.user or image.config.config.user)
    caps = capabilities.resolve(opts.cap_add, opts.cap_drop, privileged=opts.privileged)
    plan = capabilities.plan(caps, uid=user.uid)
    namespaces = [Namespace(type="network", path=netns_path)
                  if ns.type == "network" and netns_path else
                  Namespace(type="pid", path=pid_ns_path)
                  if ns.type == "pid" and pid_ns_path else ns
                  for ns in defaults.default_namespaces(cgroup_v2)
                  if not (ns.type == "network" and opts.network == "host")
                  and not (ns.type == "pid" and opts.pid == "host")]
    remap = opts.userns_remap
    if remap is not None:  # first: it owns every other one (pyker.runtime.userns)
        namespaces.insert(0, Namespace(type="user"))
    process = Process(
        terminal=opts.tty, user=User(uid=user.uid, gid=user.gid,
                                     additional_gids=user.additional_gids),
        args=_with_init(opts, command(opts, image)), env=environment(opts, image, hostname),
        cwd=opts.workdir or image.config.config.working_dir or "/",
        capabilities=Capabilities(**{k: tuple(sorted(getattr(plan, k))) for k in (
            "bounding", "effective", "inheritable", "permitted", "ambient")}),
        rlimits=tuple(Rlimit(type=u.name, soft=u.soft, hard=u.hard) for u in opts.ulimits),
        no_new_privileges=opts.no_new_privileges)
    linux = Linux(
        namespaces=tuple(namespaces), resources=resources(opts.limits),
        uid_mappings=remap.uid_maps if remap else (),
        gid_mappings=remap.gid_maps if remap else (),
        cgroups_path=cgroups_path,
        seccomp=None if opts.privileged else spec_seccomp(opts.seccomp, caps),
        masked_paths=() if opts.privileged else (*defaults.MASKED_PATHS,
                                                 *defaults.thermal_throttle_paths()),
        readonly_paths=() if opts.privileged else defaults.READONLY_PATHS,
        devices=defaults.DEFAULT_DEVICES)
    return Spec(process=process, root=Root(path=str(rootfs), readonly=opts.read_only),
                hostname=hostname, mounts=_mounts(container_dir, opts, rootfs), linux=linux,
                annotations={"org.opencontainers.image.ref.name": opts.image})
