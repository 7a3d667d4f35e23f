"""Logging drivers: where a container's output goes, and how ``pyker logs`` reads it back.

As Docker's (``--log-driver``, ``--log-opt``, daemon.json's ``log-driver``/``log-opts``):

* ``json-file`` (the default): json-lines in ``<id>-json.log`` (:mod:`pyker.runtime.logs`),
  rotated with ``max-size`` (k/m/g, decimal as Docker's) and ``max-file`` (default 1),
  rotated files gzipped with ``compress`` (:mod:`.files`).
* ``local``: Docker's own binary format (:mod:`.local`) in ``local-logs/container.log``,
  rotated by default (max-size 20m, max-file 5, compress).
* ``none``: nothing kept; ``logs`` refuses, as Docker's.
* ``journald``: the host's journal (:mod:`.journald`), read back with ``journalctl``.

The driver and its options are resolved and checked at create, with Docker's words
(``logger: no log driver named 'x' is registered``, ``unknown log opt 'x' for json-file
log driver``), and kept in the container's record; the monitor writes through them
(:func:`open_writer`), the readers read through them (:func:`reader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path

from pyker.runtime import logs
from pyker.runtime.logdrivers.files import RotatingFile
from pyker.runtime.logdrivers.options import (DEFAULT, DRIVERS, FileOptions, Info,
                                              LogsNotSupported, config_of, extra_attributes,
                                              file_options, parse_log_opts, resolve, tag,
                                              validate)

__all__ = ["DEFAULT", "DRIVERS", "FileOptions", "FileReader", "Info", "LogsNotSupported",
           "Silent", "config_of", "file_options", "json_path", "local_path", "log_path",
           "open_writer", "parse_log_opts", "reader", "resolve", "validate", "writer"]


def info_of(record) -> Info:
    o = record.options
    return Info(container_id=record.id, name=record.name, image_name=record.image_ref,
                image_id=record.image_id, labels=dict(o.get("labels") or {}),
                env=tuple(o.get("env") or ()))


def json_path(container_dir: Path) -> Path:
    return container_dir / f"{container_dir.name}-json.log"


def local_path(container_dir: Path) -> Path:
    return container_dir / "local-logs" / "container.log"


class _Discard:
    """The ``none`` driver's writer."""

    def write(self, stream: str, data: bytes) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def writer(driver: str, opts: Mapping[str, str], container_dir: Path, info: Info):
    """The monitor's writer (``write(stream, data)``, ``close()``) for this driver.

    Raises:
        OSError: the log file or journald's socket cannot be opened.
    """
    if driver == "none":
        return _Discard()
    attrs = extra_attributes(opts, info)
    if opts.get("tag") and driver != "journald":
        attrs["tag"] = tag(opts["tag"], info)
    if driver == "journald":
        from pyker.runtime.logdrivers.journald import JournalWriter, sanitize_key

        name = tag(opts.get("tag") or "{{.ID}}", info)
        fields = {"CONTAINER_ID": info.container_id[:12], "CONTAINER_ID_FULL": info.container_id,
                  "CONTAINER_NAME": info.name, "CONTAINER_TAG": name,
                  "IMAGE_NAME": info.image_name, "SYSLOG_IDENTIFIER": name,
                  **extra_attributes(opts, info, sanitize_key)}
        journal = JournalWriter(fields)
        return logs.LogWriter(encode=journal.encode, out=journal.out, close=journal.close)
    sizes = file_options(driver, opts)
    if driver == "local":
        from pyker.runtime.logdrivers import local

        path = local_path(container_dir)
        path.parent.mkdir(mode=0o750, exist_ok=True)
        encode = partial(local.record, attrs=local.attrs_field(attrs)) if attrs \
            else local.record
    else:
        import json

        path = json_path(container_dir)
        encode = logs.json_record if not attrs else partial(
            logs.json_record, attrs='"attrs":' + json.dumps(attrs, sort_keys=True,
                                                            separators=(",", ":")) + ",")
    out = RotatingFile(path, max_size=sizes.max_size, max_file=sizes.max_file,
                       compress=sizes.compress)
    return logs.LogWriter(encode=encode, out=out.append, close=out.close)


def open_writer(record, container_dir: Path):
    """The writer for ``record``'s driver (the monitor calls this at each start)."""
    driver, opts = config_of(record.options)
    return writer(driver, opts, container_dir, info_of(record))


class FileReader:
    """json-file's and local's files, rotated ones included."""

    def __init__(self, path: Path, codec: logs.Codec = logs.JSON) -> None:
        self.path, self.codec = path, codec
        self._mark: tuple[int, int, str] | None = None

    def read(self, *, tail: int | None = None, since: str = "") -> list[logs.Entry]:
        entries, self._mark = logs.read_marked(self.path, tail=tail, since=since,
                                               codec=self.codec)
        return entries

    def end(self) -> tuple[int, int, str]:
        """Where ``follow`` starts: where the last ``read`` stopped, else the current end
        ((inode, offset) of the current file, and a time before the entries after it)."""
        if self._mark is not None:
            return self._mark
        now = logs.now_stamp()
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0, now)
        return (st.st_ino, st.st_size, now)

    def follow(self, *, start: tuple[int, int, str] | int, running: Callable[[], bool],
               interval: float = 0.1) -> Iterator[logs.Entry]:
        inode, offset, after = start if isinstance(start, tuple) else (0, start, "")
        return logs.follow(self.path, start=offset, running=running, interval=interval,
                           codec=self.codec, inode=inode, after=after)


class Silent:
    """A reader with nothing to read, whose ``follow`` ends when the container stops (a
    ``none`` container in ``compose up``'s output)."""

    def end(self) -> int:
        return 0

    def read(self, *, tail: int | None = None, since: str = "") -> list[logs.Entry]:
        return []

    def follow(self, *, start: int, running: Callable[[], bool],
               interval: float = 0.1) -> Iterator[logs.Entry]:
        import time

        while running():
            time.sleep(interval)
        return
        yield


def reader(record, container_dir: Path):
    """How ``logs`` reads ``record``'s output (``read``, ``end``, ``follow``).

    Raises:
        LogsNotSupported: the ``none`` driver, or journald without ``journalctl``.
    """
    driver, _ = config_of(record.options)
    if driver == "local":
        from pyker.runtime.logdrivers.local import LOCAL

        return FileReader(local_path(container_dir), LOCAL)
    if driver == "journald":
        from pyker.runtime.logdrivers.journald import JournalReader

        journal = JournalReader(record.id)
        if journal.binary is None:
            raise LogsNotSupported("journalctl is not installed")
        return journal
    if driver != "json-file":
        raise LogsNotSupported()
    return FileReader(json_path(container_dir))


def log_path(record, container_dir: Path) -> str:
    """inspect's ``LogPath``: json-file's file, "" for the others (as Docker shows it)."""
    return str(json_path(container_dir)) if config_of(record.options)[0] == "json-file" else ""
