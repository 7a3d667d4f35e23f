"""Les fichiers cgroup d'un conteneur pyker, lus tels quels, et le CPU qu'il consomme, tracé en direct.

Le notebook 03-cgroups s'en sert ; tout passe par les fichiers que le noyau expose :

* où est le cgroup d'un conteneur : la ligne du contrôleur dans ``/proc/<pid>/cgroup``, ajoutée
  au point de montage de la hiérarchie (``pyker.cgroups.detect()`` lit ``/proc/self/mountinfo``) ;
* le temps CPU consommé : ``cpuacct.usage`` (nanosecondes, cgroups v1 et hôtes hybrides) ou la
  ligne ``usage_usec`` de ``cpu.stat`` (microsecondes, cgroups v2) ;
* les cœurs utilisés : ``cpuacct.usage_percpu`` (v1) ; v2 n'a pas de compteur par cœur, on
  relève alors le dernier cœur de chaque processus (39ᵉ champ de ``/proc/<pid>/stat``) ;
* les cœurs permis : ``Cpus_allowed_list`` de ``/proc/<pid>/status``, que cpuset impose.
"""

from __future__ import annotations

import time
from pathlib import Path

from pyker.cgroups import detect
from pyker.engine import Engine


def pid_de(nom: str) -> int:
    """Le PID, sur l'hôte, du processus principal du conteneur ``nom``."""
    return Engine().containers.resolve(nom).state.pid


def cgroup(nom: str, controleur: str) -> Path:
    """Le dossier du cgroup du conteneur ``nom`` dans la hiérarchie de ``controleur``."""
    layout = detect()
    for ligne in Path(f"/proc/{pid_de(nom)}/cgroup").read_text().splitlines():
        numero, controleurs, chemin = ligne.split(":", 2)
        if layout.mode == "v2" and numero == "0":
            return layout.unified / chemin.lstrip("/")
        if layout.mode != "v2" and controleur in controleurs.split(","):
            return layout.v1[controleur] / chemin.lstrip("/")
    raise LookupError(f"pas de contrôleur {controleur} pour le conteneur {nom}")


def cpu_ns(nom: str) -> int:
    """Le temps CPU consommé par tout le cgroup du conteneur, en nanosecondes."""
    dossier = cgroup(nom, "cpuacct")
    usage = dossier / "cpuacct.usage"
    if usage.exists():
        return int(usage.read_text())
    for ligne in (dossier / "cpu.stat").read_text().splitlines():
        cle, valeur = ligne.split()
        if cle == "usage_usec":
            return int(valeur) * 1000
    raise LookupError(f"ni cpuacct.usage ni usage_usec dans {dossier}")


def coeurs_utilises(nom: str, duree: float = 2.0) -> list[int]:
    """Les cœurs sur lesquels le conteneur a tourné (plus de 5 % du temps) pendant ``duree``."""
    par_coeur = cgroup(nom, "cpuacct") / "cpuacct.usage_percpu"
    if par_coeur.exists():
        avant = [int(v) for v in par_coeur.read_text().split()]
        time.sleep(duree)
        apres = [int(v) for v in par_coeur.read_text().split()]
        seuil = 0.05 * duree * 1e9
        return [n for n, (a, b) in enumerate(zip(avant, apres)) if b - a > seuil]
    procs = cgroup(nom, "cpuacct") / "cgroup.procs"
    vus: dict[int, int] = {}
    fin = time.monotonic() + duree
    while time.monotonic() < fin:
        for pid in procs.read_text().split():
            try:
                coeur = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[36])
            except (OSError, IndexError, ValueError):
                continue  # un processus qui vient de finir
            vus[coeur] = vus.get(coeur, 0) + 1
        time.sleep(0.02)
    total = sum(vus.values()) or 1
    return sorted(c for c, n in vus.items() if n / total > 0.05)


def coeurs_permis(nom: str) -> str:
    """Les cœurs où le noyau peut placer les processus du conteneur (``Cpus_allowed_list``).

    Le contrôleur cpuset impose ce masque à chaque tâche du cgroup : c'est la liste que
    ``/proc/<pid>/status`` donne pour chacune (la même pour toutes).
    """
    listes = set()
    for pid in (cgroup(nom, "cpuset") / "cgroup.procs").read_text().split():
        try:
            statut = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # un processus qui vient de finir
        listes.add(statut.split("Cpus_allowed_list:")[1].split()[0])
    return " / ".join(sorted(listes))


def tracer_partage(noms: list[str], duree: float = 8.0, pas: float = 0.5,
                   attendu: dict[str, float] | None = None) -> dict[str, float]:
    """Trace en direct la part de CPU de chaque conteneur ; rend la part de chacun sur la mesure.

    Toutes les ``pas`` secondes, on relit le compteur CPU de chaque cgroup. Chaque courbe est la
    part d'un conteneur dans le CPU que tous ont reçu sur le dernier intervalle ; la courbe grise,
    ce qu'ils ont reçu ensemble, en % d'un cœur (elle baisse si d'autres programmes prennent du
    CPU, sans changer la répartition). ``attendu`` trace en pointillés les parts visées. La
    valeur rendue est la part de chacun (entre 0 et 1) sur toute la mesure.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.set_xlim(0, duree)
    ax.set_ylim(0, 125)
    ax.set_xlabel("temps (s)")
    ax.set_ylabel("%")
    for nom, pourcent in (attendu or {}).items():
        ax.axhline(pourcent, linestyle="--", linewidth=1, color="grey")
        ax.annotate(f"attendu pour {nom} : {pourcent:g} %", (0.1, pourcent + 2), color="grey")
    courbes = {nom: ax.plot([], [], marker=".", label=f"part de {nom}")[0] for nom in noms}
    ensemble = ax.plot([], [], color="grey", linewidth=1, linestyle=":",
                       label="les deux ensemble, en % d'un cœur")[0]
    ax.legend(loc="upper center", ncol=3, fontsize="small")
    affichage = display(fig, display_id=True)

    depart = {nom: cpu_ns(nom) for nom in noms}
    precedent, t0 = dict(depart), time.monotonic()
    xs: list[float] = []
    parts_y: dict[str, list[float]] = {nom: [] for nom in noms}
    total_y: list[float] = []
    t_prec = t0
    for etape in range(1, int(duree / pas) + 1):
        time.sleep(max(0.0, t0 + etape * pas - time.monotonic()))
        maintenant = time.monotonic()
        valeurs = {nom: cpu_ns(nom) for nom in noms}
        deltas = {nom: valeurs[nom] - precedent[nom] for nom in noms}
        somme = sum(deltas.values()) or 1
        xs.append(maintenant - t0)
        for nom in noms:
            parts_y[nom].append(100 * deltas[nom] / somme)
            courbes[nom].set_data(xs, parts_y[nom])
        total_y.append(100 * sum(deltas.values()) / ((maintenant - t_prec) * 1e9))
        ensemble.set_data(xs, total_y)
        precedent, t_prec = valeurs, maintenant
        affichage.update(fig)

    consomme = {nom: precedent[nom] - depart[nom] for nom in noms}
    total = sum(consomme.values()) or 1
    parts = {nom: c / total for nom, c in consomme.items()}
    ax.set_title("Part de chacun sur la mesure : "
                 + ", ".join(f"{nom} {100 * p:.1f} %" for nom, p in parts.items()))
    affichage.update(fig)
    plt.close(fig)  # déjà affichée : le backend inline ne doit pas la montrer une seconde fois
    return parts
