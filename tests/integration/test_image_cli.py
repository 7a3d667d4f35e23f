"""The image commands end to end, through the real CLI, on a private store."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tarballs import tar_of

pytestmark = pytest.mark.requires("root")


def test_course_empty_import(pyker):
    # The course's line: tar cv --files-from /dev/null | docker import - vide
    empty = subprocess.run(["tar", "cv", "--files-from", "/dev/null"], capture_output=True,
                           check=True).stdout
    image_id = pyker.out("import", "-", "vide", input=empty).strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    listing = pyker.out("images")
    header, row = listing.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert row.split()[:3] == ["vide", "latest", image_id[7:19]]
    history = pyker.out("history", "vide").splitlines()
    assert "Imported from -" in history[1]


def test_import_with_changes_and_inspect(pyker, tmp_path):
    archive = tmp_path / "root.tar"
    archive.write_bytes(tar_of({"hello.txt": b"hi\n"}))
    pyker("import", "-c", 'CMD ["cat", "/hello.txt"]', "-c", "ENV A=1", "-m", "first",
          str(archive), "demo:v1")
    doc = json.loads(pyker.out("image", "inspect", "demo:v1"))[0]
    assert doc["RepoTags"] == ["demo:v1"]
    assert doc["Config"]["Cmd"] == ["cat", "/hello.txt"] and doc["Config"]["Env"] == ["A=1"]
    assert doc["Comment"] == "first" and doc["Os"] == "linux"
    assert doc["RootFS"]["Layers"][0].startswith("sha256:")
    assert doc["Size"] == 3
    assert pyker.out("inspect", "-f", "{{.Config.Cmd}} {{json .RepoTags}}", "demo:v1") == \
        '[cat /hello.txt] ["demo:v1"]\n'


def test_formats_quiet_and_no_trunc(pyker):
    image_id = pyker.out("import", "-", "a:1", input=tar_of({"x": b"1"})).strip()
    pyker("tag", "a:1", "localhost:5000/b")
    assert pyker.out("images", "-q") == f"{image_id[7:19]}\n{image_id[7:19]}\n"
    assert pyker.out("images", "--no-trunc", "--format", "{{.ID}}").splitlines()[0] == image_id
    assert sorted(pyker.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()) == \
        ["a:1", "localhost:5000/b:latest"]
    row = json.loads(pyker.out("images", "--format", "{{json .}}", "a").strip())
    assert row["Repository"] == "a" and row["Tag"] == "1" and row["Size"] == "1B"
    table = pyker.out("images", "--format", "table {{.Repository}}\\t{{.Tag}}").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG"]


def test_tag_and_rmi_rules(pyker, data_root):
    image_id = pyker.out("import", "-", "one", input=tar_of({"f": b"x"})).strip()
    pyker("tag", "one", "two:latest")
    out = pyker("rmi", image_id[7:19], check=False)
    assert out.returncode == 1 and b"referenced in multiple repositories" in out.stderr
    assert pyker.out("rmi", "one") == "Untagged: one:latest\n"
    # A container record that uses the image makes removing the last tag a conflict.
    record = data_root / "containers" / ("c" * 64)
    record.mkdir(parents=True)
    (record / "container.json").write_text(json.dumps({"Image": image_id}))
    out = pyker("rmi", "two", check=False)
    assert out.returncode == 1 and b"is using its referenced image" in out.stderr
    assert pyker.out("rmi", "-f", "two") == "Untagged: two:latest\n"
    assert "<none>" in pyker.out("images")  # kept for the container
    (record / "container.json").unlink()
    assert pyker.out("rmi", image_id) == f"Deleted: {image_id}\n"
    assert pyker.out("images", "-q") == ""
    assert list((data_root / "layers").iterdir()) == []
    assert "consistent" in pyker.out("system", "check")


def test_prune_dangling_only(pyker):
    pyker("import", "-", "keep", input=tar_of({"k": b"1"}))
    dangling = pyker.out("import", "-", input=tar_of({"d": b"2"})).strip()
    out = pyker.out("image", "prune", "-f")
    assert f"deleted: {dangling}" in out and "Total reclaimed space: 1B" in out
    assert pyker.out("images", "--format", "{{.Repository}}") == "keep\n"


@pytest.mark.parametrize("args, message, code", [
    (["rmi", "nope"], "No such image: nope", 1),
    (["image", "inspect", "nope"], "No such image: nope", 1),
    (["tag", "nope", "x"], "No such image: nope", 125),
    (["tag", "x", "Bad:Name"], "invalid reference format", 125),
    (["import", "/does/not/exist"], "/does/not/exist: No such file or directory", 125),
    (["images", "--bogus"], "unrecognized arguments: --bogus", 125),
    (["frobnicate"], "'frobnicate' is not a pyker command", 1),
])
def test_errors_are_one_line_with_docker_codes(pyker, args, message, code):
    proc = pyker(*args, check=False)
    assert proc.returncode == code
    assert message in proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


def test_system_df_info_version(pyker):
    pyker("import", "-", "x", input=tar_of({"f": b"12345"}))
    df = pyker.out("system", "df").splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[:4] == ["Images", "1", "0", "5B"]
    info = pyker.out("info")
    assert "Storage Driver: overlay2" in info and "Cgroup Version:" in info
    # The course's `docker info | grep seccomp`: the profile every container gets.
    assert " Security Options:\n  seccomp\n   Profile: builtin\n" in info
    assert " Logging Driver: json-file\n" in info
    assert " Insecure Registries:\n  127.0.0.0/8\n" in info
    fmt = "{{.LoggingDriver}} {{.DefaultRuntime}} {{.Driver}} {{json .SecurityOptions}}"
    assert pyker.out("info", "--format", fmt).startswith(
        'json-file pyker overlay2 ["name=seccomp,profile=builtin"')
    assert pyker.out("system", "info", "-f", "{{.NCPU}}") == f"{os.cpu_count()}\n"
    assert pyker.out("--version").startswith("pyker version")
