"""Les mesures du TP 11 : paires veth, tourniquet DNS tracé, trame VXLAN capturée et décodée.

Le notebook 11-network s'en sert ; tout vient du noyau ou du moteur, rien n'est recopié :

* une paire veth se lit des deux côtés : ``/sys/class/net/eth0/iflink`` dans le conteneur (le
  numéro de l'interface paire, dans l'espace de noms de l'hôte) et ``ip -j link`` sur l'hôte
  (``ifindex``, ``link_index`` et ``master``, le pont où elle est branchée) ;
* la répartition des requêtes vers un alias : de vraies requêtes ``wget`` depuis un conteneur
  client, comptées par serveur, puis tracées avec matplotlib ;
* la trame VXLAN : une socket ``AF_PACKET`` ouverte sur l'interface « sous-jacente » d'un
  espace de noms réseau (lancée par ``ip netns exec``), qui garde la première trame UDP vers le
  port 4789 portant un ping, et la décode couche par couche.

Ce fichier est aussi un script : ``python reseau.py capturer IFACE`` est ce que
``capturer_vxlan`` lance dans l'espace de noms choisi.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

VXLAN_PORT = 4789          # port UDP attribué à VXLAN par l'IANA
ETH_P_ALL = 0x0003         # linux/if_ether.h : toutes les trames, quel que soit leur type
ETH_P_IP = 0x0800
IPPROTO_ICMP, IPPROTO_UDP = 1, 17
ICMP_TYPES = {0: "echo reply", 8: "echo request"}


def pyker(*args: str) -> str:
    """La sortie d'une commande pyker ; une erreur si elle échoue."""
    proc = subprocess.run(["pyker", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pyker {' '.join(args)} : {proc.stderr.strip()}")
    return proc.stdout


def pid_de(nom: str) -> int:
    """Le PID, sur l'hôte, du processus principal du conteneur ``nom``."""
    return int(pyker("inspect", "-f", "{{.State.Pid}}", nom))


# -- paires veth ------------------------------------------------------------------------------

def interfaces_hote() -> dict[int, dict]:
    """Les interfaces de l'espace de noms réseau de ce noyau Jupyter, par numéro (``ip -j``)."""
    sortie = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True)
    return {lien["ifindex"]: lien for lien in json.loads(sortie.stdout)}


def paire_veth(nom: str) -> str:
    """Les deux bouts de la paire veth de ``eth0`` du conteneur ``nom``, au format de ``ip link``.

    Dans le conteneur, ``iflink`` donne le numéro de l'autre bout ; sur l'hôte, ``link_index``
    de ce bout doit redonner le numéro de ``eth0`` : les deux fiches se croisent.
    """
    dedans = pyker("exec", nom, "cat", "/sys/class/net/eth0/ifindex",
                   "/sys/class/net/eth0/iflink").split()
    index, iflink = int(dedans[0]), int(dedans[1])
    bout = interfaces_hote().get(iflink)
    if bout is None:
        return f"{nom} : {index}: eth0@if{iflink} ; aucune interface {iflink} sur l'hôte"
    croise = bout.get("link_index") == index
    return (f"{nom:6} dans le conteneur {index}: eth0@if{iflink}   sur l'hôte "
            f"{iflink}: {bout['ifname']}@if{bout.get('link_index')}   pont {bout.get('master')}"
            f"   (les numéros se croisent : {croise})")


# -- le tourniquet DNS ------------------------------------------------------------------------

def requetes(reseau: str, nom: str, n: int) -> list[str]:
    """Les pages reçues pour ``n`` requêtes ``http://nom/``, toutes faites par un même
    conteneur client sur ``reseau`` (donc un même résolveur DNS, celui de ce conteneur)."""
    boucle = f"for i in $(seq {n}); do wget -qO- http://{nom}/; done"
    return pyker("run", "--rm", "--network", reseau, "busybox", "sh", "-c", boucle).split()


def un_client_par_requete(reseau: str, nom: str, n: int) -> list[str]:
    """Les pages reçues pour ``n`` requêtes, chacune faite par un conteneur client neuf."""
    return [pyker("run", "--rm", "--network", reseau, "busybox", "wget", "-qO-",
                  f"http://{nom}/").strip() for _ in range(n)]


def tracer_repartition(mesures: dict[str, list[str]], serveurs: list[str]) -> dict[str, Counter]:
    """Un diagramme en barres : pour chaque série de requêtes, combien chaque serveur en a
    servi. Rend les comptes."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    comptes = {serie: Counter(pages) for serie, pages in mesures.items()}
    largeur = 0.8 / len(mesures)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for i, (serie, compte) in enumerate(comptes.items()):
        xs = [x + (i - (len(mesures) - 1) / 2) * largeur for x in range(len(serveurs))]
        barres = ax.bar(xs, [compte[s] for s in serveurs], largeur, label=serie)
        ax.bar_label(barres)
    ax.set_xticks(range(len(serveurs)), serveurs)
    ax.set_ylabel("requêtes servies")
    ax.set_ylim(0, 1.25 * max(max(c.values()) for c in comptes.values()))
    ax.set_title("Alias « es » : quel conteneur a répondu ?")
    ax.legend(loc="upper center", ncol=len(mesures), fontsize="small")
    display(fig)
    plt.close(fig)  # déjà affichée : le backend inline ne doit pas la montrer une seconde fois
    return comptes


# -- la trame VXLAN ---------------------------------------------------------------------------

def _mac(octets: bytes) -> str:
    return ":".join(f"{o:02x}" for o in octets)


def _ipv4(octets: bytes) -> dict | None:
    """En-tête IPv4 : adresses, protocole, et où commence la suite."""
    if len(octets) < 20 or octets[0] >> 4 != 4:
        return None
    longueur = (octets[0] & 0x0F) * 4
    return {"src": socket.inet_ntoa(octets[12:16]), "dst": socket.inet_ntoa(octets[16:20]),
            "proto": octets[9], "suite": octets[longueur:]}


def decoder_vxlan(trame: bytes) -> dict | None:
    """Une trame Ethernet qui porte, dans UDP vers le port 4789, une trame Ethernet qui porte
    un ping ICMP ; ``None`` pour toute autre trame.

    Les formats : Ethernet (RFC 894 : 6 + 6 octets d'adresses, 2 de type), IPv4 (RFC 791),
    UDP (RFC 768 : 8 octets), VXLAN (RFC 7348 : 8 octets, le VNI sur 24 bits aux octets 4 à 6).
    """
    if len(trame) < 14 or struct.unpack("!H", trame[12:14])[0] != ETH_P_IP:
        return None
    ip = _ipv4(trame[14:])
    if ip is None or ip["proto"] != IPPROTO_UDP or len(ip["suite"]) < 16:
        return None
    sport, dport = struct.unpack("!HH", ip["suite"][:4])
    if dport != VXLAN_PORT:
        return None
    vxlan, dedans = ip["suite"][8:16], ip["suite"][16:]
    if len(dedans) < 14 or struct.unpack("!H", dedans[12:14])[0] != ETH_P_IP:
        return None
    ip2 = _ipv4(dedans[14:])
    if ip2 is None or ip2["proto"] != IPPROTO_ICMP or not ip2["suite"]:
        return None
    return {
        "exterieur": {"mac_src": _mac(trame[6:12]), "mac_dst": _mac(trame[0:6]),
                      "ip_src": ip["src"], "ip_dst": ip["dst"], "udp_dport": dport,
                      "taille": len(trame)},
        "vni": int.from_bytes(vxlan[4:7], "big"),
        "interieur": {"mac_src": _mac(dedans[6:12]), "mac_dst": _mac(dedans[0:6]),
                      "ip_src": ip2["src"], "ip_dst": ip2["dst"],
                      "icmp": ICMP_TYPES.get(ip2["suite"][0], f"type {ip2['suite'][0]}"),
                      "taille": len(dedans)},
    }


def _capturer(interface: str, delai: float = 10.0) -> None:
    """Le script lancé dans l'espace de noms : « prêt » une fois la socket ouverte, puis la
    première trame VXLAN portant un ping, en JSON (ou ``null`` après ``delai`` secondes)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as s:
        s.bind((interface, 0))
        print("prêt", flush=True)
        fin = time.monotonic() + delai
        while (reste := fin - time.monotonic()) > 0:
            if not select.select([s], [], [], reste)[0]:
                break
            paquet = decoder_vxlan(s.recv(65535))
            if paquet is not None:
                print(json.dumps(paquet), flush=True)
                return
    print("null", flush=True)


def capturer_vxlan(netns: str, interface: str, action: Callable[[], object]) -> dict | None:
    """Écoute ``interface`` dans l'espace de noms ``netns`` pendant que ``action()`` s'exécute ;
    rend la première trame VXLAN portant un ping, décodée (ou None)."""
    ecoute = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-P", __file__,
                               "capturer", interface], stdout=subprocess.PIPE, text=True)
    try:
        if ecoute.stdout.readline().strip() != "prêt":
            raise RuntimeError(f"la capture n'a pas démarré dans {netns}")
        action()
        sortie, _ = ecoute.communicate(timeout=15)
    finally:
        if ecoute.poll() is None:
            ecoute.kill()
            ecoute.wait()
    return json.loads(sortie.strip().splitlines()[-1])


def afficher_vxlan(paquet: dict) -> None:
    """La trame décodée, une couche par ligne, de l'extérieur vers l'intérieur."""
    ext, dedans = paquet["exterieur"], paquet["interieur"]
    print(f"Ethernet  {ext['mac_src']} → {ext['mac_dst']}")
    print(f"IPv4      {ext['ip_src']} → {ext['ip_dst']}")
    print(f"UDP       → port {ext['udp_dport']} (VXLAN)")
    print(f"VXLAN     VNI {paquet['vni']}")
    print(f"  Ethernet  {dedans['mac_src']} → {dedans['mac_dst']}")
    print(f"  IPv4      {dedans['ip_src']} → {dedans['ip_dst']}")
    print(f"  ICMP      {dedans['icmp']}")
    print(f"trame sur le fil : {ext['taille']} octets, dont {dedans['taille']} pour la trame "
          f"transportée : {ext['taille'] - dedans['taille']} octets d'en-têtes ajoutés")


if __name__ == "__main__" and sys.argv[1:2] == ["capturer"]:
    _capturer(sys.argv[2])
