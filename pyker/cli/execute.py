"""Commands on a running container: ``exec``, ``top``, ``pause``, ``unpause``, ``stats``,
``update`` (``pyker container …`` reaches them too), with Docker's flags and output."""

from __future__ import annotations

import argparse
import fcntl
import os
import selectors
import signal
import sys
import termios
import time

from pyker.cli.main import Parser
from pyker.engine import Engine
from pyker.errors import UsageError

STATS_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
               "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")
STATS_HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME",
                 "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
                 "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
#: What Docker's stats prints before each refresh: erase the screen, cursor home.
CLEAR = "\033[2J\033[H"


def cmd_exec(args: argparse.Namespace) -> int:
    from pyker.runtime.execute import ExecRequest, exec_in

    if not args.command:
        raise UsageError('"pyker exec" requires at least 2 arguments.\n'
                         "See 'pyker exec --help'.")
    engine = Engine()
    req = ExecRequest(args=tuple(args.command), env=tuple(args.env), user=args.user or "",
                      workdir=args.workdir or "", interactive=args.interactive, tty=args.tty,
                      detach=args.detach)
    running = exec_in(engine.containers, engine.containers.resolve(args.container), req)
    return 0 if running is None else relay(running, interactive=req.interactive, tty=req.tty)


# ---- exec's streams: what Docker's CLI does on its side of the connection ----------------


def relay(running, *, interactive: bool, tty: bool) -> int:
    """Move bytes between the user and the command until it exits; its exit code.

    With a tty, the user's terminal (when stdin is one) goes raw for the duration, so that
    keys reach the command's own line discipline, and its size follows SIGWINCH. Without one,
    SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to the CLI are forwarded to the command.
    """
    import tty as tty_mode

    saved = termios.tcgetattr(0) if tty and interactive and os.isatty(0) else None
    handlers = _install_signals(running, tty)
    try:
        if saved is not None:
            tty_mode.setraw(0)
        return _pump(running, interactive=interactive, wake=handlers[0])
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        signal.set_wakeup_fd(-1)
        for sig, handler in handlers[1].items():
            signal.signal(sig, handler)
        for fd in (handlers[0], *running.pipes.ours):
            _close(fd)


def _install_signals(running, tty: bool) -> tuple[int, dict]:
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    signal.set_wakeup_fd(wake_w)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(running.command, signum)
        except ProcessLookupError:
            pass

    def resize(_signum: int, _frame: object) -> None:
        _copy_winsize(running.pipes.stdin)

    previous = {signal.SIGCHLD: signal.signal(signal.SIGCHLD, lambda *_: None)}
    if tty and running.pipes.stdin is not None:
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
        _copy_winsize(running.pipes.stdin)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        previous[sig] = signal.signal(sig, forward)
    return wake_r, previous


def _copy_winsize(master: int | None) -> None:
    if master is None or not os.isatty(0):
        return
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass


def _pump(running, *, interactive: bool, wake: int) -> int:
    sel = selectors.DefaultSelector()
    for fd, stream in running.pipes.ours.items():
        sel.register(fd, selectors.EVENT_READ, stream)
    stdin_closed = False
    if interactive and running.stdin is not None:
        try:
            sel.register(0, selectors.EVENT_READ, "stdin")
        except PermissionError:  # a regular file or /dev/null: epoll(7) refuses them
            _copy_in_background(os.dup(running.stdin))
            if running.stdin not in running.pipes.ours:
                _close(running.stdin)  # the thread's copy is the only writer left
                stdin_closed = True
    sel.register(wake, selectors.EVENT_READ, "wake")
    status = None
    while True:
        # Once the command is gone, what its background children still write is not waited
        # for: a short last drain, as `docker exec` returns when its process exits.
        events = sel.select(None if status is None else 0.1)
        for key, _ in events:
            _move(sel, running, key.fd, key.data)
        if status is None:
            pid, wait_status = os.waitpid(running.joiner, os.WNOHANG)
            if pid:
                status = wait_status
        elif not events or not running.pipes.ours or not [
                k for k in sel.get_map().values() if k.data in ("stdout", "stderr")]:
            break
    if running.stdin not in running.pipes.ours and not stdin_closed:
        _close(running.stdin)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 125


def _copy_in_background(target: int) -> None:
    """Stdin that cannot be polled (``exec -i C cmd < file``): copied by a thread into
    ``target`` (its own descriptor, closed at the end: the command's EOF), so that a command
    slow to read never blocks the relay of its output."""
    import threading

    def copy() -> None:
        try:
            while data := os.read(0, 65536):
                os.write(target, data)
        except OSError:
            pass  # the command closed its stdin: the rest is not wanted
        os.close(target)
    threading.Thread(target=copy, daemon=True).start()


def _move(sel: selectors.BaseSelector, running, fd: int, stream: str) -> None:
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""  # EIO: the pty's last holder closed it
    if stream == "wake":
        return
    if stream == "stdin":
        if not data:
            sel.unregister(0)
            if running.stdin not in running.pipes.ours:  # EOF closes a pipe, not a pty
                _close(running.stdin)
                running.stdin = None
            return
        try:
            os.write(running.stdin, data)
        except OSError:
            sel.unregister(0)  # the command closed its stdin
        return
    if not data:
        sel.unregister(fd)
        return
    os.write(1 if stream == "stdout" else 2, data)


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


# ---- top, pause, stats, update ----------------------------------------------------------


def top_rows(ps_output: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    """moby's parsePSOutput: ps's titles, and its rows whose PID is one of ``pids``.

    A row keeps as many fields as there are titles, the overhanging ones (a command's
    arguments) joined into the last; ``-`` rows (threads, with ``ps -m``) follow their process.

    Raises:
        UsageError: ps printed no PID column.
    """
    lines = ps_output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise UsageError("Couldn't find PID field in ps output")
    at, rows, kept = titles.index("PID"), [], False
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        if fields[at] == "-":
            if kept:
                rows.append(_fit(fields, len(titles)))
            continue
        if not fields[at].isdigit():
            raise UsageError(f"Unexpected pid '{fields[at]}': not a number")
        kept = int(fields[at]) in pids
        if kept:
            rows.append(_fit(fields, len(titles)))
    return titles, rows


def _fit(fields: list[str], width: int) -> list[str]:
    return fields[:width - 1] + [" ".join(fields[width - 1:])]


def cmd_top(args: argparse.Namespace) -> int:
    import subprocess

    from pyker.cli.table import TabConfig, tabwrite
    from pyker.runtime.stats import container_pids

    engine = Engine()
    pids = container_pids(engine.containers.resolve(args.container))
    ps_args = (" ".join(args.ps_args) or "-ef").split(" ")
    # As moby: ask ps for just these pids (-q), and retry without it for the options it
    # cannot combine with (f, …).
    proc = subprocess.run(["ps", *ps_args, "-q", ",".join(map(str, pids))], capture_output=True)
    if proc.returncode != 0:
        proc = subprocess.run(["ps", *ps_args], capture_output=True)
    if proc.returncode != 0:
        raise UsageError(f"Error running ps: {proc.stderr.decode(errors='replace').strip()}")
    titles, rows = top_rows(proc.stdout.decode(errors="replace"), set(pids))
    text = "".join("\t".join(r) + "\n" for r in [titles, *rows])
    sys.stdout.write(tabwrite(text, TabConfig(minwidth=20, tabwidth=1, padding=3)))
    return 0


def _each(names: list[str], action) -> int:
    from pyker.cli.containers import _each as each_container

    return each_container(names, action)


def cmd_pause(args: argparse.Namespace) -> int:
    from pyker.runtime.stats import pause, unpause

    engine = Engine()
    act = pause if args.name == "pause" else unpause

    def one(name: str) -> None:
        act(engine.containers, engine.containers.resolve(name))
        print(name)
    return _each(args.containers, one)


def stats_row(record, previous, current, *, no_trunc: bool, given: str = "") -> dict[str, str]:
    """One row of ``docker stats``: its fields, formatted as the Docker CLI formats them."""
    from pyker.cli.humanize import bytes_size, human_size
    from pyker.runtime.stats import cpu_percent, memory_percent

    return {"ID": record.id if no_trunc else record.id[:12], "Name": record.name,
            "Container": given or (record.id if no_trunc else record.id[:12]),
            "CPUPerc": f"{cpu_percent(previous, current):.2f}%",
            "MemUsage": f"{bytes_size(current.memory)} / {bytes_size(current.memory_limit)}",
            "MemPerc": f"{memory_percent(current):.2f}%",
            "NetIO": f"{human_size(current.net_rx)} / {human_size(current.net_tx)}",
            "BlockIO": f"{human_size(current.block_read)} / {human_size(current.block_write)}",
            "PIDs": str(current.pids)}


def cmd_stats(args: argparse.Namespace) -> int:
    from pyker.cli.gotemplate import format_rows
    from pyker.runtime.stats import is_running, sample

    store = Engine().containers
    if args.containers:
        targets = [(store.resolve(name), name) for name in args.containers]
    else:
        targets = [(r, "") for r in store.all() if args.all or is_running(r)]
    fmt = args.format if args.format and args.format != "table" else STATS_TABLE
    previous = {r.id: sample(r) for r, _ in targets}
    while True:
        time.sleep(1.0)  # the interval the CPU share is measured over, as dockerd's collector
        current = {r.id: sample(store.load(r.id)) for r, _ in targets}
        rows = [stats_row(r, previous[r.id], current[r.id], no_trunc=args.no_trunc, given=g)
                for r, g in targets]
        out = format_rows(fmt, rows, STATS_HEADERS)
        sys.stdout.write(out if args.no_stream else CLEAR + out)
        sys.stdout.flush()
        if args.no_stream:
            return 0
        previous = current


def update_changes(args: argparse.Namespace) -> dict[str, object]:
    """The Resources fields that ``update``'s flags set, in Docker's units."""
    from pyker.runtime.options import parse_bytes

    changes: dict[str, object] = {}
    for flag in ("memory", "memory_swap", "memory_reservation"):
        value = getattr(args, flag)
        if value is not None:
            changes[flag] = -1 if value == "-1" else parse_bytes(value, "--" + flag.replace(
                "_", "-"))
    for flag in ("cpu_shares", "cpu_period", "cpu_quota", "pids_limit"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag)
    for flag in ("cpuset_cpus", "cpuset_mems"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag)
    if args.cpus is not None:
        try:
            changes["nano_cpus"] = round(float(args.cpus) * 1e9)
        except ValueError:
            raise UsageError(f'invalid argument "{args.cpus}" for "--cpus" flag') from None
    return changes


def cmd_update(args: argparse.Namespace) -> int:
    from pyker.runtime.options import parse_restart
    from pyker.runtime.stats import update

    changes = update_changes(args)
    restart = parse_restart(args.restart) if args.restart is not None else None
    if not changes and restart is None:
        raise UsageError("you must provide one or more flags when using this command")
    engine = Engine()

    def one(name: str) -> None:
        for warning in update(engine.containers, engine.containers.resolve(name), changes,
                              restart):
            print(f"WARNING: {warning}", file=sys.stderr)
        print(name)
    return _each(args.containers, one)


def _add_update_flags(p: Parser) -> None:
    for flag in ("--memory", "--memory-swap", "--memory-reservation", "--cpus",
                 "--cpuset-cpus", "--cpuset-mems", "--restart"):
        p.add_argument(*(("-m",) if flag == "--memory" else ()), flag)
    for flag in ("--cpu-shares", "--cpu-period", "--cpu-quota", "--pids-limit"):
        p.add_argument(*(("-c",) if flag == "--cpu-shares" else ()), flag, type=int)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(handler=cmd_update)


def add(name: str, p: Parser) -> None:
    if name == "exec":
        p.add_argument("-i", "--interactive", action="store_true")
        p.add_argument("-t", "--tty", action="store_true")
        p.add_argument("-d", "--detach", action="store_true")
        p.add_argument("-e", "--env", action="append", default=[])
        p.add_argument("-u", "--user")
        p.add_argument("-w", "--workdir")
        p.add_argument("container")
        p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
        p.set_defaults(handler=cmd_exec)
    elif name == "top":
        p.add_argument("container")
        p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")
        p.set_defaults(handler=cmd_top)
    elif name in ("pause", "unpause"):
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(handler=cmd_pause, name=name)
    elif name == "stats":
        p.add_argument("-a", "--all", action="store_true")
        p.add_argument("--no-stream", action="store_true")
        p.add_argument("--no-trunc", action="store_true")
        p.add_argument("--format")
        p.add_argument("containers", nargs="*", metavar="CONTAINER")
        p.set_defaults(handler=cmd_stats)
    elif name == "update":
        _add_update_flags(p)


def parser(name: str) -> Parser:
    p = Parser(prog=f"pyker {name}", allow_abbrev=False)
    add(name, p)
    return p
