"""TP 15, the twelve factors: configuration by the environment, and a process that stops
cleanly.

``env-config`` (factors III and IV): ``n15-config``, the message API of TP 13 (image
``n15-message-app:v1``), configured by its environment only (``REDIS_URL`` naming the Redis
``n15-cache`` by its name, ``PORT`` the port it listens on), and ``n15-cache`` beside it on a
user network. The checks read the container's ``Config.Env`` and the image's (``pyker
inspect``, as a student would), then ask the real thing from a probe busybox on that
network: the API's ``GET /`` names its backing service; (hidden) a message posted to the API
is found in ``n15-cache`` by ``redis-cli``.

``graceful`` (factor IX): ``n15-worker``, a Python service stopped by ``pyker stop -t 3``.
The record says whether ``pyker stop`` asked (``stop_requested``) and the exit code; the
store's event journal says which signals were sent (``kill`` events carry the signal number)
and when the process died. (hidden) The grader starts it again, checks it keeps running, and
stops it itself: SIGTERM must end it with code 0 well before SIGKILL.
"""

from __future__ import annotations

import json
import signal
import time

from grader import observe
from grader.context import Context
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "15-twelve-factor"
IMAGE = "n15-message-app:v1"
CONFIG = "n15-config"
CACHE = "n15-cache"
API_PORT = "8000"
WANTED_ENV = {"REDIS_URL": f"redis://{CACHE}:6379/0", "PORT": API_PORT}
WORKER = "n15-worker"
WORKER_FILE = "exercice/worker.py"
STOP_TIMEOUT = 3           # pyker stop -t 3: SIGKILL after 3 s
SETTLE = 1.0               # how long the restarted worker must keep running


def _inspect(ctx: Context, *args: str) -> dict:
    proc = ctx.pyker("inspect", *args)
    if proc.returncode != 0:
        raise Unmet(f"pyker inspect {' '.join(args)} a échoué : {proc.stderr.strip()}",
                    args=list(args))
    return json.loads(proc.stdout)[0]


def _env(entries: list[str] | None) -> dict[str, str]:
    return dict(e.split("=", 1) if "=" in e else (e, "") for e in entries or ())


# -- env-config ----------------------------------------------------------------------------

def _running(ctx: Context) -> Outcome:
    app, cache = observe.container(ctx, CONFIG), observe.container(ctx, CACHE)
    return passed(f"{CONFIG} et {CACHE} tournent.", config=app.id, cache=cache.id)


def _env_check(ctx: Context) -> Outcome:
    observe.container(ctx, CONFIG)
    env = _env(_inspect(ctx, CONFIG)["Config"]["Env"])
    got = {k: env.get(k) for k in WANTED_ENV}
    wrong = [f"{k}={'(absente)' if got[k] is None else got[k]}" for k in WANTED_ENV
             if got[k] != WANTED_ENV[k]]
    if wrong:
        expected = ", ".join(f"{k}={v}" for k, v in WANTED_ENV.items())
        return failed(f"l'environnement de {CONFIG} a {', '.join(wrong)} ; il faut {expected}.",
                      env=got)
    return passed(f"{CONFIG} reçoit " + ", ".join(f"{k}={v}" for k, v in got.items())
                  + " par son environnement.", env=got)


def _not_in_image(ctx: Context) -> Outcome:
    observe.container(ctx, CONFIG)
    record = _inspect(ctx, CONFIG)
    proc = ctx.pyker("image", "inspect", IMAGE)
    if proc.returncode != 0:
        raise Unmet(f"l'image {IMAGE} n'existe pas : construisez-la (pyker build -t {IMAGE} "
                    f"labs/13-compose/messages).", image=IMAGE)
    image = json.loads(proc.stdout)[0]
    evidence = {"container_image": record["Image"], "image_id": image["Id"],
                "image_env": image["Config"].get("Env") or []}
    if record["Image"] != image["Id"]:
        return failed(f"{CONFIG} tourne sur l'image {record['Config']['Image']}, pas sur "
                      f"{IMAGE} : la même image doit servir à tous les déploiements.",
                      **evidence)
    baked = sorted(set(_env(image["Config"].get("Env"))) & set(WANTED_ENV))
    if baked:
        return failed(f"l'image {IMAGE} fixe déjà {', '.join(baked)} : la configuration ne "
                      "doit pas être dans l'image.", **evidence)
    return passed(f"{CONFIG} tourne sur {IMAGE}, qui ne fixe ni REDIS_URL ni PORT : la "
                  "configuration vient du déploiement.", **evidence)


def _shared_network(ctx: Context) -> str:
    ids = {observe.container(ctx, CONFIG).id, observe.container(ctx, CACHE).id}
    for network in ctx.engine.networks.list():
        if network.driver == "bridge" and network.name != "bridge" and ids <= set(
                network.endpoints):
            return network.name
    raise Unmet(f"{CONFIG} et {CACHE} ne partagent aucun réseau créé par pyker network "
                "create : sur le pont par défaut, pas de noms.", containers=sorted(ids))


def _probe(ctx: Context, network: str, command: str) -> str:
    """``command`` (wget …) in a throwaway busybox on ``network``, tried for 6 s while the
    API starts listening; its output, or Unmet."""
    script = f"for i in $(seq 30); do {command} && exit 0; sleep 0.2; done; exit 1"
    proc = ctx.pyker("run", "--rm", "--network", network, ctx.probe_image, "sh", "-c", script)
    if proc.returncode != 0:
        raise Unmet(f"depuis le réseau {network}, « {command} » n'obtient pas de réponse "
                    f"({proc.stderr.strip()[-160:] or 'code ' + str(proc.returncode)}).",
                    network=network, command=command)
    return proc.stdout


def _answers(ctx: Context) -> Outcome:
    network = _shared_network(ctx)
    url = f"http://{CONFIG}:{API_PORT}/"
    body = _probe(ctx, network, f"wget -qO- {url}")
    try:
        backend = json.loads(body).get("backend")
    except ValueError:
        return failed(f"{url} ne répond pas comme l'API de messages : {body[:120]!r}",
                      body=body[-300:])
    evidence = {"network": network, "url": url, "backend": backend}
    if backend != WANTED_ENV["REDIS_URL"]:
        return failed(f"{url} répond, mais l'API range ses messages dans « {backend} », pas "
                      f"dans {WANTED_ENV['REDIS_URL']}.", **evidence)
    return passed(f"sur {network}, {url} répond et range ses messages dans {backend}.",
                  **evidence)


def _stored(ctx: Context) -> Outcome:
    network = _shared_network(ctx)
    body = _probe(ctx, network, f"wget -qO- --post-data '' "
                                f"'http://{CONFIG}:{API_PORT}/message?text=correcteur'")
    try:
        key = json.loads(body)["id"]
    except (ValueError, KeyError, TypeError):
        return failed(f"POST /message n'a pas créé de message : {body[:120]!r}",
                      body=body[-300:])
    proc = ctx.pyker("exec", CACHE, "redis-cli", "hget", "messages", str(key))
    evidence = {"id": key, "in_cache": proc.stdout.strip()[-200:]}
    if "correcteur" not in proc.stdout:
        return failed(f"le message {key} créé par l'API n'est pas dans {CACHE} "
                      f"(redis-cli hget messages {key} : « {proc.stdout.strip()} »).",
                      **evidence)
    return passed(f"le message {key} posté à l'API est dans {CACHE}.", **evidence)


# -- graceful ------------------------------------------------------------------------------

def _worker(ctx: Context):
    from pyker.errors import ContainerNotFound

    try:
        return ctx.engine.containers.resolve(WORKER)
    except ContainerNotFound:
        raise Unmet(f"aucun conteneur nommé « {WORKER} » : lancez-le avec --name {WORKER}.",
                    container=WORKER) from None


def _explain(code: int) -> str:
    if code == 128 + signal.SIGKILL:
        return "tué par SIGKILL à la fin du délai : SIGTERM n'a rien fait"
    if code == 128 + signal.SIGTERM:
        return "tué par SIGTERM, sans le gérer"
    return "sorti en erreur"


def _stopped(ctx: Context) -> Outcome:
    record = _worker(ctx)
    status, by_stop = record.state.status, bool(record.options.get("stop_requested"))
    evidence = {"status": status, "stopped_by_user": by_stop}
    if status in ("running", "restarting", "paused"):
        return failed(f"{WORKER} est encore « {status} » : arrêtez-le avec pyker stop "
                      f"-t {STOP_TIMEOUT} {WORKER}.", **evidence)
    if not by_stop:
        return failed(f"{WORKER} s'est terminé tout seul, sans pyker stop : un service tourne "
                      "jusqu'à ce qu'on l'arrête.", **evidence)
    return passed(f"{WORKER} a été arrêté par pyker stop.", **evidence)


def _exit_zero(ctx: Context) -> Outcome:
    record = _worker(ctx)
    if record.state.status in ("running", "restarting", "paused", "created"):
        raise Unmet(f"{WORKER} est « {record.state.status} » : il n'a pas encore de code de "
                    "sortie.", status=record.state.status)
    code = record.state.exit_code
    if code == 0:
        return passed(f"{WORKER} est sorti avec le code 0.", exit_code=code)
    return failed(f"{WORKER} est sorti avec le code {code} ({_explain(code)}).", exit_code=code)


def _last_stop(ctx: Context, container_id: str) -> list:
    """The container's events from its last ``start`` on: kill, die, stop."""
    from pyker.events import Journal

    events = [e for e in Journal.of(ctx.engine.data_root).read()
              if e.type == "container" and e.actor_id == container_id]
    starts = [i for i, e in enumerate(events) if e.action == "start"]
    return events[starts[-1] + 1:] if starts else []


def _term_handled(ctx: Context) -> Outcome:
    record = _worker(ctx)
    events = _last_stop(ctx, record.id)
    kills = [e for e in events if e.action == "kill"]
    dies = [e for e in events if e.action == "die"]
    signals = [int(e.attributes.get("signal", "0")) for e in kills]
    evidence = {"signals": signals,
                "exit_codes": [e.attributes.get("exitCode") for e in dies]}
    if not kills or not dies:
        return failed(f"le journal ne montre pas d'arrêt de {WORKER} depuis son dernier "
                      "démarrage (un kill puis un die).", **evidence)
    if signals[0] != signal.SIGTERM:
        return failed(f"le premier signal envoyé à {WORKER} est {signals[0]}, pas SIGTERM "
                      f"(15) : arrêtez-le avec pyker stop, pas pyker kill.", **evidence)
    if signal.SIGKILL in signals:
        return failed(f"{WORKER} n'est pas sorti après SIGTERM : le moteur a dû envoyer "
                      "SIGKILL (9).", **evidence)
    delay = (dies[0].time_nano - kills[0].time_nano) / 1e9
    evidence["delay_s"] = round(delay, 3)
    if delay >= STOP_TIMEOUT:
        return failed(f"{WORKER} a mis {delay:.1f} s à sortir après SIGTERM (délai : "
                      f"{STOP_TIMEOUT} s).", **evidence)
    return passed(f"SIGTERM seul a suffi : {WORKER} est sorti {delay:.1f} s après, sans "
                  "SIGKILL.", **evidence)


def _again(ctx: Context) -> Outcome:
    _worker(ctx)
    start = ctx.pyker("start", WORKER)
    if start.returncode != 0:
        return failed(f"pyker start {WORKER} a échoué : {start.stderr.strip()}",
                      stderr=start.stderr.strip())
    time.sleep(SETTLE)
    record = _worker(ctx)
    if record.state.status != "running":
        return failed(f"relancé, {WORKER} s'arrête seul en moins de {SETTLE:.0f} s (code "
                      f"{record.state.exit_code}) : ce n'est pas un service.",
                      status=record.state.status, exit_code=record.state.exit_code)
    began = time.monotonic()
    ctx.pyker("stop", "-t", str(STOP_TIMEOUT), WORKER, timeout=STOP_TIMEOUT + 30)
    took = time.monotonic() - began
    code = _worker(ctx).state.exit_code
    evidence = {"exit_code": code, "stop_seconds": round(took, 3)}
    if code != 0:
        return failed(f"relancé puis arrêté par le correcteur, {WORKER} sort avec le code "
                      f"{code} ({_explain(code)}).", **evidence)
    if took >= STOP_TIMEOUT:
        return failed(f"relancé puis arrêté, {WORKER} a mis {took:.1f} s à sortir.", **evidence)
    return passed(f"relancé puis arrêté par le correcteur, {WORKER} sort avec le code 0 en "
                  f"{took:.1f} s.", **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="env-config", title="Toute la configuration par l'environnement",
        statement=f"Sur un réseau créé par vous, lancez {CACHE} (image redis) et {CONFIG}, "
                  f"l'API de messages (image {IMAGE}), configurée seulement par son "
                  f"environnement : REDIS_URL={WANTED_ENV['REDIS_URL']} et PORT={API_PORT}.",
        points=5,
        checks=(
            Check(id="running", run=_running, description=f"{CONFIG} et {CACHE} tournent",
                  hint=f"pyker run -d --name {CACHE} --network … redis"),
            Check(id="env", weight=2, run=_env_check,
                  description="REDIS_URL et PORT sont dans son environnement",
                  hint="-e NOM=VALEUR, ou --env-file FICHIER (une ligne NOM=VALEUR par "
                       "variable)."),
            Check(id="not-in-image", run=_not_in_image,
                  description=f"il tourne sur {IMAGE}, qui ne fixe pas la configuration",
                  hint=f"pyker build -t {IMAGE} labs/13-compose/messages : l'image du TP, "
                       "sans ENV ajouté."),
            Check(id="answers", run=_answers,
                  description=f"sur le réseau, {CONFIG}:{API_PORT} répond avec le bon Redis",
                  hint="Les deux conteneurs sur le même réseau créé par pyker network create "
                       "(le DNS intégré donne les noms) ; l'API écoute sur $PORT."),
            Check(id="stored", hidden=True, run=_stored,
                  description=f"un message posté à l'API arrive dans {CACHE}"),
        ),
        hints=("Vérifiez vous-même : pyker run --rm --network RÉSEAU busybox wget -qO- "
               f"http://{CONFIG}:{API_PORT}/",),
    ),
    Exercise(
        lab=LAB, id="graceful", title="Un service qui s'arrête proprement",
        statement=f"Complétez labs/{LAB}/{WORKER_FILE} pour qu'il gère SIGTERM, lancez-le dans "
                  f"un conteneur {WORKER} (image python, en arrière-plan), puis arrêtez-le "
                  f"avec pyker stop -t {STOP_TIMEOUT} {WORKER} : il doit sortir avec le code "
                  "0, avant SIGKILL.",
        points=5, student_files=(f"{LAB}/{WORKER_FILE}",),
        checks=(
            Check(id="stopped", run=_stopped, description="arrêté par pyker stop",
                  hint=f"pyker stop -t {STOP_TIMEOUT} {WORKER}, une fois qu'il tourne."),
            Check(id="exit-zero", weight=2, run=_exit_zero,
                  description="son code de sortie est 0",
                  hint="137 = 128 + 9 (SIGKILL) : SIGTERM a été ignoré, car Python en PID 1 "
                       "n'a pas de gestionnaire ; 143 = 128 + 15 : tué par SIGTERM sans le "
                       "gérer. signal.signal(signal.SIGTERM, …) puis sys.exit(0)."),
            Check(id="term-handled", run=_term_handled,
                  description=f"SIGTERM seul l'a arrêté, en moins de {STOP_TIMEOUT} s",
                  hint=f"pyker events --since 10m --until $(date +%s.%N) --filter "
                       f"container={WORKER} montre les signaux (kill) et la sortie (die)."),
            Check(id="again", hidden=True, run=_again,
                  description="relancé puis arrêté par le correcteur, il sort encore avec 0"),
        ),
        hints=("Le gestionnaire peut simplement demander à la boucle de s'arrêter ; le "
               "programme sort ensuite avec sys.exit(0).",
               f"labs/{LAB}/arret.py fait exactement cela."),
    ),
)
