"""TP 10, volumes: the ``readonly-site`` exercise, a host directory served read-only.

The checks read the ``n10-web`` container record's mount at /www, the kernel's view of it
(``/proc/PID/mountinfo``: the per-mount ``ro`` flag, proc(5)), and ask the server over HTTP
from inside the container's network namespace (nsenter(1) and the host's Python, so any
image works) for what the host directory holds — including a file the grader writes there
itself, which only a live bind mount can serve. Also here: reading a student's file on the
host without following a symlink out of it, shared with :mod:`grader.exercises.volumes`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "10-volumes"
WEB = "n10-web"
WEB_ROOT = "/www"
EROFS_TEXT = "Read-only file system"
READ_LIMIT = 64 * 1024  # the files compared are a few lines: a bigger one is not the answer


def read_small(path: Path) -> bytes:
    """A regular file's first bytes, never through a symlink: a volume's content is the
    student's, and a link in it must not make the grader read the host's files."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Unmet(f"le fichier {path} n'existe pas.", path=str(path)) from None
    except OSError as err:
        raise Unmet(f"{path} n'est pas un fichier ordinaire lisible ({err.strerror}).",
                    path=str(path)) from None
    with os.fdopen(fd, "rb") as f:
        if not os.path.isfile(f"/proc/self/fd/{f.fileno()}"):
            raise Unmet(f"{path} n'est pas un fichier ordinaire.", path=str(path))
        return f.read(READ_LIMIT)


def text(data: bytes) -> str:
    return data.decode(errors="replace").strip()


def unescape_mountinfo(field: str) -> str:
    r"""mountinfo escapes space, tab, newline and backslash as ``\040``-style octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_options(mountinfo: str, mount_point: str) -> tuple[str, ...] | None:
    """The per-mount options (field 6 of proc(5)'s mountinfo) of the mount visible at
    ``mount_point``: the last line for it, as a later mount hides an earlier one."""
    found = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 5 and unescape_mountinfo(fields[4]) == mount_point:
            found = tuple(fields[5].split(","))
    return found


def _web_mount(ctx: Context):
    """The ``n10-web`` record's mount at /www, or None."""
    from pyker.runtime.volumes import mounts_of

    record = ctx.engine.containers.resolve(WEB)
    return next((m for m in mounts_of(record.options) if m.target == WEB_ROOT), None)


def _bind_source(ctx: Context) -> Path:
    observe.container(ctx, WEB)
    mount = _web_mount(ctx)
    if mount is None or mount.type != "bind":
        raise Unmet(f"pas de bind mount sur {WEB_ROOT} (voir bind-ro).")
    return Path(mount.source)


FETCH = """
import sys, time, urllib.error, urllib.request
for attempt in range(30):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
            sys.stdout.buffer.write(r.read()); sys.exit(0)
    except urllib.error.HTTPError as err:
        print(f"HTTP {err.code}", file=sys.stderr); sys.exit(22)
    except OSError as err:
        last = err; time.sleep(0.2)
print(last, file=sys.stderr); sys.exit(7)
"""


def _http_get(ctx: Context, live: observe.Live, path: str) -> tuple[int, bytes, str]:
    """GET http://127.0.0.1:80/path from inside the container's network namespace, with the
    host's Python (any image works), retrying while the server is still starting."""
    url = f"http://127.0.0.1:80/{path.lstrip('/')}"
    if shutil.which("nsenter"):
        argv = ["nsenter", "-t", str(live.pid), "-n", "--", sys.executable, "-I", "-c", FETCH,
                url]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=ctx.timeout)
        except subprocess.TimeoutExpired:
            return 124, b"", "timed out"
        return proc.returncode, proc.stdout, proc.stderr.decode(errors="replace").strip()
    done = ctx.pyker("exec", live.id, "wget", "-qO-", url)
    return done.returncode, done.stdout.encode(), done.stderr.strip()


def _bind_ro(ctx: Context) -> Outcome:
    observe.container(ctx, WEB)
    mount = _web_mount(ctx)
    if mount is None:
        return failed(f"le conteneur « {WEB} » n'a aucun montage sur {WEB_ROOT}.", mounts=[])
    evidence = {"type": mount.type, "source": mount.source, "readonly": mount.readonly}
    if mount.type != "bind":
        return failed(f"{WEB_ROOT} est un montage de type {mount.type}, pas un dossier de "
                      "l'hôte (bind).", **evidence)
    if not mount.readonly:
        return failed(f"le bind mount {mount.source} → {WEB_ROOT} est en lecture-écriture : "
                      "il doit être en lecture seule.", **evidence)
    if not (Path(mount.source) / "index.html").is_file():
        return failed(f"le dossier {mount.source} n'a pas d'index.html.", **evidence)
    return passed(f"{mount.source} est monté en lecture seule sur {WEB_ROOT}.", **evidence)


def _kernel_ro(ctx: Context) -> Outcome:
    live = observe.container(ctx, WEB)
    options = mount_options(observe.read_proc(live.pid, "mountinfo"), WEB_ROOT)
    evidence = {"path": f"/proc/{live.pid}/mountinfo", "options": list(options or ())}
    if options is None:
        return failed(f"le noyau ne montre aucun montage sur {WEB_ROOT} pour le processus "
                      f"{live.pid}.", **evidence)
    if "ro" in options:
        return passed(f"mountinfo : {WEB_ROOT} est monté {','.join(options)}.", **evidence)
    return failed(f"mountinfo : {WEB_ROOT} est monté {','.join(options)}, sans ro.", **evidence)


def _serves(ctx: Context) -> Outcome:
    live = observe.container(ctx, WEB)
    source = _bind_source(ctx)
    expected = read_small(source / "index.html")
    status, body, error = _http_get(ctx, live, "/")
    evidence = {"status": status, "body": text(body)[:200], "error": error[-200:]}
    if status != 0:
        return failed(f"pas de réponse HTTP sur le port 80 du conteneur : {error[-150:]}",
                      **evidence)
    if body.strip() != expected.strip():
        return failed(f"la page servie n'est pas {source}/index.html.", **evidence)
    return passed(f"le port 80 du conteneur sert {source}/index.html.", **evidence)


def _live_edit(ctx: Context) -> Outcome:
    live = observe.container(ctx, WEB)
    source = _bind_source(ctx)
    name = f".grader-{secrets.token_hex(6)}.html"
    marker = f"grader {secrets.token_hex(8)}"
    path = source / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        raise Unmet(f"impossible d'écrire dans {source} depuis l'hôte ({err.strerror}).",
                    path=str(path)) from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(marker + "\n")
        status, body, error = _http_get(ctx, live, name)
    finally:
        path.unlink(missing_ok=True)
    evidence = {"file": str(path), "status": status, "body": text(body)[:200]}
    if status == 0 and text(body) == marker:
        return passed(f"un fichier écrit dans {source} sur l'hôte est servi aussitôt.",
                      **evidence)
    return failed(f"un fichier écrit dans {source} sur l'hôte n'est pas servi "
                  f"({error[-150:] or 'contenu différent'}).", **evidence)


def _write_refused(ctx: Context) -> Outcome:
    live = observe.container(ctx, WEB)
    probe = f"{WEB_ROOT}/.grader-{secrets.token_hex(6)}"
    proc = ctx.pyker("exec", "-u", "0", live.id, "touch", probe)
    output = (proc.stdout + proc.stderr).strip()
    evidence = {"command": f"touch {probe}", "exit_code": proc.returncode,
                "output": output[-300:]}
    if proc.returncode == 0:
        ctx.pyker("exec", "-u", "0", live.id, "rm", "-f", probe)
        return failed(f"root a pu écrire dans {WEB_ROOT} depuis le conteneur.", **evidence)
    if EROFS_TEXT in output:
        return passed(f"écrire dans {WEB_ROOT} : « {EROFS_TEXT} » (EROFS).", **evidence)
    return failed(f"l'écriture dans {WEB_ROOT} a échoué (code {proc.returncode}) mais sans "
                  f"« {EROFS_TEXT} » : {output[-150:]}", **evidence)


READONLY_SITE = Exercise(
    lab=LAB, id="readonly-site", title="Un site servi en lecture seule",
    statement=f"Un conteneur {WEB} en marche sert avec busybox httpd, sur son port 80, un "
              f"dossier de l'hôte (par exemple labs/{LAB}/site) monté en lecture seule "
              f"sur {WEB_ROOT}.",
    points=5,
    checks=(
        running(WEB),
        Check(id="bind-ro", run=_bind_ro,
              description=f"{WEB_ROOT} est un bind mount en lecture seule d'un dossier "
                          "qui a un index.html",
              hint=f"-v DOSSIER_ABSOLU:{WEB_ROOT}:ro, ou --mount type=bind,source=…,"
                   f"target={WEB_ROOT},readonly."),
        Check(id="kernel-ro", run=_kernel_ro,
              description=f"le noyau montre {WEB_ROOT} avec l'option ro "
                          "(/proc/PID/mountinfo)",
              hint="grep /www /proc/<pid>/mountinfo sur l'hôte : la 6e colonne porte "
                   "les options du montage."),
        Check(id="serves", weight=2, run=_serves,
              description="le port 80 du conteneur sert l'index.html du dossier de l'hôte",
              hint="busybox httpd -f -p 80 -h /www : -f le garde au premier plan, "
                   "-h choisit la racine du site."),
        Check(id="live-edit", hidden=True, run=_live_edit,
              description="un fichier ajouté sur l'hôte est servi sans redémarrer"),
        Check(id="write-refused", hidden=True, run=_write_refused,
              description=f"écrire dans {WEB_ROOT} échoue avec « {EROFS_TEXT} »"),
    ),
    hints=(f"pyker run -d --name {WEB} -v CHEMIN_ABSOLU:{WEB_ROOT}:ro busybox httpd -f -p 80 "
           f"-h {WEB_ROOT} (un chemin relatif serait pris pour un nom de volume)",
           f"pyker rm -f {WEB} avant de relancer."),
)
