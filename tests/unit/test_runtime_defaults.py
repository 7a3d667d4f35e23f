"""Docker's defaults are data that make a valid spec, and agree with what runc and moby write."""

import json
from pathlib import Path

from pyker.runtime.defaults import (
    DEFAULT_DEVICES, DEFAULT_ENV_PATH, DEFAULT_MOUNTS, DEFAULT_NAMESPACES, DEFAULT_RLIMITS,
    DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS, default_namespaces, thermal_throttle_paths,
)
from pyker.spec.runtime import Linux, Process, Root, Spec, validate

RUNC_SPEC = json.loads((Path(__file__).resolve().parent.parent / "fixtures" / "runtime"
                        / "runc-spec.json").read_text())


def docker_like(cgroup_v2: bool) -> Spec:
    return Spec(
        process=Process(args=("sh",), env=(DEFAULT_ENV_PATH,), rlimits=DEFAULT_RLIMITS),
        root=Root(path="rootfs"), hostname="3f2a1b4c5d6e", mounts=DEFAULT_MOUNTS,
        linux=Linux(namespaces=default_namespaces(cgroup_v2), masked_paths=MASKED_PATHS,
                    readonly_paths=READONLY_PATHS, devices=DEFAULT_DEVICES))


def test_defaults_make_a_valid_spec():
    for v2 in (False, True):
        validate(docker_like(v2))
        assert Spec.from_dict(docker_like(v2).to_dict()) == docker_like(v2)


def test_cgroup_namespace_is_private_on_v2_only():
    assert default_namespaces(False) == DEFAULT_NAMESPACES
    assert [ns.type for ns in default_namespaces(True)] == [
        "mount", "network", "uts", "pid", "ipc", "cgroup"]


def test_mounts_are_runcs_set_with_dockers_options():
    runc = {(m["destination"], m["type"]) for m in RUNC_SPEC["mounts"]}
    assert {(m.destination, m.type) for m in DEFAULT_MOUNTS} == runc
    shm = next(m for m in DEFAULT_MOUNTS if m.destination == "/dev/shm")
    assert "size=65536k" in shm.options and DEFAULT_SHM_SIZE == 64 * 1024 * 1024
    cgroup = next(m for m in DEFAULT_MOUNTS if m.destination == "/sys/fs/cgroup")
    assert "ro" in cgroup.options


def test_masked_and_readonly_paths_cover_runcs():
    assert set(RUNC_SPEC["linux"]["maskedPaths"]) < set(MASKED_PATHS)
    assert {"/proc/interrupts", "/sys/devices/virtual/powercap"} <= set(MASKED_PATHS)
    assert READONLY_PATHS == tuple(RUNC_SPEC["linux"]["readonlyPaths"])


def test_default_devices():
    assert [(d.path, d.major, d.minor) for d in DEFAULT_DEVICES] == [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)]
    assert {(d.type, d.file_mode, d.uid, d.gid) for d in DEFAULT_DEVICES} == {("c", 0o666, 0, 0)}


def test_thermal_throttle_paths_are_found_per_cpu(tmp_path):
    for name in ("cpu0", "cpu1", "cpu10", "cpufreq"):
        (tmp_path / name).mkdir()
    for name in ("cpu10", "cpu0", "cpufreq"):
        (tmp_path / name / "thermal_throttle").mkdir()
    assert thermal_throttle_paths(tmp_path) == (
        "/sys/devices/system/cpu/cpu0/thermal_throttle",
        "/sys/devices/system/cpu/cpu10/thermal_throttle")
    assert thermal_throttle_paths(tmp_path / "absent") == ()
