"""TP 08, Dockerfile: the student's images judged by their config and by running them
(``no-secrets``, the second exercise, is in :mod:`grader.exercises.image_secrets`).

``app-image`` reads the config of the image ``n08-app`` as ``pyker image inspect`` gives it
(User, WorkingDir, ExposedPorts, Entrypoint, Cmd, Healthcheck), then runs it in throwaway
containers without a network (``--network none``: the container's own loopback is enough):
the server's process must run as uid 1000 (``Uid:`` of /proc/PID/status), the engine's health
monitor must call it healthy, the health test must fail where no server listens, the run
arguments must reach httpd through the exec-form ENTRYPOINT, the site's files must belong to
the user.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader import observe
from grader.context import Context
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "08-dockerfile"

APP_IMAGE = "n08-app"
APP_DIR = "app"                     # labs/08-dockerfile/app: the build context
APP_DOCKERFILE = f"{APP_DIR}/Dockerfile"
APP_UID = 1000
APP_WORKDIR = "/srv/www"
APP_PORT = "8080/tcp"
APP_CMD = ["-p", "8080"]
OTHER_PORT = 9090
PAGE_MARK = "Bonjour depuis n08-app"     # in labs/08-dockerfile/app/www/index.html
HEALTH_WAIT = 30.0                  # seconds for the health monitor to say healthy
PROBE = "n08-verif"                 # the grader's own containers, removed after each check

BUILD_APP = f"pyker build -t {APP_IMAGE} labs/{LAB}/{APP_DIR}"


# -- reading images and running them ----------------------------------------------------------

def inspect_image(ctx: Context, image: str, build: str) -> dict:
    """``pyker image inspect IMAGE`` as a dict.

    Raises:
        Unmet: no such image in the store.
    """
    proc = ctx.pyker("image", "inspect", image)
    if proc.returncode != 0:
        raise Unmet(f"l'image {image} n'existe pas : construisez-la avec « {build} ».",
                    image=image, output=(proc.stdout + proc.stderr).strip()[-300:])
    return json.loads(proc.stdout)[0]


def _config(ctx: Context) -> dict:
    return inspect_image(ctx, APP_IMAGE, BUILD_APP).get("Config") or {}


@contextmanager
def _container(ctx: Context, *args: str) -> Iterator[str]:
    """A detached container of the grader's (``n08-verif``, no network), removed after use;
    ``args`` go between the options and the end (the image, run options before it)."""
    ctx.pyker("rm", "-f", PROBE)
    proc = ctx.pyker("run", "-d", "--network", "none", "--name", PROBE, *args)
    try:
        if proc.returncode != 0:
            raise Unmet(f"pyker run {' '.join(args)} a échoué (code {proc.returncode}) : "
                        f"{(proc.stdout + proc.stderr).strip()[-300:]}",
                        exit_code=proc.returncode)
        yield PROBE
    finally:
        ctx.pyker("rm", "-f", PROBE)


def _exec(ctx: Context, name: str, *command: str):
    proc = ctx.pyker("exec", name, *command)
    return proc, (proc.stdout + proc.stderr).strip()


def _fetch(ctx: Context, name: str, port: int) -> tuple[bool, str]:
    """Whether the container's own busybox wget gets the page from 127.0.0.1:``port``
    (tried for 3 s: the server may still be starting)."""
    output = ""
    for _ in range(15):
        proc, output = _exec(ctx, name, "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/")
        if proc.returncode == 0:
            return PAGE_MARK in proc.stdout, output
        time.sleep(0.2)
    return False, output


def _still_running(ctx: Context, name: str) -> observe.Live:
    """The probe as the engine sees it; Unmet with its logs if it already stopped."""
    try:
        return observe.container(ctx, name)
    except Unmet:
        logs = ctx.pyker("logs", name)
        raise Unmet(f"le conteneur de {APP_IMAGE} s'est arrêté aussitôt ; ses journaux : "
                    f"{(logs.stdout + logs.stderr).strip()[-300:] or '(rien)'}") from None


# -- app-image --------------------------------------------------------------------------------

def _app_config(ctx: Context) -> Outcome:
    config = _config(ctx)
    workdir = config.get("WorkingDir") or ""
    ports = sorted(config.get("ExposedPorts") or {})
    evidence = {"WorkingDir": workdir, "ExposedPorts": ports}
    if workdir != APP_WORKDIR:
        return failed(f"le dossier de travail de l'image est « {workdir or '/'} », pas "
                      f"{APP_WORKDIR}.", **evidence)
    if APP_PORT not in ports:
        return failed(f"l'image n'expose pas le port 8080 (ExposedPorts : "
                      f"{', '.join(ports) or 'aucun'}).", **evidence)
    return passed(f"WorkingDir {APP_WORKDIR} et port {APP_PORT} exposé.", **evidence)


def _app_entrypoint(ctx: Context) -> Outcome:
    config = _config(ctx)
    entrypoint, cmd = config.get("Entrypoint") or [], config.get("Cmd") or []
    evidence = {"Entrypoint": entrypoint, "Cmd": cmd}
    if not entrypoint:
        return failed("l'image n'a pas d'ENTRYPOINT.", **evidence)
    if entrypoint[:2] == ["/bin/sh", "-c"]:
        return failed(f"l'ENTRYPOINT est en forme shell ({json.dumps(entrypoint)}) : les "
                      "arguments de CMD et de pyker run seraient ignorés.", **evidence)
    if Path(entrypoint[0]).name != "httpd" or "-f" not in entrypoint:
        return failed(f"l'ENTRYPOINT {json.dumps(entrypoint)} ne lance pas httpd au premier "
                      "plan (-f).", **evidence)
    if cmd != APP_CMD:
        return failed(f"CMD vaut {json.dumps(cmd)}, le contrat demande {json.dumps(APP_CMD)}.",
                      **evidence)
    return passed(f"ENTRYPOINT {json.dumps(entrypoint)} en forme exec, CMD "
                  f"{json.dumps(cmd)}.", **evidence)


def _app_non_root(ctx: Context) -> Outcome:
    user = _config(ctx).get("User") or ""
    with _container(ctx, APP_IMAGE) as name:
        time.sleep(0.3)
        live = _still_running(ctx, name)
        status = observe.parse_status(observe.read_proc(live.pid, "status"))
    uid = observe.uids(status)[1]
    evidence = {"User": user, "pid": live.pid, "Uid": status.get("Uid", ""),
                "Name": status.get("Name", "")}
    if uid != APP_UID:
        return failed(f"le processus du conteneur tourne avec l'uid {uid}"
                      f"{' (root)' if uid == 0 else ''}, pas {APP_UID} (USER de l'image : "
                      f"« {user or 'aucun'} »).", **evidence)
    return passed(f"le processus {status.get('Name', '?')} tourne avec l'uid {APP_UID} "
                  f"(USER {user}).", **evidence)


def _app_healthy(ctx: Context) -> Outcome:
    health = _config(ctx).get("Healthcheck") or {}
    if not health.get("Test") or health["Test"][0] == "NONE":
        return failed("l'image n'a pas de HEALTHCHECK.", Healthcheck=health)
    status, log = "", []
    with _container(ctx, APP_IMAGE) as name:
        deadline = time.monotonic() + HEALTH_WAIT
        while time.monotonic() < deadline:
            proc = ctx.pyker("inspect", "-f", "{{json .State}}", name)
            state = json.loads(proc.stdout) if proc.returncode == 0 else {}
            status = (state.get("Health") or {}).get("Status", "")
            log = (state.get("Health") or {}).get("Log") or []
            if status in ("healthy", "unhealthy") or state.get("Status") != "running":
                break
            time.sleep(0.5)
    last = log[-1] if log else {}
    evidence = {"status": status, "Healthcheck": health, "last_probe": last}
    if status == "healthy":
        return passed("le moteur déclare le conteneur healthy.", **evidence)
    detail = (f" ; dernier test : code {last.get('ExitCode')}, "
              f"« {str(last.get('Output', '')).strip()[-200:]} »" if last else "")
    return failed(f"le conteneur n'est pas devenu healthy en {HEALTH_WAIT:.0f} s "
                  f"(état : {status or 'aucun'}){detail}.", **evidence)


def _health_test_argv(test: list[str]) -> list[str]:
    """The command the health monitor runs for a Healthcheck ``Test`` (Docker's forms)."""
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return list(test[1:])
    return ["/bin/sh", "-c", shlex.join(test)]


def _app_health_detects(ctx: Context) -> Outcome:
    health = _config(ctx).get("Healthcheck") or {}
    test = health.get("Test") or []
    if not test or test[0] == "NONE":
        return failed("l'image n'a pas de HEALTHCHECK.", Healthcheck=health)
    argv = _health_test_argv(test)
    # The same image, its ENTRYPOINT replaced by sleep: nothing listens on 8080.
    with _container(ctx, "--entrypoint", "sleep", APP_IMAGE, "60") as name:
        proc, output = _exec(ctx, name, *argv)
    evidence = {"test": argv, "exit_code": proc.returncode, "output": output[-300:]}
    if proc.returncode == 0:
        return failed("le test de santé réussit même quand aucun serveur n'écoute : il ne "
                      "vérifie pas le service.", **evidence)
    return passed(f"sans serveur, le test de santé échoue (code {proc.returncode}).",
                  **evidence)


def _app_port_argument(ctx: Context) -> Outcome:
    _config(ctx)
    with _container(ctx, APP_IMAGE, "-p", str(OTHER_PORT)) as name:
        _still_running(ctx, name)
        ok, output = _fetch(ctx, name, OTHER_PORT)
    evidence = {"run_args": ["-p", str(OTHER_PORT)], "output": output[-300:]}
    if not ok:
        return failed(f"pyker run {APP_IMAGE} -p {OTHER_PORT} : la page n'est pas servie sur "
                      f"le port {OTHER_PORT} ({output[-150:] or 'pas de réponse'}).", **evidence)
    return passed(f"les arguments de pyker run remplacent CMD : la page est servie sur "
                  f"{OTHER_PORT}.", **evidence)


def _app_files_owned(ctx: Context) -> Outcome:
    _config(ctx)
    with _container(ctx, "--entrypoint", "sleep", APP_IMAGE, "60") as name:
        proc, output = _exec(ctx, name, "stat", "-c", "%u %n", f"{APP_WORKDIR}/index.html")
    evidence = {"exit_code": proc.returncode, "output": output[-300:]}
    if proc.returncode != 0:
        return failed(f"{APP_WORKDIR}/index.html est introuvable dans l'image : {output[-150:]}",
                      **evidence)
    owner = output.split()[0]
    if owner != str(APP_UID):
        return failed(f"{APP_WORKDIR}/index.html appartient à l'uid {owner}, pas à {APP_UID}.",
                      **evidence)
    return passed(f"{APP_WORKDIR}/index.html appartient à l'uid {APP_UID}.", **evidence)



EXERCISES = (
    Exercise(
        lab=LAB, id="app-image", title="Une image qui tient son contrat",
        statement=f"Écrivez labs/{LAB}/{APP_DOCKERFILE} et construisez l'image {APP_IMAGE} : "
                  f"busybox, l'utilisateur app (uid {APP_UID}) qui possède le site copié dans "
                  f"{APP_WORKDIR} (le dossier de travail), le port 8080 exposé, un ENTRYPOINT "
                  f"en forme exec qui lance httpd au premier plan, CMD {json.dumps(APP_CMD)}, "
                  "et un HEALTHCHECK qui interroge le serveur (intervalle de 5 s au plus).",
        points=8, student_files=(f"{LAB}/{APP_DOCKERFILE}",),
        checks=(
            Check(id="config", run=_app_config,
                  description=f"WorkingDir {APP_WORKDIR} et port {APP_PORT} exposé",
                  hint="WORKDIR crée le dossier s'il n'existe pas ; EXPOSE ne publie rien, il "
                       "documente le port dans la configuration de l'image."),
            Check(id="entrypoint", run=_app_entrypoint,
                  description="ENTRYPOINT exec qui lance httpd -f, CMD [\"-p\", \"8080\"]",
                  hint="Forme exec : un tableau JSON, ENTRYPOINT [\"httpd\", \"-f\", ...]. "
                       "CMD ne contient alors que les arguments par défaut."),
            Check(id="non-root", run=_app_non_root,
                  description=f"le serveur tourne avec l'uid {APP_UID}",
                  hint="busybox n'a pas adduser : ajoutez une ligne à /etc/passwd (et à "
                       "/etc/group) avec RUN, puis USER app."),
            Check(id="healthy", weight=2, run=_app_healthy,
                  description="le moteur déclare le conteneur healthy",
                  hint="HEALTHCHECK --interval=2s CMD wget -q -O /dev/null "
                       "http://127.0.0.1:8080/ || exit 1 ; pyker ps montre l'état."),
            Check(id="health-detects", hidden=True, run=_app_health_detects,
                  description="le test de santé échoue quand aucun serveur n'écoute"),
            Check(id="port-argument", hidden=True, run=_app_port_argument,
                  description=f"pyker run {APP_IMAGE} -p {OTHER_PORT} sert la page sur "
                              f"{OTHER_PORT}"),
            Check(id="files-owned", hidden=True, run=_app_files_owned,
                  description=f"le site appartient à l'uid {APP_UID}"),
        ),
        hints=(f"Essayez : pyker run -d --name essai {APP_IMAGE}, puis pyker ps (la colonne "
               "STATUS dit healthy) et pyker exec essai id.",
               "pyker image inspect -f '{{json .Config}}' n08-app montre tout ce que le "
               "correcteur lit."),
    ),
)
