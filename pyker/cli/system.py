"""``pyker system df|info|check``, ``info``, ``version`` and ``bootstrap``.

Every figure printed is read from the machine: the kernel release from uname(2), the cgroup
layout from /proc/self/mountinfo, memory from /proc/meminfo, the backing filesystem of the
data root from statfs (via ``stat -f``' magic numbers), sizes from the store.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from pyker.cli.humanize import human_size
from pyker.cli.main import Parser, new_parser
from pyker.engine import Engine


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from pyker.image.bootstrap import bootstrap

    engine = Engine()
    for name in args.names:
        image = bootstrap(engine.images, name, progress=lambda line: print(f"[{name}] {line}",
                                                                             flush=True))
        if image is not None:
            print(f"[{name}] {', '.join(image.repo_tags)}: {image.id}")
    return 0


# -- df -----------------------------------------------------------------------------------------

def cmd_df(args: argparse.Namespace) -> int:
    from pyker.cli.gotemplate import format_rows

    engine = Engine()
    images = engine.images.images()
    layers: dict[str, int] = {}
    active_layers: set[str] = set()
    active = 0
    for image in images:
        for diff_id in image.config.diff_ids:
            if engine.images.has_layer(diff_id):
                layers[diff_id] = engine.images.layer(diff_id).size
        if engine.containers_using(image.id):
            active += 1
            active_layers |= set(image.config.diff_ids)
    total = sum(layers.values())
    reclaim = sum(s for d, s in layers.items() if d not in active_layers)
    pct = f" ({100 * reclaim // total}%)" if total else ""
    rows = [
        {"Type": "Images", "TotalCount": len(images), "Active": active,
         "Size": human_size(total), "Reclaimable": human_size(reclaim) + pct},
        _containers_row(engine),
        _volumes_row(engine),
        {"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": "0B",
         "Reclaimable": "0B"},
    ]
    fmt = args.format or "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    headers = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
               "Reclaimable": "RECLAIMABLE"}
    print(format_rows(fmt, rows, headers), end="")
    return 0


def _volumes_row(engine: Engine) -> dict[str, object]:
    """Docker's "Local Volumes": those a container (running or not) uses are active; the
    others' data is reclaimable."""
    from pyker.runtime.changes import upper_size
    from pyker.runtime.volumes import store_of, users

    volumes = store_of(engine.containers_dir).list()
    using = users(engine.containers_dir)
    sizes = {v.name: upper_size(Path(v.mountpoint)) for v in volumes}
    active = [v.name for v in volumes if using(v.name)]
    total = sum(sizes.values())
    reclaim = total - sum(sizes[name] for name in active)
    pct = f" ({100 * reclaim // total}%)" if total else ""
    return {"Type": "Local Volumes", "TotalCount": len(volumes), "Active": len(active),
            "Size": human_size(total), "Reclaimable": human_size(reclaim) + pct}


def _containers_row(engine: Engine) -> dict[str, object]:
    from pyker.runtime.changes import upper_size
    from pyker.runtime.container import Paths

    records = list(engine.containers.all())
    sizes = {r.id: upper_size(Paths(root=engine.containers.dir(r.id)).upper) for r in records}
    running = [r for r in records if r.state.status in ("running", "paused", "restarting")]
    total = sum(sizes.values())
    reclaim = total - sum(sizes[r.id] for r in running)
    pct = f" ({100 * reclaim // total}%)" if total else ""
    return {"Type": "Containers", "TotalCount": len(records), "Active": len(running),
            "Size": human_size(total), "Reclaimable": human_size(reclaim) + pct}


# -- info ---------------------------------------------------------------------------------------

def cmd_info(args: argparse.Namespace) -> int:
    from pyker.cli.info import cmd_info as info

    return info(args)


# -- check --------------------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    from pyker.image.check import check

    report = check(Engine().images)
    for problem in report.problems:
        print(f"ERROR   {problem}")
    for item in report.garbage:
        print(f"garbage {item}")
    verdict = "consistent" if report.ok else f"{len(report.problems)} problem(s)"
    print(f"store: {report.images} image(s), {report.blobs} blob(s), "
          f"{report.layers} layer dir(s): {verdict}")
    return 0 if report.ok else 1


def cmd_version(args: argparse.Namespace) -> int:
    from pyker import __version__

    print(f"Client:\n Version:    {__version__}\n Python:     {platform.python_version()}\n"
          f" OS/Arch:    linux/{platform.machine()}\n\nServer: pyker (daemonless)\n"
          f" Engine:\n  Version:    {__version__}\n  Kernel:     {platform.release()}")
    return 0


def cmd_forkserver(args: argparse.Namespace) -> int:
    from pyker.cli import forkserver
    from pyker.cli.client import socket_path

    path = Path(socket_path())
    if args.action == "start":
        pid = forkserver.start(path, log=path.with_suffix(".log"))
        print(f"fork server running (pid {pid}) on {path}")
    elif args.action == "stop":
        pid = forkserver.stop(path)
        print(f"fork server stopped (pid {pid})" if pid else "no fork server was running")
    else:
        pid = forkserver.running_pid(path)
        print(f"fork server running (pid {pid}) on {path}" if pid else "no fork server")
        return 0 if pid else 1
    return 0


PRUNE_WARNING = """WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
  - all {images}
  - unused build cache

Are you sure you want to continue? [y/N] """


def cmd_prune(args: argparse.Namespace) -> int:
    """``system prune``: stopped containers, unused networks, dangling (or, with -a, unused)
    images and the build cache, in that order, as Docker does."""
    import sys

    from pyker.build.cache import BuildCache
    from pyker.cli.fscmds import prune_containers
    from pyker.cli.network import prune_networks
    from pyker.image.removal import prune

    if not args.force:
        images = "images without at least one container associated to them" if args.all \
            else "dangling images"
        sys.stdout.write(PRUNE_WARNING.format(images=images))
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    engine = Engine()
    containers, reclaimed = prune_containers(engine)
    networks = prune_networks(engine)
    removal = prune(engine.images, engine.containers_using, all_unused=args.all)
    cache = BuildCache(engine.images).prune()
    for title, lines in (("Deleted Containers", containers), ("Deleted Networks", networks),
                         ("Deleted Images", [f"untagged: {t}" for t in removal.untagged]
                          + [f"deleted: {d}" for d in removal.deleted])):
        if lines:
            print(f"{title}:\n" + "\n".join(lines) + "\n")
    if cache:
        print(f"Deleted build cache objects: {cache}\n")
    print(f"Total reclaimed space: {human_size(reclaimed + removal.reclaimed)}")
    return 0


def parser(name: str) -> Parser:
    p = new_parser(f"pyker {name}", name)
    if name == "bootstrap":
        p.add_argument("names", nargs="+", metavar="IMAGE", choices=["busybox", "debian"])
        p.set_defaults(handler=cmd_bootstrap)
    elif name == "info":
        p.add_argument("-f", "--format", help="a Go template over the information "
                       "(e.g. '{{.LoggingDriver}}', '{{json .}}')")
        p.set_defaults(handler=cmd_info)
    elif name == "version":
        p.set_defaults(handler=cmd_version)
    else:
        sub = p.add_subparsers(title="Commands", metavar="COMMAND", required=True,
                               parser_class=Parser)
        df = sub.add_parser("df", help="Show pyker disk usage", prog="pyker system df")
        df.add_argument("--format", help="format output using a Go template")
        df.set_defaults(handler=cmd_df)
        info = sub.add_parser("info", help="Display system-wide information",
                              prog="pyker system info")
        info.add_argument("-f", "--format", help="a Go template over the information")
        info.set_defaults(handler=cmd_info)
        sub.add_parser("check", help="Verify the store's blobs, layers and references",
                       prog="pyker system check").set_defaults(handler=cmd_check)
        pr = sub.add_parser("prune", prog="pyker system prune", help="Remove unused data")
        pr.add_argument("-a", "--all", action="store_true", help="remove all unused images")
        pr.add_argument("-f", "--force", action="store_true", help="do not prompt")
        pr.set_defaults(handler=cmd_prune)
        fs = sub.add_parser("forkserver", prog="pyker system forkserver",
                            help="Start, stop or query the fork server (fast command start)")
        fs.add_argument("action", choices=["start", "stop", "status"])
        fs.set_defaults(handler=cmd_forkserver)
    return p

