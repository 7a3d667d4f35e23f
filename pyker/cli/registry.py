"""``pyker pull``, ``push``, ``login``, ``logout``: Docker's registry commands and output.

    $ pyker push 127.0.0.1:5000/app:2.0
    The push refers to repository [127.0.0.1:5000/app]
    5f70bf18a086: Preparing
    5f70bf18a086: Layer already exists
    2.0: digest: sha256:… size: 735

Credentials are Docker's (``$DOCKER_CONFIG/config.json``), so a ``docker login`` on the same
machine serves pyker too, and the other way round.
"""

from __future__ import annotations

import argparse
import sys

from pyker.cli.main import Parser, new_parser
from pyker.engine import Engine
from pyker.errors import ImageNotFound, PykerError, UsageError
from pyker.image import reference
from pyker.image.reference import Reference

STORED_WARNING = ("WARNING! Your password will be stored unencrypted in {path}.\n"
                  "Configure a credential helper to remove this warning. See\n"
                  "https://docs.docker.com/engine/reference/commandline/login/"
                  "#credentials-store\n\n")


def _repository(engine: Engine, ref: Reference):
    from pyker.registry.api import Repository, connect

    transport = connect(ref.domain, insecure_registries=engine.config.insecure_registries)
    return Repository(transport, ref.path)


def _state(engine: Engine):
    from pyker.registry.downloads import Downloads
    from pyker.registry.records import Records

    root = engine.images.root / "distribution"
    return Records(root), Downloads(root)


# -- pull ---------------------------------------------------------------------------------------

def cmd_pull(args: argparse.Namespace) -> int:
    from pyker.cli.progressbar import Display
    from pyker.registry.pull import pull

    ref = reference.parse(args.name)
    if args.all_tags and (ref.tag or ref.digest):
        raise UsageError("tag can't be used with --all-tags/-a")
    show = Display(quiet=args.quiet)
    if not (ref.tag or ref.digest or args.all_tags):
        show.line(f"Using default tag: {reference.DEFAULT_TAG}")
        ref = ref.tagged()
    engine = Engine()
    records, downloads = _state(engine)
    repo = _repository(engine, ref)
    try:
        refs = [ref.with_tag(t) for t in repo.tags()] if args.all_tags else [ref]
        updated = False
        for one in refs:
            result = pull(engine.images, repo, one, records=records, downloads=downloads,
                          progress=show, platform=args.platform)
            show.line(f"Digest: {result.digest}")
            updated |= result.updated
    finally:
        repo.transport.close()
    shown = ref.name if args.all_tags else str(ref)
    show.line(f"Status: {'Downloaded newer image' if updated else 'Image is up to date'} "
              f"for {ref.familiar_name if args.all_tags else ref.familiar()}")
    show.result(shown)
    return 0


# -- push ---------------------------------------------------------------------------------------

def _local_tags(engine: Engine, ref: Reference) -> list[Reference]:
    return sorted({t for image in engine.images.images() for t in image.tags
                   if t.name == ref.name}, key=lambda t: t.tag or "")


def cmd_push(args: argparse.Namespace) -> int:
    from pyker.cli.progressbar import Display
    from pyker.registry.push import push

    ref = reference.parse(args.name)
    if ref.digest:
        raise UsageError(f'cannot push a digest reference: "{args.name}"')
    if args.all_tags and ref.tag:
        raise UsageError("tag can't be used with --all-tags/-a")
    engine = Engine()
    show = Display(quiet=args.quiet)
    if args.all_tags:
        tags = _local_tags(engine, ref)
    else:
        if ref.tag is None:
            show.line(f"Using default tag: {reference.DEFAULT_TAG}")
        tags = [ref.tagged()]
    images = []
    for tag in tags:
        try:
            images.append((tag, engine.images.resolve(str(tag))))
        except ImageNotFound:
            raise PykerError(f"An image does not exist locally with the tag: {ref.name}") from None
    if not images:
        raise PykerError(f"An image does not exist locally with the tag: {ref.name}")
    records, _ = _state(engine)
    show.line(f"The push refers to repository [{ref.name}]")
    repo = _repository(engine, ref)
    try:
        for tag, image in images:
            result = push(engine.images, repo, image, tag.tag or reference.DEFAULT_TAG,
                          records=records, chunk_size=args.chunk_size, progress=show)
            show.line(f"{result.tag}: digest: {result.digest} size: {result.size}")
    finally:
        repo.transport.close()
    if args.quiet:
        show.result(ref.name if args.all_tags else str(ref.tagged()))
    return 0


# -- login / logout -----------------------------------------------------------------------------

def _server(text: str | None) -> str:
    """A registry host from what a user types: ``localhost:5000``, ``https://host/v2/``."""
    from pyker.image.reference import DEFAULT_DOMAIN

    if not text:
        return DEFAULT_DOMAIN
    host = text.split("://", 1)[-1].split("/", 1)[0]
    return DEFAULT_DOMAIN if host in ("index.docker.io", "registry-1.docker.io") else host


def _read_credentials(args: argparse.Namespace, stored) -> tuple[str, str]:
    username, password = args.username, args.password
    if args.password_stdin:
        if password:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        if not username:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. "
                         "Use --password-stdin.\n")
    if username and password:
        return username, password
    if stored is not None and not username and not password:
        print("Authenticating with existing credentials...")
        return stored.username, stored.password
    if not sys.stdin.isatty():
        raise PykerError("Error: Cannot perform an interactive login from a non TTY device")
    import getpass

    if not username:
        username = input("Username: ").strip()
    if not password:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise PykerError("Error: username and password are required")
    return username, password


def cmd_login(args: argparse.Namespace) -> int:
    from pyker.registry.credentials import CredentialStore, Credentials
    from pyker.registry.transport import Transport

    server = _server(args.server)
    store = CredentialStore()
    username, password = _read_credentials(args, store.get(server))
    creds = Credentials(username=username, password=password)
    transport = Transport(server, insecure_registries=Engine().config.insecure_registries,
                          credentials=creds)
    try:
        transport.login()
    finally:
        transport.close()
    store.store(server, creds)
    sys.stderr.write(STORED_WARNING.format(path=store.path))
    print("Login Succeeded")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from pyker.registry.credentials import CredentialStore, server_key

    server = _server(args.server)
    if CredentialStore().erase(server):
        print(f"Removing login credentials for {server_key(server)}")
    else:
        print(f"Not logged in to {server_key(server)}")
    return 0


# -- parsers ------------------------------------------------------------------------------------

def parser(name: str) -> Parser:
    p = new_parser(f"pyker {name}", SUMMARIES[name])
    add(name, p)
    return p


SUMMARIES = {"pull": "Download an image from a registry",
             "push": "Upload an image to a registry", "login": "Log in to a registry",
             "logout": "Log out from a registry"}


def add(name: str, p: Parser) -> None:
    """``name``'s flags on ``p`` (``pyker pull`` and ``pyker image pull`` alike)."""
    if name == "pull":
        p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
        p.add_argument("-a", "--all-tags", action="store_true",
                       help="download all tagged images in the repository")
        p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
        p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                       help="the platform to take from a multi-platform image (default: "
                            "the host's)")
        p.add_argument("--disable-content-trust", action="store_true", help=argparse.SUPPRESS)
        p.set_defaults(handler=cmd_pull)
    elif name == "push":
        p.add_argument("name", metavar="NAME[:TAG]")
        p.add_argument("-a", "--all-tags", action="store_true",
                       help="push all tags of an image to the repository")
        p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
        p.add_argument("--chunk-size", type=int, default=0, metavar="BYTES",
                       help="send layers in PATCH chunks of this size (0: one request)")
        p.add_argument("--disable-content-trust", action="store_true", help=argparse.SUPPRESS)
        p.set_defaults(handler=cmd_push)
    elif name == "login":
        p.add_argument("server", nargs="?", metavar="SERVER")
        p.add_argument("-u", "--username")
        p.add_argument("-p", "--password")
        p.add_argument("--password-stdin", action="store_true",
                       help="take the password from stdin")
        p.set_defaults(handler=cmd_login)
    else:
        p.add_argument("server", nargs="?", metavar="SERVER")
        p.set_defaults(handler=cmd_logout)


# -- for run and build --------------------------------------------------------------------------

def image_for_run(engine: Engine, text: str, policy: str = "missing"):
    """The image for ``run``/``create --pull POLICY``, pulled as Docker does: the notice and
    the pull's progress go to stderr, the container's output keeps stdout to itself."""
    from pyker.cli.progressbar import Display
    from pyker.registry.pull import ensure_image

    show = Display(sys.stderr)
    pulled: list[Reference] = []

    def announce(ref: Reference) -> None:
        pulled.append(ref)
        if policy == "missing":
            show.line(f"Unable to find image '{ref.familiar()}' locally")

    image = ensure_image(engine.images, text, policy=policy,
                         insecure_registries=engine.config.insecure_registries,
                         progress=show, announce=announce)
    if pulled:
        show.line(f"Status: Downloaded newer image for {pulled[0].familiar()}")
    return image
