"""``diff``, ``commit``, ``cp``, ``rename`` and ``container prune`` on the real kernel.

The layer01 lab end to end (its diff output, its commit and history), and ``cp``'s promise:
a symlink inside a container leads to the container's own files, never the host's.
"""

from __future__ import annotations

import io
import os
import tarfile

from pathlib import Path

import pytest

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

def _mounts(data_root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if data_root in line]

def test_layer01_diff_commit_history(pk):
    # The lab's layers2 image: it already has /autre-fichier.
    pk("run", "--name", "l2", "busybox", "sh", "-c", "touch /test /autre-fichier")
    pk("commit", "l2", "revollat/layers2")
    pk("rm", "l2")
    # `echo … > /autre-fichier` typed in an interactive ash, which keeps its history.
    pk("run", "-i", "--name", "l3", "revollat/layers2", "sh",
       input=b"echo \"Ceci n'est pas un test\" > /autre-fichier\necho x >> /root/.ash_history\n")
    assert pk.out("container", "diff", "l3") == \
        "C /autre-fichier\nC /root\nA /root/.ash_history\n"
    assert pk.out("diff", "l3") == pk.out("container", "diff", "l3")

    image_id = pk.out("container", "commit", "-m", "step 3", "-a", "Olivier", "l3",
                      "revollat/layers3").strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    rows = pk.out("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}",
                  "revollat/layers3").splitlines()
    parent = pk.out("inspect", "-f", "{{.Id}}", "revollat/layers2").strip()
    assert rows[0] == f"{image_id}|sh|step 3"
    assert rows[1].startswith(parent + "|")  # the parent's ID, not <missing>
    assert pk.out("inspect", "-f", "{{.Author}} {{.Parent}}", "revollat/layers3") == \
        f"Olivier {parent}\n"
    assert pk.out("run", "--rm", "revollat/layers3", "cat", "/autre-fichier") == \
        "Ceci n'est pas un test\n"
    # The runtime's own mount points (/etc/hosts…) are no part of the image.
    pk("create", "--name", "fresh", "revollat/layers3")
    assert pk("cp", "fresh:/etc/hosts", "-", check=False).returncode == 1
    assert pk.out("diff", "fresh") == ""
    pk("rm", "fresh")
    pk("rm", "l3")
    pk("rmi", "revollat/layers3", "revollat/layers2")

def test_diff_deletions_and_running_container(pk):
    pk("run", "-d", "--name", "live", "busybox", "sh", "-c",
       "rm /etc/group; rm -rf /etc/network; mkdir /etc/network; touch /etc/network/n; "
       "echo ready > /ready; sleep 100")
    for _ in range(100):
        if "A /ready" in pk.out("diff", "live"):
            break
    out = pk.out("diff", "live").splitlines()
    assert out[:3] == ["C /etc", "D /etc/group", "C /etc/network"]
    assert "D /etc/network/if-up.d" in out and "A /etc/network/n" in out
    assert out[-1] == "A /ready"
    assert not any(line.endswith(("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"))
                   for line in out)
    pk("rm", "-f", "live")
    proc = pk("diff", "nope", check=False)
    assert proc.returncode == 1 and b"No such container: nope" in proc.stderr

def test_commit_changes_and_entrypoint_rule(pk):
    pk("run", "--name", "cc", "-e", "MODE=x", "busybox", "sh", "-c", "echo content > /f")
    pk("commit", "-c", 'CMD ["cat","/f"]', "-c", "ENV MORE=1", "cc", "withcmd")
    assert pk.out("run", "--rm", "withcmd") == "content\n"
    assert pk.out("inspect", "-f", "{{json .Config.Env}}", "withcmd") == \
        '["MORE=1","PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",' \
        '"MODE=x"]\n'
    # An ENTRYPOINT change drops the container's command (Docker's merge).
    pk("commit", "--change", 'ENTRYPOINT ["cat"]', "cc", "withep")
    assert pk.out("inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
                  "withep") == '["cat"] null\n'
    assert pk.out("run", "--rm", "withep", "/f") == "content\n"
    bad = pk("commit", "-c", "FROM x", "cc", check=False)
    assert bad.returncode == 1 and b"FROM is not a valid change command" in bad.stderr
    pk("rm", "cc")
    pk("rmi", "withcmd", "withep")

def _tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()

def test_cp_in_and_out(pk, tmp_path):
    data_root = pk.env["PYKER_DATA_ROOT"]
    pk("create", "--name", "box", "busybox", "true")
    (tmp_path / "file.txt").write_text("from host\n")
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "deep").write_text("deep\n")
    pk("cp", str(tmp_path / "file.txt"), "box:/tmp/")
    pk("cp", str(tmp_path / "dir"), "box:/tmp")           # into: /tmp/dir
    pk("cp", str(tmp_path / "dir") + "/.", "box:/copy")    # a new dir from the content
    pk("cp", str(tmp_path / "file.txt"), "box:/renamed")
    assert _mounts(data_root) == []  # mounted for the copy only

    out = tmp_path / "out"
    out.mkdir()
    pk("cp", "box:/tmp", str(out))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == \
        ["tmp", "tmp/dir", "tmp/dir/sub", "tmp/dir/sub/deep", "tmp/file.txt"]
    pk("cp", "box:/copy/sub/deep", str(out / "deep-copy"))
    assert (out / "deep-copy").read_text() == "deep\n"
    pk("cp", "box:/renamed", str(out / "tmp"))  # a file into an existing directory
    assert (out / "tmp" / "renamed").read_text() == "from host\n"

    stream = pk("cp", "box:/copy", "-").stdout
    assert _tar_names(stream) == ["copy", "copy/sub", "copy/sub/deep"]
    pk("cp", "-", "box:/tmp", input=stream)
    assert _tar_names(pk("cp", "box:/tmp/copy/sub/deep", "-").stdout) == ["deep"]

    missing = pk("cp", "box:/nope", str(out), check=False)
    assert missing.returncode == 1
    assert missing.stderr.decode().strip() == "pyker: Could not find the file /nope in container box"
    assert pk("cp", str(out / "tmp"), "box:/renamed", check=False).returncode == 1
    assert pk("cp", "-", "box:/renamed", input=stream, check=False).returncode == 1
    both = pk("cp", "box:/a", "box:/b", check=False)
    assert both.returncode == 1 and b"copying between containers is not supported" in both.stderr
    pk("rm", "box")

def test_cp_symlink_stays_inside_the_container(pk, tmp_path):
    host_etc = {p.name for p in Path("/etc").iterdir()}
    pk("run", "--name", "trap", "busybox", "sh", "-c",
       "ln -s /etc /evil; echo mine > /etc/container-only")
    out = tmp_path / "out"
    pk("cp", "trap:/evil/.", str(out))
    assert (out / "container-only").read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == \
        ["container-only", "group", "hostname", "hosts", "network", "passwd", "resolv.conf",
         "shadow"]
    pk("cp", "-L", "trap:/evil", str(tmp_path / "followed"))
    assert (tmp_path / "followed" / "container-only").exists()
    pk("cp", "trap:/evil", str(tmp_path / "link"))  # without -L the link itself
    assert os.readlink(tmp_path / "link") == "/etc"

    (tmp_path / "x").write_text("planted\n")
    pk("cp", str(tmp_path / "x"), "trap:/evil/x")
    pk("cp", str(tmp_path / "x"), "trap:/evil/")
    assert not Path("/etc/x").exists()
    assert {p.name for p in Path("/etc").iterdir()} == host_etc
    assert _tar_names(pk("cp", "trap:/etc/x", "-").stdout) == ["x"]
    pk("rm", "trap")

def test_rename_and_prune(pk):
    pk("create", "--name", "first", "busybox", "true")
    pk("create", "--name", "second", "busybox", "true")
    pk("rename", "first", "renamed")
    assert "renamed" in pk.out("ps", "-a", "--format", "{{.Names}}").split()
    clash = pk("rename", "renamed", "second", check=False)
    assert clash.returncode == 1 and b'name "/second" is already in use' in clash.stderr
    bad = pk("rename", "renamed", "no good", check=False)
    assert bad.returncode == 1 and b"Invalid container name" in bad.stderr

    pk("run", "--name", "wrote", "busybox", "sh", "-c", "head -c 5000 /dev/zero > /blob")
    live = pk.out("run", "-d", "--name", "alive", "busybox", "sleep", "100").strip()
    ids = sorted(pk.out("inspect", "-f", "{{.Id}}", n).strip()
                 for n in ("renamed", "second", "wrote"))
    out = pk.out("container", "prune", "-f").split("\n")
    assert out[0] == "Deleted Containers:"
    assert sorted(out[1:4]) == ids and out[4] == ""
    assert out[5].startswith("Total reclaimed space: 5") and out[5].endswith("kB")
    assert pk.out("ps", "-aq", "--no-trunc") == live + "\n"
    assert pk.out("container", "prune", "-f") == "Total reclaimed space: 0B\n"
    pk("rm", "-f", "alive")
