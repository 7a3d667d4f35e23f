"""Docker's defaults for a container's runtime spec, as data tables.

What ``docker run`` gives a container unless told otherwise: the kernel filesystems mounted
in it, the /proc and /sys entries hidden (masked) or frozen (read-only) because they leak or
change the host, the device nodes every program expects, the namespaces. They come from
moby's ``oci/defaults.go`` (``DefaultLinuxSpec``) and ``daemon/oci_linux.go``
(``WithNamespaces``, ``WithMounts``), and the spec's "Default Devices"
(https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#default-devices).
The tables are values: a container's spec is built from them with ``dataclasses.replace``.
"""

from __future__ import annotations

from pathlib import Path

from pyker.spec.runtime import LinuxDevice, Mount, Namespace, Rlimit

DEFAULT_ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ``docker run --shm-size`` default: 64 MiB for /dev/shm.
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

_NOSUID_NOEXEC_NODEV = ("nosuid", "noexec", "nodev")

DEFAULT_MOUNTS: tuple[Mount, ...] = (
    Mount(destination="/proc", type="proc", source="proc", options=_NOSUID_NOEXEC_NODEV),
    # /dev is a small tmpfs the runtime fills with DEFAULT_DEVICES (mknod(2)), never the
    # host's devtmpfs: a container sees only the devices it is given.
    Mount(destination="/dev", type="tmpfs", source="tmpfs",
          options=("nosuid", "strictatime", "mode=755", "size=65536k")),
    # newinstance: a devpts of its own, so the container's ptys are not the host's (pts(4)).
    Mount(destination="/dev/pts", type="devpts", source="devpts",
          options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
    Mount(destination="/sys", type="sysfs", source="sysfs",
          options=("nosuid", "noexec", "nodev", "ro")),
    # "cgroup" as Docker writes it: the runtime mounts cgroup2 on a v2 host, and on v1 a
    # tmpfs with one read-only bind per controller, as runc does for this type.
    Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup",
          options=("ro", *_NOSUID_NOEXEC_NODEV)),
    Mount(destination="/dev/mqueue", type="mqueue", source="mqueue", options=_NOSUID_NOEXEC_NODEV),
    Mount(destination="/dev/shm", type="tmpfs", source="shm",
          options=(*_NOSUID_NOEXEC_NODEV, "mode=1777", f"size={DEFAULT_SHM_SIZE // 1024}k")),
)

# Hidden: /dev/null is bound over a file, an empty read-only tmpfs over a directory. Each
# reads host state a container has no business with (kernel memory, keyrings, timers that
# leak other processes' activity, firmware tables, RAPL energy counters used in the Platypus
# power side channel, thermal interrupt counts used in a thermal side channel).
MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

# Visible but read-only: writing them would change the host's kernel (/proc/sys is the
# sysctl tree; namespaced sysctls go through ``linux.sysctl`` before it is frozen).
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def _char(name: str, major: int, minor: int) -> LinuxDevice:
    return LinuxDevice(path=f"/dev/{name}", type="c", major=major, minor=minor,
                       file_mode=0o666, uid=0, gid=0)


# The nodes every container gets (devices.txt in the kernel's admin-guide gives the numbers).
# Docker leaves ``linux.devices`` empty and relies on runc to add these; pyker's runtime
# makes exactly what the spec lists, so they are listed. /dev/console and /dev/ptmx are not
# nodes: the console is the terminal's pty bound there, ptmx a link to pts/ptmx.
DEFAULT_DEVICES: tuple[LinuxDevice, ...] = (
    _char("null", 1, 3),
    _char("zero", 1, 5),
    _char("full", 1, 7),
    _char("random", 1, 8),
    _char("urandom", 1, 9),
    _char("tty", 5, 0),
)

# Docker's own order (oci/defaults.go). No user namespace unless the daemon remaps users.
DEFAULT_NAMESPACES: tuple[Namespace, ...] = tuple(
    Namespace(type=kind) for kind in ("mount", "network", "uts", "pid", "ipc"))


def default_namespaces(cgroup_v2: bool) -> tuple[Namespace, ...]:
    """Docker's namespaces for a host: ``--cgroupns`` defaults to ``private`` on a cgroup v2
    host (the container sees its own cgroup as /sys/fs/cgroup's root) and ``host`` on v1."""
    return DEFAULT_NAMESPACES + ((Namespace(type="cgroup"),) if cgroup_v2 else ())


def thermal_throttle_paths(cpu_root: Path = Path("/sys/devices/system/cpu")) -> tuple[str, ...]:
    """The per-CPU ``thermal_throttle`` directories Docker also masks (moby#49560, 28.0).

    They exist only on some CPUs and one per CPU, so they are found on the host, not listed.
    The paths returned are the container's (under /sys/devices/system/cpu).
    """
    if not cpu_root.is_dir():
        return ()
    found = [entry.name for entry in cpu_root.iterdir()
             if entry.name.startswith("cpu") and entry.name[3:].isdigit()
             and (entry / "thermal_throttle").is_dir()]
    found.sort(key=lambda name: int(name[3:]))
    return tuple(f"/sys/devices/system/cpu/{name}/thermal_throttle" for name in found)


# Docker sets no rlimit of its own: a container inherits the daemon's, unless
# ``--ulimit`` or the daemon's ``default-ulimits`` name some. pyker has no daemon to inherit
# from, so the table is empty and the container keeps the limits of the pyker process.
DEFAULT_RLIMITS: tuple[Rlimit, ...] = ()
