"""Un terminal piloté depuis Python, pour les commandes interactives du TP 01 (-it, attach).

Une cellule de notebook n'a pas de terminal : ``pyker run -it`` y refuserait de démarrer (son
entrée standard n'est pas un tty), et personne ne pourrait taper ctrl-p ctrl-q. On fait donc ce
que fait un émulateur de terminal : ouvrir une paire **pseudo-terminal** (``pty.fork()``, qui
appelle ``openpty(3)`` puis ``fork``), lancer la commande côté esclave (elle croit parler à un
vrai terminal : ``isatty(0)`` est vrai), et jouer l'utilisateur côté maître : écrire des
touches, lire ce que la commande affiche.

    t = Terminal("pyker", "run", "-it", "--name", "n01-sh", "busybox", "sh")
    t.attendre_invite()            # le shell a affiché « / # »
    t.taper("hostname")            # la ligne, Entrée, puis la sortie jusqu'à l'invite suivante
    t.touches(CTRL_P + CTRL_Q)     # se détacher
    t.fin()                        # code de sortie de pyker run

Chaque méthode affiche ce que l'on verrait à l'écran, nettoyé des séquences de contrôle (couleurs,
questions de position du curseur, mode « bracketed paste »), pour que la sortie se lise et
se compare d'une exécution à l'autre.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import termios
import time

CTRL_P = "\x10"
CTRL_Q = "\x11"
CTRL_D = "\x04"
QUESTION_CURSEUR = b"\x1b[6n"

# Séquences CSI (ESC [ … lettre), OSC (ESC ] … BEL) et les échappements courts (ESC =, ESC >).
_SEQUENCES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[=>()][0-9A-B]?")
# L'invite d'un shell root : « / # » (busybox), « root@abc:/# » (bash), « # » (dash).
INVITE = re.compile(r"[#$] $")


def nettoyer(brut: bytes) -> str:
    """Le texte tel qu'un terminal l'afficherait, sans séquences de contrôle ni retours chariot."""
    texte = _SEQUENCES.sub("", brut.decode(errors="replace"))
    return texte.replace("\r\n", "\n").replace("\r", "")


class Terminal:
    """Une commande lancée sur un pseudo-terminal de 80 colonnes sur 24 lignes."""

    def __init__(self, *argv: str, colonnes: int = 80, lignes: int = 24) -> None:
        self.argv = argv
        self.pid, self.fd = pty.fork()
        if self.pid == 0:                         # l'enfant : la commande, sur le terminal esclave
            try:
                os.execvp(argv[0], list(argv))
            finally:
                os._exit(127)
        # La taille de la fenêtre, comme un vrai terminal l'annonce (TIOCSWINSZ).
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", lignes, colonnes, 0, 0))
        self.lignes = lignes
        self.code: int | None = None
        self._tampon = b""
        self._a_la_ligne = True
        self._invite = ""      # une invite lue sans être affichée : elle précède la ligne tapée

    def _lire(self, fin: float, motif: re.Pattern[str] | None) -> bytes:
        """Lit jusqu'à ``motif`` (sur le texte nettoyé), la fin de la commande, ou ``fin``."""
        lu = b""
        while time.monotonic() < fin:
            if motif is not None and motif.search(nettoyer(self._tampon + lu)):
                break
            prets, _, _ = select.select([self.fd], [], [], 0.05)
            if not prets:
                continue
            try:
                morceau = os.read(self.fd, 4096)
            except OSError:                       # EIO : plus personne côté esclave
                morceau = b""
            if not morceau:
                break
            lu += morceau
            if QUESTION_CURSEUR in morceau:
                self._repondre_curseur(self._tampon + lu)
        return lu

    def _repondre_curseur(self, ecran: bytes) -> None:
        # « Où est le curseur ? » (ESC [ 6 n) : un vrai terminal répond tout seul ESC [ l ; c R.
        # Le shell de busybox le demande après chaque invite et lit la réponse sur son entrée :
        # sans elle, il prendrait la prochaine ligne tapée pour la réponse, et la perdrait.
        colonne = len(nettoyer(ecran.rpartition(QUESTION_CURSEUR)[0]).rpartition("\n")[2]) + 1
        os.write(self.fd, f"\x1b[{self.lignes};{colonne}R".encode())

    def lire(self, motif: str | re.Pattern[str] | None = None, delai: float = 10.0,
             afficher: bool = True) -> str:
        """Ce que la commande affiche jusqu'à ``motif`` (une expression régulière), ou pendant
        ``delai`` secondes au plus."""
        if isinstance(motif, str):
            motif = re.compile(motif)
        self._tampon += self._lire(time.monotonic() + delai, motif)
        texte, self._tampon = nettoyer(self._tampon), b""
        if afficher:
            self._afficher(texte)
        else:                                     # seule la dernière ligne (l'invite) reste due
            self._invite = texte.rpartition("\n")[2]
        return texte

    def _afficher(self, texte: str) -> None:
        # Sans retour à la ligne ajouté : l'invite et la ligne tapée restent sur la même ligne,
        # comme à l'écran. Jupyter recolle les morceaux d'un même flux.
        texte, self._invite = self._invite + texte, ""
        if texte:
            print(texte, end="", flush=True)
            self._a_la_ligne = texte.endswith("\n")

    def attendre_invite(self, delai: float = 10.0, afficher: bool = True) -> str:
        """Lit jusqu'à l'invite du shell ; ``afficher=False`` tait ce qui la précède (une
        bannière de bienvenue, par exemple) mais garde l'invite pour la ligne suivante."""
        return self.lire(INVITE, delai, afficher)

    def taper(self, ligne: str, delai: float = 10.0) -> str:
        """Tape ``ligne`` puis Entrée, et affiche l'écho et la sortie jusqu'à l'invite suivante."""
        os.write(self.fd, ligne.encode() + b"\r")
        # L'écho de la ligne d'abord, pour ne pas prendre l'ancienne invite pour la nouvelle.
        self._tampon += self._lire(time.monotonic() + delai, re.compile(r"\n"))
        return self.attendre_invite(delai)

    def attendre_mode_brut(self, delai: float = 10.0) -> bool:
        """Attend que la commande passe le terminal en mode brut (sans écho local), comme
        ``pyker attach`` une fois branché sur le conteneur. Avant, le noyau ferait lui-même
        l'écho de ce qu'on tape, puis le jetterait au changement de mode."""
        limite = time.monotonic() + delai
        while time.monotonic() < limite:
            if not termios.tcgetattr(self.fd)[3] & termios.ECHO:
                return True
            time.sleep(0.05)
        return False

    def touches(self, texte: str) -> None:
        """Envoie des touches telles quelles (ctrl-p ctrl-q, ctrl-d…), sans Entrée."""
        os.write(self.fd, texte.encode())

    def fin(self, delai: float = 10.0) -> int:
        """Attend la fin de la commande ; rend son code de sortie (124 si elle dure trop)."""
        limite = time.monotonic() + delai
        while self.code is None:
            self._tampon += self._lire(min(limite, time.monotonic() + 0.2), None)
            pid, statut = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(statut)
            elif time.monotonic() >= limite:
                return 124
        self._afficher(nettoyer(self._tampon))
        self._tampon = b""
        if not self._a_la_ligne:
            print()
        os.close(self.fd)
        return self.code
