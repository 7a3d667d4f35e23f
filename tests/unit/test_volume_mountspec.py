"""-v, --mount and --tmpfs parsing (pyker.volume.mountspec): exact values and Docker's errors."""

from __future__ import annotations

import pytest

from pyker.errors import UsageError
from pyker.runtime.options import RunOptions
from pyker.volume.mountspec import (
    MountSpec, check_unique, parse_mount, parse_tmpfs, parse_volume, parse_volumes_from,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("data:/var/lib/data", MountSpec(type="volume", source="data", target="/var/lib/data")),
    ("data:/d:ro", MountSpec(type="volume", source="data", target="/d", readonly=True,
                             mode="ro")),
    ("data:/d:nocopy", MountSpec(type="volume", source="data", target="/d", mode="nocopy",
                                 nocopy=True)),
    ("/data/", MountSpec(type="volume", target="/data")),
    ("/srv/app:/app", MountSpec(type="bind", source="/srv/app", target="/app",
                                propagation="rprivate", create_source=True)),
    ("/srv//app/:/app/../x:ro,rslave", MountSpec(
        type="bind", source="/srv/app", target="/x", readonly=True, mode="ro,rslave",
        propagation="rslave", create_source=True)),
    ("/h:/c:rw,z", MountSpec(type="bind", source="/h", target="/c", mode="rw,z",
                             propagation="rprivate", create_source=True)),
])
def test_volume_flag(raw, expected):
    assert parse_volume(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    (":/x", "invalid volume specification: ':/x'"),
    ("a::/x", "invalid volume specification: 'a::/x'"),
    ("a:/b:ro:x", "invalid volume specification: 'a:/b:ro:x'"),
    ("/x:ro", "invalid volume specification: '/x:ro'"),
    ("", "invalid volume specification: ''"),
    ("data:/d:rx", "invalid mode: rx"),
    ("data:/d:ro,rw", "invalid mode: ro,rw"),
    ("data:/d:shared", "invalid mode: shared"),
    ("/h:/d:nocopy", "invalid mode: nocopy"),
    ("data:rel", 'invalid mount config for type "volume": invalid mount path: \'rel\' mount '
                 "path must be absolute"),
    ("/h:rel", 'invalid mount config for type "bind": invalid mount path: \'rel\' mount path '
               "must be absolute"),
    ("data:/", 'invalid mount config for type "volume": destination can\'t be "/"'),
    ("../etc:/x", 'create ../etc: "../etc" includes invalid characters for a local volume '
                  'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
                  "pass a host directory, use absolute path"),
    ("a:/x", 'create a: "a" includes invalid characters'),
    ("./rel:/x", 'create ./rel: "./rel" includes invalid characters'),
])
def test_volume_flag_errors(raw, message):
    with pytest.raises(UsageError) as err:
        parse_volume(raw)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("raw", "expected"), [
    ("type=volume,src=db,dst=/var/lib/db", MountSpec(type="volume", source="db",
                                                     target="/var/lib/db")),
    ("source=db,target=/d,readonly", MountSpec(type="volume", source="db", target="/d",
                                               readonly=True)),
    ("destination=/d", MountSpec(type="volume", target="/d")),
    ("type=volume,dst=/d,ro=false,volume-nocopy,volume-label=a=1,volume-label=b=2",
     MountSpec(type="volume", target="/d", nocopy=True, labels=("a=1", "b=2"))),
    ("type=bind,source=/h,target=/c,readonly=true,bind-propagation=rshared",
     MountSpec(type="bind", source="/h", target="/c", readonly=True, propagation="rshared")),
    ("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777", MountSpec(
        type="tmpfs", target="/t", options=("size=67108864", "mode=1777"))),
    ('"type=bind","src=/a,b",dst=/c', MountSpec(type="bind", source="/a,b", target="/c",
                                                propagation="rprivate")),
])
def test_mount_flag(raw, expected):
    assert parse_mount(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("type=foo,dst=/x", 'invalid mount config for type "foo": mount type unknown'),
    ("type=bind,src=/x", "target is required"),
    ("type=bind,dst=/x", 'invalid mount config for type "bind": field Source must not be '
                         "empty"),
    ("type=bind,src=rel,dst=/x", 'invalid mount config for type "bind": invalid mount path: '
                                 "'rel' mount path must be absolute"),
    ("type=tmpfs,src=x,dst=/x", 'invalid mount config for type "tmpfs": field Source must '
                                "not be specified"),
    ("type=volume,dst=x", 'invalid mount config for type "volume": invalid mount path: '
                          "'x' mount path must be absolute"),
    ("type=volume,dst=/x,bogus=1", "unexpected key 'bogus' in 'type=volume,dst=/x,bogus=1'"),
    ("type=volume,dst=/x,src", "invalid field 'src' must be a key=value pair"),
    ("type=volume,dst=/x,readonly=maybe", "invalid value for readonly: maybe"),
    ("type=tmpfs,dst=/x,bind-propagation=shared", "cannot mix 'bind-*' options with mount "
                                                  "type 'tmpfs'"),
    ("type=bind,src=/h,dst=/x,volume-nocopy", "cannot mix 'volume-*' options with mount "
                                              "type 'bind'"),
    ("type=volume,src=../x,dst=/x", 'create ../x: "../x" includes invalid characters'),
    ("type=volume,dst=/x,volume-driver=nfs", 'plugin "nfs" not found'),
    ("type=tmpfs,dst=/x,tmpfs-mode=999", "invalid tmpfs mode: 999"),
])
def test_mount_flag_errors(raw, message):
    with pytest.raises(UsageError) as err:
        parse_mount(raw)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(("raw", "expected"), [
    ("/run", MountSpec(type="tmpfs", target="/run")),
    ("/run:size=64m,mode=1777", MountSpec(type="tmpfs", target="/run",
                                          options=("size=67108864", "mode=1777"))),
    ("/run:ro,exec,uid=1000", MountSpec(type="tmpfs", target="/run", readonly=True,
                                        options=("exec", "uid=1000"))),
])
def test_tmpfs_flag(raw, expected):
    assert parse_tmpfs(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("run", "invalid mount config for type \"tmpfs\": invalid mount path: 'run'"),
    ("/run:size=big", 'invalid argument "big" for "--tmpfs" flag: invalid size'),
    ("/run:bind", 'invalid tmpfs option ["bind"] in "/run:bind"'),
    ("/run:mode=rwx", "invalid tmpfs mode: rwx"),
])
def test_tmpfs_flag_errors(raw, message):
    with pytest.raises(UsageError) as err:
        parse_tmpfs(raw)
    assert str(err.value).startswith(message)


def test_volumes_from_and_duplicates():
    assert parse_volumes_from("web") == ("web", "")
    assert parse_volumes_from("web:ro") == ("web", "ro")
    with pytest.raises(UsageError, match="invalid mode: rx"):
        parse_volumes_from("web:rx")
    with pytest.raises(UsageError, match="Duplicate mount point: /x"):
        check_unique((parse_volume("a1:/x"), parse_tmpfs("/x/")))


def test_run_options_round_trip_keeps_mounts_as_tuples():
    opts = RunOptions(image="busybox", mounts=(parse_volume("d1:/d:ro"),
                                               parse_tmpfs("/t:size=1k,noexec")),
                      volumes_from=("web:ro",))
    import json

    again = RunOptions.from_dict(json.loads(json.dumps(opts.to_dict())))
    assert again == opts
    assert isinstance(again.mounts[1].options, tuple)
