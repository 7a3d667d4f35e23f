"""Image commands: ``images``/``image ls``, ``history``, ``inspect``, ``tag``, ``rmi``, ``prune``.

``import``, ``save`` and ``load`` live in :mod:`pyker.cli.transfer`; ``pyker image …`` reaches
both. Each command's flags are declared once and shared by its two spellings.
"""

from __future__ import annotations

import argparse
import sys

from pyker.cli import transfer
from pyker.cli.inspect import add_inspect
from pyker.cli.humanize import go_time, human_size, since
from pyker.cli.main import Parser, flag_bool, new_parser
from pyker.engine import Engine
from pyker.errors import UsageError
from pyker.image.reference import parse as parse_reference
from pyker.image.store import Image
from pyker.spec.digest import short_id

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG",
                  "Digest": "DIGEST", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                  "Size": "SIZE", "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
                  "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def _print(text: str) -> None:
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _format(fmt: str, rows: list[dict[str, object]], headers: dict[str, str]) -> str:
    from pyker.cli.gotemplate import format_rows

    return format_rows(fmt, rows, headers)


# -- images -------------------------------------------------------------------------------------

IMAGES_DIGESTS_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
                        "{{.CreatedSince}}\t{{.Size}}")


def repo_digests(engine: Engine):
    """image ID -> ``repo@sha256:…`` of the manifests registries gave or took for it (the
    registry client's records; none before the first pull or push)."""
    root = engine.images.root / "distribution"
    if not root.is_dir():
        return lambda image_id: []
    from pyker.registry.records import Records

    records = Records(root)
    return records.repo_digests


def image_rows(engine: Engine, *, show_all: bool, no_trunc: bool) -> list[dict[str, object]]:
    from pyker.cli.gotemplate import LabelledRow

    images = engine.images.images()
    digests_of = repo_digests(engine)
    parents = {i.parent for i in images if i.parent}
    rows = []
    for image in images:
        if not show_all and not image.tags and image.id in parents:
            continue  # an intermediate build step: shown by -a only, as Docker does
        ident = image.id if no_trunc else short_id(image.id)
        common = {"ID": ident, "CreatedSince": since(image.config.created),
                  "CreatedAt": go_time(image.config.created), "Size": human_size(image.size),
                  "VirtualSize": human_size(image.size), "SharedSize": "N/A",
                  "UniqueSize": "N/A", "Containers": "N/A"}
        digests = digests_of(image.id)
        for ref in image.tags or [None]:
            repo = ref.familiar_name if ref else "<none>"
            digest = next((d.partition("@")[2] for d in digests
                           if d.partition("@")[0] == repo), "<none>")
            rows.append(LabelledRow({**common, "Repository": repo, "Digest": digest,
                                     "Tag": (ref.tag or "<none>") if ref else "<none>"},
                                    image.config.config.labels))
    return rows


def _image_filter(text: str):
    """``images --filter``: dangling=true|false, reference=PATTERN (a shell pattern on
    REPOSITORY or REPOSITORY:TAG), label=KEY[=VALUE], as Docker's."""
    import fnmatch

    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f'bad format of filter (expected name=value): "{text}"')
    if key == "dangling":
        if value not in ("true", "false", "1", "0"):
            raise UsageError(f"Invalid filter 'dangling={value}'")
        want = value in ("true", "1")
        return lambda row: (row["Repository"] == "<none>") == want
    if key == "reference":
        return lambda row: any(fnmatch.fnmatchcase(name, value) for name in (
            row["Repository"], f"{row['Repository']}:{row['Tag']}"))
    if key == "label":
        k, has_value, v = value.partition("=")
        return lambda row: (k in row._labels and (not has_value or row._labels[k] == v))
    raise UsageError(f"invalid filter '{key}'")


def cmd_images(args: argparse.Namespace) -> int:
    rows = image_rows(Engine(), show_all=args.all, no_trunc=args.no_trunc)
    if args.repository:
        want = parse_reference(args.repository)
        rows = [r for r in rows if r["Repository"] == want.familiar_name
                and (want.tag is None or r["Tag"] == want.tag)]
    for keep in map(_image_filter, args.filter):
        rows = [r for r in rows if keep(r)]
    if args.quiet:
        _print("\n".join(str(r["ID"]) for r in rows))  # one per row, as Docker
        return 0
    table = IMAGES_DIGESTS_TABLE if args.digests else IMAGES_TABLE
    _print(_format(args.format or table, rows, IMAGES_HEADERS))
    return 0


def _add_images(p: Parser) -> None:
    p.add_argument("repository", nargs="?", help="only images of this REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="dangling=true|false, reference=PATTERN, label=KEY[=VALUE]")
    p.add_argument("--format", help="format output using a Go template")
    p.set_defaults(handler=cmd_images)


# -- history ------------------------------------------------------------------------------------

def cmd_history(args: argparse.Namespace) -> int:
    from pyker.image.history import history

    engine = Engine()
    image = engine.images.resolve(args.image)
    rows = []
    for row in history(engine.images, image):
        created_by = row.created_by
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        ident = row.id if row.id == "<missing>" or args.no_trunc else short_id(row.id)
        rows.append({"ID": ident, "CreatedSince": since(row.created),
                     "CreatedAt": go_time(row.created), "CreatedBy": created_by,
                     "Size": str(row.size) if args.human is False else human_size(row.size),
                     "Comment": row.comment, "Tags": ", ".join(row.tags)})
    if args.quiet:
        _print("\n".join(str(r["ID"]) for r in rows))
    else:
        _print(_format(args.format or HISTORY_TABLE, rows, HISTORY_HEADERS))
    return 0


def _add_history(p: Parser) -> None:
    p.add_argument("image")
    p.add_argument("-H", "--human", type=flag_bool("-H, --human"), default=True, nargs="?",
                   const=True,
                   help="print sizes and dates in human readable format (default true)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", help="format output using a Go template")
    p.set_defaults(handler=cmd_history)


# -- inspect ------------------------------------------------------------------------------------

def inspect_document(engine: Engine, image: Image) -> dict[str, object]:
    """The image as ``docker image inspect`` shows it (its JSON shape and key names)."""
    c = image.config.config
    layers = engine.images.layers_of(image)
    top = layers[-1].path.parent if layers else engine.data_root / "layers"
    graph = {"MergedDir": str(top / "merged"), "UpperDir": str(top / "diff"),
             "WorkDir": str(top / "work")}
    if len(layers) > 1:
        graph["LowerDir"] = ":".join(str(l.path) for l in reversed(layers[:-1]))
    history = image.config.history
    return {
        "Id": image.id,
        "RepoTags": image.repo_tags,
        "RepoDigests": repo_digests(engine)(image.id),
        "Parent": image.parent,
        "Comment": history[-1].comment if history else "",
        "Created": image.config.created,
        "DockerVersion": "",
        "Author": image.config.author,
        "Config": {
            "Hostname": "", "Domainname": "", "User": c.user, "AttachStdin": False,
            "AttachStdout": False, "AttachStderr": False,
            "ExposedPorts": {p: {} for p in c.exposed_ports} or None,
            "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": list(c.env) or None,
            "Cmd": None if c.cmd is None else list(c.cmd),
            "Healthcheck": c.healthcheck.to_dict() if c.healthcheck else None,
            "Image": image.parent, "Volumes": {v: {} for v in c.volumes} or None,
            "WorkingDir": c.working_dir,
            "Entrypoint": None if c.entrypoint is None else list(c.entrypoint),
            "OnBuild": list(c.on_build) or None, "Labels": dict(c.labels) or None,
            "StopSignal": c.stop_signal or None, "Shell": None if c.shell is None else list(c.shell),
        },
        "Architecture": image.config.architecture,
        "Variant": image.config.variant,
        "Os": image.config.os,
        "Size": image.size,
        "GraphDriver": {"Data": graph, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": list(image.config.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def _drop_none(doc: dict[str, object]) -> dict[str, object]:
    # Docker omits the empty optional fields of Config (omitempty) but keeps the rest.
    config = {k: v for k, v in doc["Config"].items()
              if v is not None or k in ("Cmd", "Entrypoint", "Volumes", "OnBuild",
                                        "Labels", "Env", "Image")}
    out = {**doc, "Config": config}
    if out.get("Variant") is None:
        del out["Variant"]
    return out


# -- tag, rmi, prune ----------------------------------------------------------------------------

def cmd_tag(args: argparse.Namespace) -> int:
    engine = Engine()
    target = parse_reference(args.target)
    if target.digest:
        raise UsageError(f'refusing to create a tag with a digest reference: "{args.target}"')
    with engine.images.locked():
        engine.images.tag(engine.images.resolve(args.source), target.tagged())
    return 0


def _add_tag(p: Parser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(handler=cmd_tag)


def cmd_rmi(args: argparse.Namespace) -> int:
    from pyker.errors import PykerError
    from pyker.image.removal import remove

    engine = Engine()
    status = 0
    for name in args.images:
        try:
            _print("\n".join(remove(engine.images, name, engine.containers_using,
                                    force=args.force, no_prune=args.no_prune).lines()))
        except PykerError as err:
            print(f"pyker: {err}", file=sys.stderr)
            status = 1
    return status


def _add_rmi(p: Parser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="do not delete untagged parents")
    p.set_defaults(handler=cmd_rmi)


def cmd_prune(args: argparse.Namespace) -> int:
    from pyker.image.removal import prune

    if not args.force and sys.stdin.isatty():
        what = "all images without at least one container associated to them" if args.all \
            else "all dangling images"
        answer = input(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    engine = Engine()
    removal = prune(engine.images, engine.containers_using, all_unused=args.all)
    if removal.untagged or removal.deleted:
        print("Deleted Images:\n" + "\n".join(
            [f"untagged: {t}" for t in removal.untagged]
            + [f"deleted: {d}" for d in removal.deleted]) + "\n")
    _print(f"Total reclaimed space: {human_size(removal.reclaimed)}")
    return 0


def _add_prune(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.set_defaults(handler=cmd_prune)


# -- the command table --------------------------------------------------------------------------

def _elsewhere(module: str, name: str):
    """The adder of ``pyker image NAME`` when ``pyker NAME`` lives in another module."""
    def adder(p: Parser) -> None:
        import importlib

        importlib.import_module(f"pyker.cli.{module}").add(name, p)
    return adder


SUBCOMMANDS = {  # `pyker image <sub>`: (adder, summary)
    "build": (_elsewhere("build", "build"), "Build an image from a Dockerfile"),
    "ls": (_add_images, "List images"),
    "history": (_add_history, "Show the history of an image"),
    "inspect": (lambda p: add_inspect(p, "image"),
                "Display detailed information on one or more images"),
    "tag": (_add_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rm": (_add_rmi, "Remove one or more images"),
    "prune": (_add_prune, "Remove unused images"),
    "import": (transfer.add_import, "Import the contents from a tarball"),
    "save": (transfer.add_save, "Save one or more images to a tar archive"),
    "load": (transfer.add_load, "Load an image from a tar archive or STDIN"),
    "pull": (_elsewhere("registry", "pull"), "Download an image from a registry"),
    "push": (_elsewhere("registry", "push"), "Upload an image to a registry"),
}
ALIASES = {"ls": ["list"], "rm": ["remove"]}
TOP_LEVEL = {"images": _add_images, "history": _add_history,
             "inspect": lambda p: add_inspect(p, None),
             "tag": _add_tag, "rmi": _add_rmi, "import": transfer.add_import,
             "save": transfer.add_save, "load": transfer.add_load}


def parser(name: str) -> Parser:
    p = new_parser(f"pyker {name}", "Manage images" if name == "image" else name)
    if name != "image":
        TOP_LEVEL[name](p)
        return p
    sub = p.add_subparsers(title="Commands", metavar="COMMAND", required=True,
                           parser_class=Parser)
    for cmd, (adder, summary) in SUBCOMMANDS.items():
        adder(sub.add_parser(cmd, help=summary, aliases=ALIASES.get(cmd, []),
                             prog=f"pyker image {cmd}"))
    return p
