"""Start-to-exit latency of one container running ``true``: pyker against runc, crun, the floor.

Run as root from the repository root, with the venv pyker is installed in::

    .venv/bin/python benchmarks/run_latency.py [-n 20] [--warmup 3] [--json results.json]

Everything lives in a private temporary directory (data root, run root, runtime state, the
bundle): the user's /var/lib/pyker is never touched. busybox is bootstrapped there, and the
same busybox layer is the rootfs of the runc/crun bundle and of the chroot floor, so every
variant executes the same ``/bin/true``. Variants run round-robin (one run of each, N times,
after the warm-ups) so that a drift of the machine weighs on all of them alike. Wall time is
measured around the whole command (``subprocess.run``), as a user waits for it.

"pyker (fork server)" is the same ``pyker`` program while pyker's fork server runs on the
private run root (started before the measurement, stopped after): the program hands the
command to a server that has imported pyker once and forks for it. That program is the C
client where ``make venv`` could build it (pyker/cli/client.c); "pyker (Python client, fork
server)" hands the same command over from bin/pyker, after an interpreter's start. The other
pyker rows run with ``PYKER_FORKSERVER=off``, importing pyker at each run as where no server
runs. The server steps down when pyker's sources change; the row is then discarded, with the
reason.

With the Debian packages docker.io and podman installed, ``docker run --rm busybox true`` and
``podman run --rm busybox true`` are measured too, each on a private store holding the busybox
that ``pyker save`` wrote, with its default bridge network, inside a network namespace of its
own (dockerd runs there; podman's runs enter it), so that neither touches the host's
interfaces or firewall (see _engines.py). ``pyker run --network bridge`` joins them, in a
namespace of its own too, once pyker offers it (skipped until then).

This is a measurement, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from _common import (REPO, ForkServer, Variant, bootstrap_busybox, loadavg, machine, measure,
                     pyker_env, row, run, tail)
from _engines import (Joined, NetNs, pin_mount_namespace, podman_run_flags, podman_store,
                      start_docker, workspace)
from _engines import versions as engine_versions

FORK_ROW = "pyker (fork server)"
BRIDGE_FORK_ROW = "pyker (fork server) --network bridge"


def _bundle(tmp: Path, layer: Path) -> Path:
    """``runc spec`` around a copy of pyker's busybox layer, running ``true``."""
    bundle = tmp / "bundle"
    bundle.mkdir()
    subprocess.run(["cp", "-a", str(layer), str(bundle / "rootfs")], check=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["true"]
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    return bundle


def _busybox_layer(data: Path) -> Path:
    layers = sorted(data.glob("layers/*/diff"))
    if len(layers) != 1:
        raise SystemExit(f"expected one busybox layer under {data}/layers, found {len(layers)}")
    return layers[0]


def variants(tmp: Path, python: Path, bundle: Path) -> list[Variant]:
    from pyker.runtime import oci_runtime

    env = pyker_env(tmp, bytecode=True)
    cold = pyker_env(tmp, bytecode=False)
    script = python.parent / "pyker"
    rootfs = bundle / "rootfs"
    # --network none: the same namespaces as runc's bundle (a network namespace with lo only);
    # the bridge rows below measure what a network adds.
    run_true = ["run", "--rm", "--network", "none", "busybox", "true"]
    missing = "" if script.exists() else f"no pyker program {script}: make venv"
    served = pyker_env(tmp, bytecode=True, forkserver=True)
    out = [
        Variant("pyker (no server)", [str(script), *run_true], env, skip=missing,
                note="the pyker program runs the command itself (imports pyker)"),
        Variant(FORK_ROW, [str(script), *run_true], served, skip=missing,
                note="the same program handing the command to a fork server"
                     + (" (C client)" if _is_elf(script) else " (Python client)")),
        Variant("pyker (Python client, fork server)",
                [str(python), str(REPO / "bin" / "pyker"), *run_true], served,
                note="bin/pyker: an interpreter starts before the hand-over"),
        Variant("pyker (python -m pyker)", [str(python), "-m", "pyker", *run_true], env),
        Variant("pyker (-m, no bytecode cache)", [str(python), "-m", "pyker", *run_true], cold,
                note="pyker compiled at each run: PYTHONDONTWRITEBYTECODE, no __pycache__"),
    ]
    runc = shutil.which("runc")
    out.append(Variant("runc run", [runc or "runc", "--root", str(tmp / "runc"), "run",
                                    "--bundle", str(bundle), "{id}"],
                       skip="" if runc else "runc not installed (Debian package runc)"))
    crun = shutil.which("crun")
    hybrid = oci_runtime.is_hybrid_cgroup()
    crun_row = Variant("crun run", [crun or "crun", "--root", str(tmp / "crun"), "run",
                                    "--bundle", str(bundle), "{id}"],
                       note="in a mount ns without /sys/fs/cgroup/unified" if hybrid else "",
                       skip="" if crun else "crun not installed (Debian package crun)")
    if hybrid and crun:
        pin = tmp / "crun-ns" / "mnt"
        crun_row.skip = pin_mount_namespace(pin, oci_runtime._hide_unified)
        crun_row.joined = None if crun_row.skip else Joined(None, pin)
    out.append(crun_row)
    out.append(Variant("floor: unshare+chroot", ["unshare", "--pid", "--mount", "--uts", "--ipc",
                                                 "--net", "--fork", "chroot", str(rootfs),
                                                 "/bin/true"],
                       note="namespaces without a runtime"))
    return out


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def engines(tmp: Path, stack: ExitStack, python: Path) -> list[Variant]:
    """The bridge-network variants, each engine in a network namespace of its own."""
    image_tar = tmp / "busybox.tar"
    saved = run([str(python), "-m", "pyker", "save", "-o", str(image_tar), "busybox"],
                pyker_env(tmp, bytecode=True))
    err = "" if saved.returncode == 0 else f"pyker save failed, {tail(saved)}"
    out = _pyker_bridge(tmp, stack, python)
    d, docker_err = start_docker(tmp, stack, image_tar) if not err else (None, err)
    out.append(Variant("docker run --rm", [*d.client(), "run", "--rm", "busybox", "true"] if d
                       else [], d.client_env() if d else None, skip=docker_err,
                       note="docker0 bridge, dockerd in its own netns"))
    argv, ns, podman_err = podman_store(tmp, stack, image_tar) if not err else ([], None, err)
    joined = None
    if ns and not podman_err:  # its namespace, and a mount namespace with that one's sysfs
        pin = tmp / "podman" / "ns" / "mnt"
        podman_err = pin_mount_namespace(pin, ns.enter())
        joined = ns.joined(mount_ns=pin) if not podman_err else None
    out.append(Variant("podman run --rm", [*argv, "run", "--rm", *podman_run_flags(), "busybox",
                                           "true"], joined=joined, skip=podman_err,
                       note="netavark bridge, in its own netns"))
    return out


def _pyker_bridge(tmp: Path, stack: ExitStack, python: Path) -> list[Variant]:
    """pyker on its default bridge, in a network namespace of its own, with and without a
    fork server (started in that namespace: it serves only clients in its own namespaces)."""
    v = _pyker_bridge_alone(tmp, stack, python)
    env = {**pyker_env(tmp, bytecode=True, forkserver=True),
           "PYKER_RUN_ROOT": str(tmp / "run-bridge")}
    served = Variant(BRIDGE_FORK_ROW, v.argv, env, preexec=v.preexec, joined=v.joined,
                     skip=v.skip, note="the fork server running in that netns")
    return [v, served]


def _pyker_bridge_alone(tmp: Path, stack: ExitStack, python: Path) -> Variant:
    """``pyker run --network bridge``, measured if a trial run works here."""
    env = pyker_env(tmp, bytecode=True)
    v = Variant("pyker run --network bridge", [str(python.parent / "pyker"), "run", "--rm",
                                                "--network", "bridge", "busybox", "true"], env,
                note="in its own netns")
    ns = NetNs(f"pyk-pyker-{os.getpid()}", tmp / "pyker-netns-keep")
    stack.callback(ns.delete)
    err = ns.create()
    if err:
        v.skip = f"no network namespace for it: {err}"
        return v
    v.preexec = ns.enter_net_only()  # for the trial and the fork server's start
    v.joined = ns.joined()
    trial = run(v.argv, env, preexec_fn=v.preexec)
    if trial.returncode != 0:
        v.skip = f"pyker run --network bridge failed ({tail(trial)})"
    return v


def report(vs: list[Variant], runs: int, warmup: int) -> dict[str, object]:
    base = next((v for v in vs if v.name == "runc run" and v.times), None)
    base_median = statistics.median(base.times) if base else None
    rows, lines = [], []
    print(f"\n{'variant':<32} {'median ms':>10} {'p90 ms':>9} {'min ms':>8} {'x runc':>7}  runs")
    for v in vs:
        if v.skip or not v.times:
            print(f"{v.name:<32} {'skipped: ' + (v.skip or 'no successful run')}")
            rows.append({"name": v.name, "skipped": v.skip or "no successful run"})
            continue
        r = row(v, statistics.median(v.times) / base_median if base_median else None,
                "ratio_to_runc")
        ratio = r["ratio_to_runc"]
        print(f"{v.name:<32} {r['median_s'] * 1e3:>10.1f} {r['p90_s'] * 1e3:>9.1f} "
              f"{r['min_s'] * 1e3:>8.1f} {ratio if ratio else float('nan'):>6.1f}x  {len(v.times)}"
              + (f"  ({v.note})" if v.note else "") + (f" [{v.failures} failed]" if v.failures else ""))
        rows.append(r)
        if ratio and v is not base:
            lines.append(f"{v.name}/runc = {ratio:.1f}x")
    print()
    for line in lines:
        print(line)
    return {"runs": runs, "warmup": warmup, **machine(), "versions": _versions(),
            "results": rows}


def _versions() -> dict[str, str]:
    out = {}
    for tool in ("runc", "crun"):
        if shutil.which(tool):
            text = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
            out[tool] = text.splitlines()[0] if text else "?"
    return out | engine_versions()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the results as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run_latency: needs root (namespaces, overlay mounts, cgroups)", file=sys.stderr)
        return 1
    with workspace("pyker-bench-", keep=args.keep) as (tmp, stack):
        python = Path(sys.executable)
        err = bootstrap_busybox(tmp, python)
        if err:
            print(f"bootstrap failed: {err}", file=sys.stderr)
            return 1
        bundle = _bundle(tmp, _busybox_layer(tmp / "data"))
        vs = variants(tmp, python, bundle) + engines(tmp, stack, python)
        stack.callback(lambda: [v.joined.close() for v in vs if v.joined])  # first, at the end
        servers = []
        for name in (FORK_ROW, BRIDGE_FORK_ROW):
            served = next(v for v in vs if v.name == name)
            server = ForkServer(python, served.env, preexec=served.preexec)
            if not served.skip:  # on a private run root, for the whole round-robin
                stack.callback(server.stop)
                served.skip = server.start()
            servers.append((served, server))
        before = loadavg()
        print(f"{args.runs} runs each after {args.warmup} warm-ups, round-robin; data in {tmp}")
        measure(vs, args.runs, args.warmup)
        for served, server in servers:
            if not served.skip and (stepped_down := server.check()):
                for v in vs:  # every row this server served (its run root, its env)
                    if v.env is served.env:
                        v.skip = f"{stepped_down} ({len(v.times)} samples discarded)"
            server.stop()
        result = report(vs, args.runs, args.warmup)
        result["loadavg_before"], result["loadavg_after"] = before, loadavg()
        print(f"\nload average before {before}, after {result['loadavg_after']}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
            print(f"\nresults written to {args.json}")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
