"""Observing containers from outside: Prometheus metrics and a live notebook dashboard.

* :func:`render` — every running container's counters under cAdvisor's metric names, and
  the engine's own, in Prometheus's text exposition format (:mod:`.collect`,
  :mod:`.exposition`); ``pyker metrics serve`` answers them on ``GET /metrics``
  (:mod:`.server`).
* :class:`pyker.metrics.dashboard.Dashboard` — live matplotlib graphs of a few containers in
  a notebook (imports matplotlib and IPython, so it is imported only by who asks for it).

Layering: at the engine's level; reads the container store and the kernel's counters
(cgroups, ``/proc``), changes nothing.
"""

from __future__ import annotations


def render(engine=None) -> str:
    """The metrics of ``engine`` (default ``Engine()``) as one Prometheus scrape's text."""
    from pyker.metrics.collect import render as _render

    return _render(engine)
