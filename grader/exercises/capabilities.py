"""TP 04, capabilities: the sets of the container's process, from ``/proc/PID/status``.

``CapEff`` is what the kernel checks, ``CapBnd`` the ceiling no execve can go beyond,
``CapPrm``/``CapInh``/``CapAmb`` what could become effective (capabilities(7)). The hidden
checks ask the kernel itself: ``chown`` in ``nochown`` must fail with EPERM, and ``web80``
must really listen on port 80 (``/proc/PID/net/tcp`` and ``tcp6`` of its namespace).
"""

from __future__ import annotations

import time

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, failed, passed

LAB = "04-capabilities"
CHOWN = "CAP_CHOWN"
NET_BIND = "CAP_NET_BIND_SERVICE"
EPERM_TEXT = "Operation not permitted"


def _names(caps: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(caps)) or "aucune"


def _sets(pid: int) -> dict[str, frozenset[str]]:
    return observe.capability_sets(observe.parse_status(observe.read_proc(pid, "status")))


def _chown_dropped(ctx: Context) -> Outcome:
    live = observe.container(ctx, "nochown")
    sets = _sets(live.pid)
    evidence = {"pid": live.pid, "CapEff": sorted(sets["CapEff"]),
                "CapBnd": sorted(sets["CapBnd"])}
    kept = [key for key in ("CapEff", "CapBnd") if CHOWN in sets[key]]
    if kept:
        return failed(f"{CHOWN} est encore dans {' et '.join(kept)} du processus.", **evidence)
    return passed(f"{CHOWN} n'est ni dans CapEff ni dans CapBnd du processus.", **evidence)


def _defaults_kept(ctx: Context) -> Outcome:
    from pyker.security.capabilities import DOCKER_DEFAULT

    live = observe.container(ctx, "nochown")
    effective = _sets(live.pid)["CapEff"]
    wanted = DOCKER_DEFAULT - {CHOWN}
    missing, extra = wanted - effective, effective - wanted - {CHOWN}
    evidence = {"pid": live.pid, "CapEff": sorted(effective)}
    if missing or extra:
        parts = ([f"il manque {_names(missing)}"] if missing else []) + \
                ([f"en trop : {_names(extra)}"] if extra else [])
        return failed(f"CapEff n'est pas l'ensemble par défaut moins {CHOWN} : "
                      f"{' ; '.join(parts)}.", **evidence)
    return passed(f"CapEff garde les {len(wanted)} autres capacités par défaut.", **evidence)


def _chown_refused(ctx: Context) -> Outcome:
    live = observe.container(ctx, "nochown")
    proc = ctx.pyker("exec", "-u", "0", live.id, "sh", "-c",
                     "touch /tmp/.grader-chown && chown 65534 /tmp/.grader-chown")
    output = (proc.stdout + proc.stderr).strip()
    evidence = {"exit_code": proc.returncode, "output": output[-400:]}
    if proc.returncode != 0 and EPERM_TEXT in output:
        return passed("chown en root dans le conteneur : « Operation not permitted ».",
                      **evidence)
    return failed(f"chown en root dans le conteneur n'a pas été refusé par EPERM "
                  f"(code {proc.returncode}).", **evidence)


def _web80_status(ctx: Context) -> tuple[observe.Live, dict[str, str]]:
    live = observe.container(ctx, "web80")
    return live, observe.parse_status(observe.read_proc(live.pid, "status"))


def _non_root(ctx: Context) -> Outcome:
    live, status = _web80_status(ctx)
    ids = observe.uids(status)
    evidence = {"pid": live.pid, "uids": list(ids)}
    if 0 in ids:
        shown = " ".join(map(str, ids))
        return failed(f"le processus du conteneur tourne en root (Uid : {shown}).", **evidence)
    return passed(f"le processus tourne sous l'uid {ids[1]}, pas root.", **evidence)


def _net_bind_effective(ctx: Context) -> Outcome:
    live, status = _web80_status(ctx)
    effective = observe.capability_sets(status)["CapEff"]
    evidence = {"pid": live.pid, "CapEff": sorted(effective)}
    if NET_BIND not in effective:
        return failed(f"{NET_BIND} n'est pas effective (CapEff : {_names(effective)}).",
                      **evidence)
    return passed(f"{NET_BIND} est effective.", **evidence)


def _no_other_capability(ctx: Context) -> Outcome:
    live, status = _web80_status(ctx)
    sets = observe.capability_sets(status)
    evidence = {"pid": live.pid, **{k: sorted(v) for k, v in sets.items()}}
    extra = {key: v - {NET_BIND} for key, v in sets.items() if v - {NET_BIND}}
    if extra:
        where = " ; ".join(f"{key} : {_names(v)}" for key, v in sorted(extra.items()))
        return failed(f"le processus a d'autres capacités que {NET_BIND} — {where}.", **evidence)
    return passed(f"aucun ensemble (effectif, permis, plafond, hérité, ambiant) ne contient "
                  f"autre chose que {NET_BIND}.", **evidence)


def _listens_80(ctx: Context) -> Outcome:
    live = observe.container(ctx, "web80")
    # A server started a moment ago may not have bound yet: look again for a short while.
    deadline = time.monotonic() + 3.0
    while True:
        listeners = [s for name in ("tcp", "tcp6")
                     for s in observe.parse_tcp(observe.read_proc(live.pid, "net", name))]
        if any(s.port == 80 for s in listeners) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    evidence = {"pid": live.pid, "listening_ports": sorted({s.port for s in listeners})}
    on_80 = [s for s in listeners if s.port == 80]
    if not on_80:
        return failed("aucune socket n'écoute sur le port 80 dans l'espace de noms réseau du "
                      "conteneur.", **evidence)
    evidence["uid"] = on_80[0].uid
    if on_80[0].uid == 0:
        return failed("le port 80 est ouvert par root, pas par un utilisateur ordinaire.",
                      **evidence)
    return passed(f"le port 80 est en écoute (socket de l'uid {on_80[0].uid}).", **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="no-chown", title="Root sans CAP_CHOWN",
        statement="Lancez en arrière-plan un conteneur nommé nochown dont le processus root n'a "
                  "plus CAP_CHOWN mais garde toutes les autres capacités par défaut.",
        points=4,
        checks=(
            running("nochown"),
            Check(id="chown-dropped", run=_chown_dropped,
                  description=f"{CHOWN} n'est ni effective ni dans le plafond (CapBnd)",
                  hint="--cap-drop retire une capacité du plafond et des ensembles du "
                       "processus."),
            Check(id="defaults-kept", run=_defaults_kept,
                  description="les autres capacités par défaut sont toutes là",
                  hint="Ne retirez que celle-là : --cap-drop ALL retirerait tout."),
            Check(id="chown-refused", hidden=True, run=_chown_refused,
                  description="chown échoue avec EPERM dans le conteneur"),
        ),
        hints=("pyker run -d --name nochown --cap-drop ... busybox sleep 3600",
               "grep Cap /proc/<PID>/status puis capsh --decode=<masque> sur l'hôte montrent "
               "les ensembles."),
    ),
    Exercise(
        lab=LAB, id="bind-80", title="Le port 80 sans être root",
        statement="Lancez en arrière-plan un conteneur nommé web80 dont le processus, sous un "
                  "uid non root, sert HTTP sur le port 80 avec CAP_NET_BIND_SERVICE pour "
                  "seule capacité.",
        points=5, all_or_nothing=True,
        checks=(
            running("web80"),
            Check(id="non-root", run=_non_root, description="le processus n'est pas root",
                  hint="-u (--user) choisit l'uid du processus, par exemple -u 1000."),
            Check(id="net-bind-effective", run=_net_bind_effective,
                  description=f"{NET_BIND} est effective",
                  hint="Pour un uid non root, --cap-add ne remplit que le plafond : c'est une "
                       "capacité de fichier (setcap cap_net_bind_service=+ep sur le "
                       "programme) qui la rend effective à l'execve."),
            Check(id="no-other-capability", run=_no_other_capability,
                  description=f"aucune autre capacité que {NET_BIND}, plafond compris",
                  hint="--cap-drop ALL vide le plafond ; --cap-add y remet la seule utile."),
            Check(id="listens-80", hidden=True, run=_listens_80,
                  description="une socket non root écoute sur le port 80"),
        ),
        hints=("Le serveur : busybox httpd -f -p 80.",
               "Une capacité de fichier survit à la copie d'un répertoire dans le conteneur "
               "(pyker cp DOSSIER conteneur:/chemin), puis pyker commit en fait une image.",
               "Dans le conteneur : grep Cap /proc/1/status."),
    ),
)
