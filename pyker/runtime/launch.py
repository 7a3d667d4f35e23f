"""``start``: from a created container to a running one, owned by its monitor.

The CLI process mounts the root filesystem, writes this start's spec to ``bundle/config.json``
and creates the cgroup, then forks the monitor:

* foreground (``pyker run`` without ``-d``): the monitor is the CLI's child and inherits its
  terminal; the CLI waits for it and exits with the container's status. Signals the user
  sends (Ctrl-C) reach the monitor, which forwards them to the container, as Docker's
  ``--sig-proxy`` does.
* detached (``-d``, ``start``): the monitor double-forks into its own session, so it outlives
  the CLI, and reports through a pipe once the container has started (or why it could not).
* foreground without a tty, the command served by a fork server (``Attach.front``): the user
  waits for the server's client, not for this process, so this process is the monitor; it
  reports the container's end (or a detach) to the client and goes on to its own exit.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pyker.cgroups import migration
from pyker.errors import ExecError, PykerError
from pyker.kernel.fds import null_stdio
from pyker.image.store import ImageStore
from pyker.runtime import aside, cgroup_bridge, health, network_bridge
from pyker.runtime.container import Paths, mount_rootfs, unmount_rootfs
from pyker.runtime.logs import rfc3339_nano
from pyker.runtime.monitor import FORWARDED, Front, Monitor, Plan, PipeFront
from pyker.runtime.spawn import StartFailed
from pyker.runtime.options import RunOptions
from pyker.runtime.state import ContainerStore, Record


@dataclass(frozen=True, slots=True, kw_only=True)
class Attach:
    foreground: bool
    interactive: bool
    # Who waits for a foreground run without a tty, when it is not this process (a fork
    # server's client, pyker.cli.forkchild.ClientFront): this process is then the monitor.
    front: Front | None = None


def prepare(images: ImageStore, store: ContainerStore, record: Record,
            attach: Attach, run_root: Path) -> tuple[Plan, object]:
    from pyker.runtime.specgen import generate
    from pyker.spec.runtime import validate

    if record.options.get("stop_requested"):
        # A `stop` holds off the restart policy (and a `restart` the removal of a --rm
        # container) until the next start, not forever after.
        store.update_options(record.id, lambda options: {
            k: v for k, v in options.items() if k not in ("stop_requested", "restart_requested")})
    opts = RunOptions.from_dict(record.options)
    external = opts.runtime != "pyker"
    if external:
        from pyker.runtime import oci_runtime

        oci_runtime.binary(opts.runtime)  # a missing runtime fails before anything is done
        if opts.tty:
            raise PykerError(f"-t with --runtime {opts.runtime} is not supported yet")
    image = images.get(record.image_id)
    paths = Paths(root=store.dir(record.id))
    if opts.userns_remap is not None:
        _for_remapped_root(paths, opts.userns_remap)
    net = networking = cgroup = None
    try:
        if opts.network.startswith("container:"):  # only files to copy: done in line
            net = network_bridge.setup(network_bridge.Context.of(store, run_root), record,
                                       opts, image, paths.root)
        elif opts.network not in ("none", "host"):
            # ~6 ms of Python and netlink, started first to run while this process makes
            # the cgroup, mounts the root and writes the spec, which needs only the
            # namespace's path: in the fork server's assistant (another core), else in a
            # thread (which hides only its waits on the kernel).
            networking = aside.start(network_bridge.setup, network_bridge.Context.of(
                store, run_root), record, opts, image, paths.root)
        # An external runtime creates (and removes) the cgroup itself, from cgroupsPath.
        # Ours is made first, and the grace period its move will wait for starts right
        # after, to run while the rest is prepared (pyker.cgroups.migration; a mkdir in a
        # cgroup tree would wait for that grace period too). On v1 the init moves itself
        # without that wait (pyker.runtime.spawn), unless a user namespace prevents it:
        # no warm-up then, whose writer would hold the cgroup_mutex that move needs.
        cgroup = None if external else cgroup_bridge.make(record.id)
        if cgroup_bridge.self_join_files(
                cgroup, user_namespace=opts.userns_remap is not None) is None:
            migration.warm()
        mount_rootfs(images, image, paths, volatile=opts.auto_remove)
        netns = net.netns if net else (
            network_bridge.pinned(run_root, record.id) if networking else "")
        cgroups_path = (oci_runtime.cgroups_path(record.id) if external
                        else cgroup_bridge.path_of(record.id))
        spec = generate(opts, image, container_id=record.id, rootfs=paths.rootfs,
                        container_dir=paths.root, cgroups_path=cgroups_path,
                        cgroup_v2=cgroup_bridge.is_v2(), netns_path=netns,
                        pid_ns_path=_pid_namespace(store, opts.pid))
        validate(spec)
        spec.dump(paths.bundle / "config.json")
        program = None if external else _seccomp(spec, store)
        if cgroup is not None:
            cgroup_bridge.configure(cgroup, spec)
        if networking is not None:
            net = networking.result()
    except BaseException:
        if networking is not None and net is None:
            try:  # its own failure tore down what it had done; its success is undone below
                net = networking.result()
            except BaseException:  # noqa: BLE001 — the first error is the one to report
                pass
        if net is not None:
            network_bridge.teardown(network_bridge.Context.of(store, run_root), record.id,
                                    paths.root)
        unmount_rootfs(paths)
        if cgroup is not None:
            cgroup_bridge.release(cgroup)
        raise
    return Plan(container_id=record.id, spec=spec, rootfs=paths.rootfs, log_path=paths.log,
                foreground=attach.foreground, interactive=attach.interactive, tty=opts.tty,
                restart=opts.restart, max_retries=opts.max_retries,
                attach_socket=run_root / record.id / "attach.sock", runtime=opts.runtime,
                bundle=paths.bundle, state_root=run_root / opts.runtime,
                seccomp=program, run_root=run_root,
                dns_networks=net.dns_networks if net else (),
                dns_upstreams=net.dns_upstreams if net else (),
                netns=net.netns if net else "",
                healthcheck=health.effective(image.config.config.healthcheck, opts.healthcheck),
                shell=image.config.config.shell or ()), cgroup


def _pid_namespace(store: ContainerStore, mode: str) -> str:
    """``--pid container:NAME``: that running container's PID namespace, by path."""
    if not mode.startswith("container:"):
        return ""
    from pyker.runtime.state import alive

    other = store.resolve(mode.partition(":")[2])
    if not alive(other.state.pid, other.state.pid_start):
        raise PykerError(f"cannot join PID of a non running container: {other.name}")
    return f"/proc/{other.state.pid}/ns/pid"


def _for_remapped_root(paths: Paths, remap) -> None:
    """What the container's root (an unprivileged uid on the host) must reach and write."""
    from pyker.runtime import userns

    userns.check_traversable(paths.rootfs, remap)
    userns.chown_to_root([paths.upper, paths.work, *(paths.root / name for name in (
        "hosts", "hostname", "resolv.conf"))], remap)


def _seccomp(spec, store: ContainerStore) -> bytes | None:
    """Compile (or find cached) the filter now: an unusable profile fails before the start."""
    from pyker.runtime.privileges import InitError, seccomp_program

    try:
        return seccomp_program(spec, cache=store.root.parent / "cache" / "seccomp")
    except InitError as err:
        raise ExecError(str(err), err.code) from err


def _finish(store: ContainerStore, plan: Plan, cgroup, *, remove: bool,
            network_release=None) -> Path | None:
    """Release what the container held; with ``remove``, remove it too, and return its
    directory for the monitor to delete (pyker.runtime.container.remove).
    ``network_release``: the network's release, begun in a helper (Monitor.network_release),
    waited for here; without it the network is torn down in line."""
    if cgroup is not None:
        cgroup_bridge.release(cgroup)
    if network_release is None and plan.run_root is not None and plan.netns \
            and not plan.netns.startswith("/proc/"):
        network_bridge.teardown(network_bridge.Context.of(store, plan.run_root),
                                plan.container_id, store.dir(plan.container_id))
    unmount_rootfs(Paths(root=store.dir(plan.container_id)))
    if network_release is not None:
        network_release.result()
    if remove:
        from pyker.runtime.container import remove as remove_container

        record = store.load(plan.container_id)
        if not record.options.get("restart_requested"):  # `restart`: started again instead
            return remove_container(store, record, force=True, volumes=True, released=True)
    return None


def monitor_main(store: ContainerStore, plan: Plan, cgroup, *, remove: bool,
                 ready_fd: int | None, front: Front | None = None,
                 signal_fd: int | None = None) -> int:
    """The monitor's whole life; returns the container's final exit code."""
    monitor = Monitor(plan, store, cgroup, front, signal_fd)
    code = _supervise(monitor, store, plan, cgroup, remove=remove, ready_fd=ready_fd)
    monitor.ended(code)
    if monitor.trash is not None:  # a --rm container's files, out of the store already
        import shutil

        shutil.rmtree(monitor.trash, ignore_errors=True)
    return code


def _supervise(monitor: Monitor, store: ContainerStore, plan: Plan, cgroup, *, remove: bool,
               ready_fd: int | None) -> int:
    """Start the container, restart it as its policy says; its last exit code, once the
    container is cleaned up (removed, with ``remove``)."""
    monitor.install_signals()
    restarts, code = 0, 0
    try:
        while True:
            try:
                code, oom = monitor.run_once(ready=lambda: _ready(ready_fd, "ok"))
            except StartFailed as err:
                store.update_state(plan.container_id, status="exited", exit_code=err.code,
                                   error=str(err), finished_at=rfc3339_nano(), pid=0)
                _ready(ready_fd, f"{err.code} {err}")
                if plan.foreground:
                    print(f"pyker: {err}", file=sys.stderr)
                return err.code
            again = monitor.should_restart(code, restarts)
            restarts += again
            # With --rm the record goes right after: no need to make it survive a crash.
            store.update_state(plan.container_id, status="restarting" if again else "exited",
                               exit_code=code, oom_killed=oom, finished_at=rfc3339_nano(),
                               pid=0, restart_count=restarts, durable=not remove)
            if not again:
                return code
            time.sleep(min(0.1 * 2 ** (restarts - 1), 5))  # Docker's doubling back-off
            if monitor.stop_requested():  # stopped during the back-off: not started again
                store.update_state(plan.container_id, status="exited", durable=not remove)
                return code
    finally:
        if plan.attach_socket is not None:
            plan.attach_socket.unlink(missing_ok=True)
            try:
                plan.attach_socket.parent.rmdir()  # the container's run directory
            except OSError:
                pass
        monitor.trash = _finish(store, plan, cgroup, remove=remove,
                                network_release=monitor.network_release)


def _ready(fd: int | None, message: str) -> None:
    if fd is not None:
        try:
            os.write(fd, message.encode())
            os.close(fd)
        except OSError:
            pass


def start(images: ImageStore, store: ContainerStore, record: Record, *, attach: Attach,
          run_root: Path, remove: bool = False) -> int:
    """Start ``record``; foreground: its exit code (0 if detached); detached: 0 once it runs.

    Raises:
        ExecError: the command could not run (126/127), PykerError for anything else.
    """
    plan, cgroup = prepare(images, store, record, attach, run_root)
    sys.stdout.flush()
    sys.stderr.flush()
    if attach.foreground and attach.front is not None and not plan.tty:
        # Its front waits for a report, not for this process: no monitor to fork.
        return _run_child(store, plan, cgroup, remove=remove, ready_fd=None,
                          front=attach.front)
    if attach.foreground:
        return _foreground(store, plan, cgroup, remove=remove)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.setsid()
        if os.fork():
            os._exit(0)
        null_stdio()
        os._exit(_run_child(store, plan, cgroup, remove=remove, ready_fd=ready_w))
    os.close(ready_w)
    os.waitpid(pid, 0)
    report = b""
    while chunk := os.read(ready_r, 4096):
        report += chunk
    os.close(ready_r)
    text = report.decode(errors="replace")
    if text == "ok":
        return 0
    code, _, message = text.partition(" ")
    if code.isdigit() and int(code) in (126, 127):
        raise ExecError(message, int(code))
    raise PykerError(message or "the container's monitor exited before the container started")


def _foreground(store: ContainerStore, plan: Plan, cgroup, *, remove: bool) -> int:
    """The monitor as the CLI's child, on the user's terminal (raw mode for ``-t``).

    The signals the CLI receives go to the container (Docker's sig-proxy), through the
    monitor: over a pipe rather than kill(2), so that the monitor, which gets the terminal's
    Ctrl-C itself too (same process group), can ignore direct ones and pass each on once.
    """
    import termios
    import tty

    saved = termios.tcgetattr(0) if plan.tty and plan.interactive and os.isatty(0) else None
    detach_r, detach_w = os.pipe2(os.O_CLOEXEC)
    signal_r, signal_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(detach_r)
        os.close(signal_w)
        os._exit(_run_child(store, plan, cgroup, remove=remove, ready_fd=None,
                            front=PipeFront(detach_w), signal_fd=signal_r))
    os.close(detach_w)
    os.close(signal_r)
    os.set_blocking(signal_w, False)

    def relay(signum: int, _frame: object) -> None:
        try:
            os.write(signal_w, bytes([signum]))
        except OSError:  # the monitor is gone, or the pipe is full of undelivered ones
            pass

    previous = {s: signal.signal(s, relay) for s in FORWARDED}
    try:
        if saved is not None:
            tty.setraw(0)
        why = os.read(detach_r, 2)
        if why == b"d":  # ctrl-p ctrl-q: the container goes on alone
            return 0
        if len(why) == 2 and why[:1] == b"e":
            # The container's exit code, the container cleaned up: the monitor's own exit
            # (tearing down a copy of this process, ~3 ms) is not waited for.
            _reap_later(pid)
            return why[1]
        if why == b"p":  # stdout's reader is gone (`| head`): Docker's CLI dies of SIGPIPE
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGPIPE)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 125
    finally:
        os.close(detach_r)
        os.close(signal_w)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        for s, handler in previous.items():
            signal.signal(s, handler)


# Foreground monitors whose exit was not waited for (_foreground): reaped at the next start
# by a process that lives on (a notebook's kernel); a `pyker` process exits first, and
# init reaps them.
_UNREAPED: set[int] = set()


def reap_monitors() -> None:
    """Wait for the foreground monitors not waited for yet (a process that forks others
    afterwards, as the fork server after its warm-up, must not keep them as zombies)."""
    while _UNREAPED:
        try:
            os.waitpid(_UNREAPED.pop(), 0)
        except ChildProcessError:
            pass


def _reap_later(pid: int) -> None:
    _UNREAPED.add(pid)
    for child in list(_UNREAPED):
        try:
            done, _ = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            done = child
        if done:
            _UNREAPED.discard(child)


def _run_child(store: ContainerStore, plan: Plan, cgroup, *, remove: bool,
               ready_fd: int | None, front: Front | None = None,
               signal_fd: int | None = None) -> int:
    try:
        return monitor_main(store, plan, cgroup, remove=remove, ready_fd=ready_fd,
                            front=front, signal_fd=signal_fd)
    except BaseException as err:  # noqa: BLE001 — a forked monitor must never unwind into the CLI
        import traceback

        # A detached monitor has no terminal: its last words go beside the container's log.
        with open(plan.log_path.with_name("monitor.log"), "a") as f:
            traceback.print_exc(file=f)
        _ready(ready_fd, f"125 {err}")
        try:
            print(f"pyker: monitor: {err}", file=sys.stderr)
        except OSError:
            pass
        return 125
