"""Where pyker keeps its state: the data root and the run directory.

Resolved as Docker does: a ``data-root`` (and ``exec-root``) key in the daemon configuration
file (``/etc/pyker/daemon.json``, the twin of ``/etc/docker/daemon.json``), overridden by the
``PYKER_DATA_ROOT`` / ``PYKER_RUN_ROOT`` environment variables so that tests and notebooks can
each work in a store of their own.

``userns-remap`` (``"default"`` or ``"user[:group]"``, see :mod:`pyker.runtime.userns`) puts
every container in a user namespace and, as Docker, moves the data root to
``<data-root>/<uid>.<gid>``: a remapped daemon has a store of its own, starting empty.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pyker.errors import ConfigError

if TYPE_CHECKING:
    from pyker.runtime.userns import Remap

DEFAULT_DAEMON_JSON = "/etc/pyker/daemon.json"
DEFAULT_DATA_ROOT = "/var/lib/pyker"
DEFAULT_RUN_ROOT = "/run/pyker"


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    data_root: Path
    run_root: Path
    config_file: Path
    userns_remap: Remap | None = None  # a remapped daemon (data_root is then its subdir)
    bip: str | None = None  # the default bridge's gateway/prefix ("192.168.5.1/24"), as Docker
    # Registries reached over plain HTTP or unverified TLS: "host:port" or a CIDR, as Docker's
    # "insecure-registries" (loopback registries are insecure without being listed).
    insecure_registries: tuple[str, ...] = ()
    # "log-driver" and "log-opts": what a container gets without --log-driver (and the
    # options merged into its own when its driver is this one), as Docker's daemon.json
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict, hash=False)


def _read_daemon_json(path: Path) -> dict[str, object]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ConfigError(str(path), err.strerror or str(err)) from err
    try:
        doc = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        raise ConfigError(str(path), f"line {err.lineno}: {err.msg}") from err
    if not isinstance(doc, dict):
        raise ConfigError(str(path), "top level must be a JSON object")
    if "userns-remap" in doc and not isinstance(doc["userns-remap"], str):
        raise ConfigError(str(path),
                          f'"userns-remap" must be a string, got {doc["userns-remap"]!r}')
    if "bip" in doc:
        import ipaddress

        try:
            ipaddress.ip_interface(str(doc["bip"]))
            if "/" not in str(doc["bip"]):
                raise ValueError("no prefix length")
        except ValueError as err:
            raise ConfigError(str(path), f'"bip" must be an address with its prefix length '
                                         f'(192.168.5.1/24), got {doc["bip"]!r}') from err
    insecure = doc.get("insecure-registries", [])
    if not (isinstance(insecure, list) and all(isinstance(r, str) and r for r in insecure)):
        raise ConfigError(str(path), '"insecure-registries" must be a list of "host:port" or '
                                     f'CIDR strings, got {insecure!r}')
    _check_log_config(path, doc)
    for key in ("data-root", "exec-root"):
        if key in doc and not (isinstance(doc[key], str) and doc[key].startswith("/")):
            raise ConfigError(str(path), f'"{key}" must be an absolute path, got {doc[key]!r}')
    return doc


def _check_log_config(path: Path, doc: dict[str, object]) -> None:
    """``log-driver``/``log-opts``: checked as dockerd checks them when it starts."""
    driver, opts = doc.get("log-driver", ""), doc.get("log-opts", {})
    if not isinstance(driver, str):
        raise ConfigError(str(path), f'"log-driver" must be a string, got {driver!r}')
    if not (isinstance(opts, dict) and all(isinstance(v, str) for v in opts.values())):
        raise ConfigError(str(path), '"log-opts" must be an object of strings '
                                     f'({{"max-size": "10m"}}), got {opts!r}')
    if driver or opts:
        from pyker.errors import UsageError
        from pyker.runtime.logdrivers.options import validate

        try:
            validate(driver or "json-file", opts)
        except UsageError as err:
            raise ConfigError(str(path), f"log-driver/log-opts: {err}") from None


def load(environ: os._Environ[str] | dict[str, str] | None = None) -> EngineConfig:
    """Resolve the engine's paths from the environment and the daemon configuration.

    Raises:
        ConfigError: the daemon configuration file exists but is malformed.
    """
    env = os.environ if environ is None else environ
    config_file = Path(env.get("PYKER_DAEMON_CONFIG", DEFAULT_DAEMON_JSON))
    doc = _read_daemon_json(config_file)
    data_root = env.get("PYKER_DATA_ROOT") or str(doc.get("data-root", DEFAULT_DATA_ROOT))
    run_root = env.get("PYKER_RUN_ROOT") or str(doc.get("exec-root", DEFAULT_RUN_ROOT))
    remap = None
    if doc.get("userns-remap"):
        from pyker.runtime.userns import resolve

        remap = resolve(str(doc["userns-remap"]), source=str(config_file))
        data_root = os.path.join(data_root, remap.dir_name)
    return EngineConfig(
        data_root=Path(data_root), run_root=Path(run_root), config_file=config_file,
        userns_remap=remap, bip=str(doc["bip"]) if doc.get("bip") else None,
        insecure_registries=tuple(doc.get("insecure-registries", ())),
        log_driver=str(doc.get("log-driver") or "json-file"),
        log_opts=dict(doc.get("log-opts") or {}),
    )
