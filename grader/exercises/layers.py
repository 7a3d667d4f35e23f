"""TP 07, images and layers: the student's images judged from the image store itself.

``shared-layers`` reads two images' configs (``rootfs.diff_ids``) and counts the layers they
share as Docker does, by chain ID (a layer is shared only with everything below it), then
reads ``/app/version.txt`` in the layer directories on disk (``layers/<hex>/diff``, walked top
down with overlay's whiteout and opaque rules) and, hidden, through a real container of each.

``commit`` reads the config of an image made by ``pyker commit`` (Cmd, Labels, the history
entry's comment, which a Dockerfile cannot set) and the one layer the commit added: the
file written in the container and the whiteout its deletion left.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from grader.context import Context
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "07-images-layers"
BASE_IMAGE = "busybox"

BASE, APP = "n07-base", "n07-app"
SHARED = 3
VERSION_FILE = "app/version.txt"
VERSIONS = {BASE: "1", APP: "2"}
PARTAGE = f"labs/{LAB}/partage"

COMMIT_IMAGE = "n07-commit:1.0"
SOURCE = "n07-source"
MESSAGE_FILE = "srv/message.txt"
MESSAGE = "figé par pyker commit"
DELETED = "home"
COMMIT_CMD = ["cat", "/srv/message.txt"]
LABEL = ("tp", "07")
COMMENT = "TP 07"


# -- reading the store ------------------------------------------------------------------------

def _image(ctx: Context, name: str, how: str):
    """The image ``name`` of the store under grading.

    Raises:
        Unmet: no such image (``how`` tells the student how to make it).
    """
    from pyker.errors import ImageNotFound

    try:
        return ctx.engine.images.resolve(name)
    except ImageNotFound:
        raise Unmet(f"l'image {name} n'existe pas : {how}", image=name) from None


def _busybox_layers(ctx: Context) -> tuple[str, ...]:
    return _image(ctx, BASE_IMAGE, "le magasin n'a pas busybox (make lab la construit)."
                  ).config.diff_ids


def _chain(diff_ids: tuple[str, ...]) -> list[str]:
    from pyker.spec.digest import chain_ids

    return chain_ids(diff_ids)


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """How many layers two stacks share from the bottom: equal chain IDs."""
    n = 0
    for x, y in zip(_chain(a), _chain(b)):
        if x != y:
            break
        n += 1
    return n


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def find_in_layers(dirs: list[Path], relpath: str) -> tuple[int, str | None]:
    """The file ``relpath`` as overlay would show it over ``dirs`` (bottom first): the
    index of the layer that decides, and the file's text, or None when that layer deletes
    or hides it (a whiteout of it or of a parent, an opaque parent, a non-directory parent).
    (-1, None) when no layer has it."""
    parts = relpath.strip("/").split("/")
    for index in range(len(dirs) - 1, -1, -1):
        hidden_below = False
        for depth in range(1, len(parts) + 1):
            path = dirs[index].joinpath(*parts[:depth])
            try:
                st = path.lstat()
            except FileNotFoundError:
                if hidden_below:         # an opaque parent here hides the lower layers
                    return index, None
                break
            if _is_whiteout(st):
                return index, None
            if depth == len(parts):
                if not stat.S_ISREG(st.st_mode):
                    return index, None
                return index, path.read_text(errors="replace")
            if not stat.S_ISDIR(st.st_mode):
                return index, None
            hidden_below = hidden_below or _is_opaque(path)
    return -1, None


def _layer_dirs(ctx: Context, image) -> list[Path]:
    return [layer.path for layer in ctx.engine.images.layers_of(image)]


# -- shared-layers ----------------------------------------------------------------------------

def _build_hint(name: str) -> str:
    return (f"construisez-la avec pyker build -t {name} -f {PARTAGE}/Dockerfile."
            f"{name.removeprefix('n07-')} {PARTAGE}")


def _pair(ctx: Context):
    return _image(ctx, BASE, _build_hint(BASE)), _image(ctx, APP, _build_hint(APP))


def _layers(image) -> str:
    n = len(image.config.diff_ids)
    return f"{n} couche{'s' if n > 1 else ''}"


def _images(ctx: Context) -> Outcome:
    base, app = _pair(ctx)
    bottom = _busybox_layers(ctx)[:1]
    evidence = {BASE: base.id, APP: app.id}
    for name, image in ((BASE, base), (APP, app)):
        if image.config.diff_ids[:1] != bottom:
            return failed(f"{name} n'est pas construite sur busybox : sa première couche "
                          f"n'est pas celle de busybox.", **evidence)
    return passed(f"{BASE} ({_layers(base)}) et {APP} ({_layers(app)}) existent, sur "
                  "busybox.", **evidence)


def _shared(ctx: Context) -> Outcome:
    base, app = _pair(ctx)
    n = _common(base.config.diff_ids, app.config.diff_ids)
    evidence = {"shared": n, BASE: list(base.config.diff_ids), APP: list(app.config.diff_ids)}
    if n == SHARED:
        return passed(f"{BASE} et {APP} partagent exactement {SHARED} couches (même chain ID "
                      f"jusqu'à la 3e).", **evidence)
    more = (" : l'une est construite sur l'autre (FROM), elles n'ont plus de couche propre "
            "au-dessus des couches communes" if n > SHARED and
            n == min(len(base.config.diff_ids), len(app.config.diff_ids)) else "")
    return failed(f"{BASE} et {APP} partagent {n} couche{'s' if n > 1 else ''}, pas "
                  f"{SHARED}{more}.", **evidence)


def _version(ctx: Context, name: str) -> Outcome:
    base, app = _pair(ctx)
    image = base if name == BASE else app
    n = _common(base.config.diff_ids, app.config.diff_ids)
    dirs = _layer_dirs(ctx, image)
    index, text = find_in_layers(dirs, VERSION_FILE)
    want = VERSIONS[name]
    evidence = {"image": name, "layer": index + 1, "layers": len(dirs), "content": text}
    if text is None:
        return failed(f"/{VERSION_FILE} n'existe pas dans {name} (lu dans ses couches).",
                      **evidence)
    if text.strip() != want:
        return failed(f"/{VERSION_FILE} de {name} contient « {text.strip()[:40]} », pas "
                      f"« {want} ».", **evidence)
    if index < n:
        return failed(f"le /{VERSION_FILE} que montre {name} est dans la couche {index + 1}, "
                      f"commune aux deux images : il doit venir d'une couche propre à {name}.",
                      **evidence)
    return passed(f"/{VERSION_FILE} vaut « {want} » dans {name}, écrit par sa couche "
                  f"{index + 1}/{len(dirs)}, qui n'est qu'à elle.", **evidence)


def _union_view(ctx: Context) -> Outcome:
    _pair(ctx)
    seen = {}
    for name, want in VERSIONS.items():
        proc = ctx.pyker("run", "--rm", "--network", "none", "--entrypoint", "cat", name,
                         f"/{VERSION_FILE}")
        seen[name] = (proc.returncode, (proc.stdout + proc.stderr).strip()[-200:])
        if proc.returncode != 0 or proc.stdout.strip() != want:
            return failed(f"dans un conteneur de {name}, cat /{VERSION_FILE} donne "
                          f"« {seen[name][1]} » (code {proc.returncode}), pas « {want} ».",
                          seen=seen)
    return passed("un conteneur de chaque image lit la bonne version à travers overlay.",
                  seen=seen)


# -- commit -----------------------------------------------------------------------------------

COMMIT_HOW = (f"faites pyker commit du conteneur {SOURCE} sous le nom {COMMIT_IMAGE}.")


def _committed(ctx: Context):
    """(image, its layer dirs, busybox's layer count).

    Raises:
        Unmet: no image, or nothing above busybox's layers.
    """
    image = _image(ctx, COMMIT_IMAGE, COMMIT_HOW)
    below = _busybox_layers(ctx)
    dirs = _layer_dirs(ctx, image)
    if len(dirs) <= len(below) or image.config.diff_ids[:len(below)] != below:
        raise Unmet(f"{COMMIT_IMAGE} n'a pas de couche à elle au-dessus de busybox (voir "
                    "image).", layers=len(dirs))
    return image, dirs, len(below)


def _commit_image(ctx: Context) -> Outcome:
    image = _image(ctx, COMMIT_IMAGE, COMMIT_HOW)
    below = _busybox_layers(ctx)
    ids = image.config.diff_ids
    evidence = {"layers": list(ids), "busybox": list(below)}
    if ids[:len(below)] != below:
        return failed(f"{COMMIT_IMAGE} n'est pas faite à partir de busybox : ses premières "
                      "couches ne sont pas celles de busybox.", **evidence)
    extra = len(ids) - len(below)
    if extra != 1:
        return failed(f"{COMMIT_IMAGE} a {extra} couche{'s' if extra > 1 else ''} au-dessus "
                      "de busybox ; un commit d'un conteneur de busybox en ajoute une.",
                      **evidence)
    return passed(f"{COMMIT_IMAGE} = les couches de busybox + 1 couche, celle du commit.",
                  **evidence)


def _commit_config(ctx: Context) -> Outcome:
    image = _image(ctx, COMMIT_IMAGE, COMMIT_HOW)
    cfg = image.config.config
    cmd = list(cfg.cmd or [])
    labels = dict(cfg.labels)
    evidence = {"Cmd": cmd, "Labels": labels, "Entrypoint": list(cfg.entrypoint or [])}
    if cmd != COMMIT_CMD:
        return failed(f"Cmd vaut {json.dumps(cmd)}, pas {json.dumps(COMMIT_CMD)}.", **evidence)
    if labels.get(LABEL[0]) != LABEL[1]:
        return failed(f"l'image n'a pas le label {LABEL[0]}={LABEL[1]} (Labels : "
                      f"{json.dumps(labels)}).", **evidence)
    if cfg.entrypoint:
        return failed(f"l'image a un Entrypoint ({json.dumps(list(cfg.entrypoint))}) : Cmd "
                      "n'en serait que les arguments.", **evidence)
    return passed(f"Cmd {json.dumps(cmd)} et label {LABEL[0]}={LABEL[1]}.", **evidence)


def _commit_file(ctx: Context) -> Outcome:
    _image_, dirs, _below = _committed(ctx)
    top = dirs[-1]
    path = top / MESSAGE_FILE
    evidence = {"layer": str(top)}
    try:
        st = path.lstat()
    except FileNotFoundError:
        return failed(f"la couche du commit ne contient pas /{MESSAGE_FILE}.", **evidence)
    if not stat.S_ISREG(st.st_mode):
        return failed(f"/{MESSAGE_FILE} n'est pas un fichier ordinaire dans la couche du "
                      "commit.", **evidence)
    text = path.read_text(errors="replace").strip()
    evidence["content"] = text
    if text != MESSAGE:
        return failed(f"/{MESSAGE_FILE} contient « {text[:60]} », pas « {MESSAGE} ».",
                      **evidence)
    return passed(f"la couche du commit contient /{MESSAGE_FILE} : « {MESSAGE} ».", **evidence)


def _commit_whiteout(ctx: Context) -> Outcome:
    _image_, dirs, _below = _committed(ctx)
    path = dirs[-1] / DELETED
    try:
        st = path.lstat()
    except FileNotFoundError:
        return failed(f"la couche du commit ne supprime pas /{DELETED} : aucun whiteout à "
                      "sa place.", layer=str(dirs[-1]))
    if not _is_whiteout(st):
        return failed(f"/{DELETED} est encore là dans la couche du commit (pas un whiteout).",
                      layer=str(dirs[-1]))
    return passed(f"la couche du commit porte un whiteout (caractère 0:0) pour /{DELETED}.",
                  layer=str(dirs[-1]))


def _commit_message(ctx: Context) -> Outcome:
    image, _dirs, _below = _committed(ctx)
    made = [h for h in image.config.history if not h.empty_layer]
    last = made[-1] if made else None
    evidence = {"comment": last.comment if last else "", "created_by": last.created_by
                if last else ""}
    if last is None or last.comment != COMMENT:
        return failed(f"l'historique de la dernière couche n'a pas le commentaire "
                      f"« {COMMENT} » (pyker commit -m).", **evidence)
    return passed(f"la dernière couche porte le message de commit « {COMMENT} ».", **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="shared-layers", title="Deux images qui partagent trois couches",
        statement=f"Construisez depuis busybox deux images, {BASE} et {APP}, qui ont exactement "
                  f"{SHARED} couches en commun (celle de busybox comprise). Au-dessus, chacune "
                  f"a sa propre couche qui écrit /{VERSION_FILE} : « 1 » dans {BASE}, « 2 » "
                  f"dans {APP}.",
        points=6, student_files=(f"{LAB}/partage/Dockerfile.base", f"{LAB}/partage/Dockerfile.app"),
        checks=(
            Check(id="images", run=_images,
                  description=f"{BASE} et {APP} existent, construites sur busybox",
                  hint=f"pyker images montre les images ; la cellule de l'exercice construit "
                       f"les deux Dockerfiles de {PARTAGE}."),
            Check(id="shared", weight=2, run=_shared,
                  description=f"exactement {SHARED} couches communes",
                  hint="Le cache réutilise une couche si l'instruction ET toutes les couches "
                       "du dessous sont les mêmes : les deux Dockerfiles doivent commencer par "
                       "les mêmes lignes, puis diverger."),
            Check(id="app-version", run=lambda ctx: _version(ctx, APP),
                  description=f"/{VERSION_FILE} vaut 2 dans {APP}, dans une couche à elle",
                  hint="La dernière instruction de chaque Dockerfile peut écrire le fichier : "
                       "RUN echo 2 > /app/version.txt."),
            Check(id="base-version", hidden=True, run=lambda ctx: _version(ctx, BASE),
                  description=f"/{VERSION_FILE} vaut 1 dans {BASE}, dans une couche à elle"),
            Check(id="union-view", hidden=True, run=_union_view,
                  description="un conteneur de chaque image lit sa version"),
        ),
        hints=("pyker history des deux images : les lignes communes ont le même IMAGE.",
               "FROM n07-base partagerait toutes les couches de n07-base, pas trois."),
    ),
    Exercise(
        lab=LAB, id="commit", title="Une image faite par commit",
        statement=f"Lancez un conteneur {SOURCE} de busybox. Dedans, écrivez « {MESSAGE} » dans "
                  f"/{MESSAGE_FILE} et supprimez le répertoire /{DELETED}. Puis faites-en "
                  f"l'image {COMMIT_IMAGE} avec pyker commit : message « {COMMENT} », CMD "
                  f"{json.dumps(COMMIT_CMD)} et label {LABEL[0]}={LABEL[1]}.",
        points=6,
        checks=(
            Check(id="image", run=_commit_image,
                  description=f"{COMMIT_IMAGE} = busybox + une couche",
                  hint="Un commit ajoute une seule couche, le dossier upper du conteneur : "
                       "partez d'un conteneur de busybox."),
            Check(id="config", run=_commit_config,
                  description=f"Cmd {json.dumps(COMMIT_CMD)} et label {LABEL[0]}={LABEL[1]}",
                  hint="pyker commit -c 'CMD [\"cat\", \"/srv/message.txt\"]' -c 'LABEL tp=07' "
                       "applique des instructions de Dockerfile à l'image créée."),
            Check(id="layer-file", weight=2, run=_commit_file,
                  description=f"la couche du commit contient /{MESSAGE_FILE}",
                  hint=f"pyker diff {SOURCE} doit montrer A /{MESSAGE_FILE} avant le commit."),
            Check(id="whiteout", hidden=True, run=_commit_whiteout,
                  description=f"la couche du commit supprime /{DELETED}"),
            Check(id="commit-message", hidden=True, run=_commit_message,
                  description=f"le message du commit est « {COMMENT} »"),
        ),
        hints=(f"pyker diff {SOURCE} avant le commit : A /srv, A /{MESSAGE_FILE}, D /{DELETED}.",
               f"pyker history {COMMIT_IMAGE} montre la couche du commit et son message."),
    ),
)
