"""``pyker push/pull/login`` against a real registry: Debian's ``docker-registry`` (the CNCF
distribution registry) on 127.0.0.1, started by each test in the session's network namespace
(where the CLI runs) and stopped at its end; skopeo and umoci check interoperability."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, Pyker, enter_tests_netns
from pyker.registry import server

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


@pytest.fixture(scope="module")
def cli(pk: Pyker, tmp_path_factory: pytest.TempPathFactory) -> Pyker:
    """The module's store (with busybox), with a Docker config directory of its own."""
    docker_config = tmp_path_factory.mktemp("docker-config")
    return Pyker({**pk.env, "DOCKER_CONFIG": str(docker_config)})


def _start(directory: Path, **options) -> server.LocalRegistry:
    if shutil.which(server.BINARY) is None:
        pytest.skip("docker-registry not installed (Debian package docker-registry)")
    return server.start(directory, preexec_fn=enter_tests_netns, **options)


@pytest.fixture
def registry(tmp_path: Path):
    reg = _start(tmp_path / "registry")
    yield reg
    reg.stop()


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode() + proc.stderr.decode()


def _statuses(output: str) -> dict[str, list[str]]:
    """Layer id -> its statuses, from the plain (non-terminal) output of pull or push."""
    out: dict[str, list[str]] = {}
    for line in output.splitlines():
        ident, sep, status = line.partition(": ")
        if sep and len(ident) == 12 and all(c in "0123456789abcdef" for c in ident):
            out.setdefault(ident, []).append(status)
    return out


def _context(root: Path, dockerfile: str, **files: str | bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, content in files.items():
        path = root / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def _forget(cli: Pyker, *refs: str) -> None:
    """``rmi``, then ``image prune``: a build's intermediate images hold its layers too."""
    cli("rmi", *refs)
    cli("image", "prune", "-f")


TWEET_APP = """FROM busybox
COPY linux.png /usr/share/nginx/html/linux.png
COPY index.html /usr/share/nginx/html/index.html
CMD ["cat", "/usr/share/nginx/html/index.html"]
"""


def test_tweet_app_pushed_twice_shares_layers_then_pulls_back_and_runs(cli, registry, tmp_path):
    app = f"{registry.host}/linux_tweet_app"
    ctx = _context(tmp_path / "ctx", TWEET_APP, **{"linux.png": bytes(range(256)) * 64,
                                                   "index.html": "<h1>tweet 1.0</h1>\n"})
    cli("build", "-t", f"{app}:1.0", str(ctx))
    (ctx / "index.html").write_text("<h1>tweet 2.0</h1>\n")
    cli("build", "-t", f"{app}:2.0", str(ctx))

    first = cli.out("push", f"{app}:1.0")
    assert first.startswith(f"The push refers to repository [{app}]\n")
    assert set(map(tuple, _statuses(first).values())) == {("Preparing", "Pushing", "Pushed")}
    assert len(_statuses(first)) == 3
    assert first.splitlines()[-1].startswith("1.0: digest: sha256:")

    second = cli.out("image", "push", f"{app}:2.0")  # the course's form
    finals = [s[-1] for s in _statuses(second).values()]
    assert sorted(finals) == ["Layer already exists", "Layer already exists", "Pushed"]
    digest, size = second.splitlines()[-1].split("digest: ")[1].split(" size: ")
    manifest = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{app}:2.0"],
        preexec_fn=enter_tests_netns, capture_output=True, check=True).stdout)
    assert len(manifest["layers"]) == 3 and int(size) > 0 and digest.startswith("sha256:")

    ids = {tag: cli.out("image", "inspect", "-f", "{{.Id}}", f"{app}:{tag}").strip()
           for tag in ("1.0", "2.0")}
    _forget(cli, f"{app}:1.0", f"{app}:2.0")
    pulled = cli.out("pull", f"{app}:1.0")
    assert "1.0: Pulling from linux_tweet_app" in pulled
    assert f"Status: Downloaded newer image for {app}:1.0" in pulled
    assert "Already exists" in pulled  # busybox's layer, still in the store
    pulled = cli.out("pull", f"{app}:2.0")
    statuses = _statuses(pulled)
    assert sorted(s[-1] for s in statuses.values()) == ["Already exists", "Already exists",
                                                        "Pull complete"]
    assert pulled.splitlines()[-1] == f"{app}:2.0"
    assert f"Digest: {digest}" in pulled  # the manifest pushed is the manifest pulled
    for tag in ("1.0", "2.0"):
        assert cli.out("image", "inspect", "-f", "{{.Id}}", f"{app}:{tag}").strip() == ids[tag]
        assert cli.out("run", "--rm", f"{app}:{tag}") == f"<h1>tweet {tag}</h1>\n"
    again = cli.out("pull", f"{app}:2.0")
    assert f"Status: Image is up to date for {app}:2.0" in again
    assert cli.out("system", "check").splitlines()[-1].endswith(": consistent")


def test_pull_all_tags_quiet_digest_and_unknown(cli, registry):
    repo = f"{registry.host}/tools/bb"
    for tag in ("a", "b"):
        cli("tag", "busybox", f"{repo}:{tag}")
        cli("push", "-q", f"{repo}:{tag}")
    cli("rmi", f"{repo}:a", f"{repo}:b")
    out = cli.out("pull", "-a", repo)
    assert "a: Pulling from tools/bb" in out and "b: Pulling from tools/bb" in out
    assert out.splitlines()[-1] == repo
    tags = cli.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert {f"{repo}:a", f"{repo}:b"} <= set(tags)
    quiet = cli.out("pull", "-q", f"{repo}:a")
    assert quiet == f"{repo}:a\n"
    digest = cli.out("push", f"{repo}:a").split("digest: ")[1].split()[0]
    by_digest = cli.out("pull", f"{repo}@{digest}")
    assert f"Digest: {digest}" in by_digest and by_digest.splitlines()[-1] == f"{repo}@{digest}"
    assert cli.out("run", "--rm", f"{repo}@{digest}", "echo", "by digest") == "by digest\n"
    missing = cli("pull", f"{repo}:nope", check=False)
    assert missing.returncode == 125
    assert missing.stderr.decode() == (f"pyker: manifest for {repo}:nope not found: "
                                       "manifest unknown: manifest unknown\n")
    latest = cli("pull", repo, check=False)
    assert latest.stdout.decode().startswith("Using default tag: latest\n")
    cli("rmi", f"{repo}:a", f"{repo}:b")


def test_chunked_upload_and_cross_repository_mount(cli, registry):
    src, dst = f"{registry.host}/team/one:1", f"{registry.host}/team/two:1"
    cli("tag", "busybox", src)
    cli("tag", "busybox", dst)
    out = cli.out("push", "--chunk-size", "65536", src)
    assert "Pushed" in out
    log = (registry.directory / "registry.log").read_text()
    assert log.count('http.request.method=PATCH') >= 2  # the layer went in several chunks
    mounted = cli.out("push", dst)
    assert "Mounted from team/one" in mounted
    cli("rmi", src, dst)
    cli("pull", dst)
    assert cli.out("run", "--rm", dst, "echo", "mounted") == "mounted\n"
    cli("rmi", dst)


@pytest.mark.requires("skopeo", "umoci")
def test_skopeo_copies_a_pyker_push_and_umoci_unpacks_it(cli, registry, tmp_path):
    ref = f"{registry.host}/interop/out:1"
    ctx = _context(tmp_path / "ctx", "FROM busybox\nCOPY hello.txt /hello.txt\n",
                   **{"hello.txt": "pushed by pyker\n"})
    cli("build", "-t", ref, str(ctx))
    cli("push", ref)
    layout = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                    f"oci:{layout}:out"], preexec_fn=enter_tests_netns, check=True,
                   capture_output=True)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:out", str(bundle)], check=True,
                   capture_output=True)
    assert (bundle / "rootfs" / "hello.txt").read_text() == "pushed by pyker\n"
    assert (bundle / "rootfs" / "bin" / "busybox").exists()
    cli("rmi", ref)


def _oci_index_layout(layout: Path, tag: str) -> None:
    """Make ``layout``'s image ``tag`` a two-platform index (the host's entry is the real
    image, the other one a copy of it named arm64/s390x): what a multi-arch image looks like."""
    from pyker.image.platform import host_architecture
    from pyker.spec.digest import sha256_bytes

    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"]
                 if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    other = "s390x" if host_architecture() != "s390x" else "arm64"
    nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [
                  {**{k: entry[k] for k in ("mediaType", "digest", "size")},
                   "platform": {"architecture": other, "os": "linux"}},
                  {**{k: entry[k] for k in ("mediaType", "digest", "size")},
                   "platform": {"architecture": host_architecture(), "os": "linux"}}]}
    data = json.dumps(nested).encode()
    (layout / "blobs" / "sha256" / sha256_bytes(data)[7:]).write_bytes(data)
    entry.update(mediaType=nested["mediaType"], digest=sha256_bytes(data), size=len(data))
    (layout / "index.json").write_text(json.dumps(index))


@pytest.mark.requires("skopeo")
def test_pyker_pulls_and_runs_images_pushed_by_skopeo(cli, registry, tmp_path):
    archive = tmp_path / "busybox.tar"
    cli("save", "-o", str(archive), "busybox")
    skopeo = ["skopeo", "copy", "-q", "--dest-tls-verify=false"]
    # Docker schema 2 with gzip'd layers, OCI with gzip'd layers, and an OCI index.
    run = lambda *a: subprocess.run([*skopeo, *a], preexec_fn=enter_tests_netns, check=True,
                                    capture_output=True)
    run("--format", "v2s2", "--dest-compress", f"docker-archive:{archive}",
        f"docker://{registry.host}/sk/docker:1")
    run("--format", "oci", "--dest-compress", f"docker-archive:{archive}",
        f"docker://{registry.host}/sk/oci:1")
    layout = tmp_path / "layout"
    run("--format", "oci", f"docker-archive:{archive}", f"oci:{layout}:multi")
    _oci_index_layout(layout, "multi")
    run("--all", f"oci:{layout}:multi", f"docker://{registry.host}/sk/multi:1")
    for name in ("docker", "oci", "multi"):
        ref = f"{registry.host}/sk/{name}:1"
        out = cli.out("pull", ref)
        assert f"Status: Downloaded newer image for {ref}" in out
        # The image ID is the digest of the config the registry holds (skopeo rewrites the
        # config when it converts to OCI, so it is busybox's own ID only for "docker").
        config = subprocess.run(["skopeo", "inspect", "--config", "--raw", "--tls-verify=false",
                                 f"docker://{ref}"], preexec_fn=enter_tests_netns,
                                capture_output=True, check=True).stdout
        assert cli.out("image", "inspect", "-f", "{{.Id}}", ref).strip() == \
            "sha256:" + hashlib.sha256(config).hexdigest()
        assert cli.out("run", "--rm", ref, "echo", f"from skopeo {name}") == \
            f"from skopeo {name}\n"
        cli("rmi", ref)
    odd = cli("pull", "--platform", "linux/mips64le", f"{registry.host}/sk/multi:1",
              check=False)
    assert odd.returncode == 125 and "no matching manifest for linux/mips64le in the " \
        "manifest list entries" in odd.stderr.decode()
    # A layer the store lacks, gzip'd by skopeo: downloaded, gunzipped, checked by diffID.
    ctx = _context(tmp_path / "ctx", "FROM busybox\nCOPY f /f\n", f="gzip me\n")
    cli("build", "-t", "skopeo-src:1", str(ctx))
    cli("save", "-o", str(tmp_path / "src.tar"), "skopeo-src:1")
    image_id = cli.out("image", "inspect", "-f", "{{.Id}}", "skopeo-src:1").strip()
    _forget(cli, "skopeo-src:1")
    run("--format", "v2s2", "--dest-compress", f"docker-archive:{tmp_path / 'src.tar'}",
        f"docker://{registry.host}/sk/gz:1")
    out = cli.out("pull", f"{registry.host}/sk/gz:1")
    assert "Pull complete" in out
    assert cli.out("image", "inspect", "-f", "{{.Id}}", f"{registry.host}/sk/gz:1").strip() \
        == image_id
    assert cli.out("run", "--rm", f"{registry.host}/sk/gz:1", "cat", "/f") == "gzip me\n"
    cli("rmi", f"{registry.host}/sk/gz:1")
    assert cli.out("system", "check").splitlines()[-1].endswith(": consistent")


def test_htpasswd_registry_wants_login(cli, tmp_path):
    reg = _start(tmp_path / "registry", users={"student": "s3cret"})
    try:
        ref = f"{reg.host}/private/bb:1"
        cli("tag", "busybox", ref)
        denied = cli("push", ref, check=False)
        assert denied.returncode == 125
        assert denied.stderr.decode() == (f"pyker: no basic auth credentials (run 'pyker login "
                                          f"{reg.host}' first)\n")
        wrong = cli("login", "-u", "student", "--password-stdin", reg.host, input=b"nope\n",
                    check=False)
        assert wrong.returncode == 125
        assert f"login attempt to http://{reg.host}/v2/ failed with status: 401" in \
            wrong.stderr.decode()
        config = Path(cli.env["DOCKER_CONFIG"]) / "config.json"
        assert not config.exists() or reg.host not in config.read_text()
        ok = cli("login", "-u", "student", "--password-stdin", reg.host, input=b"s3cret\n")
        assert ok.stdout.decode() == "Login Succeeded\n"
        assert "stored unencrypted" in ok.stderr.decode()
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        auth = json.loads(config.read_text())["auths"][reg.host]["auth"]
        assert base64.b64decode(auth) == b"student:s3cret"
        assert "Pushed" in cli.out("push", ref)
        cli("rmi", ref)
        assert cli.out("pull", "-q", ref) == f"{ref}\n"
        assert cli.out("logout", reg.host) == f"Removing login credentials for {reg.host}\n"
        assert reg.host not in config.read_text()
        assert "no basic auth credentials" in _out(cli("pull", ref, check=False))
        cli("rmi", ref)
    finally:
        reg.stop()


def test_bearer_token_flow(cli, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (Debian package openssl)")
    keys = tmp_path / "token"
    keys.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(keys / "key.pem"), "-out", str(keys / "cert.pem"), "-days", "2",
                    "-subj", "/CN=pyker-test-token"], check=True, capture_output=True)
    port = server.free_port()
    tokens = subprocess.Popen(
        [sys.executable, str(REPO / "tests/integration/registry_token_server.py"), str(keys),
         str(port), "pyker-test-issuer", "alice:wonderland"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=enter_tests_netns)
    try:
        assert tokens.stdout.readline() == b"ready\n"
        reg = _start(tmp_path / "registry", auth={"token": {
            "realm": f"http://127.0.0.1:{port}/token", "service": "pyker-test-registry",
            "issuer": "pyker-test-issuer", "rootcertbundle": str(keys / "cert.pem")}})
        try:
            ref = f"{reg.host}/alice/bb:1"
            cli("tag", "busybox", ref)
            denied = cli("push", ref, check=False)
            assert denied.stderr.decode().startswith("pyker: unauthorized: authentication "
                                                     "required")
            assert cli("login", "-u", "alice", "-p", "nope", reg.host, check=False).returncode \
                == 125
            cli("login", "-u", "alice", "--password-stdin", reg.host, input=b"wonderland")
            assert "Pushed" in cli.out("push", ref)
            cli("rmi", ref)
            assert cli.out("pull", ref).splitlines()[-1] == ref
            assert cli.out("run", "--rm", ref, "echo", "token ok") == "token ok\n"
            cli("logout", reg.host)
            cli("rmi", ref)
        finally:
            reg.stop()
    finally:
        tokens.kill()
        tokens.wait()
        tokens.stdout.close()


def _big_image(cli: Pyker, registry: server.LocalRegistry, tmp_path: Path, name: str) -> str:
    ref = f"{registry.host}/{name}:1"
    ctx = _context(tmp_path / "big", "FROM busybox\n"
                   "RUN head -c 100000000 /dev/urandom > /big && sha256sum /big > /big.sum\n")
    cli("build", "-t", ref, str(ctx))
    cli("push", ref)
    _forget(cli, ref)
    return ref


def test_tampered_blob_is_refused_and_nothing_stored(cli, registry, tmp_path):
    ref = f"{registry.host}/tamper/me:1"
    ctx = _context(tmp_path / "ctx", "FROM busybox\nCOPY data /data\n", data="x" * 100_000)
    cli("build", "-t", ref, str(ctx))
    cli("push", ref)
    data_root = Path(cli.env["PYKER_DATA_ROOT"])
    layer = json.loads(cli.out("image", "inspect", ref))[0]["RootFS"]["Layers"][-1]
    _forget(cli, ref)
    blob = registry.blob_data(layer)
    content = bytearray(blob.read_bytes())
    content[5000] ^= 0xFF  # the same size, one byte changed: only the digest can tell
    blob.write_bytes(bytes(content))
    blobs_before = sorted((data_root / "image/blobs/sha256").iterdir())
    refused = cli("pull", ref, check=False)
    assert refused.returncode == 125
    assert f"layer {layer}: digest mismatch: expected {layer}, got sha256:" in \
        refused.stderr.decode()
    assert sorted((data_root / "image/blobs/sha256").iterdir()) == blobs_before
    assert ref not in cli.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert list((data_root / "distribution/downloads").iterdir()) == []
    check = cli.out("system", "check")
    assert "garbage" not in check and check.splitlines()[-1].endswith(": consistent")


@pytest.mark.parametrize("kill_at", ["Downloading", "Extracting"])
def test_killed_pull_leaves_a_consistent_store(cli, registry, tmp_path, kill_at):
    ref = _big_image(cli, registry, tmp_path, f"killed/{kill_at.lower()}")
    seen = []
    with subprocess.Popen([sys.executable, "-m", "pyker", "pull", ref], env=cli.env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          preexec_fn=enter_tests_netns) as proc:
        for line in proc.stdout:
            seen.append(line.decode())
            if f": {kill_at}" in seen[-1]:
                time.sleep(0.05)  # well into the 100 MB layer's download or unpacking
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    check = cli("system", "check")  # exit 0: garbage at most, no problem
    assert check.stdout.decode().splitlines()[-1].endswith(": consistent")
    downloads = Path(cli.env["PYKER_DATA_ROOT"]) / "distribution/downloads"
    partial = [p.stat().st_size for p in downloads.glob("*.partial")]
    if kill_at == "Downloading":  # killed mid-download: a part kept outside the store
        assert len(partial) == 1 and 0 < partial[0] < 100_000_000
    out = cli.out("pull", ref)
    assert out.splitlines()[-1] == ref
    if kill_at == "Downloading":  # the rest was asked for, not the whole blob again
        assert "http.response.status=206" in (registry.directory / "registry.log").read_text()
    assert cli.out("system", "check").splitlines()[-1].endswith(": consistent")
    assert cli.out("run", "--rm", ref, "sha256sum", "-c", "/big.sum") == "/big: OK\n"
    assert list(downloads.iterdir()) == []
    cli("rmi", ref)


def test_image_for_run_pulls_by_policy(cli, tmp_path, capsys):
    """What ``run --pull`` calls, in this test's own process (so its registry listens on
    this process's loopback)."""
    from pyker import config
    from pyker.cli.registry import image_for_run
    from pyker.engine import Engine
    from pyker.errors import ImageNotFound, UsageError

    if shutil.which(server.BINARY) is None:
        pytest.skip("docker-registry not installed (Debian package docker-registry)")
    reg = server.start(tmp_path / "registry")
    try:
        ref = f"{reg.host}/auto/bb:1"
        host_cli = Pyker(cli.env, host_network=True)
        host_cli("tag", "busybox", ref)
        host_cli("push", ref)
        host_cli("rmi", ref)
        engine = Engine(config.load(cli.env))
        with pytest.raises(ImageNotFound):
            image_for_run(engine, ref, "never")
        image = image_for_run(engine, ref)
        err = capsys.readouterr().err
        assert err.startswith(f"Unable to find image '{ref}' locally\n1: Pulling from auto/bb\n")
        assert err.endswith(f"Status: Downloaded newer image for {ref}\n")
        assert image.id == cli.out("image", "inspect", "-f", "{{.Id}}", "busybox").strip()
        assert image_for_run(engine, ref).id == image.id  # present: no pull, no output
        assert capsys.readouterr().err == ""
        image_for_run(engine, ref, "always")
        assert "Already exists" in capsys.readouterr().err
        with pytest.raises(UsageError, match='invalid pull option: "sometimes"'):
            image_for_run(engine, ref, "sometimes")
        cli("rmi", ref)
    finally:
        reg.stop()


def test_run_and_build_pull_what_they_miss(cli, registry, tmp_path):
    """``run``/``create --pull`` and a build's ``FROM`` pull from the registry the reference
    names; a Docker Hub name is never tried (out of the lab's reach): one clear line."""
    ref = f"{registry.host}/auto/base:1"
    cli("tag", "busybox", ref)
    cli("push", ref)
    cli("rmi", ref)
    never = cli("run", "--rm", "--pull", "never", "--network", "none", ref, "true", check=False)
    assert never.returncode == 125 and f"No such image: {ref}" in never.stderr.decode()
    run = cli("run", "--rm", "--network", "none", ref, "echo", "pulled")
    assert run.stdout.decode() == "pulled\n"
    assert f"Unable to find image '{ref}' locally" in run.stderr.decode()
    cli("rmi", ref)
    context = _context(tmp_path / "ctx", f"FROM {ref}\nRUN echo built > /b\n")
    out = cli.out("build", "--network", "none", "-t", "frombase", str(context))
    assert "Successfully tagged frombase:latest" in out
    assert cli.out("run", "--rm", "--network", "none", "frombase", "cat", "/b") == "built\n"
    hub = cli("run", "--rm", "no-such-course-image", check=False)
    assert hub.returncode == 125
    assert hub.stderr.decode().strip().splitlines() == [
        "pyker: Unable to find image 'no-such-course-image:latest' locally, and Docker Hub is "
        "out of this lab's reach: build it (labs/images) or name a registry in the reference "
        "(127.0.0.1:5000/…)"]
    digest = cli.out("images", "--digests", "--format", "{{.Repository}} {{.Digest}}", ref)
    repo_digests = json.loads(cli.out("image", "inspect", ref))[0]["RepoDigests"]
    # busybox's manifest went to other repositories in this module's earlier tests: each
    # one is a RepoDigest of the same image, as Docker lists them all.
    assert f"{registry.host}/auto/base@{digest.split()[1]}" in repo_digests
    assert digest.split()[1].startswith("sha256:")
    cli("rmi", "frombase", ref)
