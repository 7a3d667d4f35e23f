"""``pyker info``: what the engine sees of this host, as ``docker info`` says it.

One document with Docker's field names (its ``/info`` API), printed as Docker's text or
through ``--format`` (``{{.LoggingDriver}}``, ``{{json .SecurityOptions}}``). Every value is
read from the host or the engine's configuration when the command runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from pathlib import Path

from pyker.cli.humanize import bytes_size
from pyker.engine import Engine

_FS_MAGIC = {0xEF53: "extfs", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
             0x794C7630: "overlayfs", 0x2FC12FC1: "zfs"}


def _backing_fs(path: Path) -> str:
    """statfs(2)'s f_type by name; os.statvfs does not give it, ``stat -f`` does."""
    import subprocess

    probe = path if path.exists() else path.parent
    out = subprocess.run(["stat", "-f", "-c", "%t", str(probe)], capture_output=True, text=True)
    try:
        return _FS_MAGIC.get(int(out.stdout.strip(), 16), out.stdout.strip() or "unknown")
    except ValueError:
        return "unknown"


def cgroup_version() -> str:
    """``2`` on a pure cgroup2 host, ``1`` on a v1 or hybrid one (as ``docker info`` says)."""
    with open("/proc/self/mountinfo") as f:
        fstypes = {line.split(" - ")[1].split()[0] for line in f if " - " in line}
    if "cgroup" in fstypes:
        return "1"
    return "2" if "cgroup2" in fstypes else "none"


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
    except OSError:
        return "Linux"


def _memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _security_options(engine: Engine, cgroups: str) -> list[str]:
    """Docker's list: the seccomp profile every container gets unless told otherwise, a
    private cgroup namespace on cgroup v2, and userns when the daemon remaps."""
    options = ["name=seccomp,profile=builtin"]
    if cgroups == "2":
        options.append("name=cgroupns")
    if engine.config.userns_remap:
        options.append("name=userns")
    return options


def _runtimes() -> dict[str, dict[str, str]]:
    """pyker's own, and the OCI runtimes --runtime can hand a bundle to, where installed."""
    found = {"pyker": {"path": "pyker"}}
    for name in ("crun", "runc"):
        path = shutil.which(name)
        if path:
            found[name] = {"path": path}
    return dict(sorted(found.items()))


def document(engine: Engine) -> dict[str, object]:
    from pyker import __version__
    from pyker.runtime.specgen import TINI

    images = engine.images.images() if (engine.data_root / "image").is_dir() else []
    states = [r.state.status for r in engine.containers.all()]
    running, paused = states.count("running"), states.count("paused")
    cgroups = cgroup_version()
    return {
        "Containers": len(states), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": len(states) - running - paused, "Images": len(images),
        "ServerVersion": f"pyker {__version__}", "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", _backing_fs(engine.data_root)],
                         ["Supports d_type", "true"]],
        "LoggingDriver": engine.config.log_driver, "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroups, "Runtimes": _runtimes(), "DefaultRuntime": "pyker",
        "InitBinary": str(TINI) if TINI.exists() else "",
        "SecurityOptions": _security_options(engine, cgroups),
        "KernelVersion": platform.release(), "OperatingSystem": _os_name(), "OSType": "linux",
        "Architecture": platform.machine(), "NCPU": os.cpu_count(), "MemTotal": _memory(),
        "Name": platform.node(), "DockerRootDir": str(engine.data_root),
        "ConfigFile": str(engine.config.config_file),
        # Loopback registries are reached over plain HTTP without being listed, as Docker's.
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8",
                                                     *engine.config.insecure_registries]},
        "LiveRestoreEnabled": False,
    }


def text(doc: dict[str, object]) -> str:
    from pyker import __version__

    lines = ["Client:", f" Version:    {__version__}", " Context:    default", "",
             "Server:", f" Containers: {doc['Containers']}",
             f"  Running: {doc['ContainersRunning']}", f"  Paused: {doc['ContainersPaused']}",
             f"  Stopped: {doc['ContainersStopped']}", f" Images: {doc['Images']}",
             f" Server Version: {doc['ServerVersion']}", f" Storage Driver: {doc['Driver']}"]
    lines += [f"  {k}: {v}" for k, v in doc["DriverStatus"]]
    lines += [f" Logging Driver: {doc['LoggingDriver']}",
              f" Cgroup Driver: {doc['CgroupDriver']}",
              f" Cgroup Version: {doc['CgroupVersion']}",
              f" Runtimes: {' '.join(doc['Runtimes'])}",
              f" Default Runtime: {doc['DefaultRuntime']}",
              f" Init Binary: {doc['InitBinary']}", " Security Options:"]
    for option in doc["SecurityOptions"]:
        name, _, rest = option.partition(",")
        lines.append(f"  {name.removeprefix('name=')}")
        lines += [f"   {k.capitalize()}: {v}" for k, _, v in
                  (item.partition("=") for item in rest.split(",") if item)]
    lines += [f" Kernel Version: {doc['KernelVersion']}",
              f" Operating System: {doc['OperatingSystem']}", f" OSType: {doc['OSType']}",
              f" Architecture: {doc['Architecture']}", f" CPUs: {doc['NCPU']}",
              f" Total Memory: {bytes_size(doc['MemTotal'])}", f" Name: {doc['Name']}",
              f" Docker Root Dir: {doc['DockerRootDir']}",
              f" Config File: {doc['ConfigFile']}", " Insecure Registries:"]
    lines += [f"  {cidr}" for cidr in doc["RegistryConfig"]["InsecureRegistryCIDRs"]]
    lines.append(f" Live Restore Enabled: {str(doc['LiveRestoreEnabled']).lower()}")
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    doc = document(Engine())
    fmt = getattr(args, "format", None)
    if fmt:
        from pyker.cli.gotemplate import compile as compile_template

        sys.stdout.write(compile_template(fmt.replace("\\n", "\n")).render(doc) + "\n")
    else:
        print(text(doc))
    return 0
