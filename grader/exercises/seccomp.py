"""TP 05, seccomp: the student's profile judged by what the kernel does under it.

``no-mkdir`` runs short probe containers with the student's profile file (Docker's JSON
format, ``--security-opt seccomp=FILE``): mkdir must fail with EPERM, ordinary commands must
still work, and (hidden) rmdir too. ``chmod-blocked`` reads the seccomp mode of the running
``nochmod`` container (``Seccomp: 2`` in /proc/PID/status is a filter) and has the kernel
answer a root ``chmod`` in it.
"""

from __future__ import annotations

from pathlib import Path

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "05-seccomp"
PROFILE = "no-mkdir.json"
EPERM_TEXT = "Operation not permitted"
SIGSYS_STATUS = 159  # 128 + SIGSYS: a KILL action
PROBE_HOSTNAME = "grader-probe"


def profile_path(ctx: Context) -> Path:
    return ctx.lab_dir / LAB / PROFILE


def _student_profile(ctx: Context, *, brief: bool = True) -> Path:
    """The student's profile file, checked as pyker will read it.

    Raises:
        Unmet: missing or refused; ``brief`` sends the student to profile-valid's message.
    """
    from pyker.errors import SeccompProfileError
    from pyker.security.seccomp.profile import parse

    path = profile_path(ctx)
    try:
        parse(path.read_bytes(), source=str(path))
    except FileNotFoundError:
        raise Unmet("pas de profil à essayer (voir profile-valid)." if brief else
                    f"le profil {path} n'existe pas : écrivez-le à cet endroit "
                    f"(grader.lab_file(\"{LAB}\", \"{PROFILE}\")).", path=str(path)) from None
    except SeccompProfileError as err:
        raise Unmet("pas de profil à essayer (voir profile-valid)." if brief else
                    f"pyker refuse le profil : {err}", path=str(path)) from None
    return path


def _probe(ctx: Context, profile: Path, *command: str, workdir: str | None = None):
    """A throwaway container under ``profile``: no network, removed at exit."""
    args = ["run", "--rm", "--network", "none", "--hostname", PROBE_HOSTNAME,
            "--security-opt", f"seccomp={profile}"]
    if workdir:
        args += ["-w", workdir]
    proc = ctx.pyker(*args, ctx.probe_image, *command)
    return proc, (proc.stdout + proc.stderr).strip()


def _profile_valid(ctx: Context) -> Outcome:
    path = _student_profile(ctx, brief=False)
    return passed(f"le profil {path} est un profil seccomp valide.", path=str(path))


def _mkdir_refused(ctx: Context) -> Outcome:
    profile = _student_profile(ctx)
    proc, output = _probe(ctx, profile, "mkdir", "/tmp/grader-probe")
    evidence = {"command": "mkdir /tmp/grader-probe", "exit_code": proc.returncode,
                "output": output[-400:]}
    if proc.returncode == SIGSYS_STATUS:
        return failed("mkdir a tué le processus (code 159, SIGSYS) au lieu d'être refusé : "
                      "l'action attendue renvoie une erreur.", **evidence)
    if proc.returncode != 0 and EPERM_TEXT in output:
        return passed("mkdir est refusé : « Operation not permitted ».", **evidence)
    if proc.returncode == 0:
        return failed("mkdir a réussi sous ce profil.", **evidence)
    return failed(f"mkdir a échoué (code {proc.returncode}) mais sans « {EPERM_TEXT} » : "
                  f"{output[-200:]}", **evidence)


USABLE = (
    (("ls", "/"), "bin"),
    (("echo", "pyker-grader"), "pyker-grader"),
    (("cat", "/etc/hostname"), PROBE_HOSTNAME),
)


def _usable(ctx: Context) -> Outcome:
    profile = _student_profile(ctx)
    runs = []
    for command, expected in USABLE:
        proc, output = _probe(ctx, profile, *command)
        ok = proc.returncode == 0 and expected in proc.stdout
        runs.append({"command": " ".join(command), "exit_code": proc.returncode,
                     "output": output[-200:], "ok": ok})
        if not ok:
            return failed(f"« {' '.join(command)} » ne marche plus sous ce profil "
                          f"(code {proc.returncode}) : {output[-200:]}", runs=runs)
    return passed("ls /, echo et cat /etc/hostname marchent sous ce profil.", runs=runs)


def _rmdir_works(ctx: Context) -> Outcome:
    profile = _student_profile(ctx)
    # The engine creates a missing working directory before the filter is loaded: rmdir
    # gets an existing directory that the profile's own mkdir rule never saw.
    proc, output = _probe(ctx, profile, "rmdir", "/grader-rmdir", workdir="/grader-rmdir")
    evidence = {"command": "rmdir /grader-rmdir", "exit_code": proc.returncode,
                "output": output[-400:]}
    if proc.returncode != 0:
        return failed(f"rmdir d'un répertoire existant échoue sous ce profil "
                      f"(code {proc.returncode}) : {output[-200:]}", **evidence)
    return passed("rmdir marche encore sous ce profil.", **evidence)


def _seccomp_mode(live: observe.Live) -> str:
    return observe.parse_status(observe.read_proc(live.pid, "status")).get("Seccomp", "?")


def _chmod_refused(ctx: Context) -> Outcome:
    live = observe.container(ctx, "nochmod")
    mode = _seccomp_mode(live)
    evidence: dict[str, object] = {"pid": live.pid, "Seccomp": mode}
    if mode != "2":
        return failed(f"le processus du conteneur n'a pas de filtre seccomp (Seccomp : {mode}).",
                      **evidence)
    # As root, who owns /tmp: only the filter can refuse this chmod.
    proc = ctx.pyker("exec", "-u", "0", live.id, "chmod", "777", "/tmp")
    output = (proc.stdout + proc.stderr).strip()
    evidence.update(command="chmod 777 /tmp", exit_code=proc.returncode, output=output[-400:])
    if proc.returncode != 0 and EPERM_TEXT in output:
        return passed("chmod 777 /tmp en root : « Operation not permitted ».", **evidence)
    if proc.returncode == SIGSYS_STATUS:
        return failed("chmod a tué le processus (SIGSYS, code 159) au lieu d'échouer avec "
                      "EPERM.", **evidence)
    return failed(f"chmod 777 /tmp n'a pas été refusé par EPERM (code {proc.returncode}).",
                  **evidence)


def _nochmod_usable(ctx: Context) -> Outcome:
    live = observe.container(ctx, "nochmod")
    # ls's listing is looked at, not only its status: busybox ls exits 0 on an empty read.
    proc = ctx.pyker("exec", "-u", "0", live.id, "sh", "-c",
                     "touch /tmp/.grader && test -f /tmp/.grader && ls /")
    output = (proc.stdout + proc.stderr).strip()
    evidence = {"exit_code": proc.returncode, "output": output[-400:]}
    if proc.returncode == 0 and "bin" in proc.stdout.split():
        return passed("touch et ls marchent encore dans le conteneur.", **evidence)
    return failed(f"touch ou ls ne marchent plus dans le conteneur (code {proc.returncode}).",
                  **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="no-mkdir", title="Un profil qui interdit mkdir",
        statement=f"Écrivez dans labs/{LAB}/{PROFILE} un profil seccomp sous lequel mkdir "
                  "échoue avec « Operation not permitted » tandis que le conteneur reste "
                  "utilisable (ls, echo, cat…).",
        points=6, all_or_nothing=True, student_files=(f"{LAB}/{PROFILE}",),
        checks=(
            Check(id="profile-valid", run=_profile_valid,
                  description="le fichier existe et pyker l'accepte comme profil seccomp",
                  hint="Format JSON de Docker : defaultAction, puis syscalls, une liste de "
                       "règles {\"names\": [...], \"action\": ...}."),
            Check(id="mkdir-refused", weight=2, run=_mkdir_refused,
                  description="mkdir échoue avec « Operation not permitted »",
                  hint="SCMP_ACT_ERRNO renvoie une erreur (EPERM par défaut) ; SCMP_ACT_KILL "
                       "tue le processus. Sur x86_64, mkdir passe aussi par mkdirat."),
            Check(id="usable", weight=2, run=_usable,
                  description="ls /, echo et cat /etc/hostname marchent encore",
                  hint="Partez d'une action par défaut qui autorise (SCMP_ACT_ALLOW) et "
                       "n'interdisez que le nécessaire."),
            Check(id="rmdir-works", hidden=True, run=_rmdir_works,
                  description="rmdir d'un répertoire existant marche encore"),
        ),
        hints=("Testez : pyker run --rm --security-opt seccomp=labs/05-seccomp/no-mkdir.json "
               "busybox mkdir /tmp/x",
               "strace -f mkdir /tmp/x sur l'hôte montre quel appel système est fait."),
    ),
    Exercise(
        lab=LAB, id="chmod-blocked", title="chmod interdit",
        statement="Lancez en arrière-plan un conteneur nommé nochmod avec un profil seccomp "
                  "sous lequel pyker exec nochmod chmod 777 /tmp échoue avec "
                  "« Operation not permitted ».",
        points=4,
        checks=(
            running("nochmod"),
            Check(id="chmod-refused", weight=2, run=_chmod_refused,
                  description="chmod en root y échoue avec EPERM, par le filtre seccomp",
                  hint="chmod, fchmod et fchmodat sont trois appels système : le profil doit "
                       "refuser les trois."),
            Check(id="usable", hidden=True, run=_nochmod_usable,
                  description="le reste marche encore dans le conteneur"),
        ),
        hints=("Le profil par défaut de Docker moins chmod, fchmod, fchmodat : c'est le "
               "default-no-chmod.json du TP.",
               "pyker run -d --name nochmod --security-opt seccomp=FICHIER busybox sleep 3600"),
    ),
)
