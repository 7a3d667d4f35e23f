"""Running a student's notebook top to bottom with nbclient, and saying how it went.

Cells that raise are recorded and the run goes on (as ``jupyter nbconvert --allow-errors``):
a failed exploratory cell must not cost the exercises after it. A cell that outlives the
per-cell timeout, or a kernel that dies, ends the run; the state built so far is graded
anyway. The kernel is this interpreter's (``python3``), launched with this process's
environment, so it sees the sandbox's store and PATH.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATUSES = ("ok", "error", "timeout", "crash")


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    status: str          # one of STATUSES, or "missing" when no notebook could be run
    reason: str = ""     # French, for the student and the teacher
    cells: int = 0       # code cells in the notebook
    executed: int = 0    # code cells that ran (to the end or into an error)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> Execution:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


def _first_line(source: str) -> str:
    line = next((s for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def _first_error(nb) -> str:
    for number, cell in enumerate(_code_cells(nb), 1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return (f"cellule {number} ({_first_line(cell.source)}) : "
                        f"{output.get('ename', '')}: {output.get('evalue', '')}"[:300])
    return ""


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def execute(path: Path, *, cell_timeout: float, cwd: Path, output: Path | None = None
            ) -> Execution:
    """Execute the notebook at ``path`` in ``cwd``; write the executed copy to ``output``."""
    # jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which builds a
    # grammar for 2.5 s at every start; nbformat's schema checks no IRI. A worker runs once
    # per student: leaving it out is 2.5 s a student.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    start = time.monotonic()
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the student's to fix
        return Execution(status="crash", reason=f"notebook illisible : {err}"[:300])
    cells = _code_cells(nb)
    for cell in cells:  # what the student saved is not what runs now: start blank
        cell.outputs, cell.execution_count = [], None
    current: list[int] = [0]

    def on_cell_start(cell, cell_index: int) -> None:
        if cell.cell_type == "code":
            current[0] = cells.index(cell) + 1

    client = NotebookClient(nb, timeout=cell_timeout, allow_errors=True,
                            kernel_name="python3", on_cell_start=on_cell_start,
                            resources={"metadata": {"path": str(cwd)}})
    status, reason = "ok", ""
    try:
        client.execute()
    except CellTimeoutError:
        cell = cells[current[0] - 1].source if current[0] else ""
        status = "timeout"
        reason = (f"cellule {current[0]} ({_first_line(cell)}) : toujours en cours après "
                  f"{cell_timeout:g} s, exécution arrêtée")
    except DeadKernelError as err:
        status, reason = "crash", f"le noyau Python est mort en cellule {current[0]} : {err}"
    except Exception as err:  # noqa: BLE001 - a broken notebook must not stop the batch
        status, reason = "crash", f"cellule {current[0]} : {type(err).__name__}: {err}"[:300]
    if status == "ok":
        reason = _first_error(nb)
        status = "error" if reason else "ok"
    executed = sum(1 for c in cells if c.get("execution_count") is not None)
    if output is not None:
        nbformat.write(nb, output)
    return Execution(status=status, reason=reason, cells=len(cells), executed=executed,
                     seconds=round(time.monotonic() - start, 2))


def write_status(execution: Execution, path: Path) -> None:
    path.write_text(json.dumps(execution.to_dict(), ensure_ascii=False))
