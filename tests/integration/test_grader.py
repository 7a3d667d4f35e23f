"""The grader against the real engine: each solution passes every check of its exercise, an
empty attempt fails every one, and a near miss fails exactly the checks it should — so no
check is one that cannot fail. Then batch grading of sample submissions, end to end.

Everything runs on a private store, in the session's network namespace (the solution
scripts and the grader's own pyker commands alike); batch grading makes its own.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, Pyker, enter_tests_netns
from grader import Context, grade
from grader.registry import exercise

pytestmark = pytest.mark.requires("root", "overlay", "busybox", "seccomp")

LABS = REPO / "labs"
SUBMISSIONS = REPO / "tests" / "fixtures" / "submissions"
SOLVED = [("02-namespaces", "hostname"), ("02-namespaces", "isolated-net"),
          ("03-cgroups", "pids"), ("03-cgroups", "memory"),
          ("04-capabilities", "no-chown"), ("04-capabilities", "bind-80"),
          ("05-seccomp", "no-mkdir"), ("05-seccomp", "chmod-blocked"),
          ("10-volumes", "named-volume"), ("10-volumes", "readonly-site"),
          ("10-volumes", "backup"),
          ("06-union-fs", "copy-on-write"), ("06-union-fs", "hand-overlay"),
          ("13-compose", "stack"), ("13-compose", "replicas"),
          ("11-network", "user-network"), ("11-network", "published-page"),
          ("08-dockerfile", "app-image"), ("08-dockerfile", "no-secrets"),
          ("12-logs-monitoring", "log-rotation"), ("12-logs-monitoring", "cpu-limit"),
          ("07-images-layers", "shared-layers"), ("07-images-layers", "commit"),
          ("14-administration", "daemon-json"), ("14-administration", "flaky"),
          ("01-introduction", "figlet-image"), ("01-introduction", "tweet-web"),
          ("09-multistage", "hello-slim"), ("09-multistage", "build-target"),
          ("15-twelve-factor", "env-config"), ("15-twelve-factor", "graceful")]


@pytest.fixture(scope="module")
def lab_env(pk: Pyker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The pk store's environment, with this pyker first on PATH (the solution scripts call
    ``pyker``) and a labs/ directory of the module's own (the student's profile goes there)."""
    env = dict(pk.env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYKER_LAB_DIR"] = str(tmp_path_factory.mktemp("labs"))
    return env


@pytest.fixture
def ctx(lab_env: dict[str, str], pk: Pyker) -> Iterator[Context]:
    """A grading context on the store; every container is removed after the test."""
    yield Context(env=lab_env, preexec=enter_tests_netns)
    ids = pk.out("ps", "-aq").split()
    if ids:
        pk("rm", "-f", *ids)
    profile = Path(lab_env["PYKER_LAB_DIR"]) / "05-seccomp" / "no-mkdir.json"
    profile.unlink(missing_ok=True)
    pk("network", "prune", "-f")  # user networks outlive their containers too (TP 11)
    volumes = pk.out("volume", "ls", "-q").split()  # they outlive the containers, on purpose
    if volumes:
        pk("volume", "rm", "-f", *volumes)
    (Path(lab_env["PYKER_LAB_DIR"]) / "10-volumes" / "backup.tar").unlink(missing_ok=True)
    n08 = [r for r in pk.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
           if r.startswith(("n07-", "n08-", "n01-", "n09-"))]  # not for an empty attempt
    if n08:
        pk("rmi", "-f", *n08)
    subprocess.run(["rm", "-rf", str(Path(lab_env["PYKER_LAB_DIR"]) / "08-dockerfile")],
                   check=True)
    overlay = Path(lab_env["PYKER_LAB_DIR"]) / "06-union-fs" / "overlay"
    while os.path.ismount(overlay / "vue"):  # the hand-made overlay, mounted once or more
        subprocess.run(["umount", str(overlay / "vue")], check=True)
    subprocess.run(["rm", "-rf", str(overlay)], check=True)
    # TP 14: the second store a daemon.json names (created containers only: no mounts).
    subprocess.run(["rm", "-rf", str(Path(lab_env["PYKER_LAB_DIR"]) / "14-administration")],
                   check=True)


def sh(env: dict[str, str], script: str) -> None:
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=enter_tests_netns)
    assert proc.returncode == 0, f"{script!r} exited {proc.returncode}: {proc.stderr}"


def report(result) -> str:
    return "\n".join(f"{'ok ' if r.passed else 'KO '}{r.check}: {r.message} {r.error}"
                     for r in result.results)


@pytest.mark.parametrize(("lab", "exercise_id"), SOLVED, ids=[f"{lab}/{e}" for lab, e in SOLVED])
def test_solution_passes_every_check(lab: str, exercise_id: str, ctx: Context,
                                     lab_env: dict[str, str]) -> None:
    script = LABS / lab / "solutions" / f"{exercise_id}.sh"
    sh(lab_env, f"bash {script}")
    result = grade(lab, exercise_id, hidden=True, ctx=ctx)
    assert all(r.passed for r in result.results), report(result)
    assert len(result.results) == len(exercise(lab, exercise_id).checks)
    assert result.score == pytest.approx(result.max_score)


@pytest.mark.parametrize(("lab", "exercise_id"), SOLVED, ids=[f"{lab}/{e}" for lab, e in SOLVED])
def test_empty_attempt_fails_every_check(lab: str, exercise_id: str, ctx: Context) -> None:
    result = grade(lab, exercise_id, hidden=True, ctx=ctx)
    assert not any(r.passed for r in result.results), report(result)
    assert all(r.error == "" for r in result.results), report(result)  # failed, not broken
    assert all(r.message for r in result.results)
    assert result.score == 0


NO_MKDIR = "$PYKER_LAB_DIR/05-seccomp/no-mkdir.json"


def profile_script(doc: dict | str) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return f"mkdir -p $PYKER_LAB_DIR/05-seccomp && cat > {NO_MKDIR} <<'EOF'\n{text}\nEOF"


def deny(*names: str, action: str = "SCMP_ACT_ERRNO") -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": list(names),
                                                             "action": action}]}


RUN = "pyker run -d --name"
VOLUMES_SOLUTIONS = LABS / "10-volumes" / "solutions"
SITE = ("mkdir -p $PYKER_LAB_DIR/10-volumes/site && "
        "echo '<h1>site</h1>' > $PYKER_LAB_DIR/10-volumes/site/index.html")
PASSWD = "echo 'tp06:x:1006:100:TP 06:/tmp:/bin/sh'"
OVERLAY = "b=$PYKER_LAB_DIR/06-union-fs/overlay"


def overlay_script(lowers: str, after: str) -> str:
    """labs/06-union-fs/overlay as the exercise wants it, but mounted with ``lowers`` and
    followed by ``after`` (the write and the delete)."""
    return (f"{OVERLAY} && mkdir -p $b/couche1 $b/couche2 $b/haut $b/travail $b/vue\n"
            "echo 1 > $b/couche1/version.txt && echo 2 > $b/couche2/version.txt\n"
            "echo old > $b/couche1/ancien.txt\n"
            f"mount -t overlay overlay -o lowerdir={lowers},upperdir=$b/haut,workdir=$b/travail"
            f" $b/vue\n{after}")


N11_NET = "pyker network create --subnet 10.11.0.0/24 n11-net"
N11_RUN = "pyker run -d --network n11-net --name"
N11_SLEEP = "busybox sleep 3600"
N11_SITE = ("busybox sh -c 'mkdir /www && echo \"Bienvenue sur le site n11\" > /www/index.html "
            "&& httpd -f -p 80 -h /www'")
NOTE_THEN_RM = "echo 'note du TP 06' > $b/vue/notes.txt && rm $b/vue/ancien.txt"
NEAR_MISSES = {
    "hostname-default": ("02-namespaces", "hostname",
                         f"{RUN} ns-uts busybox sleep 3600", {"uts-hostname"}),
    "net-bridge": ("02-namespaces", "isolated-net",
                   f"{RUN} ns-none busybox sleep 3600", {"only-lo"}),
    "pids-60": ("03-cgroups", "pids",
                f"{RUN} limited --pids-limit 60 busybox sleep 3600", {"pids-max"}),
    "pids-unlimited": ("03-cgroups", "pids",
                       f"{RUN} limited busybox sleep 3600", {"pids-max", "fork-limit"}),
    "memory-128m": ("03-cgroups", "memory",
                    f"{RUN} capped --memory 128m busybox sleep 3600", {"memory-limit"}),
    "memory-exited": ("03-cgroups", "memory",
                      "pyker run --name capped --memory 64m busybox true",
                      {"running", "memory-limit"}),
    "chown-kept": ("04-capabilities", "no-chown",
                   f"{RUN} nochown busybox sleep 3600", {"chown-dropped", "chown-refused"}),
    "kill-dropped-too": ("04-capabilities", "no-chown",
                         f"{RUN} nochown --cap-drop CHOWN --cap-drop KILL busybox sleep 3600",
                         {"defaults-kept"}),
    "web80-root": ("04-capabilities", "bind-80",
                   f"{RUN} web80 --cap-drop ALL --cap-add NET_BIND_SERVICE busybox "
                   "httpd -f -p 80", {"non-root", "listens-80"}),
    "web80-no-filecap": ("04-capabilities", "bind-80",
                         f"{RUN} web80 --user 1000 busybox sleep 3600",
                         {"net-bind-effective", "no-other-capability", "listens-80"}),
    "rmdir-denied": ("05-seccomp", "no-mkdir",
                     profile_script(deny("mkdir", "mkdirat", "rmdir", "unlinkat")),
                     {"rmdir-works"}),
    "mkdir-killed": ("05-seccomp", "no-mkdir",
                     profile_script(deny("mkdir", "mkdirat", action="SCMP_ACT_KILL")),
                     {"mkdir-refused"}),
    "ls-broken": ("05-seccomp", "no-mkdir",
                  profile_script(deny("mkdir", "mkdirat", "getdents64", "getdents")),
                  {"usable"}),
    "profile-not-json": ("05-seccomp", "no-mkdir", profile_script("{\"defaultAction\": "),
                         {"profile-valid", "mkdir-refused", "usable", "rmdir-works"}),
    "default-profile": ("05-seccomp", "chmod-blocked",
                        f"{RUN} nochmod busybox sleep 3600", {"chmod-refused"}),
    "ls-blocked-too": ("05-seccomp", "chmod-blocked",
                       f"{profile_script(deny('chmod', 'fchmod', 'fchmodat', 'getdents64'))}\n"
                       f"{RUN} nochmod --security-opt seccomp={NO_MKDIR} busybox sleep 3600",
                       {"usable"}),
    "writer-kept": ("10-volumes", "named-volume",
                    "pyker run --name n10-writer -v n10-data:/data busybox "
                    "sh -c 'echo \"les données restent\" > /data/message.txt'", {"writer-gone"}),
    "wrong-text": ("10-volumes", "named-volume",
                   "pyker run --rm -v n10-data:/data busybox "
                   "sh -c 'echo autre > /data/message.txt'",
                   {"file-content", "seen-by-new-container"}),
    "web-rw": ("10-volumes", "readonly-site",
               f"{SITE}\n{RUN} n10-web -v $PYKER_LAB_DIR/10-volumes/site:/www busybox "
               "httpd -f -p 80 -h /www", {"bind-ro", "kernel-ro", "write-refused"}),
    "web-volume-ro": ("10-volumes", "readonly-site",
                      "pyker run --rm -v n10-www:/www busybox sh -c 'echo hi > /www/index.html'\n"
                      f"{RUN} n10-web -v n10-www:/www:ro busybox httpd -f -p 80 -h /www",
                      {"bind-ro", "serves", "live-edit"}),
    "backup-relative": ("10-volumes", "backup",
                        f"bash {VOLUMES_SOLUTIONS / 'named-volume.sh'}\n"
                        "pyker run --rm -v n10-data:/data -v $PYKER_LAB_DIR/10-volumes:/backup "
                        "busybox tar cf /backup/backup.tar -C /data .",
                        {"has-message", "complete", "restorable"}),
    "passwd-replaced": ("06-union-fs", "copy-on-write",
                        f"{RUN} n06-cow busybox sleep 3600\n"
                        f"pyker exec n06-cow sh -c "
                        f"\"{PASSWD} > /etc/passwd && rm -r /etc/network\"",
                        {"copied-up"}),
    "network-recreated": ("06-union-fs", "copy-on-write",
                          f"{RUN} n06-cow busybox sleep 3600\npyker exec n06-cow sh -c "
                          f"\"{PASSWD} >> /etc/passwd && rm -r /etc/network && "
                          "mkdir /etc/network\"",
                          {"whiteout", "diff"}),
    "lowers-swapped": ("06-union-fs", "hand-overlay",
                       overlay_script("$b/couche1:$b/couche2", NOTE_THEN_RM),
                       {"mounted", "layer-order"}),
    "note-in-lower": ("06-union-fs", "hand-overlay",
                      overlay_script("$b/couche2:$b/couche1",
                                     "echo 'note du TP 06' > $b/couche2/notes.txt && "
                                     "rm $b/vue/ancien.txt"),
                      {"upper-write"}),
    "deleted-in-lower": ("06-union-fs", "hand-overlay",
                         overlay_script("$b/couche2:$b/couche1",
                                        "echo 'note du TP 06' > $b/vue/notes.txt && "
                                        "rm $b/couche1/ancien.txt"),
                         {"whiteout"}),
    "backup-stale": ("10-volumes", "backup",
                     f"bash {VOLUMES_SOLUTIONS / 'backup.sh'}\n"
                     "pyker run --rm -v n10-data:/data busybox sh -c 'echo plus > /data/plus.txt'",
                     {"complete"}),
    "api-without-ip": ("11-network", "user-network",
                       f"{N11_NET}\n{N11_RUN} n11-api --network-alias api {N11_SLEEP}\n"
                       f"{N11_RUN} n11-client {N11_SLEEP}", {"fixed-ip"}),
    "api-without-alias": ("11-network", "user-network",
                          f"{N11_NET}\n{N11_RUN} n11-api --ip 10.11.0.10 {N11_SLEEP}\n"
                          f"{N11_RUN} n11-client {N11_SLEEP}", {"alias-dns", "reach"}),
    "client-on-bridge": ("11-network", "user-network",
                         f"{N11_NET}\n{N11_RUN} n11-api --ip 10.11.0.10 --network-alias api "
                         f"{N11_SLEEP}\n{RUN} n11-client {N11_SLEEP}",
                         {"attached", "alias-dns", "reach"}),
    "wrong-subnet": ("11-network", "user-network",
                     "pyker network create --subnet 10.12.0.0/24 n11-net\n"
                     f"{N11_RUN} n11-api --ip 10.12.0.10 --network-alias api {N11_SLEEP}\n"
                     f"{N11_RUN} n11-client {N11_SLEEP}", {"network", "fixed-ip"}),
    "site-all-addresses": ("11-network", "published-page",
                           f"{RUN} n11-site -p 8011:80 {N11_SITE}", {"loopback-only"}),
    "site-wrong-port": ("11-network", "published-page",
                        f"{RUN} n11-site -p 127.0.0.1:8012:80 {N11_SITE}",
                        {"http", "dnat", "loopback-only"}),
    "site-wrong-page": ("11-network", "published-page",
                        f"{RUN} n11-site -p 127.0.0.1:8011:80 busybox sh -c "
                        "'mkdir /www && echo autre > /www/index.html && httpd -f -p 80 -h /www'",
                        {"http"}),
    "site-listens-8080": ("11-network", "published-page",
                          f"{RUN} n11-site -p 127.0.0.1:8011:80 "
                          f"{N11_SITE.replace('-p 80', '-p 8080')}",
                          {"http", "served-by-container"}),
}

# TP 08: the solution Dockerfile of n08-app with one part of the contract broken, and the
# site's context (n08-site) built with a .dockerignore that misses one rule.
N08 = "$PYKER_LAB_DIR/08-dockerfile"
N08_APP = (LABS / "08-dockerfile" / "solutions" / "app" / "Dockerfile").read_text()
N08_HEALTH = ("HEALTHCHECK --interval=2s --timeout=2s --retries=3 \\\n"
              "    CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1\n")


def n08_app(old: str, new: str) -> str:
    assert old in N08_APP, old
    return (f"mkdir -p {N08}/app && rm -rf {N08}/app/www && "
            f"cp -r {LABS}/08-dockerfile/app/www {N08}/app/\n"
            f"cat > {N08}/app/Dockerfile <<'EOF'\n{N08_APP.replace(old, new)}EOF\n"
            f"pyker build -q -t n08-app {N08}/app")


def n08_site(ignore: str | None, dockerfile_line: str = "") -> str:
    script = (f"rm -rf {N08}/site && mkdir -p {N08} && cp -r {LABS}/08-dockerfile/site {N08}/ "
              f"&& rm -f {N08}/site/.dockerignore\n")
    if ignore is not None:
        script += f"cat > {N08}/site/.dockerignore <<'EOF'\n{ignore}\nEOF\n"
    if dockerfile_line:
        script += f"echo '{dockerfile_line}' >> {N08}/site/Dockerfile\n"
    return script + f"pyker build -q -t n08-site {N08}/site"


NEAR_MISSES.update({
    "08-dockerfile-app-as-root": (
        "08-dockerfile", "app-image", n08_app("USER app\n", ""), {"non-root"}),
    "08-dockerfile-app-health-true": (
        "08-dockerfile", "app-image",
        n08_app(N08_HEALTH, "HEALTHCHECK --interval=2s CMD true\n"), {"health-detects"}),
    "08-dockerfile-app-shell-entrypoint": (
        "08-dockerfile", "app-image",
        n08_app('ENTRYPOINT ["httpd", "-f", "-h", "/srv/www"]',
                "ENTRYPOINT httpd -f -h /srv/www -p 8080"), {"entrypoint", "port-argument"}),
    "08-dockerfile-app-no-chown": (
        "08-dockerfile", "app-image", n08_app("COPY --chown=app:app www/", "COPY www/"),
        {"files-owned"}),
    "08-dockerfile-app-starter": (
        "08-dockerfile", "app-image", n08_app(N08_APP, "FROM busybox\n"),
        {"config", "entrypoint", "non-root", "healthy", "health-detects", "port-argument",
         "files-owned"}),
    "08-dockerfile-site-no-ignore": (
        "08-dockerfile", "no-secrets", n08_site(None),
        {"no-env", "no-secrets", "no-logs", "not-in-layers"}),
    "08-dockerfile-site-key-dropped": (
        "08-dockerfile", "no-secrets", n08_site(".env\nsecrets/\n**/*.log"), {"public-key-kept"}),
    "08-dockerfile-site-root-logs-only": (
        "08-dockerfile", "no-secrets", n08_site(".env\nsecrets/\n!secrets/cle.pub\n*.log"),
        {"no-logs"}),
    "08-dockerfile-site-rm-after-copy": (
        "08-dockerfile", "no-secrets",
        n08_site(None, "RUN rm -rf .env secrets/cle-privee.pem secrets/jeton-api.txt debug.log "
                       "logs"), {"not-in-layers"}),
    "08-dockerfile-site-too-wide": (
        "08-dockerfile", "no-secrets", n08_site("*\n!index.html"),
        {"public-key-kept", "site-complete"}),
})


# TP 12: n12-logs rotated too loosely, or not at all, or too short; n12-limited asleep or
# unlimited (four loops: more than 0.55 of a core even on a busy 2-core machine).
N12_LOGS = "pyker run -d --name n12-logs busybox seq"
NEAR_MISSES.update({
    "12-logs-no-rotation": ("12-logs-monitoring", "log-rotation",
                            f"{N12_LOGS} 5000 && pyker wait n12-logs",
                            {"log-config", "files", "rotated"}),
    "12-logs-five-files": ("12-logs-monitoring", "log-rotation",
                           "pyker run -d --name n12-logs --log-opt max-size=10k "
                           "--log-opt max-file=5 busybox seq 5000 && pyker wait n12-logs",
                           {"log-config", "files"}),
    "12-logs-too-short": ("12-logs-monitoring", "log-rotation",
                          "pyker run -d --name n12-logs --log-opt max-size=10k "
                          "--log-opt max-file=3 busybox seq 100 && pyker wait n12-logs",
                          {"printed", "rotated"}),
    "12-limited-asleep": ("12-logs-monitoring", "cpu-limit",
                          f"{RUN} n12-limited --cpus 0.5 busybox sleep 3600", {"busy"}),
    "12-limited-unlimited": ("12-logs-monitoring", "cpu-limit",
                             f"{RUN} n12-limited busybox sh -c "
                             "'for i in 1 2 3 4; do (while :; do :; done) & done; wait'",
                             {"quota", "under-limit"}),
})


# TP 07: n07-app built on n07-base (it shares all four layers), without the cache (it
# shares only busybox's: the sleep makes every RUN layer's mtimes differ), or with the
# versions swapped; n07-commit without --change, without the deletion, or built by a
# Dockerfile (same layer and config, but no commit message).
N07 = "$PYKER_LAB_DIR/07-images-layers/partage"
N07_SHARED = "FROM busybox\nRUN mkdir /app\nRUN echo commun > /app/LISEZMOI\n"
N07_SOURCE = ("pyker run -d --name n07-source busybox sleep 3600\npyker exec n07-source sh -c "
              "'mkdir -p /srv && echo \"figé par pyker commit\" > /srv/message.txt{rm}'\n")
N07_COMMIT = "pyker commit -m 'TP 07' {opts} n07-source n07-commit:1.0"
N07_CHANGES = "-c 'CMD [\"cat\", \"/srv/message.txt\"]' -c 'LABEL tp=07'"


def n07_pair(base: str, app: str, app_build: str = "pyker build -q") -> str:
    return (f"mkdir -p {N07}\nprintf '%s' '{base}' > {N07}/Dockerfile.base\n"
            f"printf '%s' '{app}' > {N07}/Dockerfile.app\n"
            f"pyker build -q -t n07-base -f {N07}/Dockerfile.base {N07}\n"
            f"{app_build} -t n07-app -f {N07}/Dockerfile.app {N07}")


NEAR_MISSES.update({
    "07-images-layers-app-from-base": (
        "07-images-layers", "shared-layers",
        n07_pair(N07_SHARED + "RUN echo 1 > /app/version.txt\n",
                 "FROM n07-base\nRUN echo 2 > /app/version.txt\n"),
        {"shared", "base-version"}),
    "07-images-layers-app-no-cache": (
        "07-images-layers", "shared-layers",
        n07_pair(N07_SHARED + "RUN echo 1 > /app/version.txt\n",
                 N07_SHARED + "RUN echo 2 > /app/version.txt\n",
                 "sleep 1.2 && pyker build -q --no-cache"),
        {"shared"}),
    "07-images-layers-versions-swapped": (
        "07-images-layers", "shared-layers",
        n07_pair(N07_SHARED + "RUN echo 2 > /app/version.txt\n",
                 N07_SHARED + "RUN echo 1 > /app/version.txt\n"),
        {"app-version", "base-version", "union-view"}),
    "07-images-layers-commit-no-change": (
        "07-images-layers", "commit",
        N07_SOURCE.format(rm=" && rm -r /home") + N07_COMMIT.format(opts=""), {"config"}),
    "07-images-layers-commit-home-kept": (
        "07-images-layers", "commit",
        N07_SOURCE.format(rm="") + N07_COMMIT.format(opts=N07_CHANGES), {"whiteout"}),
    "07-images-layers-commit-by-dockerfile": (
        "07-images-layers", "commit",
        f"mkdir -p {N07}\nprintf '%s\\n' 'FROM busybox' 'RUN mkdir -p /srv && echo \"figé par "
        "pyker commit\" > /srv/message.txt && rm -r /home' 'CMD [\"cat\", \"/srv/message.txt\"]' "
        f"'LABEL tp=07' > {N07}/Dockerfile.commit\n"
        f"pyker build -q -t n07-commit:1.0 -f {N07}/Dockerfile.commit {N07}",
        {"commit-message"}),
})

# TP 14: the solution's daemon.json with one key changed, or its container in the wrong store;
# n14-flaky with another policy, stopped too early, or not stopped.
N14 = "$PYKER_LAB_DIR/14-administration"
N14_OTHER = f"env -u PYKER_DATA_ROOT -u PYKER_RUN_ROOT PYKER_DAEMON_CONFIG={N14}/daemon.json pyker"
N14_FLAKY = "pyker run -d --name n14-flaky --restart {} busybox sh -c 'sleep 1; exit 1'"


def n14_config(bip: str, create_in: str = N14_OTHER) -> str:
    return (f"mkdir -p {N14} && printf '{{\"data-root\": \"%s\", \"exec-root\": \"%s\", "
            f"\"bip\": \"{bip}\"}}' {N14}/donnees {N14}/donnees-run > {N14}/daemon.json\n"
            f"pyker save busybox | {N14_OTHER} load\n"
            f"{create_in} create --name n14-ailleurs busybox true")


N14_STOPPED_IN_BACK_OFF = f"""pyker system forkserver start
trap 'pyker system forkserver stop' EXIT
for attempt in 1 2 3 4 5; do
    pyker rm -f n14-flaky > /dev/null 2>&1 || true
    {N14_FLAKY.format('unless-stopped')} > /dev/null
    end=$((SECONDS + 60))
    until s=$(pyker inspect -f '{{{{.RestartCount}}}} {{{{.State.Status}}}}' n14-flaky) \\
            && [ "${{s#* }}" = restarting ] && [ "${{s%% *}}" -ge 3 ]; do
        [ "$SECONDS" -lt "$end" ]
        sleep 0.02
    done
    pyker stop n14-flaky > /dev/null
    [ "$(pyker inspect -f '{{{{.RestartCount}}}}' n14-flaky)" = 3 ] \\
        && pyker events --since 2m --until "$(date +%s.%N)" --filter container=n14-flaky \\
           | tail -1 | grep -q 'die.*exitCode=1' && break
    [ "$attempt" -lt 5 ]
done"""


def n14_restarts(policy: str, count: int, stop: bool = True) -> str:
    return (f"{N14_FLAKY.format(policy)}\nuntil [ \"$(pyker inspect -f '{{{{.RestartCount}}}}' "
            f"n14-flaky)\" -ge {count} ]; do sleep 0.1; done"
            + ("\npyker stop n14-flaky" if stop else ""))


NEAR_MISSES.update({
    "14-administration-bip-15": (
        "14-administration", "daemon-json", n14_config("10.15.0.1/24"), {"bip", "bridge-address"}),
    "14-administration-created-in-main-store": (
        "14-administration", "daemon-json", n14_config("10.14.0.1/24", create_in="pyker"),
        {"container-elsewhere", "bridge-address"}),
    "14-administration-always": (
        "14-administration", "flaky", n14_restarts("always", 3), {"policy"}),
    "14-administration-stopped-early": (
        "14-administration", "flaky", n14_restarts("unless-stopped", 1),
        {"restarted", "journal"}),
    "14-administration-still-running": (
        "14-administration", "flaky", n14_restarts("unless-stopped", 3, stop=False),
        {"stopped"}),
    # Not a miss: pyker stop landing while the engine waits to restart it, RestartCount 3
    # (raised before the back-off; the start it cancels never comes): every check passes. The
    # fork server makes inspect and stop quick enough for that 0.4 s back-off; RestartCount
    # still 3 and a die as the last event prove the stop landed in it, else it is tried again.
    "14-administration-stopped-in-the-back-off": (
        "14-administration", "flaky", N14_STOPPED_IN_BACK_OFF, set()),
    "14-administration-gave-up": (
        "14-administration", "flaky",
        f"{N14_FLAKY.format('on-failure:3')}\npyker wait n14-flaky || true",
        {"policy", "stopped"}),
})


# TP 01: n01-figlet built from a Dockerfile that misses one part of the contract, and n01-web
# serving the site without the bind mount, from another directory, or on another port.
N01 = "$PYKER_LAB_DIR/01-introduction"
N01_SOLUTIONS = LABS / "01-introduction" / "solutions"
N01_SITE = f"{N01}/tweet-app"


def n01_figlet(*lines: str) -> str:
    dockerfile = "\n".join(("FROM figlet", *lines))
    return (f"bash {N01_SOLUTIONS / 'images.sh'}\nmkdir -p {N01}/figlet\n"
            f"cat > {N01}/figlet/Dockerfile <<'EOF'\n{dockerfile}\nEOF\n"
            f"pyker build -q -t n01-figlet {N01}/figlet")


def n01_web(options: str) -> str:
    return (f"bash {N01_SOLUTIONS / 'images.sh'}\nmkdir -p {N01} && rm -rf {N01_SITE} && "
            f"cp -r {LABS}/01-introduction/tweet-app {N01}/\n"
            f"{RUN} n01-web {options} nginx")


NEAR_MISSES.update({
    "01-introduction-figlet-shell-form": (
        "01-introduction", "figlet-image",
        n01_figlet("ENTRYPOINT figlet -f script", 'CMD ["bonjour"]'),
        {"entrypoint", "default-word", "argument"}),
    "01-introduction-figlet-word-in-entrypoint": (
        "01-introduction", "figlet-image",
        n01_figlet('ENTRYPOINT ["figlet", "-f", "script", "bonjour"]', "CMD []"),
        {"cmd", "argument"}),
    "01-introduction-figlet-standard-font": (
        "01-introduction", "figlet-image",
        n01_figlet('ENTRYPOINT ["figlet"]', 'CMD ["bonjour"]'),
        {"entrypoint", "default-word", "argument"}),
    "01-introduction-figlet-file-changed": (
        "01-introduction", "figlet-image",
        f"bash {N01_SOLUTIONS / 'figlet-image.sh'}\n"
        f"echo 'FROM figlet' > {N01}/figlet/Dockerfile",
        {"from-file"}),
    "01-introduction-web-no-mount": (
        "01-introduction", "tweet-web", n01_web("-p 8101:80"),
        {"bind-mount", "http", "live-edit"}),
    "01-introduction-web-other-dir": (
        "01-introduction", "tweet-web",
        f"rm -rf {N01}-autre && cp -r {LABS}/01-introduction/tweet-app {N01}-autre\n"
        + n01_web(f"-p 8101:80 --mount type=bind,source={N01}-autre,"
                  "target=/usr/share/nginx/html"), {"bind-mount"}),
    "01-introduction-web-other-port": (
        "01-introduction", "tweet-web",
        n01_web(f"-p 8102:80 --mount type=bind,source={N01_SITE},target=/usr/share/nginx/html"),
        {"published", "http", "live-edit", "dnat"}),
})

# TP 09: n09-hello built in one stage, with a Debian last stage, with a dynamic program on
# busybox, or from a program copied out of an image into the context; n09-build without
# --target, or from a Dockerfile changed after n09-hello. Each starts from the solution (the
# context, debian:bookworm, and the build cache that makes the apt step instant).
N09 = "$PYKER_LAB_DIR/09-multistage/hello"
N09_BUILD = f"python3 {LABS / '09-multistage' / 'paquets.py'} construire -q"
N09_SOLVED = f"rm -rf {N09}\nbash {LABS / '09-multistage' / 'solutions' / 'hello-slim.sh'}\n"
N09_STAGE = ("FROM debian:bookworm AS build\nARG http_proxy\n"
             "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc "
             "libc6-dev make > /dev/null \\\n && rm -rf /var/lib/apt/lists/*\n"
             "COPY bonjour.c /src/\nRUN gcc {flags} -o /src/bonjour /src/bonjour.c\n")
N09_LAST = "COPY --from=build /src/bonjour /bonjour\nCMD [\"/bonjour\"]\n"


def n09(dockerfile: str, build: str = "-t n09-hello", before: str = "") -> str:
    return (f"{N09_SOLVED}{before}cat > {N09}/Dockerfile <<'EOF'\n{dockerfile}EOF\n"
            f"{N09_BUILD} {build} {N09}")


NEAR_MISSES.update({
    "09-multistage-one-stage": (
        "09-multistage", "hello-slim",
        n09(N09_STAGE.format(flags="-static") + 'CMD ["/src/bonjour"]\n'),
        {"no-compiler", "small", "built-in-stage"}),
    "09-multistage-debian-last": (
        "09-multistage", "hello-slim",
        n09(N09_STAGE.format(flags="-O2") + "FROM debian:bookworm\n" + N09_LAST), {"small"}),
    "09-multistage-dynamic-on-busybox": (
        "09-multistage", "hello-slim",
        n09(N09_STAGE.format(flags="-O2") + "FROM busybox\n" + N09_LAST), {"greets"}),
    "09-multistage-copied-from-context": (
        "09-multistage", "hello-slim",
        n09('FROM scratch\nCOPY bonjour /bonjour\nCMD ["/bonjour"]\n',
            before=f"pyker create --name n09-sortie n09-hello\n"
                   f"pyker cp n09-sortie:/bonjour {N09}/bonjour\n"),
        {"built-in-stage"}),
    "09-multistage-build-without-target": (
        "09-multistage", "build-target",
        f"{N09_SOLVED}{N09_BUILD} -t n09-build {N09}", {"has-compiler"}),
    "09-multistage-build-changed": (
        "09-multistage", "build-target",
        n09(N09_STAGE.format(flags="-static -O0") + "FROM scratch\n" + N09_LAST,
            build="--target build -t n09-build"),
        {"program-built", "stage-runs"}),
})

# TP 15: n15-worker without a SIGTERM handler (as PID 1: TERM ignored, SIGKILL, 137; under
# --init: killed by TERM, 143), and n15-config without PORT (the API listens on 80).
N15 = "$PYKER_LAB_DIR/15-twelve-factor/exercice"
N15_IMAGES = f"bash {LABS / '13-compose' / 'solutions' / 'images.sh'}"
N15_DEAF = (f"{N15_IMAGES}\nmkdir -p {N15}\n"
            f"printf 'import time\\nwhile True:\\n    time.sleep(0.2)\\n' > {N15}/worker.py\n"
            "pyker run -d --name n15-worker {init} -v " + N15 + ":/app:ro python "
            "python3 /app/worker.py\nsleep 1\npyker stop -t 1 n15-worker")
NEAR_MISSES.update({
    "15-twelve-factor-worker-deaf": (
        "15-twelve-factor", "graceful", N15_DEAF.format(init=""),
        {"exit-zero", "term-handled", "again"}),
    "15-twelve-factor-worker-init-no-handler": (
        "15-twelve-factor", "graceful", N15_DEAF.format(init="--init"), {"exit-zero", "again"}),
    "15-twelve-factor-config-no-port": (
        "15-twelve-factor", "env-config",
        f"bash {LABS / '15-twelve-factor' / 'solutions' / 'env-config.sh'}\n"
        "pyker rm -f n15-config\npyker run -d --name n15-config --init --network n15-ex "
        "-e REDIS_URL=redis://n15-cache:6379/0 n15-message-app:v1",
        {"env", "answers", "stored"}),
})

@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_miss_fails_exactly_its_checks(case: str, ctx: Context,
                                            lab_env: dict[str, str]) -> None:
    lab, exercise_id, script, failing = NEAR_MISSES[case]
    sh(lab_env, script)
    result = grade(lab, exercise_id, hidden=True, ctx=ctx)
    assert {r.check for r in result.results if not r.passed} == failing, report(result)
    assert all(r.error == "" for r in result.results), report(result)


def test_notebook_view_leaves_hidden_checks_for_grading(ctx: Context,
                                                        lab_env: dict[str, str]) -> None:
    sh(lab_env, f"bash {LABS / '03-cgroups' / 'solutions' / 'pids.sh'}")
    result = grade("03-cgroups", "pids", ctx=ctx)
    assert [r.check for r in result.results] == ["running", "pids-max"]
    assert result.hidden_pending == 1 and not result.passed


# -- batch grading ----------------------------------------------------------------------------

def run_batch(lab_env: dict[str, str], submissions: Path, out: Path, *extra: str
              ) -> tuple[subprocess.CompletedProcess[str], list[dict], list[dict]]:
    env = {k: v for k, v in lab_env.items() if k != "PYKER_LAB_DIR"}
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "03-cgroups", str(submissions),
         "--csv", str(out / "grades.csv"), "--jsonl", str(out / "results.jsonl"),
         "--images", "busybox", "--workdir", str(out), *extra],
        env=env, capture_output=True, text=True, timeout=900, preexec_fn=enter_tests_netns)
    assert proc.returncode == 0, proc.stderr
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return proc, rows, lines


def lab_netns() -> set[str]:
    """The grader sandboxes' network namespaces now on the host."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {n for n in netns.split() if n.startswith("pyk-lab-")}


def assert_sandboxes_gone(out: Path, lines: list[dict], before: set[str]) -> None:
    assert not list(out.glob("pyker-lab-*")), "a sandbox directory was left behind"
    # Only this batch's: a notebook run elsewhere on the host may have one of its own.
    assert not lab_netns() - before, lab_netns() - before
    for line in lines:  # the cgroups the checks read went with their containers
        if "path" in line["evidence"] and line["evidence"]["path"].startswith("/sys/fs/cgroup"):
            assert not Path(line["evidence"]["path"]).parent.exists()


@pytest.mark.requires("iptables")
def test_batch_gives_full_zero_and_partial_scores(lab_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    before = lab_netns()
    _proc, rows, lines = run_batch(lab_env, SUBMISSIONS / "03-cgroups", tmp_path)
    by_student = {row["student"]: row for row in rows}
    assert sorted(by_student) == ["empty", "half-done", "solution"]

    solution, empty, half = by_student["solution"], by_student["empty"], by_student["half-done"]
    assert (solution["score"], solution["max_score"]) == ("7", "7")
    assert solution["notebook_status"] == "ok"
    assert all(solution[c] == "ok" for c in ("pids/running", "pids/pids-max", "pids/fork-limit",
                                             "memory/running", "memory/memory-limit"))
    assert empty["score"] == "0" and empty["notebook_status"] == "ok"
    assert empty["pids/pids-max"].startswith("échec : aucun conteneur nommé « limited »")
    assert half["score"] == "5" and (half["pids"], half["memory"]) == ("4", "1")
    assert half["memory/running"] == "ok"
    assert "134217728" in half["memory/memory-limit"] and "67108864" in half["memory/memory-limit"]

    assert len(lines) == 3 * 5  # one line per check, hidden ones included
    memory = [r for r in lines if r["student"] == "half-done" and r["check"] == "memory-limit"]
    assert memory[0]["passed"] is False and memory[0]["evidence"]["value"] == "134217728"
    assert {r["hidden"] for r in lines if r["check"] == "fork-limit"} == {True}
    assert sum(r["score"] for r in lines if r["student"] == "solution") == pytest.approx(7)
    assert_sandboxes_gone(tmp_path, lines, before)


@pytest.mark.requires("iptables")
def test_batch_survives_crash_timeout_and_errors(lab_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    before = lab_netns()
    _proc, rows, lines = run_batch(lab_env, SUBMISSIONS / "broken", tmp_path,
                                   "--cell-timeout", "5", "--timeout", "120")
    by_student = {row["student"]: row for row in rows}
    crash, forever, raises = by_student["crash"], by_student["forever"], by_student["raises"]
    # Each ran its first cell (limited, right), so each keeps the pids points.
    assert (crash["notebook_status"], crash["score"]) == ("crash", "4")
    assert "cellule 2" in crash["notebook_reason"]
    assert (forever["notebook_status"], forever["score"]) == ("timeout", "4")
    assert "cellule 2 (while True:)" in forever["notebook_reason"]
    # A cell that raises is recorded, and the cells after it still run.
    assert (raises["notebook_status"], raises["score"]) == ("error", "7")
    assert "ZeroDivisionError" in raises["notebook_reason"]
    assert_sandboxes_gone(tmp_path, lines, before)
