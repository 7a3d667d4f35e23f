"""The container's cgroup: from the spec's ``linux.resources`` to a cgroups driver, and back.

The spec speaks OCI (runc's units: memory.swap is memory+swap, as Docker's --memory-swap);
the drivers take :class:`pyker.cgroups.Resources`. The cgroup is ``pyker/<container id>``
in every hierarchy, as Docker's is ``docker/<id>``; a hybrid host uses the v1 driver.
"""

from __future__ import annotations

import signal
import sys

from pyker.cgroups import DeviceRule, Resources, detect, manager_for
from pyker.spec.runtime import LinuxResources, Spec

PARENT = "pyker"


def path_of(container_id: str) -> str:
    return f"{PARENT}/{container_id}"


def is_v2() -> bool:
    return detect().mode == "v2"


def resources_of(res: LinuxResources | None) -> Resources:
    if res is None:
        return Resources()
    mem, cpu = res.memory, res.cpu
    devices = tuple(DeviceRule(allow=d.allow, type=d.type or "a",
                               major=-1 if d.major is None else d.major,
                               minor=-1 if d.minor is None else d.minor,
                               access=d.access or "rwm") for d in res.devices)
    return Resources(
        memory=mem.limit if mem else None,
        memory_swap=mem.swap if mem else None,
        memory_reservation=mem.reservation if mem else None,
        oom_kill_disable=bool(mem and mem.disable_oom_killer),
        cpu_shares=cpu.shares if cpu else None,
        cpu_quota=cpu.quota if cpu else None,
        cpu_period=cpu.period if cpu else None,
        cpuset_cpus=cpu.cpus if cpu else None,
        cpuset_mems=cpu.mems if cpu else None,
        pids_limit=res.pids.limit if res.pids else None,
        devices=devices)


def make(container_id: str):
    """The container's cgroup, created empty (its limits come with its spec: :func:`configure`)."""
    manager = manager_for(path_of(container_id))
    manager.create()
    return manager


def self_join_files(manager, *, user_namespace: bool):
    """The files the container's init writes ``0`` into to move itself into its cgroup
    (v1: each hierarchy's ``tasks``, V1Manager.self_join_files), sparing it the grace
    period a move by another process waits for; None when whoever starts it must move it:
    no cgroup of ours, cgroup v2 (no lone thread moves across domains), or a user
    namespace (its root may not write the host's cgroup files)."""
    if manager is None or user_namespace:
        return None
    return manager.self_join_files()


def configure(manager, spec: Spec) -> None:
    """Write the spec's limits into the cgroup; print Docker's warnings to stderr."""
    for warning in manager.apply(resources_of(spec.linux.resources)):
        print(f"WARNING: {warning}", file=sys.stderr)


def release(manager) -> None:
    """Remove the cgroup once the container is gone (what is left in it is killed first)."""
    if manager.exists():
        if manager.pids():
            manager.kill_all(signal.SIGKILL)
        manager.destroy()


def destroy_cgroup(container_id: str) -> None:
    release(manager_for(path_of(container_id)))
