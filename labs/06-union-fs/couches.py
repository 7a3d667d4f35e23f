"""Les petites lectures du TP 06 : où sont les couches d'un conteneur, ce que contient un
dossier upper, la place qu'occupe un dossier sur le disque.

Rien n'est calculé ici qui ne vienne du noyau ou du moteur : ``/proc/<pid>/mountinfo`` (le
montage overlay de la racine d'un conteneur), l'enregistrement de pyker (son dossier upper),
``lstat`` et les attributs étendus ``trusted.overlay.*`` (ce qu'overlay a écrit dans upper),
et ``du`` pour la place occupée.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

OVERLAY_XATTR = "trusted.overlay."


def montage(mountinfo: str, point: str = "/") -> tuple[str, list[str]]:
    """(type de système de fichiers, options) du premier montage sur ``point``.

    Une ligne de mountinfo : ``ID PARENT MAJ:MIN RACINE POINT OPTIONS … - TYPE SOURCE
    OPTIONS-DU-SUPERBLOC`` ; les options d'overlay (lowerdir, upperdir, workdir) sont les
    dernières.
    """
    for ligne in mountinfo.splitlines():
        avant, _, apres = ligne.partition(" - ")
        if avant.split()[4] == point:
            type_fs, _source, options = apres.split(" ", 2)
            return type_fs, options.split(",")
    raise LookupError(f"aucun montage sur {point}")


def options_overlay(options: list[str]) -> dict[str, list[str]]:
    """``{"lowerdir": [...], "upperdir": [...], "workdir": [...]}`` : chaque couche basse
    une fois, la plus haute d'abord (``lowerdir=a:b`` comme ``lowerdir+=a,lowerdir+=b``)."""
    vu: dict[str, list[str]] = {"lowerdir": [], "upperdir": [], "workdir": []}
    for option in options:
        cle, _, valeur = option.partition("=")
        if cle in ("lowerdir", "lowerdir+"):
            vu["lowerdir"] += valeur.split(":")
        elif cle in vu:
            vu[cle].append(valeur)
    return vu


def pid_de(nom: str) -> int:
    """Le PID, sur l'hôte, du processus principal du conteneur ``nom``."""
    from pyker.engine import Engine

    return Engine().containers.resolve(nom).state.pid


def upper_de(nom: str) -> Path:
    """Le dossier upper du conteneur ``nom``, d'après l'enregistrement de pyker."""
    from pyker.engine import Engine
    from pyker.runtime.container import Paths

    engine = Engine()
    return Paths(root=engine.containers.dir(engine.containers.resolve(nom).id)).upper


def du(chemin: Path | str) -> str:
    """La place occupée sur le disque, comme ``du -sh`` l'écrit (``65M``, ``16K``)."""
    sortie = subprocess.run(["du", "-sh", str(chemin)], capture_output=True, text=True,
                            check=True).stdout
    return sortie.split()[0]


def attributs_overlay(chemin: Path) -> dict[str, bytes]:
    """Les attributs étendus ``trusted.overlay.*`` qu'overlay a posés sur ``chemin``."""
    return {nom: os.getxattr(chemin, nom, follow_symlinks=False)
            for nom in os.listxattr(chemin, follow_symlinks=False)
            if nom.startswith(OVERLAY_XATTR)}


def nature(chemin: Path) -> str:
    """Ce qu'est une entrée d'un dossier upper, en une expression."""
    st = chemin.lstat()
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return "whiteout (périphérique caractère 0:0)"
    if stat.S_ISDIR(st.st_mode):
        opaque = attributs_overlay(chemin).get(OVERLAY_XATTR + "opaque") == b"y"
        return "répertoire opaque" if opaque else "répertoire"
    if stat.S_ISREG(st.st_mode):
        return f"fichier de {st.st_size} octets"
    return "autre"


def contenu_upper(upper: Path) -> list[tuple[str, str]]:
    """(chemin dans le conteneur, nature) de chaque entrée du dossier upper, triés."""
    return sorted(("/" + str(p.relative_to(upper)), nature(p)) for p in upper.rglob("*"))
