"""Un dépôt Debian hors ligne pour les builds du TP 08 : un petit mandataire HTTP (*proxy*)
sur 127.0.0.1 qui répond à apt avec les fichiers que cette VM a déjà téléchargés de Debian.

Pourquoi. Le notebook tourne aussi sans Internet (le correcteur et ``make test`` le lancent dans
un espace de noms réseau qui n'a que ``lo``). Un ``RUN apt-get update`` y échouerait. Le
mandataire donne à apt exactement ce que le miroir Debian lui aurait envoyé :

- ``dists/bookworm/InRelease`` : le fichier **signé par Debian** que l'hôte a reçu à son
  dernier ``apt-get update`` (``/var/lib/apt/lists/``) ; apt vérifie la signature avec les
  clés de l'image ;
- ``dists/bookworm/main/binary-amd64/Packages`` : l'index des paquets, décompressé de la copie
  de l'hôte ; son empreinte SHA256 est celle qu'annonce l'InRelease signé (apt la vérifie) ;
- ``pool/…/NOM_VERSION_ARCH.deb`` : le paquet, pris dans le cache d'apt de l'hôte
  (``/var/cache/apt/archives/``), identique octet pour octet à celui du miroir.

Tout le reste (``Packages.xz``, un paquet absent du cache…) reçoit un 404, comme d'un miroir
incomplet : apt passe au format suivant ou échoue avec son propre message. Le miroir n'est écrit
nulle part ici : c'est celui de la configuration d'apt de l'hôte (``/etc/apt/sources.list*``),
celui-là même d'où ``pyker bootstrap debian`` a tiré l'image, qu'apt nomme lui-même
(``apt-get indextargets``) ; le mandataire répond à l'adresse qu'apt lui demande, quel qu'en
soit l'hôte. Rien ne part vers
Internet. On s'en sert en passant l'adresse à ``pyker build --build-arg http_proxy=…`` (un
argument prédéfini : ni ``ARG`` à déclarer, ni trace dans ``history``).
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import re
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LISTES = Path("/var/lib/apt/lists")
ARCHIVES = Path("/var/cache/apt/archives")


def nom_de_liste(url: str) -> str:
    """Le nom qu'apt donne, dans /var/lib/apt/lists, au fichier téléchargé depuis ``url``
    (``URItoFileName`` d'apt) : sans le schéma ni l'identifiant, les caractères spéciaux
    en ``%xx``, les ``/`` en ``_`` ; ``http://miroir.example/debian/dists/bookworm/InRelease``
    → ``miroir.example_debian_dists_bookworm_InRelease``."""
    morceaux = urlsplit(url)
    hote = morceaux.netloc.rpartition("@")[2]
    texte = re.sub(r'[\\|{}\[\]<>"^~_=!@#$%&*\x00-\x20\x7f]',
                   lambda m: "%%%02x" % ord(m.group()), hote + morceaux.path)
    return texte.replace("/", "_")


def index_des_paquets(suite: str = "bookworm") -> str | None:
    """L'adresse de l'index ``Packages`` de la section main de Debian ``suite``, telle qu'apt
    la connaît sur cet hôte (``apt-get indextargets`` : le miroir de sa configuration, celui
    d'où ``pyker bootstrap debian`` a tiré l'image) ; None si apt n'en connaît pas."""
    sortie = subprocess.run(
        ["apt-get", "indextargets", "--format", "$(URI)", "Identifier: Packages",
         "Component: main", f"Release: {suite}"], capture_output=True, text=True)
    adresses = sortie.stdout.split()
    return adresses[0] if sortie.returncode == 0 and adresses else None


def nom_en_cache(fichier: str) -> str:
    """Le nom d'un .deb dans /var/cache/apt/archives : l'époque ``1:`` y est écrite ``1%3a``."""
    return unquote(fichier).replace(":", "%3a")


class Depot:
    """Le mandataire : :meth:`demarrer` rend son adresse (``http://127.0.0.1:PORT``),
    :attr:`journal` garde chaque requête (chemin, code HTTP), :meth:`arreter` le ferme."""

    def __init__(self, listes: Path = LISTES, archives: Path = ARCHIVES) -> None:
        self.listes = listes
        self.archives = archives
        self.journal: list[tuple[str, int]] = []
        self._dossier = Path(tempfile.mkdtemp(prefix="n08-depot-"))
        self._index: dict[str, Path] = {}      # nom de liste → index décompressé
        self._serveur: ThreadingHTTPServer | None = None

    # -- ce que le dépôt sait servir -------------------------------------------------------

    def _copie_de_liste(self, nom: str) -> Path | None:
        """La copie de l'hôte de la liste ``nom``, telle qu'apt l'a rangée (brute ou
        compressée en .lz4, .gz ou .xz selon sa configuration)."""
        for suffixe in ("", ".lz4", ".gz", ".xz"):
            chemin = self.listes / (nom + suffixe)
            if chemin.is_file():
                return chemin
        return None

    def index(self, nom: str) -> Path | None:
        """L'index ``nom`` (un fichier Packages) décompressé, préparé une seule fois."""
        if nom in self._index:
            return self._index[nom]
        source = self._copie_de_liste(nom)
        if source is None:
            return None
        cible = self._dossier / nom
        if source.suffix == ".lz4":
            if shutil.which("lz4cat") is None:
                return None                   # l'outil lz4 manque : l'index reste introuvable
            with open(cible, "wb") as sortie:
                subprocess.run(["lz4cat", str(source)], stdout=sortie, check=True)
        else:
            ouvrir = {".gz": gzip.open, ".xz": lzma.open}.get(source.suffix, open)
            with ouvrir(source, "rb") as entree, open(cible, "wb") as sortie:
                shutil.copyfileobj(entree, sortie, 1 << 20)
        self._index[nom] = cible
        return cible

    def paquet_disponible(self, paquet: str, suite: str = "bookworm") -> str | None:
        """Le nom du .deb de ``paquet`` que l'index annonce, s'il est dans le cache de l'hôte."""
        adresse = index_des_paquets(suite)
        index = self.index(nom_de_liste(adresse)) if adresse else None
        if index is None:
            return None
        entree = f"Package: {paquet}\n".encode()
        with open(index, "rb") as f:
            for bloc in f.read().split(b"\n\n"):
                if bloc.lstrip(b"\n").startswith(entree):
                    for ligne in bloc.splitlines():
                        if ligne.startswith(b"Filename: "):
                            deb = Path(ligne.split(b" ", 1)[1].decode()).name
                            return deb if (self.archives / nom_en_cache(deb)).is_file() else None
        return None

    def fichier_pour(self, url: str) -> Path | None:
        """Le fichier de l'hôte qui répond à ``url``, ou None (un 404)."""
        chemin = urlsplit(url).path
        if chemin.endswith(".deb"):
            candidat = self.archives / nom_en_cache(Path(chemin).name)
            return candidat if candidat.is_file() else None
        if chemin.endswith("/InRelease"):
            candidat = self.listes / nom_de_liste(url)   # apt ne le compresse jamais
            return candidat if candidat.is_file() else None
        if chemin.endswith("/Packages"):
            return self.index(nom_de_liste(url))
        if "/by-hash/SHA256/" in chemin:
            # apt demande l'index par son empreinte : on ne connaît que celle de l'index brut.
            dossier, _, empreinte = url.rpartition("/by-hash/SHA256/")
            index = self.index(nom_de_liste(dossier + "/Packages"))
            if index is not None and _sha256(index) == empreinte:
                return index
        return None

    # -- le serveur ------------------------------------------------------------------------

    def demarrer(self) -> str:
        depot = self

        class Requete(BaseHTTPRequestHandler):
            def do_GET(self) -> None:                    # noqa: N802 (nom imposé par http.server)
                url = self.path if self.path.startswith("http") else \
                    f"http://{self.headers.get('Host', '')}{self.path}"
                fichier = depot.fichier_pour(url)
                depot.journal.append((urlsplit(url).path, 200 if fichier else 404))
                if fichier is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(fichier.stat().st_size))
                self.end_headers()
                with open(fichier, "rb") as f:
                    shutil.copyfileobj(f, self.wfile, 1 << 20)

            def log_message(self, *args: object) -> None:
                pass                                     # le journal suffit

        self._serveur = ThreadingHTTPServer(("127.0.0.1", 0), Requete)
        threading.Thread(target=self._serveur.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._serveur.server_address[1]}"

    def arreter(self) -> None:
        if self._serveur is not None:
            self._serveur.shutdown()
            self._serveur.server_close()
            self._serveur = None
        shutil.rmtree(self._dossier, ignore_errors=True)


_EMPREINTES: dict[Path, str] = {}


def _sha256(chemin: Path) -> str:
    if chemin not in _EMPREINTES:
        h = hashlib.sha256()
        with open(chemin, "rb") as f:
            for bloc in iter(lambda: f.read(1 << 20), b""):
                h.update(bloc)
        _EMPREINTES[chemin] = h.hexdigest()
    return _EMPREINTES[chemin]
