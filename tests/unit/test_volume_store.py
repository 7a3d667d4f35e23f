"""The volume store (pyker.volume.store) on a temporary data root, and the create-time plan."""

from __future__ import annotations

import json
import os

import pytest

from pyker.errors import UsageError, VolumeInUse, VolumeNotFound
from pyker.runtime.volumes import inspect_mounts, plan, resolve, users
from pyker.volume.mountspec import MountSpec, parse_mount, parse_volume
from pyker.volume.store import ANONYMOUS_LABEL, VolumeStore


def _nobody(_name: str) -> list[str]:
    return []


@pytest.fixture
def store(tmp_path):
    return VolumeStore(tmp_path)


def test_create_is_docker_layout_and_idempotent(store, tmp_path):
    with store.locked():
        v = store.create("db-data", labels={"tier": "db"})
        again = store.create("db-data", labels={"other": "x"})
    assert again == v
    assert v.mountpoint == str(tmp_path / "volumes" / "db-data" / "_data")
    assert (tmp_path / "volumes" / "db-data" / "_data").is_dir()
    doc = json.loads((tmp_path / "volumes" / "db-data" / "volume.json").read_text())
    assert doc == {"CreatedAt": v.created, "Driver": "local", "Labels": {"tier": "db"},
                   "Mountpoint": v.mountpoint, "Name": "db-data", "Options": None,
                   "Scope": "local"}
    assert [x.name for x in store.list()] == ["db-data"]
    assert store.get("db-data") == v


def test_anonymous_names_are_64_hex_and_labelled(store):
    with store.locked():
        v = store.create(anonymous=True)
    assert len(v.name) == 64 and int(v.name, 16) >= 0
    assert v.labels == {ANONYMOUS_LABEL: ""} and v.anonymous


@pytest.mark.parametrize("name", ["..", "../../etc", "a/b", "x", "-lead", ".hidden", ""])
def test_names_cannot_escape_the_volumes_dir(store, name, tmp_path):
    if name:
        with pytest.raises(UsageError, match="includes invalid characters"):
            with store.locked():
                store.create(name)
    with pytest.raises(VolumeNotFound):
        store.get(name or "..")
    with pytest.raises(VolumeNotFound):
        store.remove(name or "..", _nobody)
    assert sorted(os.listdir(tmp_path / "volumes")) == ["lock"]


def test_remove_refused_while_used(store):
    with store.locked():
        store.create("busy")
    with pytest.raises(VolumeInUse) as err:
        store.remove("busy", lambda name: ["c1", "c2"])
    assert str(err.value) == "remove busy: volume is in use - [c1, c2]"
    with pytest.raises(VolumeInUse):
        store.remove("busy", lambda name: ["c1"], force=True)  # -f never removes a used one
    store.remove("busy", _nobody)
    assert store.list() == []
    with pytest.raises(VolumeNotFound, match="get busy: no such volume"):
        store.remove("busy", _nobody)
    store.remove("busy", _nobody, force=True)


def test_prune_anonymous_only_unless_all(store):
    with store.locked():
        anon = store.create(anonymous=True).name
        used = store.create(anonymous=True).name
        store.create("named")
    using = lambda name: ["c"] if name == used else []  # noqa: E731
    assert store.prune(using) == [anon]
    assert store.prune(using, all_volumes=True) == ["named"]
    assert [v.name for v in store.list()] == [used]


def test_a_dead_writer_leaves_nothing_after_the_sweep(store, tmp_path):
    vols = tmp_path / "volumes"
    vols.mkdir()
    (vols / ".tmp-999999999-half" / "_data").mkdir(parents=True)
    with store.locked():
        pass
    assert sorted(os.listdir(vols)) == ["lock"]


class _NoContainers:
    def resolve(self, ref):
        from pyker.errors import ContainerNotFound

        raise ContainerNotFound(ref)


def test_plan_adds_image_volumes_and_checks_bind_sources(tmp_path):
    asked = (parse_volume("data:/data"), parse_volume(f"{tmp_path}:/host"))
    planned = plan(_NoContainers(), ("/data", "var/log/", "/cache"), asked, ())
    assert [(m.type, m.source, m.target, m.anonymous) for m in planned] == [
        ("volume", "data", "/data", False), ("bind", str(tmp_path), "/host", False),
        ("volume", "", "/cache", True), ("volume", "", "/var/log", True)]
    with pytest.raises(UsageError, match="bind source path does not exist: /nope"):
        plan(_NoContainers(), (), (parse_mount("type=bind,src=/nope,dst=/x"),), ())


def test_resolve_names_every_volume_and_mounts_are_inspectable(tmp_path):
    store = VolumeStore(tmp_path)
    made_dir = tmp_path / "new" / "dir"
    asked = (parse_volume("named:/n:ro"), parse_volume("/anon"),
             parse_volume(f"{made_dir}:/b"), MountSpec(type="tmpfs", target="/t"))
    with store.locked():
        mounts, made = resolve(store, asked)
    anon = mounts[1].source
    assert made == ["named", anon] and mounts[1].anonymous and made_dir.is_dir()
    containers = tmp_path / "containers"
    (containers / "c1").mkdir(parents=True)
    options = {"mounts": [m.to_dict() for m in mounts]}
    (containers / "c1" / "container.json").write_text(json.dumps({"options": options}))
    assert users(containers)("named") == ["c1"] and users(containers)("other") == []
    assert inspect_mounts(containers, options) == [
        {"Type": "volume", "Name": "named", "Source": str(tmp_path / "volumes/named/_data"),
         "Destination": "/n", "Driver": "local", "Mode": "ro", "RW": False,
         "Propagation": ""},
        {"Type": "volume", "Name": anon, "Source": str(tmp_path / f"volumes/{anon}/_data"),
         "Destination": "/anon", "Driver": "local", "Mode": "", "RW": True,
         "Propagation": ""},
        {"Type": "bind", "Source": str(made_dir), "Destination": "/b", "Mode": "",
         "RW": True, "Propagation": "rprivate"},
        {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True,
         "Propagation": ""}]
