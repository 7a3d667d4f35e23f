"""A foreground ``compose up``: the services' output, prefixed, until they stop.

As Docker Compose: every line of every container, ``NAME exited with code N`` when one
stops; the first Ctrl-C stops the project gracefully (``Gracefully stopping...``), a second
one kills; with ``--abort-on-container-exit`` the first container to stop stops them all,
and ``--exit-code-from SERVICE`` makes that service's exit code the command's.
"""

from __future__ import annotations

import signal
import sys

from pyker.compose.logs import Follower, Printer, Source
from pyker.compose.project import RUNNING, ComposeProject, label


def log_sources(cp: ComposeProject, records, *, from_end: bool) -> list[Source]:
    """The containers' logs; one whose driver keeps none (``none``) shows nothing, with a
    warning, as Compose does (its end is still followed: ``exited with code``)."""
    from pyker.runtime import logdrivers

    store = cp.engine.containers
    out = []
    for record in records:
        try:
            reader = logdrivers.reader(record, store.dir(record.id))
        except logdrivers.LogsNotSupported:
            driver = logdrivers.config_of(record.options)[0]
            print(f"WARNING: {record.name}: no logs are available with the '{driver}' log "
                  "driver", file=sys.stderr)
            reader = logdrivers.Silent()
        start = reader.end() if from_end else 0

        def running(cid: str = record.id) -> bool:
            try:
                return store.load(cid).state.status in RUNNING
            except Exception:  # noqa: BLE001 — removed meanwhile: its log has ended
                return False
        out.append(Source(name=record.name, reader=reader, start=start, running=running))
    return out


def attach(cp: ComposeProject, records, *, abort: bool, exit_code_from: str,
           color: bool | None, prefix: bool, timeout: float | None) -> int:
    sources = log_sources(cp, records, from_end=False)
    printer = Printer([s.name for s in sources], color=color, prefix=prefix)
    printer.note("Attaching to " + ", ".join(s.name for s in sources))
    follower = Follower(sources, printer).start()
    codes: dict[str, int] = {}
    first_exit = ""
    try:
        for name, entry in follower.events():
            if entry is not None:
                printer.line(name, entry.log, entry.time)
                continue
            code = _exit_code(cp, records, name)
            codes[name] = code
            printer.note(f"{name} exited with code {code}")
            if abort and not first_exit:
                first_exit = name
                printer.note("Aborting on container exit...")
                _stop_all(cp, records, timeout)
    except KeyboardInterrupt:
        printer.note("Gracefully stopping... (press Ctrl+C again to force)")
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C ends us for good
        _stop_all(cp, records, timeout)
        return 130
    if exit_code_from:
        wanted = [r.name for r in records if label(r, "com.docker.compose.service")
                  == exit_code_from]
        return next((codes[n] for n in wanted if n in codes), 0)
    if first_exit:
        return codes.get(first_exit, 0)
    return 0


def _exit_code(cp: ComposeProject, records, name: str) -> int:
    record = next(r for r in records if r.name == name)
    try:
        return cp.engine.containers.load(record.id).state.exit_code
    except Exception:  # noqa: BLE001 — auto-removed: its code went with it
        return 0


def _stop_all(cp: ComposeProject, records, timeout: float | None) -> None:
    for record in reversed(records):
        try:
            cp.stop(cp.engine.containers.load(record.id), timeout=timeout)
        except Exception as err:  # noqa: BLE001 — stop the others anyway, say why not this one
            print(f"pyker: {record.name}: {err}", file=sys.stderr)
