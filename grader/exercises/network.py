"""TP 11, networking: a user network with names and an alias, and a page published on loopback.

``user-network`` reads the network store (``<data-root>/network/<id>.json``: subnet, endpoints
with their addresses and aliases), enters the containers' network namespaces with
``nsenter -n -t PID ip -4 -o addr`` to see the address the kernel really holds, asks the
embedded DNS from a probe container on the network (``nslookup``), and (hidden) pings each
container from the other by name, each with its own resolver.

``published-page`` fetches ``http://127.0.0.1:8011/`` in the store's network namespace (where
the notebook's own requests go), reads pyker's DNAT rule in ``iptables-save -t nat`` of that
namespace and matches its target with the container's address in the store, and (hidden)
looks at the rule's destination (loopback only) and at the container's own listening sockets
(``/proc/PID/net/tcp``).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "11-network"
NETWORK = "n11-net"
SUBNET = "10.11.0.0/24"
API = "n11-api"
API_IP = "10.11.0.10"
ALIAS = "api"
CLIENT = "n11-client"
SITE = "n11-site"
PORT = 8011
PAGE_TEXT = "Bienvenue sur le site n11"
LOOPBACK = "127.0.0.1"

# Run in the store's network namespace (ctx.preexec): the published port is there. httpd may
# take a moment to listen after `run -d`: a refused connection is tried again for 4 s.
FETCH = """\
import sys, time, urllib.error, urllib.request
for attempt in range(20):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=3) as answer:
            print(answer.read().decode(errors="replace"), end="")
        break
    except urllib.error.HTTPError as err:
        print(f"HTTP {err.code}", end="")
        sys.exit(2)
    except OSError as err:
        if attempt == 19:
            print(err, file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
"""
_DPORT = re.compile(r"--dport (\d+)\b")
_DNAT_TO = re.compile(r"-j DNAT --to-destination (\S+)")
_DEST = re.compile(r"(?:^|\s)-d (\S+)")


# -- reading the store and the kernel -----------------------------------------------------------

def _network(ctx: Context, name: str = NETWORK):
    from pyker.errors import NetworkNotFound

    try:
        return ctx.engine.networks.get(name)
    except NetworkNotFound:
        raise Unmet(f"aucun réseau nommé « {name} » : pyker network ls les montre ; "
                    f"pyker network create le crée.", network=name) from None


def _endpoint(ctx: Context, network, name: str):
    """(live container, its endpoint on ``network``).

    Raises:
        Unmet: the container does not run, or is not attached to ``network``.
    """
    live = observe.container(ctx, name)
    endpoint = network.endpoints.get(live.id)
    if endpoint is None:
        held = [n.name for n, _ in ctx.engine.networks.endpoints_of(live.id)]
        raise Unmet(f"le conteneur « {name} » n'est pas branché sur {network.name} "
                    f"(ses réseaux : {', '.join(held) or 'aucun'}).", container=name,
                    networks=held)
    return live, endpoint


def kernel_addresses(pid: int) -> list[str]:
    """The IPv4 addresses (``a.b.c.d/len``) of the network namespace of ``pid``, as its
    kernel answers ``ip -4 -o addr`` (run by nsenter in that namespace only)."""
    if shutil.which("nsenter") is None or shutil.which("ip") is None:
        raise Unmet("le correcteur a besoin de nsenter (util-linux) et de ip (iproute2).")
    proc = subprocess.run(["nsenter", "-n", "-t", str(pid), "ip", "-4", "-o", "addr"],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise Unmet(f"impossible d'entrer dans l'espace de noms réseau du processus {pid} : "
                    f"{proc.stderr.strip()}", pid=pid)
    return re.findall(r"\binet (\S+)", proc.stdout)


def resolve(ctx: Context, network: str, name: str) -> tuple[list[str], str]:
    """(IPv4 addresses, raw output) that the embedded DNS gives for ``name``, asked by a
    throwaway busybox on ``network``."""
    proc = ctx.pyker("run", "--rm", "--network", network, ctx.probe_image, "nslookup", name)
    output = (proc.stdout + proc.stderr).strip()
    found = re.findall(rf"Name:\s+{re.escape(name)}\S*\s+Address:\s+([\d.]+)", proc.stdout)
    return sorted(set(found)), output


# -- user-network ---------------------------------------------------------------------------------

def _network_ok(ctx: Context) -> Outcome:
    net = _network(ctx)
    evidence = {"network": net.name, "id": net.id, "driver": net.driver, "subnet": net.subnet,
                "bridge": net.bridge}
    if net.driver != "bridge":
        return failed(f"{NETWORK} a le pilote {net.driver} : il faut un réseau bridge.",
                      **evidence)
    if net.subnet != SUBNET:
        return failed(f"{NETWORK} a le sous-réseau {net.subnet or 'aucun'}, attendu {SUBNET} "
                      "(--subnet).", **evidence)
    return passed(f"le réseau {NETWORK} existe, pont {net.bridge}, sous-réseau {SUBNET}.",
                  **evidence)


def _attached(ctx: Context) -> Outcome:
    net = _network(ctx)
    addresses = {}
    for name in (API, CLIENT):
        _live, endpoint = _endpoint(ctx, net, name)
        addresses[name] = endpoint.ip
    return passed(f"{API} ({addresses[API]}) et {CLIENT} ({addresses[CLIENT]}) tournent, "
                  f"branchés sur {NETWORK}.", addresses=addresses)


def _fixed_ip(ctx: Context) -> Outcome:
    net = _network(ctx)
    live, endpoint = _endpoint(ctx, net, API)
    held = kernel_addresses(live.pid)
    evidence = {"store": endpoint.ip, "kernel": held, "pid": live.pid}
    if endpoint.ip != API_IP:
        return failed(f"{API} a l'adresse {endpoint.ip} sur {NETWORK}, attendu {API_IP} "
                      "(--ip).", **evidence)
    prefix = ipaddress.ip_network(net.subnet).prefixlen
    if f"{API_IP}/{prefix}" not in held:
        return failed(f"le moteur note {API_IP} mais l'espace de noms réseau de {API} ne la "
                      f"porte pas (il a : {', '.join(held) or 'aucune adresse'}).", **evidence)
    return passed(f"{API} a {API_IP} dans la fiche du réseau et dans son espace de noms "
                  f"réseau ({API_IP}/{prefix}).", **evidence)


def _alias_dns(ctx: Context) -> Outcome:
    net = _network(ctx)
    expected = {}
    for name in (API, CLIENT):
        _live, endpoint = _endpoint(ctx, net, name)
        expected[name] = endpoint.ip
    asked = {ALIAS: expected[API], CLIENT: expected[CLIENT]}
    answers = {}
    for name, address in asked.items():
        found, output = resolve(ctx, NETWORK, name)
        answers[name] = found
        if found != [address]:
            got = ", ".join(found) or "aucune adresse"
            return failed(f"sur {NETWORK}, le DNS répond pour « {name} » : {got} ; attendu "
                          f"{address}.", answers=answers, output=output[-300:])
    return passed(f"sur {NETWORK}, « {ALIAS} » donne {asked[ALIAS]} et « {CLIENT} » donne "
                  f"{asked[CLIENT]}.", answers=answers)


def _ping(ctx: Context, source: str, target: str) -> tuple[bool, str]:
    proc = ctx.pyker("exec", source, "ping", "-c", "1", "-W", "2", target)
    output = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0 and " 0% packet loss" in output, output


def _reach(ctx: Context) -> Outcome:
    net = _network(ctx)
    for name in (API, CLIENT):
        _endpoint(ctx, net, name)
    runs = {}
    for source, target in ((CLIENT, ALIAS), (API, CLIENT)):
        ok, output = _ping(ctx, source, target)
        runs[f"{source} → {target}"] = output[-300:]
        if not ok:
            return failed(f"depuis {source}, ping {target} échoue : {output[-160:]}", runs=runs)
    return passed(f"{CLIENT} joint {API} par l'alias « {ALIAS} », et {API} joint {CLIENT} "
                  "par son nom.", runs=runs)


# -- published-page -------------------------------------------------------------------------------

def http_get(ctx: Context, url: str) -> tuple[bool, str]:
    """(answered, body or error) for ``url``, fetched in the store's network namespace."""
    try:
        proc = subprocess.run([sys.executable, "-c", FETCH, url], capture_output=True,
                              text=True, timeout=30, preexec_fn=ctx.preexec,
                              env=dict(ctx.env), errors="replace")
    except subprocess.TimeoutExpired:
        return False, "pas de réponse en 30 s"
    if proc.returncode != 0:
        return False, (proc.stdout + proc.stderr).strip()[-200:]
    return True, proc.stdout


def dnat_rules(ctx: Context, port: int = PORT) -> list[str]:
    """pyker's DNAT rules (chain PYKER of the nat table) for host port ``port``, as
    ``iptables-save`` prints them in the store's network namespace."""
    from pyker.network.nat_rules import Ruleset

    tool = shutil.which("iptables-save") or shutil.which("iptables-save", path="/usr/sbin:/sbin")
    if tool is None:
        raise Unmet("le correcteur a besoin de iptables-save (paquet iptables).")
    proc = subprocess.run([tool, "-t", "nat"], capture_output=True, text=True, timeout=30,
                          preexec_fn=ctx.preexec)
    if proc.returncode != 0:
        raise Unmet(f"iptables-save a échoué : {proc.stderr.strip()}")
    return [r.line for r in Ruleset.parse(proc.stdout).rules
            if r.table == "nat" and r.chain == "PYKER" and "-j DNAT" in r.spec
            and (m := _DPORT.search(r.spec)) and int(m[1]) == port]


def _site_address(ctx: Context) -> tuple[observe.Live, list[str]]:
    live = observe.container(ctx, SITE)
    return live, [ep.ip for _net, ep in ctx.engine.networks.endpoints_of(live.id)]


def _serves_page(ctx: Context) -> Outcome:
    observe.container(ctx, SITE)
    url = f"http://{LOOPBACK}:{PORT}/"
    ok, body = http_get(ctx, url)
    evidence = {"url": url, "body": body[-300:]}
    if not ok:
        return failed(f"{url} ne répond pas : {body[-160:]}", **evidence)
    if PAGE_TEXT not in body:
        return failed(f"{url} répond, mais sans « {PAGE_TEXT} » : {body.strip()[:120]}",
                      **evidence)
    return passed(f"{url} répond « {PAGE_TEXT} ».", **evidence)


def _dnat(ctx: Context) -> Outcome:
    live, addresses = _site_address(ctx)
    rules = dnat_rules(ctx)
    evidence = {"rules": rules, "container_addresses": addresses}
    if not rules:
        return failed(f"aucune règle DNAT de pyker pour le port {PORT} dans la table nat : "
                      f"le port {PORT} de l'hôte n'est pas publié (-p).", **evidence)
    targets = [_DNAT_TO.search(r)[1] for r in rules]
    mine = [t for t in targets if t.rsplit(":", 1)[0] in addresses]
    if not mine:
        return failed(f"le port {PORT} est redirigé vers {', '.join(targets)}, pas vers "
                      f"{SITE} ({', '.join(addresses) or 'sans adresse'}).", **evidence)
    return passed(f"la table nat redirige le port {PORT} vers {mine[0]}, l'adresse de "
                  f"{SITE}.", **evidence)


def _loopback_only(ctx: Context) -> Outcome:
    _live, addresses = _site_address(ctx)
    rules = [r for r in dnat_rules(ctx) if _DNAT_TO.search(r)[1].rsplit(":", 1)[0] in addresses]
    if not rules:
        raise Unmet(f"pas de règle DNAT vers {SITE} pour le port {PORT} (voir dnat).")
    dests = [(m[1] if (m := _DEST.search(r)) else "") for r in rules]
    evidence = {"rules": rules, "destinations": dests}
    if all(d == f"{LOOPBACK}/32" for d in dests):
        return passed(f"la règle ne vaut que pour la destination {LOOPBACK} : le port n'est "
                      "publié que sur l'interface de bouclage.", **evidence)
    return failed(f"la règle vaut pour toutes les adresses de l'hôte : publiez sur "
                  f"{LOOPBACK} seulement ({LOOPBACK}:{PORT}:80).", **evidence)


def _served_by_container(ctx: Context) -> Outcome:
    live = observe.container(ctx, SITE)
    ports = sorted({s.port for s in observe.parse_tcp(observe.read_proc(live.pid, "net", "tcp"))}
                   | {s.port for s in observe.parse_tcp(observe.read_proc(live.pid, "net",
                                                                             "tcp6"))})
    evidence = {"pid": live.pid, "listening": ports}
    if 80 not in ports:
        return failed(f"dans {SITE}, rien n'écoute sur le port 80 (ports en écoute : "
                      f"{', '.join(map(str, ports)) or 'aucun'}).", **evidence)
    return passed(f"dans l'espace de noms réseau de {SITE}, un serveur écoute sur le port 80.",
                  **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="user-network", title="Un réseau à soi, des noms et un alias",
        statement=f"Créez un réseau bridge {NETWORK} de sous-réseau {SUBNET}. Lancez-y en "
                  f"arrière-plan deux conteneurs busybox : {API}, à l'adresse {API_IP} et "
                  f"avec l'alias réseau « {ALIAS} », et {CLIENT}. Chacun doit joindre "
                  "l'autre par son nom (ou l'alias).",
        points=6,
        checks=(
            Check(id="network", run=_network_ok,
                  description=f"le réseau {NETWORK} existe, sous-réseau {SUBNET}",
                  hint="pyker network create --subnet ... NOM ; pyker network inspect NOM "
                       "montre IPAM.Config."),
            Check(id="attached", run=_attached,
                  description=f"{API} et {CLIENT} tournent, branchés sur {NETWORK}",
                  hint=f"pyker run -d --name ... --network {NETWORK} busybox sleep 3600"),
            Check(id="fixed-ip", run=_fixed_ip,
                  description=f"{API} a l'adresse {API_IP}, dans la fiche et dans le noyau",
                  hint="--ip ne marche que sur un réseau dont vous avez choisi le "
                       "sous-réseau."),
            Check(id="alias-dns", weight=2, run=_alias_dns,
                  description=f"le DNS du réseau résout « {ALIAS} » et « {CLIENT} »",
                  hint="--network-alias donne un nom de plus au conteneur, sur ce réseau "
                       "seulement."),
            Check(id="reach", hidden=True, run=_reach,
                  description=f"{CLIENT} joint {ALIAS}, {API} joint {CLIENT}, par ping"),
        ),
        hints=(f"Vérifiez : pyker run --rm --network {NETWORK} busybox nslookup {ALIAS}",
               f"pyker exec {CLIENT} ping -c 1 {ALIAS}"),
    ),
    Exercise(
        lab=LAB, id="published-page", title="Une page publiée sur l'interface de bouclage",
        statement=f"Lancez en arrière-plan un conteneur busybox nommé {SITE} dont le serveur "
                  f"web (httpd, port 80 du conteneur) sert une page contenant « {PAGE_TEXT} ». "
                  f"Publiez-le sur le port {PORT} de l'hôte, seulement sur l'adresse "
                  f"{LOOPBACK} : http://{LOOPBACK}:{PORT}/ doit l'afficher.",
        points=5,
        checks=(
            running(SITE),
            Check(id="http", weight=2, run=_serves_page,
                  description=f"http://{LOOPBACK}:{PORT}/ répond « {PAGE_TEXT} »",
                  hint="httpd -f -p 80 -h DOSSIER sert DOSSIER/index.html ; -f le garde au "
                       "premier plan."),
            Check(id="dnat", run=_dnat,
                  description=f"une règle DNAT redirige le port {PORT} vers {SITE}",
                  hint="-p [IP:]PORT_HÔTE:PORT_CONTENEUR ; iptables -t nat -S PYKER montre "
                       "les règles."),
            Check(id="loopback-only", hidden=True, run=_loopback_only,
                  description=f"le port n'est publié que sur {LOOPBACK}"),
            Check(id="served-by-container", hidden=True, run=_served_by_container,
                  description=f"le serveur écoute sur le port 80 dans {SITE}"),
        ),
        hints=("Sans adresse, -p publie sur toutes les adresses de l'hôte.",
               f"pyker port {SITE} montre ce qui est publié."),
    ),
)
