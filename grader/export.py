"""Grade files: one JSON line per check (what a script reads), one CSV row per student (what
a spreadsheet reads), both with the reasons."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from grader.batch import StudentGrade
from grader.registry import lab_exercises


def jsonl_records(grades: Sequence[StudentGrade]) -> list[dict[str, object]]:
    return [{"student": g.student, "notebook": g.notebook,
             "notebook_status": g.execution.status, "notebook_reason": g.execution.reason,
             **r.to_dict()}
            for g in grades for r in g.results]


def write_jsonl(grades: Sequence[StudentGrade], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for record in jsonl_records(grades):
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")


def csv_header(lab: str) -> list[str]:
    exercises = lab_exercises(lab)
    return (["student", "notebook", "notebook_status", "notebook_reason", "score", "max_score"]
            + [ex.id for ex in exercises]
            + [f"{ex.id}/{c.id}" for ex in exercises for c in ex.checks]
            + ["cleanup"])


def csv_row(lab: str, grade: StudentGrade) -> list[str]:
    """Totals, the score of each exercise, and per check "ok" or "échec : <reason>"."""
    by_check = {(r.exercise, r.check): r for r in grade.results}
    exercises = lab_exercises(lab)
    row = [grade.student, grade.notebook, grade.execution.status, grade.execution.reason,
           _points(grade.score), _points(sum(ex.points for ex in exercises))]
    row += [_points(sum(r.score for r in grade.results if r.exercise == ex.id))
            for ex in exercises]
    for ex in exercises:
        for c in ex.checks:
            r = by_check.get((ex.id, c.id))
            row.append("non vérifié" if r is None else "ok" if r.passed
                       else f"échec : {r.message}")
    row.append("; ".join(grade.cleanup))
    return row


def _points(value: float) -> str:
    """A sum of shares as a spreadsheet shows it: 6/7 × 7 is 6, to the hundredth."""
    return f"{round(value, 2):g}"


def write_csv(lab: str, grades: Sequence[StudentGrade], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(csv_header(lab))
        for grade in grades:
            writer.writerow(csv_row(lab, grade))
