"""Taper dans un conteneur comme au clavier : ``pyker run -it`` sur un vrai pseudo-terminal.

Le TP layer01 lance un shell interactif (``docker run -it``), y tape une commande, puis se
détache avec Ctrl-P Ctrl-Q : le conteneur continue de tourner sans terminal. Un notebook n'a
pas de clavier ; ce module ouvre un pseudo-terminal (``pty.fork``), y lance ``pyker``, attend
l'invite du shell avant chaque ligne, puis envoie les deux octets de Ctrl-P Ctrl-Q (0x10 0x11).
Ce qui revient est ce que le terminal a affiché, débarrassé des séquences d'échappement.
"""

from __future__ import annotations

import os
import pty
import re
import select
import time

CTRL_P_CTRL_Q = b"\x10\x11"
# Les séquences ANSI (ESC [ ... lettre) : busybox demande la position du curseur (ESC[6n)
# avant chaque invite ; aucun terminal ne lui répond ici, il s'en passe.
ECHAPPEMENTS = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """``pyker ARGS`` sur un pseudo-terminal ; ``taper`` puis ``detacher``."""

    def __init__(self, *args: str, invite: bytes = b"# ") -> None:
        self.invite = invite
        self.pid, self.fd = pty.fork()
        if self.pid == 0:                       # l'enfant : devient pyker, le pty pour terminal
            os.execvp("pyker", ["pyker", *args])
        self.vu = b""

    def _lire(self, delai: float) -> bool:
        if not select.select([self.fd], [], [], delai)[0]:
            return False
        try:
            morceau = os.read(self.fd, 4096)
        except OSError:                         # EIO : le client pyker est parti
            return False
        self.vu += morceau
        return bool(morceau)

    def attendre(self, texte: bytes, delai: float = 20.0, depuis: int = 0) -> None:
        """Lit jusqu'à voir ``texte`` après la position ``depuis`` de ce qui a été affiché."""
        fin = time.monotonic() + delai
        while texte not in self.vu[depuis:]:
            reste = fin - time.monotonic()
            if reste <= 0 or (not self._lire(reste) and self._fini()):
                raise TimeoutError(f"{texte!r} n'est jamais venu ; affiché : {self.texte()!r}")

    def _fini(self) -> bool:
        return os.waitpid(self.pid, os.WNOHANG)[0] != 0

    def taper(self, ligne: str) -> None:
        """Tape ``ligne`` puis Entrée, une fois l'invite affichée, et attend l'invite suivante.

        Attendre l'invite avant de taper compte : ce qui arrive avant que le client ait mis
        le terminal en mode brut serait jeté (tcsetattr TCSAFLUSH), comme pour un humain."""
        self.attendre(self.invite)
        depart = len(self.vu)
        os.write(self.fd, ligne.encode() + b"\n")
        self.attendre(self.invite, depuis=depart)

    def detacher(self, delai: float = 10.0) -> int:
        """Ctrl-P Ctrl-Q : le client pyker se détache et sort ; renvoie son code de sortie."""
        os.write(self.fd, CTRL_P_CTRL_Q)
        fin = time.monotonic() + delai
        while time.monotonic() < fin:
            self._lire(0.1)
            pid, statut = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(statut)
        raise TimeoutError("le client pyker ne s'est pas détaché")

    def texte(self) -> str:
        """Ce que le terminal a affiché, sans séquences d'échappement ni retours chariot."""
        propre = ECHAPPEMENTS.sub(b"", self.vu).replace(b"\r", b"")
        return propre.decode(errors="replace")


def session(*args: str, lignes: list[str]) -> str:
    """Lance ``pyker ARGS`` (par exemple ``run -it --name x image``), tape ``lignes``, se
    détache, et renvoie l'écran : la bannière du shell, puis chaque invite et sa commande."""
    terminal = Terminal(*args)
    for ligne in lignes:
        terminal.taper(ligne)
    code = terminal.detacher()
    ecran = terminal.texte().rstrip()
    # Les lignes vides du début : l'écho des Entrée du terminal avant le démarrage du shell.
    return ecran.lstrip("\n") + f"\n[détaché : le client pyker est sorti avec le code {code}]"
