"""TP 02, namespaces: a container's own UTS (hostname) and network namespaces.

Both checks enter or read the container's namespace through its process, as the kernel sees
it: ``nsenter -u -t PID uname -n`` for the hostname, ``/proc/PID/net/dev`` for the network
(that file lists the interfaces of the reader's *target* process's network namespace).
"""

from __future__ import annotations

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, failed, passed

LAB = "02-namespaces"
HOSTNAME = "tp-namespaces"


def _uts_hostname(ctx: Context) -> Outcome:
    live = observe.container(ctx, "ns-uts")
    if observe.same_namespace(live.pid, "uts"):
        return failed("le conteneur partage l'espace de noms UTS du correcteur : son nom "
                      "d'hôte n'est pas le sien.", pid=live.pid)
    name = observe.uts_hostname(ctx, live)
    evidence = {"pid": live.pid, "hostname": name}
    if name != HOSTNAME:
        return failed(f"dans son espace de noms UTS, le conteneur s'appelle « {name} », "
                      f"attendu « {HOSTNAME} ».", **evidence)
    return passed(f"dans son espace de noms UTS, le noyau répond « {name} ».", **evidence)


def _only_lo(ctx: Context) -> Outcome:
    live = observe.container(ctx, "ns-none")
    if observe.same_namespace(live.pid, "net"):
        return failed("le conteneur partage l'espace de noms réseau du correcteur "
                      "(--network host ?) : il n'est pas isolé.", pid=live.pid)
    path = observe.proc_path(live.pid, "net", "dev")
    interfaces = observe.parse_net_dev(observe.read_proc(live.pid, "net", "dev"))
    evidence = {"pid": live.pid, "path": str(path), "interfaces": interfaces}
    if interfaces != ["lo"]:
        others = ", ".join(i for i in interfaces if i != "lo") or "aucune (pas même lo)"
        return failed(f"son espace de noms réseau a d'autres interfaces que lo : {others}.",
                      **evidence)
    return passed("son espace de noms réseau n'a que lo (lu dans /proc/PID/net/dev).",
                  **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="hostname", title="Un nom d'hôte à soi",
        statement=f"Lancez en arrière-plan un conteneur busybox nommé ns-uts dont le nom "
                  f"d'hôte est {HOSTNAME}, sans toucher à celui de la machine.",
        points=3,
        checks=(
            running("ns-uts"),
            Check(id="uts-hostname", weight=2, run=_uts_hostname,
                  description=f"son espace de noms UTS répond « {HOSTNAME} »",
                  hint="L'option -h (--hostname) de pyker run fixe le nom d'hôte dans le "
                       "nouvel espace de noms UTS du conteneur."),
        ),
        hints=("pyker run -d --name ns-uts ... busybox sleep 3600",
               "Vérifiez avec pyker exec ns-uts hostname, puis hostname sur l'hôte : "
               "ils diffèrent."),
    ),
    Exercise(
        lab=LAB, id="isolated-net", title="Un réseau vide",
        statement="Lancez en arrière-plan un conteneur nommé ns-none dont l'espace de noms "
                  "réseau ne contient que l'interface de bouclage lo.",
        points=3,
        checks=(
            running("ns-none"),
            Check(id="only-lo", weight=2, run=_only_lo,
                  description="son espace de noms réseau n'a que lo",
                  hint="Par défaut, pyker branche le conteneur sur le pont pyker0 (eth0) ; "
                       "un des modes de --network n'en crée aucun."),
        ),
        hints=("pyker run --help liste les valeurs de --network.",
               "Comparez pyker exec ns-none ip addr (ou cat /proc/net/dev) avec un "
               "conteneur lancé sans option."),
    ),
)
