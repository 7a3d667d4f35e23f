"""TP 06, union filesystems: copy-on-write read in the upper directories themselves.

``copy-on-write`` finds the container's upper directory from pyker's own record (the
``UpperDir`` of ``pyker inspect``) and its image's layer directories from the image store,
then looks at what overlayfs left there: a modified file copied up whole (the image's bytes,
then the student's line), a deleted one turned into a whiteout (a character device 0:0).
The hidden check asks the engine (``pyker diff``) the same question.

``hand-overlay`` reads the kernel's mount table (``/proc/self/mountinfo``: the grader shares
the student's mount namespace) for an overlay on ``labs/06-union-fs/overlay/vue``, then the
merged view and the four directories under it.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "06-union-fs"

COW_CONTAINER = "n06-cow"
COW_IMAGE = "busybox"
MODIFIED = "etc/passwd"    # relative to the root: the same path in every layer directory
DELETED = "etc/network"    # a directory: deleting it whole leaves a single whiteout
USER = "tp06"
LINE = f"{USER}:x:1006:100:TP 06:/tmp:/bin/sh"

OVERLAY = "overlay"        # labs/06-union-fs/overlay/
LOWERS = ("couche2", "couche1")   # lowerdir order: the top-most first
UPPER, WORK, MERGED = "haut", "travail", "vue"
VERSION = "version.txt"    # "1" in couche1, "2" in couche2: the merged view must say 2
NOTE, NOTE_TEXT = "notes.txt", "note du TP 06"
OLD = "ancien.txt"         # in couche1, deleted through the merged view


# -- reading the kernel's mount table: pure functions, tested on exact texts ------------------

@dataclass(frozen=True, slots=True)
class OverlayMount:
    """An overlay as ``/proc/<pid>/mountinfo`` shows it: the option strings as given."""

    mount_point: str
    lowers: tuple[str, ...]    # top-most first, as lowerdir= lists them
    upper: str
    work: str


_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return _ESCAPE.sub(lambda m: chr(int(m[1], 8)), field)


def _split_options(text: str) -> list[str]:
    # overlay escapes a comma inside a path as "\,": split on the others only.
    return [o.replace("\\,", ",") for o in re.split(r"(?<!\\),", text)]


def parse_overlays(mountinfo: str) -> list[OverlayMount]:
    """The overlay mounts of a mountinfo text, in mount order.

    Both spellings of the lower stack are read: ``lowerdir=a:b`` (mount(8), mount(2)) and one
    ``lowerdir+=a`` per layer (the new mount API, what pyker uses on Linux 6.8+).
    """
    out = []
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split(" ", 2)
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] != "overlay":
            continue
        lowers: list[str] = []
        upper = work = ""
        for option in _split_options(tail[2]):
            key, _, value = option.partition("=")
            value = _unescape(value)
            if key == "lowerdir":
                lowers += [p.replace("\\:", ":") for p in re.split(r"(?<!\\):", value) if p]
            elif key == "lowerdir+":
                lowers.append(value)
            elif key == "upperdir":
                upper = value
            elif key == "workdir":
                work = value
        out.append(OverlayMount(mount_point=_unescape(fields[4]), lowers=tuple(lowers),
                                upper=upper, work=work))
    return out


def is_whiteout(path: Path) -> bool:
    """overlayfs' whiteout: a character device numbered 0:0 (no such device exists)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _describe(path: Path) -> str:
    """What is at ``path``, in French, for a failure message."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return "rien"
    if stat.S_ISCHR(st.st_mode):
        return "un whiteout (caractère 0:0)" if st.st_rdev == 0 else \
            "un fichier spécial caractère"
    if stat.S_ISDIR(st.st_mode):
        return "un répertoire"
    if stat.S_ISREG(st.st_mode):
        return f"un fichier ordinaire de {st.st_size} octets"
    return "un autre type de fichier"


# -- copy-on-write: a container's upper directory ---------------------------------------------

@dataclass(frozen=True, slots=True)
class Layers:
    upper: Path
    lowers: tuple[Path, ...]   # the image's layer directories, top-most first


def _layers(ctx: Context) -> Layers:
    from pyker.runtime.container import Paths

    live = observe.container(ctx, COW_CONTAINER)
    engine = ctx.engine
    record = engine.containers.resolve(live.id)
    image = engine.images.get(record.image_id)
    lowers = tuple(layer.path for layer in reversed(engine.images.layers_of(image)))
    return Layers(upper=Paths(root=engine.containers.dir(record.id)).upper, lowers=lowers)


def _in_image(layers: Layers, rel: str) -> Path | None:
    """The image's own file at ``rel``: the top-most layer that has it, unless a layer above
    deleted it (layer directories are unpacked the way overlay reads them: a whiteout is a
    0:0 device there, not an OCI ``.wh.`` file). Opaque directories are not looked at: rare
    in a base image, and at worst a file under one reads as "there"."""
    for lower in layers.lowers:
        path = lower / rel
        if is_whiteout(path):
            return None
        if path.exists() or path.is_symlink():
            return path
    return None


def _copied_up(ctx: Context) -> Outcome:
    layers = _layers(ctx)
    original = _in_image(layers, MODIFIED)
    copy = layers.upper / MODIFIED
    evidence: dict[str, object] = {"upper": str(layers.upper), "file": str(copy)}
    if original is None or not original.is_file():
        return failed(f"l'image du conteneur n'a pas de fichier /{MODIFIED} : rien à copier. "
                      f"Lancez le conteneur depuis {COW_IMAGE}.", **evidence)
    if not copy.is_file() or copy.is_symlink():
        return failed(f"dans le dossier upper, /{MODIFIED} est {_describe(copy)} : le fichier "
                      "n'a pas été modifié dans le conteneur (il est encore lu dans la couche "
                      "de l'image).", **evidence)
    before, after = original.read_bytes(), copy.read_bytes()
    evidence.update(image_file=str(original), image_size=len(before), upper_size=len(after))
    if not after.startswith(before):
        return failed(f"/{MODIFIED} est bien dans le dossier upper, mais son début n'est plus "
                      "le contenu de l'image : il a été remplacé (>) au lieu d'être complété "
                      "(>>).", **evidence)
    added = [line.strip() for line in after[len(before):].decode(errors="replace").splitlines()]
    if not any(line.startswith(f"{USER}:") for line in added):
        return failed(f"/{MODIFIED} a été copié dans le dossier upper, mais aucune ligne de "
                      f"l'utilisateur {USER} n'a été ajoutée à la fin.", added=added[-5:],
                      **evidence)
    return passed(f"copie complète de /{MODIFIED} dans le dossier upper : les {len(before)} "
                  f"octets de l'image, puis la ligne de {USER}.", **evidence)


def _whiteout(ctx: Context) -> Outcome:
    layers = _layers(ctx)
    target = layers.upper / DELETED
    evidence = {"upper": str(layers.upper), "file": str(target)}
    if _in_image(layers, DELETED) is None:
        return failed(f"l'image du conteneur n'a pas de /{DELETED} : supprimer ce qui n'est "
                      f"que dans upper ne laisse pas de whiteout. Lancez le conteneur depuis "
                      f"{COW_IMAGE}.", **evidence)
    if is_whiteout(target):
        return passed(f"/{DELETED} est un whiteout dans le dossier upper (caractère 0:0).",
                      **evidence)
    return failed(f"dans le dossier upper, /{DELETED} est {_describe(target)} : pas de whiteout,"
                  " le répertoire n'a pas été supprimé (ou il a été recréé) dans le "
                  "conteneur.", **evidence)


def _diff(ctx: Context) -> Outcome:
    live = observe.container(ctx, COW_CONTAINER)
    proc = ctx.pyker("diff", live.id)
    lines = proc.stdout.splitlines()
    wanted = [f"C /{MODIFIED}", f"D /{DELETED}"]
    evidence = {"exit_code": proc.returncode, "diff": lines[:40]}
    missing = [w for w in wanted if w not in lines]
    if proc.returncode != 0 or missing:
        return failed(f"pyker diff {COW_CONTAINER} ne montre pas {', '.join(missing) or 'tout'}"
                      f" (code {proc.returncode}).", **evidence)
    return passed(f"pyker diff montre « {wanted[0]} » et « {wanted[1]} ».", **evidence)


# -- hand-overlay: labs/06-union-fs/overlay/ --------------------------------------------------

def overlay_dir(ctx: Context) -> Path:
    return ctx.lab_dir / LAB / OVERLAY


def _mount(ctx: Context) -> OverlayMount | None:
    """The overlay on ``vue`` (the last one: a mount hides those under it), or None."""
    vue = str(Path(overlay_dir(ctx), MERGED).resolve())
    text = Path("/proc/self/mountinfo").read_text()
    found = [m for m in parse_overlays(text) if m.mount_point == vue]
    return found[-1] if found else None


def _names_dir(value: str, base: Path, name: str) -> bool:
    """Whether an option value names ``base/name``: an absolute path must be that directory;
    a relative one (resolved against the mounting shell's cwd, unknown here) its last part."""
    path = Path(value)
    if path.is_absolute():
        return path.resolve() == (base / name).resolve()
    return path.name == name


def _mounted(ctx: Context) -> Outcome:
    base = overlay_dir(ctx)
    mount = _mount(ctx)
    if mount is None:
        return failed(f"aucun overlay n'est monté sur {base / MERGED} (lu dans "
                      "/proc/self/mountinfo).", path=str(base / MERGED))
    evidence = {"mount_point": mount.mount_point, "lowerdir": list(mount.lowers),
                "upperdir": mount.upper, "workdir": mount.work}
    if len(mount.lowers) != len(LOWERS) or not all(
            _names_dir(v, base, n) for v, n in zip(mount.lowers, LOWERS)):
        return failed(f"l'overlay empile lowerdir={':'.join(mount.lowers)} ; attendu "
                      f"{':'.join(LOWERS)} (la couche du dessus en premier), dans {base}.",
                      **evidence)
    if not (_names_dir(mount.upper, base, UPPER) and _names_dir(mount.work, base, WORK)):
        return failed(f"l'overlay a upperdir={mount.upper or '(aucun)'} et "
                      f"workdir={mount.work or '(aucun)'} ; attendu {UPPER} et {WORK}, "
                      f"dans {base}.", **evidence)
    return passed(f"overlay monté sur {mount.mount_point} : lowerdir={':'.join(LOWERS)}, "
                  f"upperdir={UPPER}, workdir={WORK}.", **evidence)


def _require_mount(ctx: Context) -> Path:
    base = overlay_dir(ctx)
    if _mount(ctx) is None:
        raise Unmet(f"pas d'overlay monté sur {base / MERGED} (voir mounted).",
                    path=str(base / MERGED))
    return base


def _text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip() if path.is_file() else None
    except OSError:
        return None


def _layer_order(ctx: Context) -> Outcome:
    base = _require_mount(ctx)
    seen = {d: _text(base / d / VERSION) for d in ("couche1", "couche2", MERGED)}
    evidence = {"version": seen}
    if seen["couche1"] != "1" or seen["couche2"] != "2":
        return failed(f"{VERSION} doit valoir 1 dans couche1 et 2 dans couche2 ; lu : "
                      f"{seen['couche1']!r} et {seen['couche2']!r}.", **evidence)
    if seen[MERGED] != "2":
        return failed(f"{MERGED}/{VERSION} vaut {seen[MERGED]!r} : la couche du dessus devait "
                      "l'emporter (2).", **evidence)
    return passed(f"{MERGED}/{VERSION} vaut 2 : couche2 est au-dessus de couche1.", **evidence)


def _upper_write(ctx: Context) -> Outcome:
    base = _require_mount(ctx)
    where = {d: _text(base / d / NOTE) for d in (MERGED, UPPER, *LOWERS)}
    evidence = {"notes": where}
    if where[MERGED] != NOTE_TEXT:
        return failed(f"{MERGED}/{NOTE} contient {where[MERGED]!r}, attendu « {NOTE_TEXT} ».",
                      **evidence)
    if where[UPPER] != NOTE_TEXT:
        return failed(f"{NOTE} n'est pas dans {UPPER} : ce qu'on écrit dans {MERGED} va dans "
                      "le dossier upper.", **evidence)
    in_lower = [d for d in LOWERS if where[d] is not None]
    if in_lower:
        return failed(f"{NOTE} est aussi dans {', '.join(in_lower)} : une couche basse ne "
                      f"doit pas changer, écrivez seulement dans {MERGED}.", **evidence)
    return passed(f"{NOTE} écrit dans {MERGED} est arrivé dans {UPPER}, et seulement là.",
                  **evidence)


def _hand_whiteout(ctx: Context) -> Outcome:
    base = _require_mount(ctx)
    lower, upper, merged = base / "couche1" / OLD, base / UPPER / OLD, base / MERGED / OLD
    evidence = {"couche1": _describe(lower), UPPER: _describe(upper), MERGED: _describe(merged)}
    if not lower.is_file():
        return failed(f"couche1/{OLD} n'existe pas (ou plus) : il doit rester dans la couche "
                      f"basse et n'être supprimé que dans {MERGED}.", **evidence)
    if merged.exists() or not is_whiteout(upper):
        return failed(f"{MERGED}/{OLD} est {_describe(merged)}, {UPPER}/{OLD} est "
                      f"{_describe(upper)} : attendu un whiteout dans {UPPER}.", **evidence)
    return passed(f"{OLD} est caché par un whiteout dans {UPPER} et reste dans couche1.",
                  **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="copy-on-write", title="Copie sur écriture dans un conteneur",
        statement=f"Lancez en arrière-plan un conteneur nommé {COW_CONTAINER} (image "
                  f"{COW_IMAGE}). Dans ce conteneur, ajoutez à la fin de /{MODIFIED} (sans "
                  f"effacer le reste) une ligne pour l'utilisateur {USER}, par exemple "
                  f"« {LINE} », et supprimez le répertoire /{DELETED} avec tout son contenu.",
        points=6,
        checks=(
            running(COW_CONTAINER),
            Check(id="copied-up", weight=2, run=_copied_up,
                  description=f"/{MODIFIED} copié en entier dans le dossier upper, plus la "
                              f"ligne de {USER}",
                  hint=f"echo '{LINE}' >> /{MODIFIED} ajoute à la fin ; > remplacerait tout. "
                       "Le dossier upper est le UpperDir de pyker inspect."),
            Check(id="whiteout", weight=2, run=_whiteout,
                  description=f"/{DELETED} remplacé par un whiteout dans le dossier upper",
                  hint="Supprimer un fichier ou un répertoire de l'image laisse dans upper un "
                       "fichier spécial caractère 0:0 du même nom (ls -l dans le UpperDir) ; "
                       "le recréer ensuite donnerait un répertoire opaque."),
            Check(id="diff", hidden=True, run=_diff,
                  description=f"pyker diff montre C /{MODIFIED} et D /{DELETED}"),
        ),
        hints=(f"pyker exec {COW_CONTAINER} sh -c '...' lance une commande dans le conteneur.",
               f"pyker run -d --name {COW_CONTAINER} {COW_IMAGE} sleep infinity"),
    ),
    Exercise(
        lab=LAB, id="hand-overlay", title="Un overlay à la main",
        statement=f"Dans labs/{LAB}/{OVERLAY}/, montez un overlay sur {MERGED}/ avec deux "
                  f"couches basses (couche2 au-dessus de couche1), {UPPER}/ et {WORK}/. "
                  f"{VERSION} contient 1 dans couche1 et 2 dans couche2 ; couche1 a aussi un "
                  f"fichier {OLD}. Ensuite, par {MERGED}/ seulement : écrivez « {NOTE_TEXT} » "
                  f"dans {NOTE} et supprimez {OLD}.",
        points=5, student_files=(f"{LAB}/{OVERLAY}",),
        checks=(
            Check(id="mounted", weight=2, run=_mounted,
                  description=f"un overlay sur {MERGED}/ : lowerdir=couche2:couche1, "
                              f"upperdir={UPPER}, workdir={WORK}",
                  hint="mount -t overlay overlay -o lowerdir=HAUT:BAS,upperdir=…,workdir=… "
                       "POINT ; la couche du dessus vient en premier dans lowerdir."),
            Check(id="layer-order", run=_layer_order,
                  description=f"{MERGED}/{VERSION} vaut 2 (couche2 l'emporte sur couche1)",
                  hint="Pour un même nom, overlay montre le fichier de la couche la plus haute "
                       "qui l'a."),
            Check(id="upper-write", run=_upper_write,
                  description=f"{NOTE} écrit par {MERGED}/ est dans {UPPER}/ et nulle part "
                              "ailleurs",
                  hint=f"Écrivez dans {MERGED}/, jamais directement dans les couches."),
            Check(id="whiteout", hidden=True, run=_hand_whiteout,
                  description=f"{OLD} supprimé par {MERGED}/ : un whiteout dans {UPPER}/, "
                              "la couche basse intacte"),
        ),
        hints=("grader.lab_file(\"06-union-fs\", \"overlay\") donne le dossier à utiliser.",
               "mkdir -p DOSSIER/{couche1,couche2,haut,travail,vue} crée les cinq dossiers ; "
               "le dossier travail doit être vide et sur le même système de fichiers que haut."),
    ),
)
