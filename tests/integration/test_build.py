"""``pyker build`` on real containers: the course's Dockerfiles (busybox stands in for
ubuntu/alpine), the layer cache, multi-stage builds, and the context's walls."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from conftest import Pyker

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


def _context(tmp_path: Path, dockerfile: str, **files: str) -> Path:
    root = tmp_path / "ctx"
    root.mkdir(exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _build(pk: Pyker, root: Path, *flags: str, check: bool = True):
    proc = pk("build", *flags, str(root), check=check)
    return proc, proc.stdout.decode() + proc.stderr.decode()


def _history_ids(pk: Pyker, image: str) -> list[str]:
    return pk.out("history", "-q", image).split()


def test_figlet_like_cmd_entrypoint_flow(pk, tmp_path):
    root = _context(tmp_path, 'FROM busybox\nRUN echo "#!/bin/sh" > /usr/bin/fig && '
                    'echo \'echo "FIG: $*"\' >> /usr/bin/fig && chmod 755 /usr/bin/fig\n'
                    'RUN touch /built\nCMD ["fig", "hello"]\n')
    proc, text = _build(pk, root, "-t", "fig")
    assert re.search(r"^Step 1/4 : FROM busybox$", text, re.M)
    assert " ---> Running in " in text and "Removing intermediate container" in text
    assert re.search(r"^Successfully built [0-9a-f]{12}$", text, re.M)
    assert "Successfully tagged fig:latest" in text
    assert pk.out("run", "--rm", "fig") == "FIG: hello\n"
    assert pk.out("run", "--rm", "fig", "ls", "/built") == "/built\n"  # CMD overridden
    root2 = tmp_path / "entry"
    root2.mkdir()
    (root2 / "Dockerfile").write_text('FROM fig\nENTRYPOINT ["fig", "-x"]\nCMD ["world"]\n')
    _build(pk, root2, "-t", "fig2")
    assert pk.out("run", "--rm", "fig2") == "FIG: -x world\n"
    assert pk.out("run", "--rm", "fig2", "other") == "FIG: -x other\n"
    assert pk.out("run", "--rm", "--entrypoint", "echo", "fig2", "direct") == "direct\n"


def test_layer01_shared_layers_cache_and_diff(pk, tmp_path):
    one = tmp_path / "l1"
    two = tmp_path / "l2"
    one.mkdir()
    two.mkdir()
    shared = "FROM busybox\nRUN echo un > /fichier\n"
    (one / "Dockerfile").write_text(shared + "RUN echo deux > /autre-fichier\n")
    (two / "Dockerfile").write_text(shared + "RUN echo trois > /encore-un\n")
    _build(pk, one, "-t", "layers1")
    proc, text = _build(pk, two, "-t", "layers2")
    step2 = text.split("Step 2/3")[1].split("Step 3/3")[0]
    assert " ---> Using cache" in step2
    step3 = text.split("Step 3/3")[1]
    assert "Using cache" not in step3
    h1, h2 = _history_ids(pk, "layers1"), _history_ids(pk, "layers2")
    assert h1[1] == h2[1] and h1[1] != "<missing>"  # the shared RUN's image, by ID
    assert h1[0] != h2[0]
    pk("run", "--name", "l1c", "layers1", "sh", "-c", "echo changed > /autre-fichier")
    assert "C /autre-fichier" in pk.out("diff", "l1c").splitlines()
    pk("rm", "l1c")


def test_rebuild_is_all_cached_and_a_changed_file_rebuilds_from_its_step(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nENV A=1\nCOPY a.txt /a.txt\nRUN cat /a.txt\n"
                    "COPY b.txt /b.txt\nCMD [\"cat\", \"/a.txt\", \"/b.txt\"]\n",
                    **{"a.txt": "a\n", "b.txt": "b\n"})
    _build(pk, root, "-t", "cached")
    _, text = _build(pk, root, "-t", "cached")
    assert text.count(" ---> Using cache") == 5
    (root / "b.txt").write_text("B changed\n")
    _, text = _build(pk, root, "-t", "cached")
    steps = re.split(r"^Step \d/6 : ", text, flags=re.M)[1:]
    assert ["Using cache" in s for s in steps] == [False, True, True, True, False, False]
    assert pk.out("run", "--rm", "cached") == "a\nB changed\n"
    _, text = _build(pk, root, "--no-cache", "-t", "cached")
    assert "Using cache" not in text


def test_build_args_defaults_and_unused_warning(pk, tmp_path):
    root = _context(tmp_path, "ARG BASE=busybox\nFROM $BASE\nARG WHO=world\n"
                    "RUN echo \"hello $WHO\" > /greet\nCMD [\"cat\", \"/greet\"]\n")
    _, text = _build(pk, root, "-t", "args1")
    assert pk.out("run", "--rm", "args1") == "hello world\n"
    assert "not consumed" not in text
    _, text = _build(pk, root, "-t", "args2", "--build-arg", "WHO=class",
                     "--build-arg", "NOPE=1")
    assert pk.out("run", "--rm", "args2") == "hello class\n"
    assert "[Warning] One or more build-args [NOPE] were not consumed" in text
    created_by = pk.out("history", "--no-trunc", "--format", "{{.CreatedBy}}", "args2")
    assert "|1 WHO=class /bin/sh -c echo" in created_by


def test_proxy_build_args_reach_run_without_arg_and_stay_out_of_the_cache(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nRUN echo \"proxy=$http_proxy\" > /p\n"
                    "CMD [\"cat\", \"/p\"]\n")
    _, text = _build(pk, root, "-t", "proxied", "--build-arg", "http_proxy=http://127.0.0.1:9")
    assert pk.out("run", "--rm", "proxied") == "proxy=http://127.0.0.1:9\n"
    assert "not consumed" not in text
    created_by = pk.out("history", "--no-trunc", "--format", "{{.CreatedBy}}", "proxied")
    assert "127.0.0.1:9" not in created_by
    # Another proxy is the same build: the step comes from the cache.
    _, text = _build(pk, root, "-t", "proxied", "--build-arg", "http_proxy=http://127.0.0.1:8")
    assert "Using cache" in text
    pk("rmi", "proxied")


def test_onbuild_runs_in_child_not_grandchild(pk, tmp_path):
    parent = tmp_path / "p"
    parent.mkdir()
    (parent / "Dockerfile").write_text("FROM busybox\nONBUILD RUN echo trigger >> /log\n")
    _build(pk, parent, "-t", "onparent")
    child = tmp_path / "c"
    child.mkdir()
    (child / "Dockerfile").write_text("FROM onparent\nRUN true\n")
    _, text = _build(pk, child, "-t", "onchild")
    assert "# Executing 1 build trigger" in text
    assert pk.out("run", "--rm", "onchild", "cat", "/log") == "trigger\n"
    doc = json.loads(pk.out("image", "inspect", "onchild"))[0]
    assert not doc["Config"].get("OnBuild")
    grand = tmp_path / "g"
    grand.mkdir()
    (grand / "Dockerfile").write_text("FROM onchild\nRUN true\n")
    _, text = _build(pk, grand, "-t", "ongrand")
    assert "build trigger" not in text
    assert pk.out("run", "--rm", "ongrand", "cat", "/log") == "trigger\n"


def test_multistage_copy_from_and_target(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nRUN echo 'Hello, world!' > /hello.txt\n"
                    "FROM busybox AS unused\nRUN echo never > /never\n"
                    "FROM scratch AS final\nCOPY --from=0 /hello.txt /hello.txt\n"
                    "COPY --from=0 /bin/busybox /bin/cat\n"
                    "CMD [\"/bin/cat\", \"/hello.txt\"]\n")
    _, text = _build(pk, root, "-t", "multi")
    assert "FROM busybox AS unused" not in text  # a stage the target does not need
    assert re.search(r"^Step 2/6 : RUN echo 'Hello, world!'", text, re.M)
    assert pk.out("run", "--rm", "multi") == "Hello, world!\n"
    _, text = _build(pk, root, "--target", "unused", "-t", "multi-unused")
    assert "FROM scratch" not in text
    assert pk.out("run", "--rm", "multi-unused", "cat", "/never") == "never\n"


def test_copy_from_an_image_named_without_tag(pk, tmp_path):
    root = _context(tmp_path, "FROM scratch\nCOPY --from=busybox /bin/busybox /bin/echo\n"
                    "CMD [\"/bin/echo\", \"from busybox:latest\"]\n")
    _build(pk, root, "-t", "fromimage")
    assert pk.out("run", "--rm", "--network", "none", "fromimage") == "from busybox:latest\n"
    pk("rmi", "fromimage")
    # A misspelt stage is an image that cannot be found, said on one line.
    (root / "Dockerfile").write_text("FROM busybox AS build\nFROM busybox\n"
                                     "COPY --from=biuld /bin/sh /x\n")
    proc, text = _build(pk, root, check=False)
    assert proc.returncode == 1 and "Traceback" not in text
    assert "biuld" in text.strip().splitlines()[-1]


def test_image_build_is_build(pk, tmp_path):
    """The course's `docker image build --tag NAME .` form."""
    root = _context(tmp_path, "FROM busybox\nCMD [\"echo\", \"built by image build\"]\n")
    pk("image", "build", "--tag", "imagebuild:1.0", str(root))
    assert pk.out("run", "--rm", "--network", "none", "imagebuild:1.0") == \
        "built by image build\n"
    pk("image", "rm", "imagebuild:1.0")


def test_rmi_takes_the_untagged_parents_and_prune_keeps_a_builds_cache(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nENV X=1\n")
    _build(pk, root, "-t", "chain")
    chain = pk.out("history", "-q", "--no-trunc", "chain").split()[:3]  # ENV, RUN b, RUN a
    pk("image", "prune", "-f")  # the intermediate images have a child: not dangling
    _, text = _build(pk, root, "-t", "chain")
    assert text.count("Using cache") == 3
    assert pk.out("rmi", "--no-prune", "chain").splitlines()[1:] == [f"Deleted: {chain[0]}"]
    _, text = _build(pk, root, "-t", "chain")  # the parents were kept: from the cache
    assert text.count("Using cache") == 2
    top = pk.out("images", "-q", "--no-trunc", "chain").strip()
    out = pk.out("rmi", "chain").splitlines()
    assert out == ["Untagged: chain:latest"] + [f"Deleted: {i}" for i in (top, *chain[1:])]
    all_ids = pk.out("images", "-a", "-q", "--no-trunc").split()
    assert not {top, *chain} & set(all_ids)


def test_images_filters_and_label_in_format(pk, tmp_path):
    root = _context(tmp_path, 'FROM busybox\nLABEL team=blue tier="front end"\n')
    _build(pk, root, "-t", "filtered:1")
    (root / "Dockerfile").write_text("FROM busybox\nLABEL team=red\n")
    _build(pk, root, "-t", "filtered:2")
    old = pk.out("images", "-q", "--no-trunc", "filtered:2").strip()
    _build(pk, root, "-t", "filtered:2", "--no-cache")  # the old :2 is left dangling
    rows = lambda *flags: pk.out("images", *flags, "--format",  # noqa: E731
                                 "{{.Repository}}:{{.Tag}}").split()
    assert rows("-f", "reference=filtered") == ["filtered:2", "filtered:1"]
    assert rows("-f", "reference=filt*:1") == ["filtered:1"]
    assert rows("-f", "label=team=blue") == ["filtered:1"]
    assert rows("-f", "label=team", "-f", "reference=filtered:*") == ["filtered:2", "filtered:1"]
    assert set(rows("-f", "dangling=true")) == {"<none>:<none>"}
    assert old in pk.out("images", "-q", "--no-trunc", "-f", "dangling=true").split()
    assert "<none>:<none>" not in rows("-f", "dangling=false")
    assert pk.out("images", "--format", '{{.Tag}} {{.Label "tier"}}|',
                  "filtered:1") == "1 front end|\n"
    bad = pk("images", "-f", "colour=blue", check=False)
    assert (bad.returncode, bad.stderr) == (125, b"pyker: invalid filter 'colour'\n")
    pk("rmi", "filtered:1", "filtered:2")
    pk("image", "prune", "-f")


def test_failing_run_leaves_nothing_behind(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nRUN false\n")
    proc, text = _build(pk, root, check=False)
    assert proc.returncode == 1
    assert "The command '/bin/sh -c false' returned a non-zero code: 1" in text
    assert pk.out("ps", "-aq") == ""
    data_root = pk.env["PYKER_DATA_ROOT"]
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if data_root in line]


def test_syntax_error_names_the_line(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nRUNN echo\n")
    proc, text = _build(pk, root, check=False)
    assert proc.returncode == 1
    assert "pyker: Dockerfile:2: unknown instruction: RUNN" in text


def test_quiet_prints_only_the_id(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nRUN echo noisy\nLABEL a=b\n")
    proc, _ = _build(pk, root, "-q")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", proc.stdout.decode())


def test_symlink_to_etc_does_not_copy_the_host_passwd(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nCOPY link/passwd /x\n")
    os.symlink("/etc", root / "link")
    proc, text = _build(pk, root, check=False)
    assert proc.returncode == 1
    assert "file not found in build context" in text
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("context's own\n")
    _build(pk, root, "-t", "linked")
    assert pk.out("run", "--rm", "linked", "cat", "/x") == "context's own\n"


def test_copy_dotdot_is_refused(pk, tmp_path):
    (tmp_path / "secret").write_text("outside\n")
    root = _context(tmp_path, "FROM busybox\nCOPY ../secret /x\n")
    proc, text = _build(pk, root, check=False)
    assert proc.returncode == 1
    assert "forbidden path outside the build context: ../secret" in text


def _tar(*entries: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_add_extracts_a_tar_and_refuses_dotdot_entries(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nADD good.tar /opt/\n")
    (root / "good.tar").write_bytes(_tar(("d/f.txt", b"inside\n")))
    _build(pk, root, "-t", "added")
    assert pk.out("run", "--rm", "added", "cat", "/opt/d/f.txt") == "inside\n"
    (root / "Dockerfile").write_text("FROM busybox\nADD evil.tar /opt/\n")
    (root / "evil.tar").write_bytes(_tar(("ok", b"x"), ("../../escaped", b"pwned\n")))
    proc, text = _build(pk, root, check=False)
    assert proc.returncode == 1
    assert '"../../escaped"' in text
    assert not Path("/escaped").exists()
    assert pk.out("ps", "-aq") == ""


def test_add_remote_url_is_refused(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nADD http://example.com/x /x\n")
    proc, text = _build(pk, root, check=False)
    assert proc.returncode == 1
    assert "remote sources are refused" in text


def test_intermediate_images_are_listed_and_workdir_is_created(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nWORKDIR /srv/app\nRUN pwd > /where\n"
                    "USER nobody\nEXPOSE 80\nVOLUME /data\nSTOPSIGNAL SIGINT\n"
                    "HEALTHCHECK CMD true\nLABEL k=v\n")
    _build(pk, root, "-t", "meta", "--label", "extra=1")
    assert pk.out("run", "--rm", "-u", "0", "meta", "cat", "/where") == "/srv/app\n"
    doc = json.loads(pk.out("image", "inspect", "meta"))[0]["Config"]
    assert doc["User"] == "nobody" and doc["WorkingDir"] == "/srv/app"
    assert doc["ExposedPorts"] == {"80/tcp": {}} and doc["Volumes"] == {"/data": {}}
    assert doc["StopSignal"] == "SIGINT" and doc["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert doc["Labels"] == {"k": "v", "extra": "1"}
    assert "<none>" in pk.out("images", "-a")


def _last_layer(pk: Pyker, image: str, tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    """The members of ``image``'s top layer, by path (read from ``pyker save``, not through
    pyker's own layer code)."""
    archive = tmp_path / f"{image}.tar"
    pk("save", "-o", str(archive), image)
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        layer = outer.extractfile(manifest["Layers"][-1]).read()
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:*") as tar:
        return {m.name.removeprefix("./").rstrip("/"): m for m in tar.getmembers()}


def _owner_mode(member: tarfile.TarInfo) -> tuple[int, int, int]:
    return member.uid, member.gid, member.mode & 0o7777


def test_copy_chown_owns_the_directories_it_creates_and_no_others(pk, tmp_path):
    """Every directory a ``COPY --chown`` creates on the way to its destination gets the
    owner (docker build and buildah alike), mode 0755; one that existed keeps its own."""
    root = _context(tmp_path, "FROM busybox\n"
                    "COPY --chown=1000:1001 tree /srv/new/deep\n"
                    "COPY --chown=1000:1001 one.txt /opt/a/b/one.txt\n"
                    "COPY --chown=1000:1001 tree /tmp/\n", **{"one.txt": "one\n"})
    (root / "tree").mkdir(mode=0o750)
    (root / "tree" / "x").write_text("x\n")
    _build(pk, root, "-t", "chowned")
    layers = [_last_layer(pk, "chowned", tmp_path)]
    ids = _history_ids(pk, "chowned")  # newest first: the three COPY steps' images
    for index in (1, 2):
        layers.append(_last_layer(pk, ids[index], tmp_path))
    to_tmp, file_copy, dir_copy = layers
    for name in ("srv", "srv/new", "srv/new/deep"):
        assert _owner_mode(dir_copy[name]) == (1000, 1001, 0o755), name
    assert _owner_mode(dir_copy["srv/new/deep/x"])[:2] == (1000, 1001)
    for name in ("opt", "opt/a", "opt/a/b"):
        assert _owner_mode(file_copy[name]) == (1000, 1001, 0o755), name
    assert _owner_mode(file_copy["opt/a/b/one.txt"])[:2] == (1000, 1001)
    # /tmp was there: the layer carries it (a child changed), with the image's owner and mode
    assert _owner_mode(to_tmp["tmp"]) == (0, 0, 0o1777)
    assert _owner_mode(to_tmp["tmp/x"])[:2] == (1000, 1001)


def test_copy_without_chown_creates_root_owned_directories(pk, tmp_path):
    root = _context(tmp_path, "FROM busybox\nCOPY one.txt /opt/a/one.txt\n", **{"one.txt": "1\n"})
    _build(pk, root, "-t", "rootowned")
    layer = _last_layer(pk, "rootowned", tmp_path)
    assert _owner_mode(layer["opt/a"]) == (0, 0, 0o755)
    assert _owner_mode(layer["opt/a/one.txt"]) == (0, 0, 0o644)


def test_remembered_file_hashes_never_hide_a_changed_file(pk, tmp_path):
    """A rebuild takes a context file's hash from the table kept in the data root when its
    stat is unchanged; a same-size edit with its mtime put back still rebuilds the COPY
    (ctime moved), and so does a file replaced by another."""
    import time

    root = _context(tmp_path, "FROM busybox\nCOPY a.txt /a.txt\nCMD [\"cat\", \"/a.txt\"]\n",
                    **{"a.txt": "alpha\n"})
    time.sleep(2.2)  # older than the racy window (filehash.RACY_NS): it will be remembered
    _build(pk, root, "-t", "hashed")
    tables = Path(pk.env["PYKER_DATA_ROOT"], "buildcache", "files").glob("*.json")
    assert [t for t in tables if str(root / "a.txt") in t.read_text()]  # remembered
    _, text = _build(pk, root, "-t", "hashed")
    assert text.count(" ---> Using cache") == 2
    before = os.lstat(root / "a.txt")
    (root / "a.txt").write_text("omega\n")  # same size
    os.utime(root / "a.txt", ns=(before.st_atime_ns, before.st_mtime_ns))
    _, text = _build(pk, root, "-t", "hashed")
    assert text.count(" ---> Using cache") == 0
    assert pk.out("run", "--rm", "hashed") == "omega\n"
    (root / "b.txt").write_text("alpha\n")
    os.replace(root / "b.txt", root / "a.txt")  # back to the first content: its cache entry
    _, text = _build(pk, root, "-t", "hashed")
    assert text.count(" ---> Using cache") == 2
    assert pk.out("run", "--rm", "hashed") == "alpha\n"
