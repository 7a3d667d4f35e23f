"""A fully cached rebuild of a 10-step Dockerfile: pyker build against docker build and buildah.

Run as root from the repository root, with the venv pyker is installed in::

    .venv/bin/python benchmarks/build_cache.py [-n 20] [--warmup 3] [--json results.json]

Every engine builds the same context (written below: FROM busybox, then ENV, WORKDIR, COPY,
RUN, LABEL, ENV, RUN, COPY, CMD) once uncached, untimed, to fill its cache; then once more,
verbosely, to check that all nine steps after FROM come from the cache (a variant whose
rebuild runs anything is skipped, with the count); then the timed rebuilds, round-robin.

* pyker: ``pyker build -q -t T CTX`` on a private store where busybox was bootstrapped, in two
  rows: "pyker build" imports pyker at each build (``PYKER_FORKSERVER=off``), "pyker build
  (fork server)" is the same command while pyker's fork server runs on the private run root
  (started before its first rebuild, stopped after the measurement; discarded, with the
  reason, if it stepped down because pyker's sources changed meanwhile).
* docker: dockerd on a private data root, in its own network namespace (see _engines.py),
  busybox loaded from ``pyker save``; ``docker build -q`` with ``DOCKER_BUILDKIT=0`` (the
  classic builder) and ``DOCKER_BUILDKIT=1`` (BuildKit, which works offline here: busybox is
  in the daemon's image store). The client sends the context to the daemon on each build.
* buildah: ``buildah bud --layers -q`` on a private store, in its own network namespace (its
  RUN steps get a netavark bridge there).

Variants that cannot run are printed as skipped, with the reason (and the install line of a
missing tool). This is a measurement, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from _common import (ForkServer, Variant, bootstrap_busybox, loadavg, machine, measure, pyker_env,
                     row, run, tail)
from _engines import buildah_bud_flags, buildah_store, start_docker, versions, workspace

DOCKERFILE = """\
FROM busybox
ENV APP_HOME=/opt/app
WORKDIR /opt/app
COPY app/ ./
RUN echo built > stamp && mkdir -p /var/lib/app && cp -r /opt/app/etc /var/lib/app/
LABEL org.example.benchmark="build_cache"
ENV PATH=/opt/app/bin:$PATH
RUN ln -s /opt/app/bin/hello /bin/hello && rm -f /opt/app/etc/drop.conf
COPY app/etc/app.conf /etc/app.conf
CMD ["hello"]
"""

FORK_ROW = "pyker build (fork server)"
PYKER_ROWS = ("pyker build", FORK_ROW)

#: app/ in the build context: path -> (mode, content)
FILES = {
    "app/bin/hello": (0o755, "#!/bin/sh\necho hello from $APP_HOME\n"),
    "app/etc/app.conf": (0o644, "answer=42\n"),
    "app/etc/drop.conf": (0o600, "dropped by the second RUN\n"),
    "app/data/readme.txt": (0o640, "data\n" * 100),
}


@dataclass(slots=True)
class Build:
    """A variant, the verbose form of its command, and what marks one cached step in it."""

    variant: Variant
    verbose: list[str]
    cache_hit: str                       # a regex, one match per step taken from the cache
    expected: int                        # matches in a fully cached rebuild of DOCKERFILE


def write_context(tmp: Path) -> Path:
    ctx = tmp / "context"
    for name, (mode, text) in FILES.items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    return ctx


def pyker_build(tmp: Path, python: Path, ctx: Path, *, forkserver: bool = False) -> Build:
    """``pyker build``; with ``forkserver``, the same command while a fork server runs on the
    private run root (the other row sets PYKER_FORKSERVER=off, so it imports pyker itself)."""
    script = python.parent / "pyker"
    v = Variant(FORK_ROW if forkserver else "pyker build",
                [str(script), "build", "-q", "-t", "bench-cache", str(ctx)],
                pyker_env(tmp, bytecode=True, forkserver=forkserver),
                note="the same program, handing the command to a fork server" if forkserver
                else "",
                skip="" if script.exists() else f"no console script {script}: pip install -e .")
    return Build(v, [a for a in v.argv if a != "-q"], r"---> Using cache", 9)


def docker_builds(tmp: Path, stack: ExitStack, image_tar: Path, ctx: Path) -> list[Build]:
    d, err = start_docker(tmp, stack, image_tar)
    out = []
    for label, kit, hit, n in (("classic", "0", r"---> Using cache", 9),
                               ("BuildKit", "1", r"^#\d+ CACHED$", 5)):  # RUN/COPY/WORKDIR
        env = {**d.client_env(), "DOCKER_BUILDKIT": kit}
        argv = [*d.client(), "build", "-q", "-t", f"bench-cache-{kit}", str(ctx)]
        v = Variant(f"docker build ({label})", argv, env, skip=err,
                    note="DOCKER_BUILDKIT=" + kit)
        verbose = [a for a in argv if a != "-q"] + (["--progress=plain"] if kit == "1" else [])
        out.append(Build(v, verbose, hit, n))
    return out


def buildah_build(tmp: Path, stack: ExitStack, image_tar: Path, ctx: Path) -> Build:
    argv, ns, err = buildah_store(tmp, stack, image_tar)
    cmd = [*argv, "bud", *buildah_bud_flags(), "-q", "-t", "bench-cache", str(ctx)]
    v = Variant("buildah bud --layers", cmd, preexec=None if err else ns.enter(), skip=err,
                note="in its own netns")
    return Build(v, [a for a in cmd if a != "-q"], r"--> Using cache", 9)


def prepare(b: Build) -> None:
    """The untimed first build, then the check that a rebuild takes every step from cache."""
    v = b.variant
    if v.skip:
        return
    first = run(b.verbose, v.env, preexec_fn=v.preexec)
    if first.returncode != 0:
        v.skip = f"first build failed, {tail(first)}"
        return
    again = run(b.verbose, v.env, preexec_fn=v.preexec)
    text = again.stdout.decode(errors="replace") + again.stderr.decode(errors="replace")
    hits = len(re.findall(b.cache_hit, text, re.M))
    if again.returncode != 0:
        v.skip = f"rebuild failed, {tail(again)}"
    elif hits != b.expected:
        v.skip = f"rebuild not fully cached: {hits} of {b.expected} steps from the cache"


def report(vs: list[Variant], runs: int, warmup: int) -> dict[str, object]:
    mine = next((v for v in vs if v.name == "pyker build" and v.times and not v.skip), None)
    base = statistics.median(mine.times) if mine else None
    rows = []
    print(f"\n{'variant':<26} {'median ms':>10} {'p90 ms':>9} {'min ms':>8} {'x pyker':>8}  runs")
    for v in vs:
        if v.skip or not v.times:
            print(f"{v.name:<26} {'skipped: ' + (v.skip or 'no successful run')}")
            rows.append({"name": v.name, "skipped": v.skip or "no successful run"})
            continue
        r = row(v, statistics.median(v.times) / base if base else None, "ratio_to_pyker")
        ratio = r["ratio_to_pyker"]
        print(f"{v.name:<26} {r['median_s'] * 1e3:>10.1f} {r['p90_s'] * 1e3:>9.1f} "
              f"{r['min_s'] * 1e3:>8.1f} {ratio if ratio else float('nan'):>7.2f}x  {len(v.times)}"
              + (f"  ({v.note})" if v.note else "") + (f" [{v.failures} failed]" if v.failures else ""))
        rows.append(r)
    others = [r for r in rows if "median_s" in r and r["name"] not in PYKER_ROWS]
    best = min(others, key=lambda r: r["median_s"], default=None)
    print()
    over_best: dict[str, float | None] = {}
    for name in PYKER_ROWS:
        measured = next((r for r in rows if r["name"] == name and "median_s" in r), None)
        over_best[name] = measured["median_s"] / best["median_s"] if measured and best else None
        if over_best[name] is not None:
            print(f"{name}/best = {over_best[name]:.2f}  (best of the others: {best['name']}, "
                  f"{best['median_s'] * 1e3:.1f} ms)")
        else:
            print(f"{name}/best: not computed (" + ("no other engine measured" if measured
                                                   else f"{name} not measured") + ")")
    return {"benchmark": "build_cache", "runs": runs, "warmup": warmup, **machine(),
            "versions": versions(), "dockerfile": DOCKERFILE, "results": rows,
            "best_other": best["name"] if best else None,
            "pyker_over_best": over_best["pyker build"],
            "forkserver_over_best": over_best[FORK_ROW]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the results as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("build_cache: needs root (overlay mounts, namespaces, dockerd)", file=sys.stderr)
        return 1
    python = Path(sys.executable)
    with workspace("pyker-bench-build-", keep=args.keep) as (tmp, stack):
        err = bootstrap_busybox(tmp, python)
        if err:
            print(f"bootstrap failed: {err}", file=sys.stderr)
            return 1
        image_tar = tmp / "busybox.tar"
        saved = run([str(python), "-m", "pyker", "save", "-o", str(image_tar), "busybox"],
                    pyker_env(tmp, bytecode=True))
        if saved.returncode != 0:
            print(f"pyker save failed, {tail(saved)}", file=sys.stderr)
            return 1
        ctx = write_context(tmp)
        served = pyker_build(tmp, python, ctx, forkserver=True)
        builds = [pyker_build(tmp, python, ctx), served,
                  *docker_builds(tmp, stack, image_tar, ctx),
                  buildah_build(tmp, stack, image_tar, ctx)]
        for b in builds:
            if b is not served:
                prepare(b)
        # The server runs from here to the end of the round-robin, on the private run root;
        # its row's verbose rebuild (prepare) is already served by it.
        server = ForkServer(python, served.variant.env)
        if not served.variant.skip:
            stack.callback(server.stop)
            served.variant.skip = server.start()
        prepare(served)
        vs = [b.variant for b in builds]
        before = loadavg()
        print(f"{args.runs} cached rebuilds each after {args.warmup} warm-ups, round-robin; "
              f"data in {tmp}; load average {before}")
        measure(vs, args.runs, args.warmup)
        if not served.variant.skip and (stepped_down := server.check()):
            served.variant.skip = f"{stepped_down} ({len(served.variant.times)} samples discarded)"
        server.stop()
        result = report(vs, args.runs, args.warmup)
        result["loadavg_before"], result["loadavg_after"] = before, loadavg()
        print(f"load average before {before}, after {result['loadavg_after']}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
            print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
