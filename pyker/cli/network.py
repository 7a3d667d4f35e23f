"""``pyker network …`` and ``pyker port``: Docker's network commands, flags and output."""

from __future__ import annotations

import argparse
import sys

from pyker.cli.main import Parser, new_parser
from pyker.engine import Engine
from pyker.errors import PykerError, UsageError

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
              "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or (flag == "--aux-address" and not sep):
            raise UsageError(f'invalid argument "{item}" for "{flag}" flag: expected key=value')
        out[key] = value
    return out


def cmd_create(args: argparse.Namespace) -> int:
    if args.driver != "bridge":
        raise PykerError(f"plugin \"{args.driver}\" not found: pyker has the bridge driver only")
    network = Engine().create_network(
        args.name, subnet=args.subnet, gateway=args.gateway, ip_range=args.ip_range,
        aux=_pairs(args.aux_address, "--aux-address"), internal=args.internal,
        labels=_pairs(args.label, "--label"))
    print(network.id)
    return 0


def _default(engine: Engine):
    """The ``bridge`` network exists from the first command on, as under Docker's daemon."""
    return engine.default_network()


def cmd_ls(args: argparse.Namespace) -> int:
    from pyker.cli.gotemplate import format_rows

    engine = Engine()
    _default(engine)
    rows = []
    for n in engine.networks.list():
        labels = getattr(n, "labels", None) or {}
        row = {"ID": n.id if args.no_trunc else n.id[:12], "Name": n.name, "Driver": n.driver,
               "Scope": n.scope, "Internal": str(bool(getattr(n, "internal", False))).lower(),
               "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
               "CreatedAt": getattr(n, "created", "")}
        if all(_matches(row, labels, f) for f in args.filter):
            rows.append(row)
    if args.quiet:
        for row in rows:
            print(row["ID"])
        return 0
    sys.stdout.write(format_rows(args.format or LS_TABLE, rows, LS_HEADERS))
    return 0


def _matches(row: dict[str, str], labels: dict[str, str], spec: str) -> bool:
    key, _, value = spec.partition("=")
    if key == "name":
        return value in row["Name"]
    if key == "id":
        return row["ID"].startswith(value)
    if key == "driver":
        return row["Driver"] == value
    if key == "label":
        k, sep, v = value.partition("=")
        return k in labels and (not sep or labels[k] == v)
    if key == "type":
        custom = row["Name"] not in ("bridge", "host", "none")
        return custom if value == "custom" else not custom
    raise UsageError(f"invalid filter '{key}'")


def inspect_doc(net) -> dict[str, object]:
    """``docker network inspect``'s document for ``net``."""
    config: list[dict[str, object]] = []
    if net.subnet:
        entry: dict[str, object] = {"Subnet": net.subnet, "Gateway": net.gateway}
        if net.ip_range:
            entry["IPRange"] = net.ip_range
        if net.aux:
            entry["AuxiliaryAddresses"] = dict(net.aux)
        config.append(entry)
    prefix = net.subnet.rsplit("/", 1)[-1]
    containers = {cid: {"Name": ep.name, "EndpointID": ep.endpoint_id,
                        "MacAddress": ep.mac, "IPv4Address": f"{ep.ip}/{prefix}",
                        "IPv6Address": ""}
                  for cid, ep in sorted(net.endpoints.items())}
    return {
        "Name": net.name, "Id": net.id, "Created": net.created, "Scope": net.scope,
        "Driver": net.driver, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": net.internal, "Attachable": net.attachable, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "Containers": containers, "Options": dict(net.options), "Labels": dict(net.labels),
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    from pyker.cli.inspect import print_documents

    engine = Engine()
    docs, status = [], 0
    for name in args.names:
        try:
            if name in ("bridge", "default"):
                _default(engine)
            docs.append(inspect_doc(engine.networks.get(name)))
        except PykerError as err:
            print(f"Error: {err}", file=sys.stderr)
            status = 1
    print_documents(docs, args.format)
    return status


def _remove(engine: Engine, name: str) -> str:
    engine.remove_network(name)
    return name


def cmd_rm(args: argparse.Namespace) -> int:
    engine, status = Engine(), 0
    for name in args.names:
        try:
            print(_remove(engine, name))
        except PykerError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            status = 1
    return status


def prune_networks(engine: Engine) -> list[str]:
    """Remove the user networks no container uses, bridges and rules too: their names."""
    from pyker.network import bridge

    doomed = {n.name: n for n in engine.networks.list()}
    removed = engine.networks.prune()
    for name in removed:
        bridge.delete_bridge(doomed[name].bridge, doomed[name].subnet)
    return removed


def cmd_prune(args: argparse.Namespace) -> int:
    if not args.force:
        sys.stdout.write("WARNING! This will remove all custom networks not used by at least "
                         "one container.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = prune_networks(Engine())
    if removed:
        print("Deleted Networks:\n" + "\n".join(removed))
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    from pyker.runtime import network_bridge

    engine = Engine()
    record = engine.containers.resolve(args.container)
    network_bridge.connect(network_bridge.Context.of(engine.containers, engine.config.run_root),
                           record, engine.networks.get(args.network), ip=args.ip,
                           aliases=tuple(args.alias))
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    from pyker.runtime import network_bridge

    engine = Engine()
    record = engine.containers.resolve(args.container)
    network_bridge.disconnect(
        network_bridge.Context.of(engine.containers, engine.config.run_root), record,
        engine.networks.get(args.network), force=args.force)
    return 0


def cmd_port(args: argparse.Namespace) -> int:
    from pyker.network import ports, ports_display
    from pyker.runtime import network_bridge

    engine = Engine()
    record = engine.containers.resolve(args.container)
    state = network_bridge.settings(engine.containers.dir(record.id)) or {}
    bindings = [ports.PortBinding(host_ip=p["host_ip"], host_port=p["host_port"],
                                  container_port=p["container_port"], proto=p["proto"])
                for p in state.get("ports", ())]
    for line in ports_display.format_port_lines(ports_display.inspect_ports(bindings),
                                                args.private, container=args.container):
        print(line)
    return 0


def add(name: str, p: Parser) -> None:
    """``port`` (also ``pyker container port``)."""
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    p.set_defaults(handler=cmd_port)


def parser(name: str) -> Parser:
    if name == "port":
        p = new_parser("pyker port", "List port mappings or a specific mapping for the "
                                     "container")
        add(name, p)
        return p
    p = new_parser("pyker network", "Manage networks")
    sub = p.add_subparsers(title="Commands", metavar="COMMAND", required=True,
                           parser_class=Parser)
    c = sub.add_parser("create", help="Create a network", prog="pyker network create")
    c.add_argument("name", metavar="NETWORK")
    c.add_argument("-d", "--driver", default="bridge")
    c.add_argument("--subnet")
    c.add_argument("--gateway")
    c.add_argument("--ip-range")
    c.add_argument("--internal", action="store_true")
    c.add_argument("--aux-address", action="append", default=[])
    c.add_argument("--label", action="append", default=[])
    c.add_argument("--attachable", action="store_true", help="accepted; every pyker network is")
    c.set_defaults(handler=cmd_create)
    ls = sub.add_parser("ls", aliases=["list"], help="List networks", prog="pyker network ls")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--no-trunc", action="store_true")
    ls.add_argument("-f", "--filter", action="append", default=[])
    ls.add_argument("--format")
    ls.set_defaults(handler=cmd_ls)
    i = sub.add_parser("inspect", help="Display detailed information on one or more networks",
                       prog="pyker network inspect")
    i.add_argument("names", nargs="+", metavar="NETWORK")
    i.add_argument("-f", "--format")
    i.set_defaults(handler=cmd_inspect)
    r = sub.add_parser("rm", aliases=["remove"], help="Remove one or more networks",
                       prog="pyker network rm")
    r.add_argument("names", nargs="+", metavar="NETWORK")
    r.set_defaults(handler=cmd_rm)
    pr = sub.add_parser("prune", help="Remove all unused networks", prog="pyker network prune")
    pr.add_argument("-f", "--force", action="store_true")
    pr.set_defaults(handler=cmd_prune)
    cn = sub.add_parser("connect", help="Connect a container to a network",
                        prog="pyker network connect")
    cn.add_argument("network", metavar="NETWORK")
    cn.add_argument("container", metavar="CONTAINER")
    cn.add_argument("--ip", default="")
    cn.add_argument("--alias", action="append", default=[])
    cn.set_defaults(handler=cmd_connect)
    dc = sub.add_parser("disconnect", help="Disconnect a container from a network",
                        prog="pyker network disconnect")
    dc.add_argument("network", metavar="NETWORK")
    dc.add_argument("container", metavar="CONTAINER")
    dc.add_argument("-f", "--force", action="store_true")
    dc.set_defaults(handler=cmd_disconnect)
    return p
