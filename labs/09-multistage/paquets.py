"""Les paquets Debian des constructions du TP 09 (gcc, make, Go), servis sans Internet.

Pourquoi. Le correcteur, ``make test`` et les tests lancent ce TP dans un espace de noms réseau
qui n'a que ``lo`` : un ``RUN apt-get install gcc`` n'y joindrait pas le miroir Debian. Le dépôt
hors ligne du TP 08 (``labs/08-dockerfile/depot.py`` : lisez sa présentation) sert alors à apt,
sur 127.0.0.1, l'index signé de Debian et les ``.deb`` que l'hôte a déjà reçus. Ce module dit
lesquels il faut ici, les télécharge sur l'hôte une fois pour toutes, et lance une construction
avec le dépôt.

Sur l'hôte, avec Internet, une fois (apt-get download, le client ordinaire de Debian) ::

    python3 labs/09-multistage/paquets.py telecharger

Une construction avec le dépôt (c'est ce que font les scripts de ``solutions/``) ::

    python3 labs/09-multistage/paquets.py construire -t n09-hello labs/09-multistage/hello

Les Dockerfiles déclarent ``ARG http_proxy`` dans l'étape qui lance apt. Sans cela, ``RUN`` le
recevrait aussi (un argument prédéfini), mais hors de la clé de cache ; déclaré, il y entre.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

ICI = Path(__file__).resolve().parent
DEPOT_PY = ICI.parent / "08-dockerfile" / "depot.py"
# Le port d'apt-cacher-ng, l'usage pour un mandataire apt. L'adresse du mandataire entre dans
# la clé de cache du RUN qui lance apt (ARG http_proxy) : un port fixe garde ce cache d'une
# session à l'autre, un port tiré au hasard le perdrait à chaque fois.
PORT = 3142

# Les Dockerfiles du TP demandent gcc et libc6-dev (le compilateur, les en-têtes et la libc à
# lier), make (le cours compile par « make hello ») et golang-go (le second exemple). Voici ce
# qu'apt installe alors sur debian:bookworm (les lignes Inst de « apt-get install -s
# --no-install-recommends gcc libc6-dev make golang-go ») : les dépendances que l'image n'a pas.
PAQUETS = (
    "binutils", "binutils-common", "binutils-x86-64-linux-gnu", "cpp", "cpp-12", "gcc",
    "gcc-12", "golang-1.19-go", "golang-1.19-src", "golang-go", "golang-src", "libasan8",
    "libatomic1", "libbinutils", "libc-dev-bin", "libc6-dev", "libcc1-0", "libcrypt-dev",
    "libctf-nobfd0", "libctf0", "libgcc-12-dev", "libgomp1", "libgprofng0",
    "libgssapi-krb5-2", "libisl23", "libitm1", "libjansson4", "libk5crypto3",
    "libkeyutils1", "libkrb5-3", "libkrb5support0", "liblsan0", "libmpc3", "libmpfr6",
    "libnsl-dev", "libnsl2", "libquadmath0", "libssl3", "libtirpc-common", "libtirpc-dev",
    "libtirpc3", "libtsan2", "libubsan1", "linux-libc-dev", "make", "rpcsvc-proto",
)


def module_depot():
    """Le module ``depot`` du TP 08, chargé une fois depuis son fichier (labs/ n'est pas un
    paquet Python)."""
    if "depot_tp08" not in sys.modules:
        spec = importlib.util.spec_from_file_location("depot_tp08", DEPOT_PY)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"le dépôt du TP 08 est introuvable : {DEPOT_PY}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        class PortFixe(module.ThreadingHTTPServer):
            """Le serveur du dépôt sur :data:`PORT` s'il est libre, sur un port libre sinon
            (une autre session du TP tient déjà le premier)."""

            def __init__(self, adresse, gestionnaire) -> None:
                try:
                    super().__init__((adresse[0], PORT), gestionnaire)
                except OSError:
                    super().__init__(adresse, gestionnaire)

        module.ThreadingHTTPServer = PortFixe        # dans cette copie du module seulement
        sys.modules["depot_tp08"] = module
    return sys.modules["depot_tp08"]


def nom_en_cache(nom: str, version: str, deb: str) -> str:
    """Le nom qu'apt donne au .deb dans son cache : ``nom_VERSION_ARCH.deb``, l'époque écrite
    ``%3a`` (``gcc_4%3a12.2.0-3_amd64.deb``), là où le miroir l'appelle sans époque
    (``pool/…/gcc_12.2.0-3_amd64.deb``)."""
    arch = deb.rsplit("_", 1)[-1]
    return f"{nom}_{version.replace(':', '%3a')}_{arch}"


def versions(depot) -> dict[str, tuple[str, str, str]]:
    """Pour chaque paquet de :data:`PAQUETS` que l'index de ``depot`` annonce : (version, nom
    du .deb sur le miroir, nom du .deb dans le cache d'apt).

    Raises:
        FileNotFoundError: l'hôte n'a pas l'index de bookworm (jamais d'apt-get update).
    """
    depot_tp08 = module_depot()
    adresse = depot_tp08.index_des_paquets()
    index = depot.index(depot_tp08.nom_de_liste(adresse)) if adresse else None
    if index is None:
        raise FileNotFoundError("l'hôte n'a pas l'index de Debian bookworm dans "
                                f"{depot.listes} : lancez « apt-get update » sur l'hôte")
    voulus, trouves = set(PAQUETS), {}
    with open(index, "rb") as f:
        for bloc in f.read().decode(errors="replace").split("\n\n"):
            champs = dict(ligne.split(": ", 1) for ligne in bloc.strip().splitlines()
                          if ": " in ligne and not ligne.startswith(" "))
            nom = champs.get("Package")
            if nom in voulus:
                deb = Path(champs["Filename"]).name
                trouves[nom] = (champs["Version"], deb, nom_en_cache(nom, champs["Version"], deb))
    return trouves


class Depot(module_depot().Depot):
    """Le dépôt du TP 08, qui sert aussi les paquets dont la version a une époque (gcc, make,
    Go…) : le miroir les nomme sans elle, le cache d'apt avec. :attr:`paquets` donne, pour
    chaque paquet du TP, (version, nom sur le miroir, nom dans le cache) ; :meth:`manquants`
    dit ce qui manque au cache."""

    def __init__(self) -> None:
        super().__init__()
        self.paquets = versions(self)
        self._cache = {deb: cache for _v, deb, cache in self.paquets.values()}

    def fichier_pour(self, url: str) -> Path | None:
        trouve = super().fichier_pour(url)
        nom = unquote(url.rsplit("/", 1)[-1])          # « ~ » arrive écrit %7e
        if trouve is None and nom in self._cache:
            candidat = self.archives / self._cache[nom]
            trouve = candidat if candidat.is_file() else None
        return trouve

    def manquants(self) -> list[str]:
        """Les paquets (``nom=version``) dont le .deb manque au cache d'apt de l'hôte : le
        dépôt répondrait 404, et apt échouerait au milieu de la construction."""
        absents = [f"{nom} (absent de l'index)" for nom in PAQUETS if nom not in self.paquets]
        for nom, (version, _deb, cache) in sorted(self.paquets.items()):
            if not (self.archives / cache).is_file():
                absents.append(f"{nom}={version}")
        return absents


def telecharger() -> int:
    """Range dans le cache d'apt de l'hôte les .deb qui manquent (sur l'hôte, avec Internet)."""
    depot = Depot()
    try:
        absents = depot.manquants()
        if not absents:
            print(f"les {len(PAQUETS)} paquets du TP 09 sont dans {depot.archives}")
            return 0
        print(f"téléchargement de {len(absents)} paquets dans {depot.archives}")
        # apt-get download vérifie chaque .deb avec les empreintes de l'index signé.
        return subprocess.run(["apt-get", "download", "-q", *absents],
                              cwd=depot.archives).returncode
    finally:
        depot.arreter()


def construire(arguments: list[str]) -> int:
    """``pyker build ARGUMENTS`` avec le dépôt en marche, passé par ``--build-arg http_proxy``."""
    depot = Depot()
    try:
        absents = depot.manquants()
        if absents:
            print(f"il manque {len(absents)} paquets au cache d'apt de l'hôte : lancez « python3 "
                  f"{Path(__file__)} telecharger » sur l'hôte", file=sys.stderr)
            return 1
        adresse = depot.demarrer()
        return subprocess.run(["pyker", "build", "--build-arg", f"http_proxy={adresse}",
                               *arguments]).returncode
    finally:
        depot.arreter()


def main(argv: list[str]) -> int:
    if argv[:1] == ["telecharger"]:
        return telecharger()
    if argv[:1] == ["construire"] and len(argv) > 1:
        return construire(argv[1:])
    print("usage : paquets.py telecharger | paquets.py construire ARGUMENTS_DE_PYKER_BUILD",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
