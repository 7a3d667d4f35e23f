"""The order services start and stop in: their dependencies first, and no cycle.

A service depends on another through ``depends_on``, ``links``, ``volumes_from: [svc]``
and ``network_mode: service:svc`` (:func:`pyker.compose.references.dependency_names`):
each needs the other's container to exist first. ``up`` starts in :func:`start_order`,
``down``/``stop`` go the other way (:func:`stop_order`), so a database outlives the web
server that uses it. Among services that do not depend on each other the file's order is
kept (Kahn's algorithm, taking the earliest ready service each time), so the output is
stable and reads like the file.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from pyker.compose import model
from pyker.compose.references import dependency_names
from pyker.errors import ComposeError


def check_cycles(services: Sequence[model.Service]) -> None:
    """Raises: ComposeError ``dependency cycle detected: web -> db -> web``."""
    deps = {svc.name: dependency_names(svc) for svc in services}
    state: dict[str, str] = {}  # "visiting" while on the path, "done" after

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done" or name not in deps:
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise ComposeError(f"dependency cycle detected: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for dep in deps[name]:
            visit(dep, path + [name])
        state[name] = "done"

    for svc in services:
        visit(svc.name, [])


def _closure(project: model.Project, names: Sequence[str]) -> set[str]:
    """``names`` and, transitively, every service they depend on."""
    known = {svc.name for svc in project.services}
    for name in names:
        if name not in known:
            raise ComposeError(f"no such service: {name}")
    selected: set[str] = set()
    todo = list(names) if names else list(known)
    while todo:
        name = todo.pop()
        if name not in selected:
            selected.add(name)
            todo.extend(dep for dep in dependency_names(project.service(name)) if dep in known)
    return selected


def start_order(project: model.Project, services: Sequence[str] = ()) -> list[str]:
    """The services to start for ``services`` (all when empty), dependencies first.

    Raises:
        ComposeError: ``no such service: NAME``, or a cycle (normally refused at load time).
    """
    selected = _closure(project, services)
    position = {svc.name: i for i, svc in enumerate(project.services)}
    waiting = {name: {d for d in dependency_names(project.service(name)) if d in selected}
               for name in selected}
    ready = [(position[name], name) for name, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    heapq.heappush(ready, (position[other], other))
    if len(order) != len(selected):
        check_cycles([project.service(name) for name in sorted(selected, key=position.get)])
    return order


def stop_order(project: model.Project, services: Sequence[str] = ()) -> list[str]:
    """:func:`start_order` reversed: a service stops before what it depends on."""
    return list(reversed(start_order(project, services)))
