"""Checks several exercises share: "the container NAME is running"."""

from __future__ import annotations

from grader import observe
from grader.context import Context
from grader.model import Check, Outcome, passed


def running(name: str, *, weight: int = 1) -> Check:
    """Passes while a container named ``name`` runs in the store under grading."""

    def run(ctx: Context) -> Outcome:
        live = observe.container(ctx, name)
        return passed(f"le conteneur « {name} » tourne (PID {live.pid} sur l'hôte).",
                      container=live.id, pid=live.pid)

    return Check(id="running", description=f"un conteneur « {name} » est en marche",
                 run=run, weight=weight,
                 hint=f"pyker ps -a montre ses conteneurs ; pyker run -d --name {name} ... "
                      "le lance en arrière-plan (pyker rm -f l'enlève d'abord s'il existe).")
