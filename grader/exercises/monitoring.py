"""TP 12, logs and monitoring: a log rotation read on disk, a CPU limit measured in the cgroup.

``log-rotation``: the container ``n12-logs`` printed 1..5000 (``seq 5000``) through the
json-file driver set so that at most 3 files of at most 10 kB remain. The record's LogConfig
says what was asked; the files in the container's directory say what the monitor did (a
file may pass ``max-size`` by its last entry only: rotation happens *before* an entry is
written once the file has reached it, as in Docker); ``pyker logs`` says what was kept
(hidden: the newest lines, in order, the oldest ones dropped).

``cpu-limit``: the container ``n12-limited`` runs a busy loop under a CFS quota of half a
CPU. The quota is read in the cgroup of its process (``cpu.cfs_quota_us`` /
``cpu.cfs_period_us`` on v1 and hybrid hosts, ``cpu.max`` on v2); the grader measures the
cgroup's CPU time over 2 s (``cpuacct.usage``, or ``usage_usec`` of ``cpu.stat``); hidden,
the loop is really there: the kernel shows its tasks runnable (state ``R`` in
``/proc/PID/stat``), which a throttled task stays, and a sleeping one is not.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from grader import observe
from grader.context import Context
from grader.exercises.common import running
from grader.model import Check, Exercise, Outcome, Unmet, failed, passed

LAB = "12-logs-monitoring"
LOGS = "n12-logs"
LIMITED = "n12-limited"
LINES = 5000
MAX_SIZE = 10_000         # bytes: Docker's 10k is decimal
MAX_FILES = 3
CPUS = 0.5
MEASURE_SECONDS = 2.0
TOLERANCE = 0.05          # cores above the quota a 2 s measurement may read (timer edges)
RUNNABLE_SHARE = 0.5      # of the samples where a task of the container must be runnable


def _record(ctx: Context, name: str):
    """The container ``name``, running or not.

    Raises:
        Unmet: no container has that name.
    """
    from pyker.errors import ContainerNotFound

    try:
        return ctx.engine.containers.resolve(name)
    except ContainerNotFound:
        raise Unmet(f"aucun conteneur nommé « {name} » : lancez-le avec --name {name}.",
                    container=name) from None


def _log_config(record) -> tuple[str, dict[str, str]]:
    from pyker.runtime.logdrivers import config_of

    return config_of(record.options)


def _log_config_check(ctx: Context) -> Outcome:
    from pyker.errors import UsageError
    from pyker.runtime.logdrivers import file_options

    driver, opts = _log_config(_record(ctx, LOGS))
    evidence = {"Type": driver, "Config": opts}
    shown = json.dumps({"Type": driver, "Config": opts}, ensure_ascii=False)
    if driver != "json-file":
        return failed(f"LogConfig = {shown} : le pilote doit être json-file.", **evidence)
    try:
        limits = file_options(driver, opts)
    except UsageError as err:
        return failed(f"LogConfig = {shown} : options refusées ({err}).", **evidence)
    if limits.max_size < 0:
        return failed(f"LogConfig = {shown} : sans max-size, le fichier grandit sans fin.",
                      **evidence)
    if limits.max_size > MAX_SIZE:
        return failed(f"LogConfig = {shown} : max-size vaut {limits.max_size} octets, plus "
                      f"que {MAX_SIZE} (10k).", **evidence)
    if limits.max_file > MAX_FILES:
        return failed(f"LogConfig = {shown} : max-file vaut {limits.max_file}, plus que "
                      f"{MAX_FILES}.", **evidence)
    return passed(f"LogConfig = {shown} : au plus {limits.max_file} fichier(s) de "
                  f"{limits.max_size} octets.", **evidence)


def log_files(container_dir: Path, container_id: str) -> list[Path]:
    """The json-file driver's files of a container: ``<id>-json.log`` and its rotated
    ``.1``, ``.2``… (``.1.gz``… when compressed)."""
    current = f"{container_id}-json.log"
    return sorted(p for p in container_dir.iterdir()
                  if p.name == current or (p.name.startswith(current + ".")
                                           and p.name[len(current) + 1:]
                                           .removesuffix(".gz").isdigit()))


def over_limit(path: Path, max_size: int) -> bool:
    """Whether ``path`` is bigger than ``max_size`` by more than its last entry (the one a
    rotating writer may add to a file that has not yet reached the limit)."""
    if path.suffix == ".gz":
        import gzip

        data = gzip.decompress(path.read_bytes())
    else:
        data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1  # where the last entry starts
    return last >= max_size


def _files_check(ctx: Context) -> Outcome:
    record = _record(ctx, LOGS)
    files = log_files(ctx.engine.containers.dir(record.id), record.id)
    sizes = {p.name.replace(record.id, "<id>"): p.stat().st_size for p in files}
    evidence = {"files": sizes}
    listing = ", ".join(f"{n} ({s} octets)" for n, s in sizes.items())
    if not files:
        return failed("aucun fichier json-file dans le dossier du conteneur : ses journaux ne "
                      "sont pas écrits par le pilote json-file.", **evidence)
    if len(files) > MAX_FILES:
        return failed(f"{len(files)} fichiers de journaux sur le disque, plus que {MAX_FILES} : "
                      f"{listing}.", **evidence)
    big = [p.name.replace(record.id, "<id>") for p in files if over_limit(p, MAX_SIZE)]
    if big:
        return failed(f"plus de {MAX_SIZE} octets avant la dernière ligne dans "
                      f"{', '.join(big)} : {listing}.", **evidence)
    return passed(f"{len(files)} fichier(s) de journaux, chacun sous {MAX_SIZE} octets avant "
                  f"sa dernière ligne : {listing}.", **evidence)


def _logged_lines(ctx: Context) -> list[str]:
    _record(ctx, LOGS)
    proc = ctx.pyker("logs", LOGS)
    if proc.returncode != 0:
        raise Unmet(f"pyker logs {LOGS} a échoué : {proc.stderr.strip()}",
                    status=proc.returncode)
    return proc.stdout.splitlines()


def _printed_check(ctx: Context) -> Outcome:
    lines = _logged_lines(ctx)
    last = lines[-1] if lines else ""
    evidence = {"last_line": last, "kept": len(lines)}
    if last != str(LINES):
        shown = f"« {last} »" if lines else "rien"
        return failed(f"la dernière ligne des journaux est {shown}, attendu « {LINES} » : le "
                      f"conteneur doit écrire les nombres de 1 à {LINES} (seq {LINES}).",
                      **evidence)
    return passed(f"la dernière ligne des journaux est « {LINES} ».", **evidence)


def _rotated_check(ctx: Context) -> Outcome:
    lines = _logged_lines(ctx)
    evidence = {"kept": len(lines), "first": lines[0] if lines else ""}
    if not lines or not all(l.isdigit() for l in lines):
        return failed("les journaux ne sont pas une suite de nombres.", **evidence)
    numbers = [int(l) for l in lines]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))) or numbers[-1] != LINES:
        return failed(f"les {len(numbers)} lignes gardées ne sont pas les dernières, dans "
                      "l'ordre.", **evidence)
    if numbers[0] == 1:
        return failed(f"les {len(numbers)} lignes sont toutes là, depuis « 1 » : aucune "
                      "rotation n'a jeté les plus anciennes.", **evidence)
    return passed(f"pyker logs rend les lignes {numbers[0]} à {LINES} : les plus anciennes "
                  "sont parties avec les fichiers tournés.", **evidence)


def cpu_ns(cgroup_dir: Path) -> int:
    """CPU time of a cgroup in ns: ``cpuacct.usage`` (v1) or ``usage_usec`` of ``cpu.stat``."""
    usage = cgroup_dir / "cpuacct.usage"
    if usage.exists():
        return int(usage.read_text())
    for line in (cgroup_dir / "cpu.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) * 1000
    raise Unmet(f"ni cpuacct.usage ni usage_usec dans {cgroup_dir}.", path=str(cgroup_dir))


def quota_of(pid: int) -> tuple[str, float | None]:
    """(what the cgroup files say, CPUs allowed or None for no quota)."""
    cpu = observe.cgroup_dir(pid, "cpu")
    if (cpu / "cpu.max").exists():
        text = (cpu / "cpu.max").read_text().strip()
        quota, _, period = text.partition(" ")
        return f"cpu.max = {text}", None if quota == "max" else int(quota) / int(period)
    quota = int((cpu / "cpu.cfs_quota_us").read_text())
    period = int((cpu / "cpu.cfs_period_us").read_text())
    shown = f"cpu.cfs_quota_us = {quota}, cpu.cfs_period_us = {period}"
    return shown, None if quota < 0 else quota / period


def _quota_check(ctx: Context) -> Outcome:
    live = observe.container(ctx, LIMITED)
    shown, cpus = quota_of(live.pid)
    evidence = {"files": shown, "cpus": cpus}
    if cpus is None:
        return failed(f"{shown} : aucun quota, le conteneur peut prendre tous les cœurs.",
                      **evidence)
    if abs(cpus - CPUS) > 1e-6:
        return failed(f"{shown} : {cpus:g} CPU, attendu {CPUS:g}.", **evidence)
    return passed(f"{shown} : {cpus:g} CPU.", **evidence)


def _measure_check(ctx: Context) -> Outcome:
    live = observe.container(ctx, LIMITED)
    group = observe.cgroup_dir(live.pid, "cpuacct")
    before, t0 = cpu_ns(group), time.monotonic()
    time.sleep(MEASURE_SECONDS)
    used, elapsed = cpu_ns(group) - before, time.monotonic() - t0
    cores = used / (elapsed * 1e9)
    evidence = {"cgroup": str(group), "cpu_ns": used, "seconds": round(elapsed, 3),
                "cores": round(cores, 3)}
    if cores > CPUS + TOLERANCE:
        return failed(f"mesuré sur {MEASURE_SECONDS:g} s dans {group} : {cores:.2f} cœur, "
                      f"plus que {CPUS:g}.", **evidence)
    return passed(f"mesuré sur {MEASURE_SECONDS:g} s : {cores:.2f} cœur, pas plus de "
                  f"{CPUS:g}.", **evidence)


def _tasks_states(procs: Path) -> list[str]:
    states = []
    for pid in procs.read_text().split():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # a task that just ended
        states.append(stat.rsplit(")", 1)[1].split()[0])
    return states


def _busy_check(ctx: Context) -> Outcome:
    live = observe.container(ctx, LIMITED)
    procs = observe.cgroup_dir(live.pid, "cpu") / "cgroup.procs"
    samples = []
    for _ in range(20):
        samples.append(_tasks_states(procs))
        time.sleep(0.05)
    runnable = sum("R" in s for s in samples)
    evidence = {"samples": len(samples), "runnable": runnable}
    if runnable < RUNNABLE_SHARE * len(samples):
        return failed(f"un processus du conteneur était prêt à tourner (état R) dans "
                      f"{runnable} relevés sur {len(samples)} : il ne calcule pas, la limite "
                      "ne se voit pas.", **evidence)
    return passed(f"un processus du conteneur veut le CPU (état R) dans {runnable} relevés sur "
                  f"{len(samples)} : c'est bien la limite qui le retient.", **evidence)


EXERCISES = (
    Exercise(
        lab=LAB, id="log-rotation", title="Des journaux qui tournent",
        statement=f"Lancez un conteneur nommé {LOGS} (image busybox) qui écrit les nombres de "
                  f"1 à {LINES}, un par ligne (seq {LINES}), avec le pilote json-file réglé "
                  f"pour garder au plus {MAX_FILES} fichiers de 10 ko au plus.",
        points=4,
        checks=(
            Check(id="log-config", weight=1, run=_log_config_check,
                  description="LogConfig : json-file, max-size ≤ 10k, max-file ≤ 3",
                  hint="--log-opt KEY=VALUE, une fois par option ; pyker inspect -f "
                       "'{{json .HostConfig.LogConfig}}' montre ce qui est enregistré."),
            Check(id="files", weight=1, run=_files_check,
                  description="au plus 3 fichiers de journaux, chacun d'au plus 10 ko",
                  hint="ls -l du dossier de LogPath : le fichier courant et ses .1, .2…"),
            Check(id="printed", weight=1, run=_printed_check,
                  description=f"la dernière ligne des journaux est « {LINES} »",
                  hint=f"pyker logs --tail 1 {LOGS} ; attendez la fin avec pyker wait."),
            Check(id="rotated", hidden=True, run=_rotated_check,
                  description="les journaux gardent les dernières lignes, dans l'ordre"),
        ),
        hints=("pyker run --help | grep log",
               "max-size accepte k, m, g (10k = 10 000 octets) ; max-file compte le fichier "
               "courant."),
    ),
    Exercise(
        lab=LAB, id="cpu-limit", title="Un demi-cœur",
        statement=f"Lancez en arrière-plan un conteneur nommé {LIMITED} (image busybox) qui "
                  "tourne en boucle sans fin (sh -c 'while :; do :; done') et que le noyau "
                  f"limite à {CPUS:g} CPU.",
        points=4,
        checks=(
            running(LIMITED),
            Check(id="quota", weight=1, run=_quota_check,
                  description=f"le quota CFS de son cgroup vaut {CPUS:g} CPU",
                  hint="--cpus écrit cpu.cfs_quota_us / cpu.cfs_period_us (v1) ou cpu.max "
                       "(v2)."),
            Check(id="under-limit", weight=1, run=_measure_check,
                  description=f"mesuré sur {MEASURE_SECONDS:g} s, il ne dépasse pas {CPUS:g} "
                              "cœur",
                  hint="Sans quota, une boucle prend un cœur entier."),
            Check(id="busy", hidden=True, run=_busy_check,
                  description="sa boucle veut le CPU : c'est la limite qui la retient"),
        ),
        hints=("pyker run --help | grep cpu",
               "Lisez cpu.stat dans le cgroup cpu du conteneur : nr_throttled compte les "
               "périodes où le noyau l'a arrêté."),
    ),
)
