"""Start-to-exit latency of one container running ``true``: pyker against runc, crun, the floor.

Run as root from the repository root, with the venv pyker is installed in::

    .venv/bin/python benchmarks/run_latency.py [-n 20] [--warmup 3] [--json results.json]

Everything lives in a private temporary directory (data root, run root, runtime state, the
bundle): the user's /var/lib/pyker is never touched. busybox is bootstrapped there, and the
same busybox layer is the rootfs of the runc/crun bundle and of the chroot floor, so every
variant executes the same ``/bin/true``. Variants run round-robin (one run of each, N times,
after the warm-ups) so that a drift of the machine weighs on all of them alike. Wall time is
measured around the whole command (``subprocess.run``), as a user waits for it.

This is a measurement, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@dataclass(slots=True)
class Variant:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    preexec: Callable[[], None] | None = None
    note: str = ""
    skip: str = ""                       # why it is not measured
    times: list[float] = field(default_factory=list)
    failures: int = 0


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]  # nearest rank


def _run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, env=env, capture_output=True, **kw)


def _pyker_env(tmp: Path, *, bytecode: bool) -> dict[str, str]:
    env = {**os.environ, "PYKER_DATA_ROOT": str(tmp / "data"), "PYKER_RUN_ROOT": str(tmp / "run"),
           "PYKER_DAEMON_CONFIG": str(tmp / "daemon.json")}
    # An installed pyker has its bytecode cached; a sandbox that sets PYTHONDONTWRITEBYTECODE
    # would make every run recompile every module. Cache it privately, as pip would.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:  # the standard library keeps its installed bytecode; pyker's is compiled each run
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


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

    env = _pyker_env(tmp, bytecode=True)
    cold = _pyker_env(tmp, bytecode=False)
    script = python.parent / "pyker"
    rootfs = bundle / "rootfs"
    out = [
        Variant("pyker (console script)", [str(script), "run", "--rm", "busybox", "true"], env,
                skip="" if script.exists() else f"no console script {script}: pip install -e ."),
        Variant("pyker (python -m pyker)", [str(python), "-m", "pyker", "run", "--rm", "busybox",
                                            "true"], env),
        Variant("pyker (-m, no bytecode cache)", [str(python), "-m", "pyker", "run", "--rm",
                                                  "busybox", "true"], cold,
                note="pyker compiled at each run: PYTHONDONTWRITEBYTECODE, no __pycache__"),
    ]
    runc = shutil.which("runc")
    out.append(Variant("runc run", [runc or "runc", "--root", str(tmp / "runc"), "run",
                                    "--bundle", str(bundle), "{id}"],
                       skip="" if runc else "runc not installed (Debian package runc)"))
    crun = shutil.which("crun")
    hybrid = oci_runtime.is_hybrid_cgroup()
    out.append(Variant("crun run", [crun or "crun", "--root", str(tmp / "crun"), "run", "--bundle",
                                    str(bundle), "{id}"],
                       preexec=oci_runtime._hide_unified if hybrid else None,
                       note="in a mount ns without /sys/fs/cgroup/unified" if hybrid else "",
                       skip="" if crun else "crun not installed (Debian package crun)"))
    out.append(Variant("floor: unshare+chroot", ["unshare", "--pid", "--mount", "--uts", "--ipc",
                                                 "--net", "--fork", "chroot", str(rootfs),
                                                 "/bin/true"],
                       note="namespaces without a runtime"))
    out.append(_podman())
    return out


def _podman() -> Variant:
    podman = shutil.which("podman")
    v = Variant("podman run --rm", [podman or "podman", "run", "--rm", "busybox", "true"])
    if podman is None:
        v.skip = "podman not installed"
    elif subprocess.run([podman, "image", "exists", "busybox"]).returncode != 0:
        v.skip = "podman has no busybox image (no Docker Hub here)"
    return v


def once(v: Variant, index: int) -> float | None:
    argv = [a.replace("{id}", f"bench-{os.getpid()}-{index}") for a in v.argv]
    start = time.perf_counter()
    proc = subprocess.run(argv, env=v.env, preexec_fn=v.preexec, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        v.failures += 1
        if not v.times and v.failures >= 3:
            v.skip = f"fails here: {proc.stderr.decode(errors='replace').strip()[:200]}"
        return None
    return elapsed


def measure(vs: list[Variant], runs: int, warmup: int) -> None:
    for i in range(warmup + runs):
        for v in vs:
            if v.skip:
                continue
            t = once(v, i)
            if t is not None and i >= warmup:
                v.times.append(t)


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
        med, hi, lo = statistics.median(v.times), p90(v.times), min(v.times)
        ratio = med / base_median if base_median else None
        print(f"{v.name:<32} {med * 1e3:>10.1f} {hi * 1e3:>9.1f} {lo * 1e3:>8.1f} "
              f"{ratio if ratio else float('nan'):>6.1f}x  {len(v.times)}"
              + (f"  ({v.note})" if v.note else "") + (f" [{v.failures} failed]" if v.failures else ""))
        rows.append({"name": v.name, "median_s": med, "p90_s": hi, "min_s": lo,
                     "mean_s": statistics.fmean(v.times), "runs": len(v.times),
                     "failures": v.failures, "ratio_to_runc": ratio, "note": v.note,
                     "argv": v.argv, "times_s": v.times})
        if ratio and v is not base:
            lines.append(f"{v.name}/runc = {ratio:.1f}x")
    print()
    for line in lines:
        print(line)
    return {"runs": runs, "warmup": warmup, "host": platform.node(), "kernel": platform.release(),
            "python": sys.version.split()[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": _versions(), "results": rows}


def _versions() -> dict[str, str]:
    out = {}
    for tool in ("runc", "crun", "podman"):
        if shutil.which(tool):
            text = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
            out[tool] = text.splitlines()[0] if text else "?"
    return out


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
    tmp = Path(tempfile.mkdtemp(prefix="pyker-bench-"))
    try:
        python = Path(sys.executable)
        env = _pyker_env(tmp, bytecode=True)
        proc = _run([str(python), "-m", "pyker", "bootstrap", "busybox"], env)
        if proc.returncode != 0:
            print(f"bootstrap failed: {proc.stderr.decode(errors='replace')}", file=sys.stderr)
            return 1
        bundle = _bundle(tmp, _busybox_layer(tmp / "data"))
        vs = variants(tmp, python, bundle)
        print(f"{args.runs} runs each after {args.warmup} warm-ups, round-robin; data in {tmp}")
        measure(vs, args.runs, args.warmup)
        result = report(vs, args.runs, args.warmup)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
            print(f"\nresults written to {args.json}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
