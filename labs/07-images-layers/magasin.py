"""Les lectures du TP 07 dans le magasin d'images de pyker, fichier par fichier.

Le magasin est un dossier (la « Docker Root Dir » de ``pyker info``) :

    image/index.json           les noms (tags) de chaque image, qui pointent vers un manifeste
    image/blobs/sha256/<hex>   chaque blob, nommé par le sha256 de ses octets : manifestes,
                               configurations, couches (des archives tar)
    layers/<hex>/diff          chaque couche décompressée, telle qu'overlay la monte

Rien ici ne demande à pyker ce qu'il sait déjà : on relit ses fichiers et on recalcule les
sha256 avec hashlib, pour vérifier que les identifiants qu'il affiche en découlent.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path


def racine() -> Path:
    """Le dossier du magasin, comme pyker le trouve ($PYKER_DATA_ROOT, sinon daemon.json)."""
    from pyker import config

    return config.load().data_root


def sha256(octets: bytes) -> str:
    return "sha256:" + hashlib.sha256(octets).hexdigest()


def blob(digest: str) -> bytes:
    """Les octets du blob ``sha256:…`` ; le nom du fichier est son empreinte."""
    return (racine() / "image" / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def nom_complet(nom: str) -> str:
    """``n07/layers1`` → ``docker.io/n07/layers1:latest``, la forme rangée dans index.json.

    Comme chez Docker : sans registre devant (un premier morceau sans « . » ni « : »), c'est
    docker.io ; sans dépôt, c'est library/ ; sans tag, c'est latest."""
    premier, _, reste = nom.partition("/")
    if not reste or ("." not in premier and ":" not in premier and premier != "localhost"):
        nom = "docker.io/" + (nom if reste else "library/" + nom)
    if ":" not in nom.rsplit("/", 1)[1]:
        nom += ":latest"
    return nom


def manifeste(nom: str) -> tuple[str, dict]:
    """(empreinte, contenu) du manifeste que le nom ``nom`` désigne dans index.json."""
    index = json.loads((racine() / "image" / "index.json").read_bytes())
    cherche = nom_complet(nom)
    for entree in index["manifests"]:
        if entree.get("annotations", {}).get("io.containerd.image.name") == cherche:
            return entree["digest"], json.loads(blob(entree["digest"]))
    raise LookupError(f"aucune entrée {cherche} dans index.json")


def chaine(diff_ids: list[str]) -> list[str]:
    """Les *chain IDs* : la première couche garde son diffID, chaque suivante
    sha256(« chaîne du dessous » + espace + son diffID). Deux images ont la même chaîne
    jusqu'à une couche si, et seulement si, elles ont les mêmes couches jusque-là."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else sha256(f"{out[-1]} {diff_id}".encode()))
    return out


def nature(chemin: Path) -> str:
    """Ce qu'est une entrée d'un dossier de couche, en quelques mots."""
    st = chemin.lstat()
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
        return "whiteout (périphérique caractère 0:0)"
    if stat.S_ISDIR(st.st_mode):
        return "répertoire"
    if stat.S_ISLNK(st.st_mode):
        return f"lien vers {os.readlink(chemin)}"
    return f"fichier de {st.st_size} octets"


def contenu(dossier: Path) -> list[tuple[str, str]]:
    """Les entrées d'un dossier de couche, triées : (chemin depuis la racine, nature)."""
    out = []
    for parent, dossiers, fichiers in os.walk(dossier):
        for nom in dossiers + fichiers:
            chemin = Path(parent, nom)
            out.append(("/" + str(chemin.relative_to(dossier)), nature(chemin)))
    return sorted(out)
