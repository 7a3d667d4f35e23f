"""TP 09, multi-stage builds: the student's two images judged from the image store itself.

``hello-slim`` runs the image ``n09-hello`` (no network) for its greeting, reads its size from
the store, and walks every layer directory of the image: no compiler may sit in any of them (a
``RUN apt-get purge`` in a single-stage build would only hide it above the layer that holds
it), and the program must be there. Hidden: the program was compiled inside the build (the
image's history has no apt-get or compiler step, and no file of the build context is the
program itself: a binary compiled on the host and copied in does not count).

``build-target`` runs ``gcc --version`` in ``n09-build`` (the ``--target build`` image), then
looks, byte for byte, for ``n09-hello``'s program among ``n09-build``'s files: both images
must come from the same Dockerfile. Hidden: the build stage runs its own program.

The program of ``n09-hello`` is told apart from the base image's files by layer: every ELF
file in the layers that ``busybox`` and ``debian:bookworm`` do not have.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from grader.context import Context
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "09-multistage"
CONTEXT = "hello"                            # labs/09-multistage/hello: bonjour.c, Dockerfile
DOCKERFILE = f"{CONTEXT}/Dockerfile"
HELLO_IMAGE = "n09-hello"
BUILD_IMAGE = "n09-build"
BUILD_STAGE = "build"
GREETING = "Bonjour depuis une image sans compilateur !"     # what labs/…/hello/bonjour.c says
MAX_SIZE = 5_000_000                         # bytes, 5MB as pyker images prints it
BASE_IMAGES = ("busybox", "debian:bookworm")
# A C toolchain's programs, by name (gcc is a symlink to gcc-12, cc one to gcc…).
COMPILERS = frozenset({"gcc", "cc", "c89", "c99", "cc1", "collect2", "as", "ld", "ld.bfd",
                       "ld.gold", "cpp"})
COMPILER_PREFIXES = ("gcc-", "x86_64-linux-gnu-gcc", "x86_64-linux-gnu-ld",
                     "x86_64-linux-gnu-as")
BUILD_STEPS = ("apt-get", "gcc", "make ", " cc ")
PROXY = "--build-arg http_proxy={MANDATAIRE}"
BUILD_HELLO = f"pyker build {PROXY} -t {HELLO_IMAGE} labs/{LAB}/{CONTEXT}"
BUILD_BUILD = f"pyker build {PROXY} --target {BUILD_STAGE} -t {BUILD_IMAGE} labs/{LAB}/{CONTEXT}"


@dataclass(frozen=True, slots=True)
class Program:
    """An ELF file of an image's own layers: its path in the image, and its bytes' digest."""

    path: str
    size: int
    sha256: str


# -- reading the store ------------------------------------------------------------------------

def _image(ctx: Context, name: str, build: str):
    from pyker.errors import ImageNotFound

    try:
        return ctx.engine.images.resolve(name)
    except ImageNotFound:
        raise Unmet(f"l'image {name} n'existe pas : construisez-la avec « {build} ».",
                    image=name) from None


def _base_layers(ctx: Context) -> set[str]:
    """The diff IDs of the base images the store has (an absent one adds nothing)."""
    from pyker.errors import ImageNotFound

    out: set[str] = set()
    for name in BASE_IMAGES:
        try:
            out.update(ctx.engine.images.resolve(name).config.diff_ids)
        except ImageNotFound:
            pass
    return out


def _files(root: Path):
    """(path in the image, lstat) of every entry under a layer directory but whiteouts (the
    0:0 character devices a deletion leaves)."""
    for directory, dirs, names in os.walk(root):
        for name in (*names, *dirs):
            path = Path(directory, name)
            st = path.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
                continue
            yield "/" + str(path.relative_to(root)), path, st


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _programs(ctx: Context) -> list[Program]:
    """The ELF files of ``n09-hello``'s own layers (not busybox's nor debian's).

    Raises:
        Unmet: no image, or no program in it yet.
    """
    image = _image(ctx, HELLO_IMAGE, BUILD_HELLO)
    base = _base_layers(ctx)
    found = []
    for diff_id, layer in zip(image.config.diff_ids, ctx.engine.images.layers_of(image)):
        if diff_id in base:
            continue
        for name, path, st in _files(layer.path):
            if stat.S_ISREG(st.st_mode) and _is_elf(path):
                found.append(Program(path=name, size=st.st_size, sha256=_sha256(path)))
    if not found:
        raise Unmet(f"l'image {HELLO_IMAGE} ne contient encore aucun programme compilé : la "
                    "dernière étape doit y copier celui de l'étape build (COPY --from=build).",
                    layers=len(image.config.diff_ids))
    return found


def _is_compiler(name: str, st: os.stat_result) -> bool:
    """A program of the toolchain: an executable file or a symlink with one of its names
    (debian:bookworm itself has gcc-12-base's docs and dpkg lists, and /usr/share/locale/as)."""
    base = name.rsplit("/", 1)[-1]
    runnable = stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_mode & 0o111)
    return bool(runnable) and (base in COMPILERS or base.startswith(COMPILER_PREFIXES))


def _run(ctx: Context, image: str, *command: str) -> tuple[int, str, str]:
    proc = ctx.pyker("run", "--rm", "--network", "none", image, *command)
    return proc.returncode, proc.stdout.strip(), proc.stderr.strip()


# -- hello-slim -------------------------------------------------------------------------------

def _greets(ctx: Context) -> Outcome:
    _image(ctx, HELLO_IMAGE, BUILD_HELLO)
    code, out, err = _run(ctx, HELLO_IMAGE)
    evidence = {"exit_code": code, "stdout": out[-300:], "stderr": err[-300:]}
    if code != 0:
        return failed(f"pyker run --rm {HELLO_IMAGE} a échoué (code {code}) : "
                      f"{(err or out)[-200:] or '(rien)'}", **evidence)
    if out != GREETING:
        return failed(f"pyker run --rm {HELLO_IMAGE} affiche « {out[-120:] or '(rien)'} », pas "
                      f"« {GREETING} ».", **evidence)
    return passed(f"pyker run --rm {HELLO_IMAGE} affiche « {GREETING} ».", **evidence)


def _no_compiler(ctx: Context) -> Outcome:
    programs = _programs(ctx)
    image = _image(ctx, HELLO_IMAGE, BUILD_HELLO)
    layers = ctx.engine.images.layers_of(image)
    hits = {}
    for i, layer in enumerate(layers):
        names = sorted(name for name, _path, st in _files(layer.path) if _is_compiler(name, st))
        if names:
            hits[f"couche {i + 1}/{len(layers)}"] = names
    if hits:
        where = "; ".join(f"{k} : {', '.join(v[:4])}{' …' if len(v) > 4 else ''}"
                          for k, v in hits.items())
        return failed(f"l'image {HELLO_IMAGE} contient un compilateur ({where}).", layers=hits)
    where = (f"aucune des {len(layers)} couches de {HELLO_IMAGE} ne contient" if len(layers) > 1
             else f"la seule couche de {HELLO_IMAGE} ne contient pas")
    return passed(f"{where} de compilateur ; le programme est {programs[0].path}.",
                  programs=[p.path for p in programs])


def _small(ctx: Context) -> Outcome:
    from pyker.cli.humanize import human_size

    image = _image(ctx, HELLO_IMAGE, BUILD_HELLO)
    size = human_size(image.size)
    if image.size >= MAX_SIZE:
        return failed(f"{HELLO_IMAGE} pèse {size} : il faut moins de "
                      f"{human_size(MAX_SIZE)}.", size=image.size)
    return passed(f"{HELLO_IMAGE} pèse {size}, moins de {human_size(MAX_SIZE)}.",
                  size=image.size)


def _built_in_stage(ctx: Context) -> Outcome:
    programs = _programs(ctx)
    image = _image(ctx, HELLO_IMAGE, BUILD_HELLO)
    steps = [h.created_by for h in image.config.history
             if any(word in h.created_by for word in BUILD_STEPS)]
    if steps:
        return failed(f"l'historique de {HELLO_IMAGE} contient une étape de compilation "
                      f"(« {steps[0][-120:]} ») : elle appartient à une autre étape du build.",
                      steps=steps)
    context = ctx.lab_dir / LAB / CONTEXT
    digests = {p.sha256: p.path for p in programs}
    copied = [str(f.relative_to(context)) for f in sorted(context.rglob("*"))
              if f.is_file() and not f.is_symlink() and f.stat().st_size in
              {p.size for p in programs} and _sha256(f) in digests]
    if copied:
        return failed(f"le programme de {HELLO_IMAGE} est le fichier {copied[0]} du contexte : "
                      "il a été compilé hors du build, puis copié.", copied=copied)
    return passed(f"{', '.join(digests.values())} a été compilé dans une autre étape : ni "
                  "apt-get ni compilateur dans l'historique, aucun fichier du contexte.")


# -- build-target -----------------------------------------------------------------------------

def _has_compiler(ctx: Context) -> Outcome:
    _image(ctx, BUILD_IMAGE, BUILD_BUILD)
    code, out, err = _run(ctx, BUILD_IMAGE, "gcc", "--version")
    if code != 0:
        return failed(f"gcc --version échoue dans {BUILD_IMAGE} (code {code}) : "
                      f"{(err or out)[-200:] or '(rien)'}", exit_code=code)
    first = out.splitlines()[0] if out else ""
    return passed(f"{BUILD_IMAGE} a son compilateur : {first}.", version=first)


def _find_program(ctx: Context) -> tuple[Program, str]:
    """(n09-hello's program, its path in n09-build), or Unmet/None when it is not there."""
    programs = _programs(ctx)
    image = _image(ctx, BUILD_IMAGE, BUILD_BUILD)
    sizes = {p.size for p in programs}
    by_digest = {p.sha256: p for p in programs}
    for layer in reversed(ctx.engine.images.layers_of(image)):
        for name, path, st in _files(layer.path):
            if stat.S_ISREG(st.st_mode) and st.st_size in sizes:
                digest = _sha256(path)
                if digest in by_digest:
                    return by_digest[digest], name
    raise Unmet(f"{BUILD_IMAGE} ne contient pas le programme de {HELLO_IMAGE} "
                f"({programs[0].path}) : construisez les deux images avec le même "
                f"Dockerfile, {BUILD_IMAGE} avec --target {BUILD_STAGE}.",
                programs=[p.path for p in programs])


def _program_built(ctx: Context) -> Outcome:
    program, where = _find_program(ctx)
    return passed(f"{program.path} de {HELLO_IMAGE} est, octet pour octet, {where} de "
                  f"{BUILD_IMAGE} : l'étape {BUILD_STAGE} l'a produit.",
                  program=program.path, found=where, sha256=program.sha256)


def _stage_runs(ctx: Context) -> Outcome:
    _program, where = _find_program(ctx)
    code, out, err = _run(ctx, BUILD_IMAGE, where)
    if code != 0 or out != GREETING:
        return failed(f"{where} ne dit pas « {GREETING} » dans {BUILD_IMAGE} (code {code}) : "
                      f"{(out or err)[-200:] or '(rien)'}", exit_code=code)
    return passed(f"{where} s'exécute dans {BUILD_IMAGE} et salue.", found=where)


EXERCISES = (
    Exercise(
        lab=LAB, id="hello-slim", title="Une image sans compilateur",
        statement=f"Écrivez labs/{LAB}/{DOCKERFILE}, en deux étapes au moins : une étape nommée "
                  f"{BUILD_STAGE}, FROM debian:bookworm, qui installe gcc et compile bonjour.c, "
                  f"puis une dernière étape qui ne reçoit que le programme. L'image {HELLO_IMAGE} "
                  f"doit afficher « {GREETING} », ne contenir aucun compilateur dans aucune de "
                  f"ses couches, et peser moins de 5MB.",
        points=5, student_files=(f"{LAB}/{DOCKERFILE}",),
        checks=(
            Check(id="greets", weight=2, run=_greets,
                  description=f"pyker run {HELLO_IMAGE} affiche la salutation",
                  hint="CMD en forme exec : FROM scratch n'a pas de /bin/sh pour la forme "
                       "shell. Un programme lié dynamiquement ne démarre pas sans sa libc : "
                       "gcc -static, ou une image qui l'a."),
            Check(id="no-compiler", run=_no_compiler,
                  description="le programme est là, aucun compilateur dans aucune couche",
                  hint="COPY --from=build ne prend que les fichiers nommés : la dernière "
                       "étape ne doit pas partir de l'étape build elle-même."),
            Check(id="small", run=_small,
                  description=f"{HELLO_IMAGE} pèse moins de 5MB",
                  hint="debian:bookworm pèse plus de 100MB à elle seule : la dernière étape "
                       "part de scratch (ou de busybox)."),
            Check(id="built-in-stage", hidden=True, run=_built_in_stage,
                  description="le programme a été compilé dans une autre étape du build"),
        ),
        hints=(f"pyker history {HELLO_IMAGE} montre les étapes qui restent dans l'image ; "
               f"pyker images {HELLO_IMAGE} sa taille.",
               "Reprenez mot pour mot la ligne RUN apt-get de la partie 1 : le cache la "
               "reprend, la construction prend une seconde."),
    ),
    Exercise(
        lab=LAB, id="build-target", title="S'arrêter à l'étape build",
        statement=f"Avec le même Dockerfile, construisez l'image {BUILD_IMAGE} en vous arrêtant "
                  f"à l'étape {BUILD_STAGE} (--target) : elle a le compilateur, et le programme "
                  f"même qu'elle a donné à {HELLO_IMAGE}.",
        points=4,
        checks=(
            Check(id="has-compiler", run=_has_compiler,
                  description=f"gcc --version marche dans {BUILD_IMAGE}",
                  hint=f"pyker build --target {BUILD_STAGE} … : l'image est l'étape nommée "
                       f"« FROM … AS {BUILD_STAGE} », avec tout ce qu'elle a installé."),
            Check(id="program-built", weight=2, run=_program_built,
                  description=f"{BUILD_IMAGE} contient le programme de {HELLO_IMAGE}",
                  hint=f"Reconstruisez {HELLO_IMAGE} puis {BUILD_IMAGE} sans changer le "
                       "Dockerfile entre les deux : le cache garantit le même programme."),
            Check(id="stage-runs", hidden=True, run=_stage_runs,
                  description="le programme s'exécute aussi dans l'étape build"),
        ),
        hints=(f"pyker run --rm {BUILD_IMAGE} ls -l / montre ce que l'étape contient.",),
    ),
)
