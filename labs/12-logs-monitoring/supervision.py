"""Les mesures et les serveurs du TP 12 : cgroups d'un conteneur, fichiers de journaux, et la
chaîne de supervision « serveur de métriques → Prometheus → graphique ».

Le notebook 12-logs-monitoring s'en sert ; tout vient du noyau, du moteur ou de Prometheus :

* le cgroup d'un conteneur se lit dans ``/proc/<pid>/cgroup`` (une ligne par hiérarchie),
  ajouté au point de montage de la hiérarchie (``pyker.cgroups.detect()`` lit
  ``/proc/self/mountinfo``) ; son temps CPU est ``cpuacct.usage`` (v1, hôtes hybrides) ou
  ``usage_usec`` de ``cpu.stat`` (v2) ;
* les journaux du pilote ``json-file`` sont les fichiers ``<id>-json.log``, ``.1``, ``.2``…
  du dossier du conteneur, que le moteur nomme dans ``LogPath`` ;
* ``pyker metrics serve`` et le ``prometheus`` de Debian sont de vrais processus, lancés en
  arrière-plan sur 127.0.0.1, interrogés par leur API HTTP, puis arrêtés par SIGTERM.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from pyker.cgroups import detect
from pyker.engine import Engine

NANOS = 1_000_000_000


# -- un conteneur, vu par le noyau -----------------------------------------------------------

def pid_de(nom: str) -> int:
    """Le PID, sur l'hôte, du processus principal du conteneur ``nom``."""
    return Engine().containers.resolve(nom).state.pid


def cgroup(nom: str, controleur: str) -> Path:
    """Le dossier du cgroup du conteneur ``nom`` qui porte les fichiers de ``controleur``."""
    layout = detect()
    for ligne in Path(f"/proc/{pid_de(nom)}/cgroup").read_text().splitlines():
        numero, controleurs, chemin = ligne.split(":", 2)
        if layout.mode == "v2" and numero == "0":
            return layout.unified / chemin.lstrip("/")
        if layout.mode != "v2" and controleur in controleurs.split(","):
            return layout.v1[controleur] / chemin.lstrip("/")
    raise LookupError(f"pas de contrôleur {controleur} pour le conteneur {nom}")


def temps_cpu_ns(nom: str) -> int:
    """Le temps CPU consommé par tout le cgroup du conteneur, en nanosecondes."""
    dossier = cgroup(nom, "cpuacct")
    if (dossier / "cpuacct.usage").exists():
        return int((dossier / "cpuacct.usage").read_text())
    for ligne in (dossier / "cpu.stat").read_text().splitlines():
        cle, valeur = ligne.split()
        if cle == "usage_usec":
            return int(valeur) * 1000
    raise LookupError(f"ni cpuacct.usage ni usage_usec dans {dossier}")


def temps_hote_ns() -> int:
    """Le temps CPU de tout l'hôte (tous les cœurs), d'après la ligne ``cpu`` de /proc/stat,
    comme le calcule Docker : user … softirq, en tics de 1/100 s."""
    champs = Path("/proc/stat").read_text().splitlines()[0].split()
    return sum(int(v) for v in champs[1:8]) * NANOS // 100


def coeurs(noms: list[str], duree: float = 1.0) -> dict[str, float]:
    """Le CPU de chaque conteneur pendant ``duree`` secondes, en cœurs (1.0 : un cœur plein)."""
    avant = {nom: temps_cpu_ns(nom) for nom in noms}
    t0 = time.monotonic()
    time.sleep(duree)
    ecoule = time.monotonic() - t0
    return {nom: (temps_cpu_ns(nom) - avant[nom]) / (ecoule * NANOS) for nom in noms}


def memoire_sans_cache(nom: str) -> int:
    """La mémoire du conteneur comme ``stats`` l'affiche : l'usage moins le cache de fichiers
    inactif, que le noyau peut reprendre (v1 : ``total_inactive_file``, v2 : ``inactive_file``)."""
    dossier = cgroup(nom, "memory")
    v1 = (dossier / "memory.usage_in_bytes").exists()
    usage = int((dossier / ("memory.usage_in_bytes" if v1 else "memory.current")).read_text())
    cles = dict(l.split() for l in (dossier / "memory.stat").read_text().splitlines())
    inactif = int(cles.get("total_inactive_file" if v1 else "inactive_file", 0))
    return usage - inactif if inactif < usage else usage


# -- les journaux sur le disque --------------------------------------------------------------

def fichiers_journal(nom: str) -> list[Path]:
    """Les fichiers du pilote ``json-file`` du conteneur : le courant, puis ``.1``, ``.2``…"""
    engine = Engine()
    record = engine.containers.resolve(nom)
    courant = engine.containers.dir(record.id) / f"{record.id}-json.log"
    # Les fichiers tournés s'appellent <id>-json.log.1, .2… (.1.gz… avec compress=true).
    numeros = {p: p.name[len(courant.name) + 1:].removesuffix(".gz")
               for p in courant.parent.glob(courant.name + ".*")}
    tournes = sorted((p for p, n in numeros.items() if n.isdigit()), key=lambda p: int(numeros[p]))
    return ([courant] if courant.exists() else []) + tournes


def decrire_fichier(chemin: Path) -> str:
    """Nom (l'identifiant remplacé par ``<id>``), taille, et première et dernière lignes
    écrites par le conteneur dans ce fichier json-file."""
    lignes = [json.loads(l)["log"].rstrip("\n") for l in chemin.read_text().splitlines()]
    nom = chemin.name.replace(chemin.parent.name, "<id>")
    return (f"{nom:18} {chemin.stat().st_size:5} octets, {len(lignes):3} lignes "
            f"(« {lignes[0]} » … « {lignes[-1]} »)")


# -- les serveurs de la supervision ----------------------------------------------------------

def port_libre() -> int:
    """Un port TCP libre de 127.0.0.1 (le noyau en choisit un quand on demande le port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """(code HTTP, Content-Type, corps) d'un GET."""
    with urllib.request.urlopen(url, timeout=timeout) as reponse:
        return reponse.status, reponse.headers["Content-Type"], reponse.read().decode()


def arreter(proc: subprocess.Popen) -> int:
    """SIGTERM, comme ``docker stop`` ; SIGKILL après 15 s. Rend le code de sortie."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def serveur_metriques() -> tuple[subprocess.Popen, str]:
    """``pyker metrics serve`` en arrière-plan sur un port libre de 127.0.0.1 ; (processus,
    URL des métriques). Le serveur annonce son adresse sur sa première ligne."""
    proc = subprocess.Popen(["pyker", "metrics", "serve", "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ligne = proc.stdout.readline()
    if not ligne.startswith("Serving metrics on "):
        arreter(proc)
        raise RuntimeError(f"pyker metrics serve n'a pas démarré : {ligne}{proc.stderr.read()}")
    return proc, ligne.split()[-1]


class Prometheus:
    """Le ``prometheus`` de Debian, lancé avec une configuration et une base dans un dossier
    temporaire, qui interroge ``cible`` (``hôte:port``) toutes les secondes."""

    def __init__(self, cible: str) -> None:
        binaire = shutil.which("prometheus")
        if binaire is None:
            raise RuntimeError("Prometheus n'est pas installé : apt-get install prometheus")
        self.dossier = Path(tempfile.mkdtemp(prefix="n12-prometheus-"))
        self.config = self.dossier / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: pyker\n"
            "    static_configs:\n"
            f"      - targets: ['{cible}']\n")
        self.port = port_libre()
        self.journal = open(self.dossier / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [binaire, f"--config.file={self.config}",
             f"--storage.tsdb.path={self.dossier / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=self.journal, cwd=self.dossier)
        self.url = f"http://127.0.0.1:{self.port}"

    def attendre(self, delai: float = 60.0) -> None:
        """Jusqu'à ce que Prometheus soit prêt (``/-/ready``) et ait lu la cible une fois."""
        fin = time.monotonic() + delai
        while time.monotonic() < fin:
            if self.proc.poll() is not None:
                raise RuntimeError("Prometheus s'est arrêté : "
                                   + (self.dossier / "prometheus.log").read_text()[-500:])
            try:
                if http(self.url + "/-/ready")[0] == 200 and self.requete('up{job="pyker"}'):
                    return
            except OSError:
                pass  # pas encore à l'écoute
            time.sleep(0.5)
        raise RuntimeError(f"Prometheus n'est pas prêt après {delai:.0f} s")

    def _api(self, chemin: str, **parametres: object) -> list[dict]:
        url = f"{self.url}/api/v1/{chemin}?" + urllib.parse.urlencode(parametres)
        doc = json.loads(http(url)[2])
        if doc["status"] != "success":
            raise RuntimeError(f"PromQL : {doc.get('error')}")
        return doc["data"]["result"]

    def requete(self, promql: str) -> list[dict]:
        """Une requête instantanée (``/api/v1/query``) : une valeur par série."""
        return self._api("query", query=promql)

    def plage(self, promql: str, debut: float, fin: float, pas: float = 1.0) -> list[dict]:
        """Une requête sur un intervalle (``/api/v1/query_range``) : des points par série."""
        return self._api("query_range", query=promql, start=debut, end=fin, step=pas)

    def arreter(self) -> int:
        code = arreter(self.proc)
        self.journal.close()
        shutil.rmtree(self.dossier, ignore_errors=True)
        return code


def tracer(series: list[dict], titre: str, limites: dict[str, float]) -> None:
    """Les séries d'une requête ``query_range`` (une courbe par conteneur, en cœurs), avec des
    pointillés aux ``limites`` (étiquette → valeur)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    t0 = min(float(s["values"][0][0]) for s in series)
    for serie in sorted(series, key=lambda s: s["metric"]["name"]):
        xs = [float(t) - t0 for t, _ in serie["values"]]
        ax.plot(xs, [float(v) for _, v in serie["values"]], marker=".",
                label=serie["metric"]["name"])
    for etiquette, valeur in limites.items():
        ax.axhline(valeur, linestyle="--", linewidth=1, color="grey")
        ax.annotate(etiquette, (0.2, valeur + 0.03), color="grey")
    ax.set_ylim(0, 1.4)
    ax.set_xlabel("temps (s)")
    ax.set_ylabel("cœurs")
    ax.set_title(titre, fontsize="medium")
    ax.legend(loc="upper right", fontsize="small")
    plt.show()


if __name__ == "__main__":  # python supervision.py NOM : le CPU du conteneur pendant 1 s
    print(coeurs(sys.argv[1:]))
