"""TP 10, volumes: data that outlives containers, judged where it really is.

``named-volume`` reads the volume store (``<data-root>/volumes/n10-data/_data``) and the
container records that still use the volume, then mounts it in a fresh probe container.
``readonly-site`` lives in :mod:`grader.exercises.bindmounts`. ``backup`` opens
``labs/10-volumes/backup.tar`` with :mod:`tarfile` (nothing is extracted on the host),
compares it with the volume, and restores it in a probe container into a throwaway volume.
"""

from __future__ import annotations

import os
import secrets
import tarfile
from pathlib import Path

from grader.context import Context
from grader.exercises.bindmounts import READ_LIMIT, READONLY_SITE, read_small, text
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "10-volumes"
VOLUME = "n10-data"
MESSAGE = "message.txt"
TEXT = "les données restent"
BACKUP = "backup.tar"


# -- reading the store ------------------------------------------------------------------------

def _volume(ctx: Context, name: str):
    from pyker.errors import VolumeNotFound
    from pyker.runtime.volumes import store_of

    store = store_of(ctx.engine.containers_dir)
    try:
        return store, store.get(name)
    except VolumeNotFound:
        raise Unmet(f"aucun volume nommé « {name} » : pyker volume ls les montre ; "
                    f"-v {name}:/CHEMIN le crée au premier montage.", volume=name) from None


def _users(ctx: Context, name: str) -> list[str]:
    """Names of the containers, running or not, whose record mounts volume ``name``."""
    from pyker.errors import ContainerNotFound
    from pyker.runtime.volumes import users

    names = []
    for cid in users(ctx.engine.containers_dir)(name):
        try:
            names.append(ctx.engine.containers.resolve(cid).name)
        except ContainerNotFound:  # removed between the two reads: no longer a user
            continue
    return names


# -- named-volume -----------------------------------------------------------------------------

def _volume_exists(ctx: Context) -> Outcome:
    store, volume = _volume(ctx, VOLUME)
    if volume.anonymous:
        return failed(f"« {VOLUME} » est marqué anonyme : créez un volume nommé.",
                      volume=VOLUME, labels=dict(volume.labels))
    return passed(f"le volume « {VOLUME} » existe ; ses données sont dans "
                  f"{store.data_dir(VOLUME)}.", volume=VOLUME, mountpoint=volume.mountpoint)


def _file_content(ctx: Context) -> Outcome:
    store, _ = _volume(ctx, VOLUME)
    path = store.data_dir(VOLUME) / MESSAGE
    content = text(read_small(path))
    evidence = {"path": str(path), "content": content[:200]}
    if content == TEXT:
        return passed(f"{MESSAGE} contient « {TEXT} ».", **evidence)
    return failed(f"{MESSAGE} contient « {content[:80]} » au lieu de « {TEXT} ».", **evidence)


def _writer_gone(ctx: Context) -> Outcome:
    _volume(ctx, VOLUME)
    names = _users(ctx, VOLUME)
    if names:
        return failed(f"des conteneurs utilisent encore « {VOLUME} » : {', '.join(names)} ; "
                      "le conteneur qui a écrit doit avoir été supprimé (ou lancé avec --rm).",
                      users=names)
    return passed(f"aucun conteneur, même arrêté, n'utilise plus « {VOLUME} ».", users=[])


def _seen_by_new_container(ctx: Context) -> Outcome:
    _volume(ctx, VOLUME)
    proc = ctx.pyker("run", "--rm", "--network", "none", "-v", f"{VOLUME}:/grader:ro",
                     ctx.probe_image, "cat", f"/grader/{MESSAGE}")
    evidence = {"exit_code": proc.returncode, "output": (proc.stdout + proc.stderr)[-300:]}
    if proc.returncode == 0 and proc.stdout.strip() == TEXT:
        return passed(f"un nouveau conteneur qui monte « {VOLUME} » lit « {TEXT} ».",
                      **evidence)
    return failed(f"un nouveau conteneur qui monte « {VOLUME} » ne lit pas « {TEXT} » "
                  f"(code {proc.returncode}).", **evidence)


# -- backup -----------------------------------------------------------------------------------

def backup_path(ctx: Context) -> Path:
    return ctx.lab_dir / LAB / BACKUP


def _member_name(name: str) -> str:
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name.rstrip("/")


def _archive(ctx: Context) -> dict[str, bytes | None]:
    """The archive's members: normalised name → content (None for what is not a file)."""
    path = backup_path(ctx)
    if not path.is_file():
        raise Unmet(f"pas d'archive {path} : créez-la avec tar dans un conteneur qui monte "
                    f"le volume et le dossier labs/{LAB}.", path=str(path))
    members: dict[str, bytes | None] = {}
    try:
        with tarfile.open(path) as tar:
            for info in tar:
                data = None
                if info.isfile():
                    f = tar.extractfile(info)
                    data = f.read(READ_LIMIT) if f is not None else b""
                members[_member_name(info.name)] = data
    except (tarfile.TarError, OSError, EOFError) as err:
        raise Unmet(f"{path} n'est pas une archive tar lisible : {err}", path=str(path)) from None
    return members


def _tar_valid(ctx: Context) -> Outcome:
    members = _archive(ctx)
    if not members:
        return failed(f"l'archive {backup_path(ctx)} est vide.", members=[])
    return passed(f"{backup_path(ctx)} est une archive tar de {len(members)} entrée(s).",
                  members=sorted(members)[:30])


def _has_message(ctx: Context) -> Outcome:
    members = _archive(ctx)
    wanted = f"data/{MESSAGE}"
    evidence = {"members": sorted(members)[:30]}
    if wanted not in members:
        return failed(f"l'archive n'a pas d'entrée {wanted} (les entrées sont nommées "
                      "d'après le chemin dans le conteneur : le volume doit être sur /data).",
                      **evidence)
    content = text(members[wanted] or b"")
    if content != TEXT:
        return failed(f"{wanted} contient « {content[:80]} » au lieu de « {TEXT} ».",
                      **evidence)
    return passed(f"l'archive contient {wanted} : « {TEXT} ».", **evidence)


def _complete(ctx: Context) -> Outcome:
    store, _ = _volume(ctx, VOLUME)
    members = _archive(ctx)
    data = store.data_dir(VOLUME)
    compared, missing, different = [], [], []
    for top, dirs, files in os.walk(data):  # os.walk does not follow links to directories
        for name in files:
            path = Path(top) / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = f"data/{path.relative_to(data).as_posix()}"
            compared.append(rel)
            if rel not in members:
                missing.append(rel)
            elif members[rel] != read_small(path):
                different.append(rel)
    evidence = {"compared": compared[:30], "missing": missing[:30], "different": different}
    if not compared:
        return failed(f"le volume « {VOLUME} » n'a aucun fichier à comparer.", **evidence)
    if missing or different:
        return failed(f"l'archive ne reflète pas le volume : manquants {missing[:5]}, "
                      f"différents {different[:5]}.", **evidence)
    return passed(f"les {len(compared)} fichier(s) du volume sont dans l'archive, à "
                  "l'identique.", **evidence)


def _restorable(ctx: Context) -> Outcome:
    _archive(ctx)
    path = backup_path(ctx)
    scratch = f"grader-restore-{secrets.token_hex(6)}"
    try:
        proc = ctx.pyker("run", "--rm", "--network", "none", "-v", f"{scratch}:/data",
                         "-v", f"{path.parent}:/backup:ro", ctx.probe_image,
                         "tar", "xf", f"/backup/{BACKUP}", "-C", "/")
        evidence: dict[str, object] = {"exit_code": proc.returncode,
                                       "output": (proc.stdout + proc.stderr)[-300:]}
        if proc.returncode != 0:
            return failed(f"tar xf de l'archive a échoué (code {proc.returncode}).", **evidence)
        store, _ = _volume(ctx, scratch)
        try:
            content = text(read_small(store.data_dir(scratch) / MESSAGE))
        except Unmet:
            content = ""
        evidence["restored"] = content[:200]
        if content == TEXT:
            return passed(f"restaurée dans un volume neuf monté sur /data, l'archive redonne "
                          f"{MESSAGE}.", **evidence)
        return failed(f"restaurée dans un volume neuf monté sur /data, l'archive ne redonne "
                      f"pas /data/{MESSAGE} avec « {TEXT} ».", **evidence)
    finally:
        ctx.pyker("volume", "rm", "-f", scratch)


EXERCISES = (
    Exercise(
        lab=LAB, id="named-volume", title="Des données qui survivent au conteneur",
        statement=f"Le volume nommé {VOLUME} contient {MESSAGE}, dont le texte est « {TEXT} », "
                  "écrit par un conteneur qui n'existe plus.",
        points=4,
        checks=(
            Check(id="volume-exists", run=_volume_exists,
                  description=f"un volume nommé « {VOLUME} » existe",
                  hint=f"pyker volume create {VOLUME}, ou -v {VOLUME}:/data au premier "
                       "pyker run qui le monte."),
            Check(id="file-content", weight=2, run=_file_content,
                  description=f"{MESSAGE}, à la racine du volume, contient « {TEXT} »",
                  hint="echo \"...\" > /data/message.txt dans un conteneur qui monte le "
                       "volume sur /data."),
            Check(id="writer-gone", hidden=True, run=_writer_gone,
                  description="plus aucun conteneur, même arrêté, n'utilise le volume"),
            Check(id="seen-by-new-container", hidden=True, run=_seen_by_new_container,
                  description="un conteneur neuf qui monte le volume y lit le texte"),
        ),
        hints=(f"pyker run --rm -v {VOLUME}:/data busybox sh -c '...' : --rm supprime le "
               "conteneur à sa sortie, le volume reste.",
               f"Sur l'hôte, le contenu est dans <data-root>/volumes/{VOLUME}/_data "
               f"(pyker volume inspect {VOLUME})."),
    ),
    READONLY_SITE,
    Exercise(
        lab=LAB, id="backup", title="Sauvegarder un volume avec tar",
        statement=f"labs/{LAB}/{BACKUP} est une archive tar du volume {VOLUME}, faite dans un "
                  "conteneur qui monte le volume sur /data : ses entrées sont data/….",
        points=4, student_files=(f"{LAB}/{BACKUP}",),
        checks=(
            Check(id="tar-valid", run=_tar_valid,
                  description=f"labs/{LAB}/{BACKUP} est une archive tar non vide",
                  hint="tar cvf /backup/backup.tar /data, avec le dossier labs/10-volumes de "
                       "l'hôte monté sur /backup (-v CHEMIN_ABSOLU:/backup)."),
            Check(id="has-message", weight=2, run=_has_message,
                  description=f"l'archive contient data/{MESSAGE} avec le texte attendu",
                  hint="tar enlève le / de tête : /data/message.txt devient "
                       "data/message.txt. Le volume doit être monté sur /data."),
            Check(id="complete", hidden=True, run=_complete,
                  description="chaque fichier du volume est dans l'archive, à l'identique"),
            Check(id="restorable", hidden=True, run=_restorable,
                  description="restaurée dans un volume neuf (tar xf -C /), l'archive "
                              "redonne le fichier"),
        ),
        hints=("Le modèle du cours : pyker run --rm --volumes-from CONTENEUR -v "
               "$(pwd):/backup busybox tar cvf /backup/ARCHIVE /CHEMIN",
               f"Ici -v {VOLUME}:/data suffit à monter le volume, sans --volumes-from."),
    ),
)
