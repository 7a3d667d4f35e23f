"""TP 13, Compose: the student's project ``n13`` judged by what the engine runs for it.

Compose leaves its mark on everything it makes: each container carries the labels
``com.docker.compose.project``, ``.service``, ``.container-number``, ``.config-hash`` and
``.project.config_files``, each network ``com.docker.compose.project``. The checks find the
project's containers by those labels in the container records, their addresses in the
network records, and then ask the real thing: an HTTP request to the published port (made
in the store's network namespace, where the notebook's own requests go), ``getent`` and
``redis-cli`` in the containers, and a probe busybox on the project's network that asks the
embedded DNS for a service name (``nslookup``) and fetches each replica's page.

``stack``: services ``web`` (the hit counter of labs/13-compose/web) and ``cache`` (redis),
web reaching cache by its name and published on the host's port 8130. ``replicas``: a
service ``whoami`` with three replicas, all behind the one name ``whoami``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from grader.context import Context
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "13-compose"
PROJECT = "n13"
COMPOSE_FILE = "exercice/compose.yaml"
REPLICAS_FILE = "exercice/replicas.yaml"
PORT = 8130
REPLICAS = 3
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
HASH_LABEL = "com.docker.compose.config-hash"
FILES_LABEL = "com.docker.compose.project.config_files"
VISITS = re.compile(r"<b>Visits:</b>\s*(\d+)")
NO_REDIS = "cannot connect to Redis"

# Run in the store's network namespace (ctx.preexec): the published port is there. Flask
# takes a second to listen after `up -d`: a refused connection is tried again for 8 s.
FETCH = """\
import sys, time, urllib.error, urllib.request
for attempt in range(40):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=3) as answer:
            print(answer.read().decode(errors="replace"), end="")
        break
    except urllib.error.HTTPError as err:
        print(f"HTTP {err.code}", end="")
        sys.exit(2)
    except OSError as err:
        if attempt == 39:
            print(err, file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
"""


def _labels(record) -> dict[str, str]:
    return dict(record.options.get("labels") or {})


def project_containers(ctx: Context, service: str | None = None) -> list:
    """The records of project n13's running containers (of ``service``), by number."""
    found = []
    for record in ctx.engine.containers.all():
        labels = _labels(record)
        if labels.get(PROJECT_LABEL) != PROJECT or record.state.status != "running":
            continue
        if service is None or labels.get(SERVICE_LABEL) == service:
            found.append(record)
    return sorted(found, key=lambda r: (_labels(r).get(SERVICE_LABEL, ""),
                                        int(_labels(r).get(NUMBER_LABEL) or 0)))


def one_container(ctx: Context, service: str):
    """The running container of ``service`` in project n13.

    Raises:
        Unmet: none runs (the message says what the project holds instead).
    """
    records = project_containers(ctx, service)
    if records:
        return records[0]
    present = sorted({_labels(r).get(SERVICE_LABEL, "?") for r in project_containers(ctx)})
    held = (f"le projet {PROJECT} fait tourner : {', '.join(present)}" if present else
            f"aucun conteneur ne porte l'étiquette {PROJECT_LABEL}={PROJECT}")
    raise Unmet(f"aucun conteneur du service « {service} » ne tourne dans le projet "
                f"{PROJECT} ({held}).", project=PROJECT, service=service, services=present)


def shared_network(ctx: Context, records: list):
    """The network of project n13 that every record is attached to.

    Raises:
        Unmet: no such network.
    """
    ids = {r.id for r in records}
    for network in ctx.engine.networks.list():
        if network.labels.get(PROJECT_LABEL) == PROJECT and ids <= set(network.endpoints):
            return network
    names = ", ".join(r.name for r in records)
    raise Unmet(f"aucun réseau du projet {PROJECT} ne relie {names}.", containers=names)


def http_get(ctx: Context, url: str) -> tuple[bool, str]:
    """(answered, body or error) for ``url``, fetched in the store's network namespace."""
    try:
        proc = subprocess.run([sys.executable, "-c", FETCH, url], capture_output=True,
                              text=True, timeout=30, preexec_fn=ctx.preexec,
                              env=dict(ctx.env))
    except subprocess.TimeoutExpired:
        return False, "pas de réponse en 30 s"
    if proc.returncode != 0:
        return False, (proc.stdout + proc.stderr).strip()[-200:]
    return True, proc.stdout


def probe(ctx: Context, network: str, script: str) -> subprocess.CompletedProcess[str]:
    """A throwaway busybox on ``network`` running ``script`` (sh -c)."""
    return ctx.pyker("run", "--rm", "--network", network, ctx.probe_image, "sh", "-c", script)


def resolve(ctx: Context, network: str, name: str) -> list[str]:
    """The IPv4 addresses the embedded DNS gives for ``name`` on ``network``."""
    proc = probe(ctx, network, f"nslookup {name}")
    return sorted(set(re.findall(rf"Name:\s+{re.escape(name)}\S*\s+Address:\s+([\d.]+)",
                                 proc.stdout)))


# -- stack -------------------------------------------------------------------------------------

def _services(ctx: Context) -> Outcome:
    web, cache = one_container(ctx, "web"), one_container(ctx, "cache")
    return passed(f"le projet {PROJECT} fait tourner {web.name} (web) et {cache.name} "
                  f"(cache), créés par Compose.", web=web.name, cache=cache.name)


def _name_resolution(ctx: Context) -> Outcome:
    web, cache = one_container(ctx, "web"), one_container(ctx, "cache")
    network = shared_network(ctx, [web, cache])
    expected = network.endpoints[cache.id].ip
    proc = ctx.pyker("exec", web.id, "getent", "hosts", "cache")
    answer = proc.stdout.split()
    evidence = {"network": network.name, "cache_ip": expected, "answer": proc.stdout.strip()}
    if proc.returncode != 0 or not answer:
        return failed(f"dans {web.name}, le nom « cache » ne se résout pas "
                      f"(getent hosts cache : code {proc.returncode}).", **evidence)
    if answer[0] != expected:
        return failed(f"dans {web.name}, « cache » vaut {answer[0]}, pas l'adresse de "
                      f"{cache.name} sur {network.name} ({expected}).", **evidence)
    return passed(f"dans {web.name}, « cache » se résout en {expected}, l'adresse de "
                  f"{cache.name} sur le réseau {network.name}.", **evidence)


def _visits(body: str) -> int | None:
    found = VISITS.search(body)
    return int(found.group(1)) if found else None


def publishes(record, port: int) -> bool:
    """Whether ``record`` publishes the host's ``port`` (``publish``: ``[IP:]HOST:PORT/proto``)."""
    for spec in record.options.get("publish") or ():
        parts = str(spec).split("/")[0].split(":")
        if len(parts) >= 2 and parts[-2] == str(port):
            return True
    return False


def _http(ctx: Context) -> Outcome:
    web = one_container(ctx, "web")
    url = f"http://127.0.0.1:{PORT}/"
    published = list(web.options.get("publish") or ())
    if not publishes(web, PORT):
        return failed(f"{web.name} ne publie pas le port {PORT} de l'hôte (ports publiés : "
                      f"{', '.join(published) or 'aucun'}).", published=published)
    answered, body = http_get(ctx, url)
    evidence = {"url": url, "body": body[-300:], "published": published}
    if not answered:
        return failed(f"rien ne répond sur {url} : {body}", **evidence)
    if NO_REDIS in body:
        return failed(f"{url} répond, mais l'application ne joint pas Redis : « {NO_REDIS} ».",
                      **evidence)
    visits = _visits(body)
    if visits is None:
        return failed(f"{url} répond, mais pas le compteur de visites : {body[:120]!r}",
                      **evidence)
    return passed(f"{url} répond : {visits} visite(s), comptées dans Redis.", visits=visits,
                  **evidence)


def _counter_in_cache(ctx: Context) -> Outcome:
    web, cache = one_container(ctx, "web"), one_container(ctx, "cache")
    network = shared_network(ctx, [web, cache])
    # From inside the project's network, by the service name: the published port is the
    # http check's business, not this one's.
    proc = probe(ctx, network.name, "wget -qO- http://web/")
    visits = _visits(proc.stdout)
    evidence: dict[str, object] = {"page": proc.stdout.strip()[-300:]}
    if visits is None:
        return failed("la page de web, demandée depuis le réseau du projet, ne donne pas de "
                      "compteur.", **evidence)
    stored = ctx.pyker("exec", cache.id, "redis-cli", "get", "counter")
    evidence.update(visits=visits, counter=stored.stdout.strip())
    if stored.stdout.strip() != str(visits):
        return failed(f"la page dit {visits} visite(s), mais la clé counter de {cache.name} "
                      f"vaut « {stored.stdout.strip()} » : le compteur n'est pas dans cache.",
                      **evidence)
    return passed(f"la clé counter de {cache.name} vaut {visits}, comme la page.", **evidence)


def _compose_file(ctx: Context) -> Outcome:
    expected = os.path.realpath(ctx.lab_dir / LAB / COMPOSE_FILE)
    records = [one_container(ctx, "web"), one_container(ctx, "cache")]
    for record in records:
        files = [f for f in _labels(record).get(FILES_LABEL, "").split(",") if f]
        if expected not in {os.path.realpath(f) for f in files}:
            return failed(f"{record.name} n'a pas été créé depuis labs/{LAB}/{COMPOSE_FILE} "
                          f"(fichiers : {', '.join(files) or 'aucun'}).", files=files,
                          expected=expected)
    return passed(f"web et cache viennent de labs/{LAB}/{COMPOSE_FILE}.", file=expected)


# -- replicas ----------------------------------------------------------------------------------

def _replicas(ctx: Context) -> list:
    records = project_containers(ctx, "whoami")
    if not records:
        one_container(ctx, "whoami")  # raises with what the project holds
    return records


def _three_replicas(ctx: Context) -> Outcome:
    records = _replicas(ctx)
    numbers = [int(_labels(r).get(NUMBER_LABEL) or 0) for r in records]
    evidence = {"containers": [r.name for r in records], "numbers": numbers}
    if len(records) != REPLICAS:
        return failed(f"le service whoami a {len(records)} réplique(s) en marche, il en "
                      f"faut {REPLICAS}.", **evidence)
    hashes = {_labels(r).get(HASH_LABEL) for r in records}
    if len(hashes) != 1:
        return failed("les répliques de whoami n'ont pas la même configuration "
                      "(config-hash) : relancez up -d.", **evidence)
    return passed(f"whoami a {REPLICAS} répliques en marche, numérotées "
                  f"{', '.join(map(str, numbers))}.", **evidence)


def _dns(ctx: Context) -> Outcome:
    records = _replicas(ctx)
    network_name = f"{PROJECT}_default"
    from pyker.errors import NetworkNotFound

    try:
        network = ctx.engine.networks.get(network_name)
    except NetworkNotFound:
        raise Unmet(f"le réseau {network_name} n'existe pas : le projet doit s'appeler "
                    f"{PROJECT}.", network=network_name) from None
    ips = sorted(network.endpoints[r.id].ip for r in records if r.id in network.endpoints)
    answers = resolve(ctx, network_name, "whoami")
    evidence = {"network": network_name, "replicas": ips, "dns": answers}
    if len(ips) != len(records):
        return failed(f"toutes les répliques de whoami ne sont pas sur {network_name}.",
                      **evidence)
    if len(answers) != REPLICAS or answers != ips:
        return failed(f"sur {network_name}, « whoami » donne {len(answers)} adresse(s) "
                      f"({', '.join(answers) or 'aucune'}), il en faut {REPLICAS} : "
                      f"celles des répliques.", **evidence)
    return passed(f"sur {network_name}, « whoami » donne les {REPLICAS} adresses des "
                  f"répliques.", **evidence)


def _distinct_answers(ctx: Context) -> Outcome:
    records = _replicas(ctx)
    network = shared_network(ctx, records)
    urls = [f"http://{network.endpoints[r.id].ip}/" for r in records]
    # timeout(1), not wget -T: Debian's busybox 1.35 wget crashes (SIGSEGV) with -T.
    proc = probe(ctx, network.name, " ; ".join(f"echo $(timeout 5 wget -qO- {u})" for u in urls))
    bodies = proc.stdout.splitlines()
    hostnames = [str(r.options.get("hostname") or r.id[:12]) for r in records]
    evidence = {"urls": urls, "bodies": bodies, "hostnames": hostnames}
    if len(records) != REPLICAS:
        return failed(f"il faut {REPLICAS} répliques, il y en a {len(records)}.", **evidence)
    if bodies != hostnames:
        return failed("chaque réplique doit répondre sur le port 80 par son propre nom "
                      f"d'hôte : réponses {bodies}, noms {hostnames}.", **evidence)
    return passed("chaque réplique répond sur le port 80 par son propre nom d'hôte.",
                  **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="stack", title="Un compteur et son cache",
        statement=f"Dans labs/{LAB}/{COMPOSE_FILE}, décrivez le projet {PROJECT} : un service "
                  f"cache (image redis) et un service web (le compteur de labs/{LAB}/web) "
                  f"qui joint cache par son nom et répond sur le port {PORT} de l'hôte ; "
                  "démarrez-le avec pyker compose up -d.",
        points=6, student_files=(f"{LAB}/{COMPOSE_FILE}",),
        checks=(
            Check(id="services", run=_services,
                  description=f"les services web et cache du projet {PROJECT} tournent",
                  hint=f"name: {PROJECT} en tête du fichier (ou pyker compose -p {PROJECT}) ; "
                       f"pyker compose -f labs/{LAB}/{COMPOSE_FILE} ps montre ce qui tourne."),
            Check(id="name-resolution", run=_name_resolution,
                  description="dans web, le nom cache donne l'adresse du conteneur cache",
                  hint="Deux services d'un même projet partagent son réseau par défaut, où "
                       "chaque service est un nom DNS."),
            Check(id="http", weight=2, run=_http,
                  description=f"http://127.0.0.1:{PORT}/ répond avec un compteur de visites",
                  hint="app.py lit le nom de son Redis dans la variable REDIS_HOST (par "
                       "défaut « redis ») ; ports: \"HÔTE:CONTENEUR\", et Flask écoute sur "
                       "le 80."),
            Check(id="counter-in-cache", hidden=True, run=_counter_in_cache,
                  description="le compteur de la page est la clé counter du Redis de cache"),
            Check(id="compose-file", hidden=True, run=_compose_file,
                  description=f"web et cache viennent de labs/{LAB}/{COMPOSE_FILE}"),
        ),
        hints=("Partez du fichier du cours (labs/13-compose/compose.yaml) : ses services web "
               "et redis, renommés, et une variable d'environnement de plus.",
               f"Vérifiez : pyker compose -f labs/{LAB}/{COMPOSE_FILE} exec web getent "
               "hosts cache"),
    ),
    Exercise(
        lab=LAB, id="replicas", title="Trois répliques, un seul nom",
        statement=f"Dans labs/{LAB}/{REPLICAS_FILE}, ajoutez au projet {PROJECT} un service "
                  f"whoami (busybox httpd qui sert son nom d'hôte sur le port 80) à "
                  f"{REPLICAS} répliques, toutes derrière le nom whoami sur le réseau du "
                  f"projet ; démarrez avec pyker compose -f compose.yaml -f replicas.yaml "
                  "up -d.",
        points=4, student_files=(f"{LAB}/{REPLICAS_FILE}",),
        checks=(
            Check(id="three-replicas", run=_three_replicas,
                  description=f"le service whoami du projet {PROJECT} a {REPLICAS} répliques "
                              "en marche",
                  hint="deploy: replicas: N dans le fichier, ou --scale whoami=N sur la "
                       "ligne de pyker compose up."),
            Check(id="dns", weight=2, run=_dns,
                  description=f"sur {PROJECT}_default, « whoami » se résout en l'adresse de "
                              "chaque réplique",
                  hint="Chaque réplique porte le nom de son service comme alias DNS : "
                       "essayez pyker run --rm --network n13_default busybox nslookup whoami."),
            Check(id="distinct-answers", hidden=True, run=_distinct_answers,
                  description="chaque réplique répond sur le port 80 par son nom d'hôte"),
        ),
        hints=("Une réplique ne peut pas publier un port fixe de l'hôte : une seule "
               "obtiendrait le port. Sans ports:, les répliques restent joignables sur le "
               "réseau du projet.",),
    ),
)
