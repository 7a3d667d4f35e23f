"""TP 01, introduction: an image whose ENTRYPOINT and CMD make a command of it, and the tweet
app served from a host directory.

``figlet-image`` reads the config of the image ``n01-figlet`` as ``pyker image inspect`` gives
it (Entrypoint, Cmd), then runs it in throwaway containers without a network and compares what
it draws with what the image's own figlet draws when called by hand (``--entrypoint figlet``):
the default word with the script font, and (hidden) a word given to ``pyker run``, which must
replace CMD and nothing else. Hidden too: the student's Dockerfile, rebuilt under a scratch
tag, must give the same Entrypoint and Cmd (the image comes from that file).

``tweet-web`` reads the ``n01-web`` container: its published ports as ``pyker inspect``
reports them, its record's bind mount on nginx's document root, the page fetched from
``http://127.0.0.1:8101/`` in the store's network namespace (it must be the mounted directory's
``index.html``), and (hidden) a file the grader writes in that directory on the host, which only
a live bind mount can serve at once, and pyker's DNAT rule in the nat table of that namespace.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from grader import observe
from grader.context import Context
from grader.exercises.bindmounts import read_small, text
from grader.exercises.common import running
from grader.exercises.network import dnat_rules, http_get
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "01-introduction"

FIGLET_IMAGE = "n01-figlet"
FIGLET_DIR = "figlet"                          # labs/01-introduction/figlet: the build context
FIGLET_DOCKERFILE = f"{FIGLET_DIR}/Dockerfile"
FONT = ["-f", "script"]
DEFAULT_WORD = "bonjour"
OTHER_WORD = "Docker"
SCRATCH_TAG = "n01-figlet-verif"               # the hidden rebuild, removed after the check
BUILD_FIGLET = f"pyker build -t {FIGLET_IMAGE} labs/{LAB}/{FIGLET_DIR}"

WEB = "n01-web"
WEB_PORT = 8101
WEB_ROOT = "/usr/share/nginx/html"             # nginx's document root in the lab images
SITE_DIR = "tweet-app"                         # labs/01-introduction/tweet-app
LOOPBACK = "127.0.0.1"
_DNAT_TO = re.compile(r"-j DNAT --to-destination (\S+)")


# -- figlet-image -----------------------------------------------------------------------------

def _inspect(ctx: Context, image: str) -> dict:
    """``pyker image inspect IMAGE`` as a dict.

    Raises:
        Unmet: no such image in the store.
    """
    proc = ctx.pyker("image", "inspect", image)
    if proc.returncode != 0:
        raise Unmet(f"l'image {image} n'existe pas : construisez-la avec « {BUILD_FIGLET} ».",
                    image=image, output=(proc.stdout + proc.stderr).strip()[-300:])
    return json.loads(proc.stdout)[0]


def _config(ctx: Context, image: str = FIGLET_IMAGE) -> dict:
    return _inspect(ctx, image).get("Config") or {}


def _draw(ctx: Context, *args: str) -> tuple[int, str]:
    """(exit code, output) of a throwaway container of ``args`` (options, image, arguments)."""
    proc = ctx.pyker("run", "--rm", "--network", "none", *args)
    return proc.returncode, proc.stdout if proc.returncode == 0 else proc.stdout + proc.stderr


def _reference(ctx: Context, word: str) -> str:
    """What the image's own figlet draws for ``word`` with the script font.

    Raises:
        Unmet: the image has no figlet to call.
    """
    code, output = _draw(ctx, "--entrypoint", "figlet", FIGLET_IMAGE, *FONT, word)
    if code != 0:
        raise Unmet(f"figlet {' '.join(FONT)} ne tourne pas dans l'image {FIGLET_IMAGE} "
                    f"(code {code}) : {output.strip()[-200:]}", exit_code=code)
    return output


def _entrypoint(ctx: Context) -> Outcome:
    config = _config(ctx)
    entrypoint = config.get("Entrypoint") or []
    evidence = {"Entrypoint": entrypoint}
    if not entrypoint:
        return failed("l'image n'a pas d'ENTRYPOINT.", **evidence)
    if entrypoint[:2] == ["/bin/sh", "-c"]:
        return failed(f"l'ENTRYPOINT est en forme shell ({json.dumps(entrypoint)}) : les "
                      "arguments de CMD et de pyker run seraient ignorés.", **evidence)
    if Path(entrypoint[0]).name != "figlet":
        return failed(f"l'ENTRYPOINT {json.dumps(entrypoint)} ne lance pas figlet.", **evidence)
    pairs = list(zip(entrypoint, entrypoint[1:]))
    if tuple(FONT) not in pairs:
        return failed(f"l'ENTRYPOINT {json.dumps(entrypoint)} ne choisit pas la police "
                      f"script ({' '.join(FONT)}).", **evidence)
    return passed(f"ENTRYPOINT {json.dumps(entrypoint)}, en forme exec.", **evidence)


def _cmd(ctx: Context) -> Outcome:
    cmd = _config(ctx).get("Cmd") or []
    if cmd != [DEFAULT_WORD]:
        return failed(f"CMD vaut {json.dumps(cmd)}, l'énoncé demande "
                      f"{json.dumps([DEFAULT_WORD])}.", Cmd=cmd)
    return passed(f"CMD {json.dumps(cmd)} : le mot par défaut.", Cmd=cmd)


def _default_word(ctx: Context) -> Outcome:
    expected = _reference(ctx, DEFAULT_WORD)
    code, output = _draw(ctx, FIGLET_IMAGE)
    evidence = {"exit_code": code, "output": output[-400:], "expected": expected[-400:]}
    if code != 0:
        return failed(f"pyker run {FIGLET_IMAGE} a échoué (code {code}) : "
                      f"{output.strip()[-200:]}", **evidence)
    if output != expected:
        return failed(f"pyker run {FIGLET_IMAGE}, sans argument, ne dessine pas « "
                      f"{DEFAULT_WORD} » en police script.", **evidence)
    return passed(f"sans argument, l'image dessine « {DEFAULT_WORD} » en police script.",
                  **evidence)


def _argument(ctx: Context) -> Outcome:
    expected = _reference(ctx, OTHER_WORD)
    code, output = _draw(ctx, FIGLET_IMAGE, OTHER_WORD)
    evidence = {"run_args": [OTHER_WORD], "exit_code": code, "output": output[-400:],
                "expected": expected[-400:]}
    if code != 0 or output != expected:
        return failed(f"pyker run {FIGLET_IMAGE} {OTHER_WORD} ne dessine pas « {OTHER_WORD} » "
                      "seul en police script : l'argument doit remplacer CMD, et lui seul.",
                      **evidence)
    return passed(f"pyker run {FIGLET_IMAGE} {OTHER_WORD} dessine « {OTHER_WORD} ».",
                  **evidence)


def _from_file(ctx: Context) -> Outcome:
    built = _config(ctx)
    context = ctx.lab_dir / LAB / FIGLET_DIR
    if not (context / "Dockerfile").is_file():
        raise Unmet(f"le fichier labs/{LAB}/{FIGLET_DOCKERFILE} n'existe pas.",
                    path=str(context / "Dockerfile"))
    proc = ctx.pyker("build", "-q", "-t", SCRATCH_TAG, str(context), timeout=300)
    try:
        if proc.returncode != 0:
            return failed(f"labs/{LAB}/{FIGLET_DOCKERFILE} ne se construit pas : "
                          f"{(proc.stdout + proc.stderr).strip()[-200:]}",
                          exit_code=proc.returncode)
        rebuilt = _config(ctx, SCRATCH_TAG)
    finally:
        ctx.pyker("rmi", "-f", SCRATCH_TAG)
    mine = {k: built.get(k) for k in ("Entrypoint", "Cmd")}
    again = {k: rebuilt.get(k) for k in ("Entrypoint", "Cmd")}
    evidence = {"image": mine, "rebuilt": again}
    if mine != again:
        return failed(f"labs/{LAB}/{FIGLET_DOCKERFILE}, reconstruit, ne donne pas les mêmes "
                      f"ENTRYPOINT et CMD que l'image {FIGLET_IMAGE} : reconstruisez-la après "
                      "avoir modifié le fichier.", **evidence)
    return passed(f"labs/{LAB}/{FIGLET_DOCKERFILE} redonne les mêmes ENTRYPOINT et CMD.",
                  **evidence)


# -- tweet-web --------------------------------------------------------------------------------

def _published(ctx: Context) -> Outcome:
    observe.container(ctx, WEB)
    proc = ctx.pyker("inspect", "-f", "{{json .NetworkSettings.Ports}}", WEB)
    ports = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}
    bindings = (ports or {}).get("80/tcp") or []
    evidence = {"Ports": ports}
    if not bindings:
        return failed(f"le port 80 de {WEB} n'est publié sur aucun port de l'hôte (-p).",
                      **evidence)
    if str(WEB_PORT) not in [b.get("HostPort") for b in bindings]:
        found = ", ".join(f"{b.get('HostIp')}:{b.get('HostPort')}" for b in bindings)
        return failed(f"le port 80 de {WEB} est publié sur {found}, pas sur le port "
                      f"{WEB_PORT}.", **evidence)
    return passed(f"le port 80 de {WEB} est publié sur le port {WEB_PORT} de l'hôte.",
                  **evidence)


def _web_mount(ctx: Context):
    """The ``n01-web`` record's mount on nginx's document root, or None."""
    from pyker.runtime.volumes import mounts_of

    record = ctx.engine.containers.resolve(WEB)
    return next((m for m in mounts_of(record.options) if m.target == WEB_ROOT), None)


def _bind_source(ctx: Context) -> Path:
    """The host directory bound on the document root, whichever it is.

    Raises:
        Unmet: no bind mount there.
    """
    observe.container(ctx, WEB)
    mount = _web_mount(ctx)
    if mount is None or mount.type != "bind":
        raise Unmet(f"pas de bind mount sur {WEB_ROOT} dans {WEB} (voir bind-mount).")
    return Path(mount.source)


def _bind_mount(ctx: Context) -> Outcome:
    observe.container(ctx, WEB)
    mount = _web_mount(ctx)
    expected = ctx.lab_dir / LAB / SITE_DIR
    if mount is None:
        return failed(f"le conteneur {WEB} n'a aucun montage sur {WEB_ROOT}.")
    evidence = {"type": mount.type, "source": mount.source, "expected": str(expected)}
    if mount.type != "bind":
        return failed(f"{WEB_ROOT} est un montage de type {mount.type}, pas un dossier de "
                      "l'hôte (bind).", **evidence)
    if Path(mount.source).resolve() != expected.resolve():
        return failed(f"le dossier monté sur {WEB_ROOT} est {mount.source}, pas "
                      f"labs/{LAB}/{SITE_DIR}.", **evidence)
    return passed(f"labs/{LAB}/{SITE_DIR} est monté sur {WEB_ROOT}.", **evidence)


def _url(path: str = "") -> str:
    return f"http://{LOOPBACK}:{WEB_PORT}/{path}"


def _http(ctx: Context) -> Outcome:
    source = _bind_source(ctx)
    expected = text(read_small(source / "index.html"))
    ok, body = http_get(ctx, _url())
    evidence = {"url": _url(), "body": body[-300:]}
    if not ok:
        return failed(f"{_url()} ne répond pas : {body[-160:]}", **evidence)
    if body.strip() != expected:
        return failed(f"{_url()} répond, mais pas avec {source}/index.html : "
                      f"{body.strip()[:120]}", **evidence)
    return passed(f"{_url()} sert {source}/index.html.", **evidence)


def _live_edit(ctx: Context) -> Outcome:
    source = _bind_source(ctx)
    name = f".grader-{secrets.token_hex(6)}.html"
    marker = f"grader {secrets.token_hex(8)}"
    path = source / name
    try:
        # A new name, never through a link: the directory is the student's.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        raise Unmet(f"impossible d'écrire dans {source} depuis l'hôte ({err.strerror}).",
                    path=str(path)) from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(marker + "\n")
        ok, body = http_get(ctx, _url(name))
    finally:
        path.unlink(missing_ok=True)
    evidence = {"file": str(path), "url": _url(name), "body": body[-200:]}
    if ok and body.strip() == marker:
        return passed(f"un fichier écrit dans {source} sur l'hôte est servi aussitôt.",
                      **evidence)
    return failed(f"un fichier écrit dans {source} sur l'hôte n'est pas servi par "
                  f"{_url(name)} ({body[-150:] or 'contenu différent'}).", **evidence)


def _dnat(ctx: Context) -> Outcome:
    live = observe.container(ctx, WEB)
    addresses = [ep.ip for _net, ep in ctx.engine.networks.endpoints_of(live.id)]
    rules = dnat_rules(ctx, WEB_PORT)
    targets = [m[1] for r in rules if (m := _DNAT_TO.search(r))]
    mine = [t for t in targets if t.rsplit(":", 1)[0] in addresses]
    evidence = {"rules": rules, "container_addresses": addresses}
    if not mine:
        return failed(f"aucune règle DNAT de la table nat ne mène le port {WEB_PORT} à {WEB} "
                      f"({', '.join(addresses) or 'sans adresse'}).", **evidence)
    return passed(f"la table nat redirige le port {WEB_PORT} vers {mine[0]}, l'adresse de "
                  f"{WEB}.", **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="figlet-image", title="Une image qui est une commande",
        statement=f"Complétez labs/{LAB}/{FIGLET_DOCKERFILE} et construisez l'image "
                  f"{FIGLET_IMAGE} : un ENTRYPOINT en forme exec qui lance figlet avec la police "
                  f"script ({' '.join(FONT)}), et une CMD qui donne le mot par défaut "
                  f"« {DEFAULT_WORD} ». pyker run {FIGLET_IMAGE} dessine « {DEFAULT_WORD} » ; "
                  f"pyker run {FIGLET_IMAGE} {OTHER_WORD} dessine « {OTHER_WORD} ».",
        points=6, student_files=(f"{LAB}/{FIGLET_DOCKERFILE}",),
        checks=(
            Check(id="entrypoint", run=_entrypoint,
                  description=f"ENTRYPOINT exec qui lance figlet {' '.join(FONT)}",
                  hint="Forme exec : un tableau JSON, ENTRYPOINT [\"figlet\", \"-f\", ...]. "
                       "La forme shell (ENTRYPOINT figlet ...) ignore CMD et les arguments."),
            Check(id="cmd", run=_cmd,
                  description=f"CMD [\"{DEFAULT_WORD}\"]",
                  hint="CMD, derrière un ENTRYPOINT, ne contient que les arguments par défaut."),
            Check(id="default-word", weight=2, run=_default_word,
                  description=f"sans argument, l'image dessine « {DEFAULT_WORD} » en script",
                  hint=f"Essayez pyker run --rm {FIGLET_IMAGE} : le dessin doit être celui de "
                       f"figlet {' '.join(FONT)} {DEFAULT_WORD}."),
            Check(id="argument", hidden=True, run=_argument,
                  description=f"pyker run {FIGLET_IMAGE} {OTHER_WORD} dessine « {OTHER_WORD} »"),
            Check(id="from-file", hidden=True, run=_from_file,
                  description=f"labs/{LAB}/{FIGLET_DOCKERFILE} redonne la même image"),
        ),
        hints=(f"pyker image inspect -f '{{{{json .Config}}}}' {FIGLET_IMAGE} montre "
               "Entrypoint et Cmd, ce que lit le correcteur.",
               "Reconstruisez l'image après chaque modification du Dockerfile."),
    ),
    Exercise(
        lab=LAB, id="tweet-web", title="Le site, servi depuis un dossier de l'hôte",
        statement=f"Lancez en arrière-plan un conteneur nommé {WEB}, de l'image nginx (ou de "
                  f"votre tweet-app), dont le port 80 est publié sur le port {WEB_PORT} de "
                  f"l'hôte, et qui sert le dossier labs/{LAB}/{SITE_DIR} monté (bind mount) sur "
                  f"{WEB_ROOT} : http://{LOOPBACK}:{WEB_PORT}/ doit afficher son index.html, et "
                  "une modification du dossier doit se voir sans relancer le conteneur.",
        points=6,
        checks=(
            running(WEB),
            Check(id="published", run=_published,
                  description=f"le port 80 est publié sur le port {WEB_PORT} de l'hôte",
                  hint=f"-p {WEB_PORT}:80 : le port de l'hôte d'abord, celui du conteneur "
                       "ensuite."),
            Check(id="bind-mount", run=_bind_mount,
                  description=f"labs/{LAB}/{SITE_DIR} est monté sur {WEB_ROOT}",
                  hint=f"--mount type=bind,source=CHEMIN,target={WEB_ROOT} (le chemin doit "
                       "être absolu)."),
            Check(id="http", weight=2, run=_http,
                  description=f"http://{LOOPBACK}:{WEB_PORT}/ sert l'index.html du dossier",
                  hint="nginx sert les fichiers du dossier monté ; pyker logs n01-web montre "
                       "ses requêtes."),
            Check(id="live-edit", hidden=True, run=_live_edit,
                  description="un fichier ajouté sur l'hôte est servi aussitôt"),
            Check(id="dnat", hidden=True, run=_dnat,
                  description=f"la table nat mène le port {WEB_PORT} au conteneur"),
        ),
        hints=(f"Vérifiez vous-même : pyker port {WEB} et pyker inspect -f "
               f"'{{{{json .Mounts}}}}' {WEB}.",
               f"Pour recommencer : pyker rm -f {WEB}."),
    ),
)
