"""TP 14, administration: a daemon.json judged by the store it makes, and a restart policy
judged by the container's record and the event journal.

``daemon-json`` loads ``labs/14-administration/daemon.json`` with :func:`pyker.config.load`
(as every pyker command does when ``PYKER_DAEMON_CONFIG`` names it), opens the store its
``data-root`` names and looks for the container ``n14-ailleurs`` there and not in the store
under grading; (hidden) it runs a probe container on that store's default bridge inside a
network namespace of its own (``unshare(CLONE_NEWNET)`` in the pyker child), so the ``bip``
address lands on a throwaway bridge, and reads the address the container's eth0 got.

``flaky`` reads ``n14-flaky``'s record (restart policy, RestartCount, whether ``pyker stop``
asked it to stop) and (hidden) the event journal of the store (``<data-root>/events``):
each automatic restart is a ``die`` with a non-zero exit code followed by a ``start``, or a
last such ``die`` whose restart RestartCount says was decided (a stop in the back-off).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import shutil
import tempfile
from pathlib import Path

from grader.context import Context
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "14-administration"
DAEMON_JSON = "daemon.json"
DATA_DIR = "donnees"
BIP = "10.14.0.1/24"
ELSEWHERE = "n14-ailleurs"
FLAKY = "n14-flaky"
POLICY = "unless-stopped"
MIN_RESTARTS = 3
# The keys that point a pyker command at a store: the student's file must decide, not them.
STORE_ENV = ("PYKER_DATA_ROOT", "PYKER_RUN_ROOT")


# -- daemon-json ------------------------------------------------------------------------------

def daemon_json(ctx: Context) -> Path:
    return ctx.lab_dir / LAB / DAEMON_JSON


def expected_data_root(ctx: Context) -> Path:
    return ctx.lab_dir / LAB / DATA_DIR


def _student_env(ctx: Context, run_root: Path | None = None) -> dict[str, str]:
    """The grading environment with the student's file as the daemon configuration."""
    env = {k: v for k, v in ctx.env.items() if k not in STORE_ENV}
    env["PYKER_DAEMON_CONFIG"] = str(daemon_json(ctx))
    if run_root is not None:
        env["PYKER_RUN_ROOT"] = str(run_root)  # never the machine's /run/pyker
    return env


def _load(ctx: Context, *, brief: bool = True):
    """The student's configuration as pyker reads it.

    Raises:
        Unmet: the file is missing or pyker refuses it.
    """
    from pyker import config
    from pyker.errors import ConfigError

    path = daemon_json(ctx)
    if not path.is_file():  # config.load takes a missing file for "all defaults"
        raise Unmet("pas de daemon.json à lire (voir config-valid)." if brief else
                    f"le fichier {path} n'existe pas : écrivez-le à cet endroit "
                    f"(grader.lab_file(\"{LAB}\", \"{DAEMON_JSON}\")).", path=str(path))
    try:
        return config.load(_student_env(ctx))
    except ConfigError as err:
        raise Unmet("pyker refuse ce daemon.json (voir config-valid)." if brief else
                    f"pyker refuse ce fichier : {err}", path=str(path)) from None


def _student_store(ctx: Context):
    """(config, Engine) of the store the student's data-root names — only when it is the
    one the statement asks for: the grader never opens, let alone writes, another store
    (a file without data-root would name the machine's /var/lib/pyker)."""
    from pyker.engine import Engine

    cfg = _load(ctx)
    if cfg.data_root.resolve() != expected_data_root(ctx).resolve():
        raise Unmet("la racine des données n'est pas celle demandée (voir data-root).",
                    data_root=str(cfg.data_root))
    return cfg, Engine(cfg)


def _config_valid(ctx: Context) -> Outcome:
    cfg = _load(ctx, brief=False)
    return passed(f"pyker lit {cfg.config_file} sans erreur.", path=str(cfg.config_file))


def _data_root(ctx: Context) -> Outcome:
    cfg = _load(ctx)
    want = expected_data_root(ctx)
    evidence = {"data_root": str(cfg.data_root), "expected": str(want)}
    if cfg.data_root.resolve() == want.resolve():
        return passed(f"data-root vaut {cfg.data_root}.", **evidence)
    if cfg.data_root == Path("/var/lib/pyker"):
        return failed("pas de clé « data-root » : le store resterait dans /var/lib/pyker.",
                      **evidence)
    return failed(f"data-root vaut {cfg.data_root}, et non {want}.", **evidence)


def _bip(ctx: Context) -> Outcome:
    cfg = _load(ctx)
    evidence = {"bip": cfg.bip, "expected": BIP}
    if cfg.bip is None:
        return failed("pas de clé « bip » : le pont par défaut garderait 172.17.0.1/16.",
                      **evidence)
    if ipaddress.ip_interface(cfg.bip) == ipaddress.ip_interface(BIP):
        return passed(f"bip vaut {cfg.bip} : le pont aura l'adresse 10.14.0.1 sur "
                      "10.14.0.0/24.", **evidence)
    return failed(f"bip vaut {cfg.bip}, et non {BIP}.", **evidence)


def _elsewhere_record(ctx: Context, engine):
    from pyker.errors import ContainerNotFound

    try:
        return engine.containers.resolve(ELSEWHERE)
    except ContainerNotFound:
        raise Unmet(f"aucun conteneur « {ELSEWHERE} » dans le store de "
                    f"{engine.data_root} : créez-le avec PYKER_DAEMON_CONFIG pointant sur "
                    "votre fichier.", data_root=str(engine.data_root)) from None


def _container_elsewhere(ctx: Context) -> Outcome:
    from pyker.errors import ContainerNotFound

    _, engine = _student_store(ctx)
    record = _elsewhere_record(ctx, engine)
    evidence = {"data_root": str(engine.data_root), "container": record.id,
                "record": str(engine.containers.dir(record.id) / "container.json")}
    try:
        ctx.engine.containers.resolve(ELSEWHERE)
    except ContainerNotFound:
        return passed(f"« {ELSEWHERE} » est dans {engine.data_root}/containers/ et le store "
                      "habituel ne le connaît pas.", **evidence)
    return failed(f"« {ELSEWHERE} » existe aussi dans le store habituel "
                  f"({ctx.engine.data_root}) : il doit n'exister que dans le nouveau.",
                  main_store=str(ctx.engine.data_root), **evidence)


def _new_netns(preexec):
    """A preexec_fn: the grader's own namespace set-up, then a network namespace of its
    own — the default bridge the probe creates there dies with it."""
    from pyker.kernel.namespaces import CloneFlag, unshare

    def run() -> None:
        if preexec is not None:
            preexec()
        unshare(CloneFlag.CLONE_NEWNET)

    return run


def _bridge_address(ctx: Context) -> Outcome:
    _, engine = _student_store(ctx)
    image = _elsewhere_record(ctx, engine).image_ref
    run_root = Path(tempfile.mkdtemp(prefix="n14-grader-run-"))
    try:
        probe = dataclasses.replace(ctx, env=_student_env(ctx, run_root),
                                    preexec=_new_netns(ctx.preexec))
        proc = probe.pyker("run", "--rm", image, "sh", "-c", "ip -4 -o addr show eth0; ip route")
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    output = (proc.stdout + proc.stderr).strip()
    evidence = {"image": image, "exit_code": proc.returncode, "output": output[-400:]}
    if proc.returncode != 0:
        return failed(f"le conteneur de test n'a pas démarré sur ce store "
                      f"(code {proc.returncode}) : {output[-200:]}", **evidence)
    words = proc.stdout.split()
    addresses = [w for w, before in zip(words[1:], words) if before == "inet"]
    network = ipaddress.ip_interface(BIP).network
    inside = [a for a in addresses if ipaddress.ip_interface(a).network == network]
    gateway = f"default via {ipaddress.ip_interface(BIP).ip}" in proc.stdout
    if inside and gateway:
        return passed(f"un conteneur de ce store reçoit {inside[0]} et sort par "
                      f"{ipaddress.ip_interface(BIP).ip}.", **evidence)
    return failed(f"eth0 du conteneur de test a {', '.join(addresses) or 'aucune adresse'}, "
                  f"hors de {network} (ou sans passerelle 10.14.0.1).", **evidence)


# -- flaky ------------------------------------------------------------------------------------

def _flaky(ctx: Context):
    from pyker.errors import ContainerNotFound

    try:
        return ctx.engine.containers.resolve(FLAKY)
    except ContainerNotFound:
        raise Unmet(f"aucun conteneur nommé « {FLAKY} » : lancez-le avec --name {FLAKY}.",
                    container=FLAKY) from None


def _policy(ctx: Context) -> Outcome:
    record = _flaky(ctx)
    name, retries = record.options.get("restart") or "no", record.options.get("max_retries")
    evidence = {"RestartPolicy": {"Name": name, "MaximumRetryCount": retries}}
    if name == POLICY:
        return passed(f"politique de redémarrage : {POLICY}.", **evidence)
    return failed(f"politique de redémarrage : {name}, et non {POLICY}.", **evidence)


def _restarted(ctx: Context) -> Outcome:
    record = _flaky(ctx)
    count = record.state.restart_count
    if count >= MIN_RESTARTS:
        return passed(f"le moteur l'a redémarré {count} fois (RestartCount).",
                      RestartCount=count)
    return failed(f"RestartCount vaut {count} : il en faut au moins {MIN_RESTARTS} avant de "
                  "l'arrêter.", RestartCount=count)


def _stopped(ctx: Context) -> Outcome:
    record = _flaky(ctx)
    status = record.state.status
    # pyker stop marks the record before signalling (Docker's HasBeenManuallyStopped): that
    # mark, not an event, says who stopped it — a stop during the back-off sends no signal
    # and records no "stop" event.
    by_stop = bool(record.options.get("stop_requested"))
    evidence = {"status": status, "stopped_by_user": by_stop}
    if status in ("running", "restarting", "paused"):
        return failed(f"le conteneur est encore « {status} » : arrêtez-le avec pyker stop.",
                      **evidence)
    if not by_stop:
        return failed(f"le conteneur est « {status} » mais personne ne l'a arrêté : il a "
                      "abandonné tout seul (une politique qui renonce n'est pas la bonne).",
                      **evidence)
    return passed(f"arrêté par pyker stop, il reste « {status} ».", **evidence)


def _failed(event) -> bool:
    return event.action == "die" and event.attributes.get("exitCode", "0") != "0"


def _journal_restarts(data_root: Path, container_id: str, *,
                      decided: int = 0) -> tuple[int, list[str]]:
    """(automatic restarts seen in the journal, the container's actions in order).

    A restart is a ``die`` with a non-zero code followed by a ``start``, nothing (``kill``,
    ``stop``) in between. ``decided``: the record's RestartCount, raised when the engine
    decides a restart, before its back-off; a last failed ``die`` the journal shows no
    ``start`` after counts too when RestartCount says that restart was decided (the
    container is in its back-off, or ``pyker stop`` came during it and cancelled the start).
    """
    from pyker.events import Journal

    events = [e for e in Journal.of(data_root).read()
              if e.type == "container" and e.actor_id == container_id]
    actions = [f"{e.action}({e.attributes.get('exitCode', '?')})" if e.action == "die"
               else e.action for e in events]
    lifecycle = [e for e in events if e.action in ("start", "die", "kill", "stop", "restart")]
    restarts = sum(1 for before, after in zip(lifecycle, lifecycle[1:])
                   if _failed(before) and after.action == "start")
    if lifecycle and _failed(lifecycle[-1]) and decided > restarts:
        restarts += 1
    return restarts, actions


def _journal(ctx: Context) -> Outcome:
    record = _flaky(ctx)
    restarts, actions = _journal_restarts(ctx.engine.data_root, record.id,
                                          decided=record.state.restart_count)
    evidence = {"journal_restarts": restarts, "actions": actions[-40:]}
    if restarts >= MIN_RESTARTS:
        return passed(f"le journal montre {restarts} sorties en erreur suivies d'un "
                      "redémarrage.", **evidence)
    return failed(f"le journal ne montre que {restarts} redémarrage(s) après une sortie en "
                  f"erreur (il en faut {MIN_RESTARTS}).", **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="daemon-json", title="Un autre store, un autre pont",
        statement=f"Écrivez labs/{LAB}/{DAEMON_JSON} pour que pyker range ses données dans "
                  f"labs/{LAB}/{DATA_DIR} et donne au pont par défaut l'adresse {BIP} ; "
                  f"créez-y un conteneur {ELSEWHERE} (busybox).",
        # The store and run directories the file names are the student's too, and so is
        # the notebook's demonstration store: never copied from a checkout into a sandbox.
        points=6, student_files=(f"{LAB}/{DAEMON_JSON}", f"{LAB}/{DATA_DIR}",
                                 f"{LAB}/{DATA_DIR}-run", f"{LAB}/demo"),
        checks=(
            Check(id="config-valid", run=_config_valid,
                  description="le fichier existe et pyker l'accepte",
                  hint="Un objet JSON ; les chemins de data-root et exec-root sont absolus."),
            Check(id="data-root", weight=2, run=_data_root,
                  description=f"data-root est labs/{LAB}/{DATA_DIR}",
                  hint=f"str(lab_file(\"{LAB}\", \"{DATA_DIR}\")) donne le chemin absolu."),
            Check(id="bip", run=_bip, description=f"bip vaut {BIP}",
                  hint="bip est l'adresse du pont suivie de la longueur du préfixe, "
                       "comme 192.168.5.1/24."),
            Check(id="container-elsewhere", weight=2, run=_container_elsewhere,
                  description=f"{ELSEWHERE} est dans le nouveau store, pas dans l'habituel",
                  hint="Le nouveau store est vide : pyker save busybox | … pyker load, puis "
                       "… pyker create --name n14-ailleurs busybox, où … est "
                       "env -u PYKER_DATA_ROOT -u PYKER_RUN_ROOT PYKER_DAEMON_CONFIG=FICHIER."),
            Check(id="bridge-address", hidden=True, run=_bridge_address,
                  description="un conteneur de ce store reçoit une adresse de 10.14.0.0/24"),
        ),
        hints=("PYKER_DATA_ROOT et PYKER_RUN_ROOT passent avant le fichier : retirez-les "
               "(env -u) pour que data-root compte.",
               "pyker info montre « Docker Root Dir » et « Config File » du store utilisé."),
    ),
    Exercise(
        lab=LAB, id="flaky", title="Un conteneur qui plante, redémarré puis arrêté",
        statement=f"Lancez en arrière-plan un conteneur {FLAKY} (busybox) dont la commande "
                  f"échoue au bout d'une seconde, avec la politique {POLICY} ; laissez le "
                  f"moteur le redémarrer au moins {MIN_RESTARTS} fois, puis arrêtez-le avec "
                  "pyker stop.",
        points=4,
        checks=(
            Check(id="policy", run=_policy, description=f"sa politique est {POLICY}",
                  hint=f"pyker run --restart {POLICY} …"),
            Check(id="restarted", run=_restarted,
                  description=f"RestartCount vaut au moins {MIN_RESTARTS}",
                  hint="pyker inspect -f '{{.RestartCount}}' n14-flaky : attendez qu'il "
                       f"atteigne {MIN_RESTARTS}."),
            Check(id="stopped", run=_stopped, description="arrêté par pyker stop, il le reste",
                  hint=f"Avec {POLICY}, seul pyker stop l'arrête."),
            Check(id="journal", hidden=True, run=_journal,
                  description=f"le journal d'événements montre {MIN_RESTARTS} redémarrages "
                              "après une erreur"),
        ),
        hints=("sh -c 'sleep 1; exit 1' échoue au bout d'une seconde.",
               "pyker events --since 10m --until $(date +%s.%N) --filter container=n14-flaky "
               "montre chaque die et chaque start."),
    ),
)
