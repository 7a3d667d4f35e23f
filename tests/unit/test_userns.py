"""userns-remap without a kernel: /etc/subuid parsing, the ranges it gives, the data root it
moves, the spec's mappings, and the layer owners shifted into the range."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pyker import config
from pyker.errors import ConfigError
from pyker.fs.layer import apply_layer
from pyker.fs.unpack import IdShift
from pyker.runtime import userns
from pyker.runtime.options import RunOptions
from pyker.spec.runtime import IdMapping, validate
from tarballs import entry, tar_bytes

SUBUID = """\
# comment
ubuntu:165536:65536
dockremap:231072:65536
broken:line
neg:-5:10
1001:300000:1000
dockremap:400000:1000
"""


def m(container: int, host: int, size: int) -> IdMapping:
    return IdMapping(container_id=container, host_id=host, size=size)


def test_parse_subid_takes_names_in_file_order_and_skips_junk() -> None:
    assert userns.parse_subid(SUBUID, ("dockremap",)) == [(231072, 65536), (400000, 1000)]
    assert userns.parse_subid(SUBUID, ("bob", "1001")) == [(300000, 1000)]
    assert userns.parse_subid(SUBUID, ("broken", "neg")) == []


def test_mappings_lay_ranges_end_to_end_from_zero() -> None:
    assert userns.mappings([(400000, 1000), (231072, 65536)]) == (
        m(0, 231072, 65536), m(65536, 400000, 1000))


def _files(tmp_path: Path, subuid: str, subgid: str) -> dict[str, Path]:
    paths = {}
    for name, text in (("subuid", subuid), ("subgid", subgid),
                       ("passwd", "bob:x:1001:1001::/home/bob:/bin/sh\n"),
                       ("group", "staff:x:1001:\n")):
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    return paths


def test_default_is_dockremap_when_listed(tmp_path: Path) -> None:
    remap = userns.resolve("default", **_files(tmp_path, SUBUID, "dockremap:231072:65536\n"))
    assert remap.uid_maps == (m(0, 231072, 65536), m(65536, 400000, 1000))
    assert remap.gid_maps == (m(0, 231072, 65536),)
    assert remap.dir_name == "231072.231072"


def test_default_falls_back_to_100000_65536(tmp_path: Path) -> None:
    remap = userns.resolve("default", **_files(tmp_path, "", ""))
    assert remap.uid_maps == remap.gid_maps == (m(0, 100000, 65536),)
    assert remap.dir_name == "100000.100000"


def test_user_and_group_by_name_or_id(tmp_path: Path) -> None:
    files = _files(tmp_path, SUBUID, "staff:500000:65536\n")
    remap = userns.resolve("bob:staff", **files)  # bob has no named entry: his uid 1001 has
    assert remap.uid_maps == (m(0, 300000, 1000),)
    assert remap.gid_maps == (m(0, 500000, 65536),)


@pytest.mark.parametrize("setting, message", [
    ("nobody", 'no subordinate uid range for user "nobody"'),
    ("ubuntu", 'no subordinate gid range for group "ubuntu"'),
    ("", "empty value"),
])
def test_unknown_ranges_are_config_errors(tmp_path: Path, setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        userns.resolve(setting, **_files(tmp_path, SUBUID, ""))


def test_config_moves_the_data_root(tmp_path: Path) -> None:
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"userns-remap": "default"}))
    cfg = config.load({"PYKER_DAEMON_CONFIG": str(daemon), "PYKER_DATA_ROOT": "/x/data"})
    expected = userns.resolve("default")  # the host's own /etc/subuid decides
    assert cfg.userns_remap == expected
    assert cfg.data_root == Path("/x/data") / expected.dir_name
    daemon.write_text(json.dumps({"userns-remap": 3}))
    with pytest.raises(ConfigError, match="must be a string"):
        config.load({"PYKER_DAEMON_CONFIG": str(daemon)})


def test_options_keep_the_remap_through_the_record() -> None:
    remap = userns.Remap(uid_maps=(m(0, 100000, 65536),), gid_maps=(m(0, 200000, 10),))
    opts = RunOptions(image="busybox", userns_remap=remap)
    assert RunOptions.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts


def test_spec_gets_a_user_namespace_first_and_the_mappings(tmp_path: Path) -> None:
    from pyker.image.store import Image
    from pyker.runtime.specgen import generate
    from pyker.spec.image import ContainerConfig, Descriptor, ImageConfig, Manifest

    desc = Descriptor(media_type="application/vnd.oci.image.config.v1+json",
                      digest="sha256:" + "0" * 64, size=2)
    image = Image(id="sha256:" + "0" * 64, manifest_digest=desc.digest,
                  manifest=Manifest(config=desc, layers=()),
                  config=ImageConfig(architecture="amd64", os="linux", diff_ids=(),
                                     config=ContainerConfig(cmd=("id",))),
                  tags=(), size=0)
    remap = userns.Remap(uid_maps=(m(0, 100000, 65536),), gid_maps=(m(0, 100000, 65536),))
    spec = generate(RunOptions(image="busybox", userns_remap=remap), image,
                    container_id="c" * 64, rootfs=tmp_path, container_dir=tmp_path,
                    cgroups_path="/pyker/c", cgroup_v2=False)
    validate(spec)
    assert spec.linux.namespaces[0].type == "user"
    doc = spec.to_dict()["linux"]
    assert doc["uidMappings"] == doc["gidMappings"] == [
        {"containerID": 0, "hostID": 100000, "size": 65536}]
    plain = generate(RunOptions(image="busybox"), image, container_id="c" * 64,
                     rootfs=tmp_path, container_dir=tmp_path, cgroups_path="/pyker/c",
                     cgroup_v2=False)
    assert "user" not in {ns.type for ns in plain.linux.namespaces}
    assert not plain.linux.uid_mappings


def test_conflicts_refused_with_dockers_words() -> None:
    with pytest.raises(Exception, match=r"^privileged mode is incompatible with user "
                                        r"namespaces\.  You must run the container in the "
                                        r"host namespace when running privileged mode$"):
        userns.refuse_conflicts(privileged=True, network="none")
    with pytest.raises(Exception, match="cannot share the host's network namespace"):
        userns.refuse_conflicts(privileged=False, network="host")
    userns.refuse_conflicts(privileged=False, network="none")


def test_id_shift() -> None:
    shift = IdShift(uid_maps=(m(0, 100000, 10), m(10, 500, 5)), gid_maps=(m(0, 7, 1),))
    assert [shift.host_uid(i) for i in (0, 9, 10, 14, 15)] == [100000, 100009, 500, 504, None]
    assert (shift.host_gid(0), shift.host_gid(1)) == (7, None)


@pytest.mark.requires("root")
def test_layer_owners_shifted_into_the_range(tmp_path: Path) -> None:
    shift = IdShift(uid_maps=(m(0, 100000, 65536),), gid_maps=(m(0, 200000, 65536),))
    data = tar_bytes(entry("etc", tarfile.DIRTYPE, mode=0o755),
                     entry("etc/shadow", data=b"x", mode=0o640, gid=42),
                     entry("home/bob/.profile", data=b"", uid=1000, gid=1000),
                     entry("bin/sh", tarfile.SYMTYPE, linkname="busybox"))
    dest = tmp_path / "layer"
    apply_layer(io.BytesIO(data), dest, name="test", shift=shift)
    owner = lambda p: (p.lstat().st_uid, p.lstat().st_gid)  # noqa: E731
    assert owner(dest / "etc") == (100000, 200000)
    assert owner(dest / "etc/shadow") == (100000, 200042)
    assert owner(dest / "home/bob/.profile") == (101000, 201000)
    assert owner(dest / "bin/sh") == (100000, 200000)
    # parents the tar does not list, and the layer root, are the container root's too
    assert owner(dest / "home") == owner(dest / "home/bob") == owner(dest) == (100000, 200000)
    with pytest.raises(Exception, match="outside the remapped range"):
        apply_layer(io.BytesIO(tar_bytes(entry("f", uid=70000))), tmp_path / "l2",
                    name="test", shift=shift)
