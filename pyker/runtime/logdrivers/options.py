"""Log driver options: Docker's names, defaults, checks and error messages.

``--log-opt``/``log-opts`` values are checked at create, before anything exists, with the
words of Docker's drivers; ``max-size`` takes Docker's decimal units (``10k`` = 10000
bytes, as go-units' FromHumanSize).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyker.errors import PykerError, UsageError

DEFAULT = "json-file"
DRIVERS = ("json-file", "local", "none", "journald")
_COMMON = frozenset({"labels", "labels-regex", "env", "env-regex", "tag"})
_KEYS = {"json-file": _COMMON | {"max-file", "max-size", "compress"},
         "local": _COMMON | {"max-file", "max-size", "compress"},
         "journald": _COMMON}
_UNKNOWN = {"json-file": "unknown log opt '{}' for json-file log driver",
            "local": "unknown log opt '{}' for log driver local",
            "journald": "unknown log opt '{}' for journald log driver"}
# Accepted for every driver, as Docker's: the monitor writes synchronously, so "blocking" is
# what happens whatever the mode says (no ring buffer drops lines here).
_BUILTIN = frozenset({"mode", "max-buffer-size"})
_SIZE = re.compile(r"(?i)(\d+(?:\.\d+)?) ?([kmgtp])?i?b?")
_DECIMAL = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "t": 10 ** 12, "p": 10 ** 15}
_TAG_FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


class LogsNotSupported(PykerError):
    """``logs`` on a container whose driver keeps nothing to read (Docker: exit 1)."""

    exit_code = 1

    def __init__(self, detail: str = "") -> None:
        super().__init__("configured logging driver does not support reading"
                         + (f": {detail}" if detail else ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class FileOptions:
    max_size: int = -1     # bytes; -1: never rotate
    max_file: int = 1      # files in all, the current one included
    compress: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Info:
    """What tags and extra attributes are made of (Docker's logger.Info)."""

    container_id: str
    name: str
    image_name: str = ""
    image_id: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    env: tuple[str, ...] = ()


def parse_size(text: str) -> int:
    """``max-size`` as Docker's units.FromHumanSize: ``10k`` is 10000 bytes, ``1m`` 10**6.

    Raises:
        UsageError: go-units' ``invalid size: 'x'``.
    """
    match = _SIZE.fullmatch(text)
    if not match:
        raise UsageError(f"invalid size: '{text}'")
    return int(float(match[1]) * _DECIMAL[(match[2] or "").lower()])


def _parse_bool(text: str) -> bool:
    # Go's strconv.ParseBool
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise UsageError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _parse_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise UsageError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def file_options(driver: str, opts: Mapping[str, str]) -> FileOptions:
    """``max-size``/``max-file``/``compress`` with each driver's defaults and Docker's checks.

    Raises:
        UsageError: a bad value, in the words of Docker's driver.
    """
    if driver == "local":
        try:
            size = parse_size(opts["max-size"]) if "max-size" in opts else 20 * 10 ** 6
        except UsageError as err:
            raise UsageError(f"invalid value for max-size: {opts['max-size']}: {err}") from None
        try:
            count = _parse_int(opts["max-file"]) if "max-file" in opts else 5
        except UsageError as err:
            raise UsageError(f"invalid value for max-file: {opts['max-file']}: {err}") from None
        try:
            compress = _parse_bool(opts["compress"]) if "compress" in opts else True
        except UsageError as err:
            raise UsageError(f"invalid boolean value for compress: {err}") from None
        if size < 0:
            raise UsageError("max-size must not be negative")
        if count < 0:
            raise UsageError("max-file must not be negative")
        if compress and count <= 1:
            raise UsageError("compression cannot be enabled when max file count is 1")
        # 0 means "unlimited" for Docker's local driver (its LogFile takes 0 as no cap)
        return FileOptions(max_size=size or -1, max_file=max(count, 1), compress=compress)
    size = -1
    if "max-size" in opts:
        size = parse_size(opts["max-size"])
        if size <= 0:
            raise UsageError("max-size must be a positive number")
    count = 1
    if "max-file" in opts:
        count = _parse_int(opts["max-file"])
        if count < 1:
            raise UsageError("max-file cannot be less than 1")
    compress = False
    if "compress" in opts:
        compress = _parse_bool(opts["compress"])
        if compress and (count == 1 or size == -1):
            raise UsageError("compress cannot be true when max-file is less than 2 or "
                             "max-size is not set")
    return FileOptions(max_size=size, max_file=count, compress=compress)


def validate(driver: str, opts: Mapping[str, str]) -> None:
    """Docker's ``ValidateLogOpts`` and each driver's checks of its values.

    Raises:
        UsageError: the first fault, in Docker's words.
    """
    if driver == "none":
        return
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise UsageError(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts:
        if mode != "non-blocking":
            raise UsageError("logger: max-buffer-size option is only supported with "
                             "'mode=non-blocking'")
        from pyker.runtime.options import parse_bytes

        try:
            parse_bytes(opts["max-buffer-size"], "max-buffer-size")
        except UsageError:
            raise UsageError("error parsing option max-buffer-size: invalid size: "
                             f"'{opts['max-buffer-size']}'") from None
    if driver not in DRIVERS:
        raise UsageError(f"logger: no log driver named '{driver}' is registered")
    for key in opts:
        if key not in _BUILTIN and key not in _KEYS[driver]:
            raise UsageError(_UNKNOWN[driver].format(key))
    if driver in ("json-file", "local"):
        file_options(driver, opts)
    for key in ("labels-regex", "env-regex"):
        if key in opts:
            try:
                re.compile(opts[key])
            except re.error as err:
                raise UsageError(f"error parsing {key}: {err}") from None
    if "tag" in opts:
        tag(opts["tag"], Info(container_id="0" * 64, name="x"))


def resolve(driver: str, opts: Mapping[str, str], *, default_driver: str = "",
            default_opts: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The container's driver and options: the daemon's default driver when none is given,
    and the daemon's options for the keys not given when the driver is the daemon's
    (Docker's mergeAndVerifyLogConfig); checked, and journald's socket looked for.

    Raises:
        UsageError: Docker's message for an unknown driver, option or value.
    """
    default_driver = default_driver or DEFAULT
    driver = driver or default_driver
    merged = dict(opts)
    if driver == default_driver:
        for key, value in (default_opts or {}).items():
            merged.setdefault(key, value)
    validate(driver, merged)
    if driver == "journald":
        from pyker.runtime.logdrivers import journald

        reason = journald.available()
        if reason:
            raise UsageError(f"failed to initialize logging driver: {reason}")
    return driver, merged


def parse_log_opts(items: list[str]) -> dict[str, str]:
    """``--log-opt KEY=VALUE``, each; a bare ``KEY`` is ``KEY=""``, as the docker CLI
    reads them (ConvertKVStringsToMap)."""
    return {key: value for key, _, value in (item.partition("=") for item in items)}


def config_of(options: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """A record's (driver, options); a record from before drivers is json-file's."""
    return (str(options.get("log_driver") or DEFAULT),
            {str(k): str(v) for k, v in dict(options.get("log_opts") or {}).items()})


def tag(template: str, info: Info) -> str:
    """Docker's log tag templates: ``{{.ID}}``, ``{{.FullID}}``, ``{{.Name}}``,
    ``{{.ImageName}}``, ``{{.ImageID}}``, ``{{.ImageFullID}}``, ``{{.DaemonName}}``."""
    image = info.image_id.removeprefix("sha256:")
    values = {"ID": info.container_id[:12], "FullID": info.container_id, "Name": info.name,
              "ImageName": info.image_name, "ImageID": image[:12], "ImageFullID": info.image_id,
              "DaemonName": "pyker"}

    def one(match: re.Match[str]) -> str:
        if match[1] not in values:
            raise UsageError(f'template: log-tag:1: executing "log-tag" at <.{match[1]}>: '
                             f"can't evaluate field {match[1]} in type *logger.Info")
        return values[match[1]]

    return _TAG_FIELD.sub(one, template)


def extra_attributes(opts: Mapping[str, str], info: Info,
                     key: Callable[[str], str] = str) -> dict[str, str]:
    """The labels/env options' attributes (Docker's Info.ExtraAttributes)."""
    out: dict[str, str] = {}
    wanted = [k for k in opts.get("labels", "").split(",") if k]
    pattern = opts.get("labels-regex")
    for name, value in info.labels.items():
        if name in wanted or (pattern and re.match(pattern, name)):
            out[key(name)] = value
    env = dict(e.partition("=")[::2] for e in info.env)
    wanted = [k for k in opts.get("env", "").split(",") if k]
    pattern = opts.get("env-regex")
    for name, value in env.items():
        if name in wanted or (pattern and re.match(pattern, name)):
            out[key(name)] = value
    return out
