"""Un nano-conteneur en Python : fork, namespaces, nom d'hôte, pivot_root dans une image pyker.

C'est la version Python du « nano-conteneur » cité dans le cours (containers-from-scratch, en
Go), telle que le notebook 02-namespaces la construit pas à pas, avec la couche noyau de pyker
(``pyker.kernel``) pour les appels système que Python n'a pas. À lancer en root :

    python labs/02-namespaces/conteneur.py run [--hostname NOM] [--image IMAGE] COMMANDE [ARG...]

Par exemple ``run sh`` donne un shell interactif dans le conteneur ; ``exit`` en sort. L'image
est montée en lecture seule, directement depuis le magasin de pyker : seules les images d'une
seule couche (busybox, debian:bookworm) s'y prêtent ; empiler plusieurs couches sous une couche
inscriptible, c'est le travail d'overlayfs (TP 06).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pyker.engine import Engine
from pyker.kernel.mount import MountFlag, UmountFlag, mount, pivot_root, umount2
from pyker.kernel.namespaces import CloneFlag, sethostname, unshare

NAMESPACES = (CloneFlag.CLONE_NEWNS | CloneFlag.CLONE_NEWUTS | CloneFlag.CLONE_NEWIPC
              | CloneFlag.CLONE_NEWNET | CloneFlag.CLONE_NEWPID)
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
       "TERM": os.environ.get("TERM", "xterm")}


def couche_unique(image: str) -> Path:
    """Le dossier de l'unique couche de ``image`` dans le magasin de pyker."""
    magasin = Engine().images
    couches = magasin.layers_of(magasin.resolve(image))
    if len(couches) != 1:
        raise SystemExit(f"{image} a {len(couches)} couches : il faudrait overlayfs (TP 06)")
    return couches[0].path


def pid1(couche: Path, racine: str, hostname: str, commande: list[str]) -> None:
    """Le PID 1 du conteneur : nom d'hôte, racine, /proc, puis la commande."""
    # Rien de ce qui suit ne doit se propager aux montages de l'hôte.
    mount(None, "/", None, MountFlag.MS_REC | MountFlag.MS_PRIVATE)
    sethostname(hostname)
    # L'image en lecture seule : le conteneur ne peut pas abîmer le magasin.
    mount(couche, racine, None, MountFlag.MS_BIND)
    mount(None, racine, None, MountFlag.MS_REMOUNT | MountFlag.MS_BIND | MountFlag.MS_RDONLY)
    # pivot_root(".", ".") empile l'ancienne racine sous la nouvelle ; on la détache aussitôt.
    os.chdir(racine)
    pivot_root(".", ".")
    umount2(".", UmountFlag.MNT_DETACH)
    os.chdir("/")
    mount("proc", "/proc", "proc")
    try:
        os.execvpe(commande[0], commande, ENV)
    except FileNotFoundError:
        print(f"conteneur.py : {commande[0]} : commande introuvable dans l'image", file=sys.stderr)
        os._exit(127)


def run(image: str, hostname: str, commande: list[str]) -> int:
    couche = couche_unique(image)
    racine = tempfile.mkdtemp(prefix="conteneur-")
    try:
        fils = os.fork()
        if fils == 0:
            try:
                unshare(NAMESPACES)
                # Le nouveau namespace PID s'applique aux enfants : on forke le PID 1.
                premier = os.fork()
                if premier == 0:
                    pid1(couche, racine, hostname, commande)
                os._exit(os.waitstatus_to_exitcode(os.waitpid(premier, 0)[1]))
            except OSError as err:
                print(f"conteneur.py : {err}", file=sys.stderr)
                os._exit(125)
        return os.waitstatus_to_exitcode(os.waitpid(fils, 0)[1])
    finally:
        os.rmdir(racine)  # vide : ses montages vivaient dans le namespace du conteneur


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conteneur.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("run", help="exécuter une commande dans un nano-conteneur")
    p.add_argument("--hostname", default="from-scratch")
    p.add_argument("--image", default="busybox")
    p.add_argument("commande", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not args.commande:
        parser.error("il manque la commande à exécuter")
    if os.geteuid() != 0:
        print("conteneur.py a besoin de root : lancez-le sur la VM du TP.", file=sys.stderr)
        return 1
    return run(args.image, args.hostname, args.commande)


if __name__ == "__main__":
    sys.exit(main())
