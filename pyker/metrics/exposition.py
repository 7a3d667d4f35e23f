"""Prometheus's text exposition format, version 0.0.4: what ``GET /metrics`` answers.

A scrape is a list of metric *families*, each a ``# HELP`` line, a ``# TYPE`` line and its
samples, one per distinct label set::

    # HELP container_memory_usage_bytes Current memory usage in bytes, ...
    # TYPE container_memory_usage_bytes gauge
    container_memory_usage_bytes{id="/pyker/0f3…",image="busybox",name="web"} 1.2288e+06

The rules the Prometheus parser enforces, and that are checked here rather than discovered
by a failed scrape (prometheus/docs ``exposition_formats.md``):

* metric names match ``[a-zA-Z_:][a-zA-Z0-9_:]*``, label names ``[a-zA-Z_][a-zA-Z0-9_]*``
  and do not start with ``__`` (reserved for Prometheus's own labels);
* a label value escapes ``\\``, ``"`` and the newline; a HELP text escapes ``\\`` and the
  newline only;
* the samples of one family are consecutive, and no label set repeats inside a family (the
  server would reject the whole scrape as "duplicate sample");
* values are Go floats: ``+Inf``, ``-Inf`` and ``NaN`` are spelled that way.

Integers are printed as integers, so byte counters keep every digit in the text (Prometheus
stores float64 anyway).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TYPES = ("counter", "gauge", "untyped")

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_INVALID_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Family:
    """A metric family: its name, type (``counter``, ``gauge``, ``untyped``) and help text.

    Raises:
        ValueError: an invalid metric name or an unknown type.
    """

    name: str
    type: str
    help: str

    def __post_init__(self) -> None:
        if not _METRIC_NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.type not in TYPES:
            raise ValueError(f"metric {self.name}: unknown type {self.type!r}, want one of "
                             f"{', '.join(TYPES)}")


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def sanitize_label_name(name: str) -> str:
    """A free-form key (a container label ``com.example.team``) as a label name, the way
    cAdvisor does for ``container_label_*``: every other character becomes ``_``."""
    name = _INVALID_LABEL_CHAR.sub("_", name)
    return name if name and not name[0].isdigit() else "_" + name


def format_value(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(labels: Mapping[str, str] | Labels) -> Labels:
    items = tuple(sorted(labels.items() if isinstance(labels, Mapping) else labels))
    for name, _ in items:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"invalid label name {name!r}")
    return items


class Exposition:
    """The families of one scrape, filled in any order, rendered grouped and in order of
    first appearance."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[Family, dict[Labels, float | int]]] = {}

    def add(self, family: Family, value: float | int,
            labels: Mapping[str, str] | Labels = ()) -> None:
        """One sample of ``family``.

        Raises:
            ValueError: an invalid label name, the family declared before with another type
                or help, or the same label set given twice.
        """
        known, samples = self._families.setdefault(family.name, (family, {}))
        if known != family:
            raise ValueError(f"metric {family.name} declared twice, differently")
        key = _labels(labels)
        if key in samples:
            raise ValueError(f"metric {family.name}: duplicate sample for labels {dict(key)}")
        samples[key] = value

    def declare(self, family: Family) -> None:
        """A family with no sample (yet): its HELP and TYPE are still written."""
        known, _ = self._families.setdefault(family.name, (family, {}))
        if known != family:
            raise ValueError(f"metric {family.name} declared twice, differently")

    def families(self) -> Iterable[tuple[Family, dict[Labels, float | int]]]:
        return self._families.values()

    def render(self) -> str:
        lines: list[str] = []
        for family, samples in self._families.values():
            lines.append(f"# HELP {family.name} {escape_help(family.help)}")
            lines.append(f"# TYPE {family.name} {family.type}")
            for labels, value in samples.items():
                lines.append(f"{family.name}{_render_labels(labels)} {format_value(value)}")
        return "\n".join(lines) + "\n" if lines else ""


def _render_labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels)
    return "{" + inner + "}"
