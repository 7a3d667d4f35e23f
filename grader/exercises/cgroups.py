"""TP 03, cgroups: limits read from the live cgroup of the container's process.

The cgroup is found from ``/proc/PID/cgroup`` (where the kernel says the process is), then
its file is read: ``pids.max`` on both versions; ``memory.limit_in_bytes`` on v1 (and hybrid
hosts, whose controllers are v1), ``memory.max`` on v2. The hidden check makes the kernel
enforce the pids limit for real: a helper process in the container's cgroup must get EAGAIN
from fork before it has made more processes than the limit allows.
"""

from __future__ import annotations

import subprocess
import sys

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, failed, passed

LAB = "03-cgroups"
PIDS_MAX = 50
MEMORY = 64 * 1024 * 1024
BURST = 60  # forks the hidden check tries: more than PIDS_MAX


def _pids_max(ctx: Context) -> Outcome:
    live = observe.container(ctx, "limited")
    path, value = observe.read_cgroup_file(live.pid, "pids", "pids.max")
    evidence = {"pid": live.pid, "path": str(path), "value": value}
    if value != str(PIDS_MAX):
        return failed(f"pids.max vaut {value} dans {path}, attendu {PIDS_MAX}.", **evidence)
    return passed(f"pids.max vaut {value} dans {path}.", **evidence)


# Run by a helper process that joins the container's pids cgroup (writing its own PID to
# cgroup.procs: the pids controller does not refuse migrations, only forks) and forks until
# the kernel says EAGAIN. Its children are its own: it kills and reaps them all, so nothing
# is left in the student's container (whose init, often a plain sleep, reaps no orphan).
FORK_PROBE = """
import errno, os, signal, sys
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
children, refused = [], ""
for _ in range(int(sys.argv[2])):
    try:
        pid = os.fork()
    except OSError as err:
        refused = errno.errorcode.get(err.errno, str(err.errno))
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    children.append(pid)
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
print(len(children), refused)
"""


def _fork_limit(ctx: Context) -> Outcome:
    live = observe.container(ctx, "limited")
    procs = observe.cgroup_dir(live.pid, "pids") / "cgroup.procs"
    proc = subprocess.run([sys.executable, "-c", FORK_PROBE, str(procs), str(BURST)],
                          capture_output=True, text=True, timeout=ctx.timeout)
    forked, _, refused = proc.stdout.strip().partition(" ")
    evidence = {"cgroup_procs": str(procs), "forked": forked, "refused": refused,
                "stderr": proc.stderr.strip()[-300:]}
    if proc.returncode != 0 or not forked.isdigit():
        raise RuntimeError(f"fork probe in {procs} exited {proc.returncode}: "
                           f"{proc.stderr.strip()[-300:]}")
    if refused == "EAGAIN":
        return passed(f"dans le cgroup du conteneur, le noyau a refusé un fork (EAGAIN) après "
                      f"{forked} processus de plus.", **evidence)
    return failed(f"{forked} processus de plus ont pu démarrer dans le cgroup du conteneur : "
                  "la limite n'est pas appliquée.", **evidence)


def _memory_limit(ctx: Context) -> Outcome:
    from pyker.cgroups import detect

    live = observe.container(ctx, "capped")
    name = "memory.max" if detect().mode == "v2" else "memory.limit_in_bytes"
    path, value = observe.read_cgroup_file(live.pid, "memory", name)
    evidence = {"pid": live.pid, "path": str(path), "value": value}
    if value != str(MEMORY):
        shown = f"{int(value) / 2**20:g} Mio" if value.isdigit() and int(value) < 2**50 else value
        return failed(f"{name} vaut {value} ({shown}) dans {path}, attendu {MEMORY} (64 Mio).",
                      **evidence)
    return passed(f"{name} vaut {value} (64 Mio) dans {path}.", **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="pids", title="Au plus 50 processus",
        statement=f"Lancez en arrière-plan un conteneur nommé limited qui ne peut pas avoir "
                  f"plus de {PIDS_MAX} processus à la fois.",
        points=4,
        checks=(
            running("limited"),
            Check(id="pids-max", weight=2, run=_pids_max,
                  description=f"pids.max de son cgroup vaut {PIDS_MAX}",
                  hint="Le contrôleur pids limite le nombre de tâches d'un cgroup : cherchez "
                       "l'option de pyker run qui l'écrit."),
            Check(id="fork-limit", hidden=True, run=_fork_limit,
                  description=f"le noyau refuse le {PIDS_MAX + 1}e processus"),
        ),
        hints=("pyker run --help | grep -i pids",
               "Lisez le fichier pids.max du cgroup du conteneur : "
               "/sys/fs/cgroup/pids/pyker/<id complet>/ (v1) ou /sys/fs/cgroup/pyker/<id>/ (v2)."),
    ),
    Exercise(
        lab=LAB, id="memory", title="64 Mio de mémoire",
        statement="Lancez en arrière-plan un conteneur nommé capped dont la mémoire est "
                  "limitée à 64 Mio.",
        points=3,
        checks=(
            running("capped"),
            Check(id="memory-limit", weight=2, run=_memory_limit,
                  description="la limite mémoire de son cgroup vaut 64 Mio",
                  hint="64 Mio = 64 × 1024 × 1024 = 67108864 octets ; l'option -m accepte "
                       "les suffixes b, k, m, g."),
        ),
        hints=("pyker run --help | grep -i memory",
               "Le fichier memory.limit_in_bytes (v1) ou memory.max (v2) du cgroup du "
               "conteneur doit valoir 67108864."),
    ),
)
