"""TP 08, Dockerfile, second exercise: no secret in the image ``n08-site``.

``no-secrets`` lists the files of the image (``find`` in a container of it), then walks every
layer directory of the image store, because a secret removed by a later ``RUN rm`` still
sits, whole, in the layer that COPY made. The student writes only the .dockerignore.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.context import Context
from grader.exercises.dockerfile import LAB, inspect_image
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

SITE_IMAGE = "n08-site"
SITE_DIR = "site"
SITE_IGNORE = f"{SITE_DIR}/.dockerignore"
SITE_ROOT = "/site"
SECRETS = (".env", "secrets/cle-privee.pem", "secrets/jeton-api.txt")
PUBLIC_KEY = "secrets/cle.pub"
SITE_FILES = ("index.html", "style.css", "pages/a-propos.html", "images/logo.svg")
BUILD_SITE = f"pyker build -t {SITE_IMAGE} labs/{LAB}/{SITE_DIR}"


# -- no-secrets -------------------------------------------------------------------------------

def _site_files(ctx: Context) -> set[str]:
    """Every path under /site in the image, relative (``secrets/cle.pub``).

    Raises:
        Unmet: no image, or find could not run in it.
    """
    inspect_image(ctx, SITE_IMAGE, BUILD_SITE)
    proc = ctx.pyker("run", "--rm", "--network", "none", "--entrypoint", "find", SITE_IMAGE,
                     SITE_ROOT)
    if proc.returncode != 0:
        raise Unmet(f"find {SITE_ROOT} n'a pas pu lister l'image {SITE_IMAGE} : "
                    f"{(proc.stdout + proc.stderr).strip()[-200:]}")
    prefix = SITE_ROOT + "/"
    return {line[len(prefix):] for line in proc.stdout.splitlines() if line.startswith(prefix)}


def _site_present(ctx: Context) -> Outcome:
    files = _site_files(ctx)
    if "index.html" not in files:
        return failed(f"l'image {SITE_IMAGE} n'a pas de {SITE_ROOT}/index.html : le site n'y "
                      "est pas.", files=sorted(files))
    return passed(f"l'image {SITE_IMAGE} contient le site ({len(files)} chemins sous "
                  f"{SITE_ROOT}).", files=sorted(files))


def _absent(ctx: Context, names: tuple[str, ...], what: str) -> Outcome:
    files = _site_files(ctx)
    found = [n for n in names if n in files]
    if found:
        return failed(f"{what} dans l'image : {', '.join(SITE_ROOT + '/' + n for n in found)}.",
                      found=found)
    return passed(f"aucun de ces fichiers dans l'image : {', '.join(names)}.")


def _no_env(ctx: Context) -> Outcome:
    return _absent(ctx, (".env",), "le fichier d'environnement est")


def _no_private(ctx: Context) -> Outcome:
    return _absent(ctx, SECRETS[1:], "des secrets sont")


def _public_key_kept(ctx: Context) -> Outcome:
    files = _site_files(ctx)
    if PUBLIC_KEY not in files:
        return failed(f"{SITE_ROOT}/{PUBLIC_KEY} manque : la clé publique doit rester (le site "
                      "la sert).", files=sorted(files))
    return passed(f"{SITE_ROOT}/{PUBLIC_KEY} est dans l'image.")


def _no_logs(ctx: Context) -> Outcome:
    logs = sorted(f for f in _site_files(ctx) if f.endswith(".log"))
    if logs:
        return failed(f"des journaux sont dans l'image : "
                      f"{', '.join(SITE_ROOT + '/' + f for f in logs)}.", found=logs)
    return passed("aucun fichier .log dans l'image.")


def _site_complete(ctx: Context) -> Outcome:
    files = _site_files(ctx)
    missing = [f for f in SITE_FILES if f not in files]
    if missing:
        return failed(f"des fichiers du site manquent : "
                      f"{', '.join(SITE_ROOT + '/' + f for f in missing)} (la règle est trop "
                      "large).", missing=missing)
    return passed("toutes les pages, la feuille de style et le logo sont là.")


def _regular_files_named(root: Path, names: set[str]) -> list[str]:
    """Paths under ``root`` of regular files whose name is in ``names`` (a whiteout, the
    0:0 character device a deletion leaves, is not the file)."""
    found = []
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = Path(directory, name)
            if name in names and stat.S_ISREG(path.lstat().st_mode):
                found.append(str(path.relative_to(root)))
    return found


def _not_in_layers(ctx: Context) -> Outcome:
    from pyker.errors import ImageNotFound

    try:
        image = ctx.engine.images.resolve(SITE_IMAGE)
    except ImageNotFound:
        raise Unmet(f"l'image {SITE_IMAGE} n'existe pas : construisez-la avec "
                    f"« {BUILD_SITE} ».") from None
    names = {Path(s).name for s in SECRETS}
    layers = ctx.engine.images.layers_of(image)
    hits = {f"couche {i + 1}/{len(layers)}": found for i, layer in enumerate(layers)
            if (found := _regular_files_named(layer.path, names))}
    if hits:
        where = "; ".join(f"{k} : {', '.join(v)}" for k, v in hits.items())
        return failed(f"un secret reste dans une couche de l'image ({where}) : un RUN rm "
                      "plus loin le cache sans l'effacer.", layers=hits)
    return passed(f"aucune des {len(layers)} couches ne contient de secret.")


EXERCISES = (
    Exercise(
        lab=LAB, id="no-secrets", title="Pas de secrets dans l'image",
        statement=f"Écrivez labs/{LAB}/{SITE_IGNORE} pour que l'image {SITE_IMAGE}, construite "
                  f"avec le Dockerfile fourni ({BUILD_SITE}), ne contienne ni .env, ni les "
                  f"secrets de secrets/ (sauf la clé publique {PUBLIC_KEY}), ni aucun journal "
                  "*.log, et garde tout le reste du site.",
        points=6, student_files=(f"{LAB}/{SITE_IGNORE}",),
        checks=(
            Check(id="image", run=_site_present,
                  description=f"l'image {SITE_IMAGE} existe et contient le site",
                  hint=f"Construisez depuis le dossier du site : {BUILD_SITE}"),
            Check(id="no-env", run=_no_env,
                  description=".env n'est pas dans l'image",
                  hint="Une ligne par motif ; un nom commençant par un point se cite tel quel."),
            Check(id="no-secrets", run=_no_private,
                  description="ni la clé privée ni le jeton de secrets/",
                  hint="Un dossier entier s'exclut par son nom (secrets ou secrets/)."),
            Check(id="public-key-kept", run=_public_key_kept,
                  description=f"{PUBLIC_KEY} est gardée",
                  hint="Une ligne !motif fait une exception ; elle doit venir après la règle "
                       "qu'elle défait."),
            Check(id="no-logs", hidden=True, run=_no_logs,
                  description="aucun fichier *.log, à aucun niveau"),
            Check(id="site-complete", hidden=True, run=_site_complete,
                  description="les pages, le style et le logo sont là"),
            Check(id="not-in-layers", hidden=True, run=_not_in_layers,
                  description="aucune couche de l'image ne contient de secret"),
        ),
        hints=("*.log ne vise que la racine du contexte : **/*.log vise tous les niveaux.",
               f"pyker run --rm --entrypoint find {SITE_IMAGE} {SITE_ROOT} liste ce que COPY . "
               "a mis dans l'image."),
    ),
)
