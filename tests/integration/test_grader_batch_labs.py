"""Batch grading of a class folder for every lab: the solution, an empty and a half-done
submission, executed and graded in sandboxes by ``python -m grader grade``, give full marks,
zero and exactly the first exercise's points in the CSV and the JSONL.

Nothing here is a table of its own: the labs and their exercises come from the grader's
registry, each exercise's solution is ``labs/<lab>/solutions/<exercise>.sh``, and the images a
lab's sandbox is seeded with are the lab's store repositories its solution files name. The
notebooks are written with nbformat at test time and run the solution scripts the way a
student's cells would (a subprocess per exercise). A new lab in the registry is graded here
as soon as it has two exercises.

The images come from the lab's store (the default one, which ``make test`` fills), read only
with ``pyker save``; the sandboxes and the notebooks' stores are the grader's own.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import REPO, enter_tests_netns
from grader.registry import lab_exercises, labs
from integration.test_grader import assert_sandboxes_gone, lab_netns

pytestmark = pytest.mark.requires("root", "overlay", "busybox", "seccomp", "iptables")

LABS = REPO / "labs"
BATCH_LABS = [lab for lab in labs() if len(lab_exercises(lab)) >= 2]

# The first cell of a solution notebook: a failing script raises, so the CSV's
# notebook_reason says which script failed and why instead of a silent partial score.
HELPER = '''\
import subprocess


def solution(script):
    done = subprocess.run(["bash", script], capture_output=True, text=True)
    print(done.stdout)
    if done.returncode:
        raise RuntimeError(f"{script} exited {done.returncode}: {done.stderr[-200:]}")'''


def store_env() -> dict[str, str]:
    """The lab's store (no PYKER_* variable: the default one), with this checkout's pyker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYKER_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def store_repositories() -> set[str]:
    proc = subprocess.run([sys.executable, "-m", "pyker", "images", "--format",
                           "{{.Repository}}"], env=store_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def solution_scripts(lab: str) -> list[Path]:
    scripts = [LABS / lab / "solutions" / f"{ex.id}.sh" for ex in lab_exercises(lab)]
    missing = [str(s.relative_to(REPO)) for s in scripts if not s.is_file()]
    assert not missing, f"{lab}: no solution script {', '.join(missing)}"
    return scripts


def lab_images(lab: str, available: set[str]) -> list[str]:
    """busybox (the checks' probe image), and every repository of the store that the lab's
    solution files name as a word (``debian:bookworm``, ``image: redis``, ``for image in
    figlet nginx``): seeding the whole store would cost every sandbox a gigabyte."""
    text = "\n".join(p.read_text(errors="replace")
                     for p in (LABS / lab / "solutions").rglob("*") if p.is_file())
    named = {repo for repo in available
             if re.search(rf"(?<![\w/.-]){re.escape(repo)}(?![\w/-])", text)}
    return sorted(named | {"busybox"})


def notebook(title: str, scripts: list[Path]) -> nbformat.NotebookNode:
    cells = [new_markdown_cell(f"# {title}")]
    if scripts:
        cells.append(new_code_cell(HELPER))
        cells += [new_code_cell(f'solution("{script}")') for script in scripts]
    else:
        cells.append(new_code_cell("# TODO\n"))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    return nb


def class_folder(lab: str, directory: Path) -> Path:
    scripts = solution_scripts(lab)
    directory.mkdir()
    for student, given in (("solution", scripts), ("empty", []), ("half-done", scripts[:1])):
        nbformat.write(notebook(f"{lab} — {student}", given), directory / f"{student}.ipynb")
    return directory


def grade_class(lab: str, submissions: Path, out: Path, images: list[str]
                ) -> tuple[int, list[dict], list[dict]]:
    """Run the batch grader; returns its pid (its sandboxes' namespaces are named
    ``pyk-lab-<pid>-*``), the CSV rows and the JSONL records."""
    with subprocess.Popen(
            [sys.executable, "-m", "grader", "grade", lab, str(submissions),
             "--csv", str(out / "grades.csv"), "--jsonl", str(out / "results.jsonl"),
             "--images", ",".join(images), "--workdir", str(out), "--cell-timeout", "600",
             "--timeout", "900"],
            env=store_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=enter_tests_netns) as proc:
        try:
            _out, err = proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return proc.pid, rows, lines


def failures(row: dict, columns: list[str]) -> str:
    return "\n".join(f"{c}: {row[c]}" for c in columns if row[c] != "ok")


@pytest.mark.parametrize("lab", BATCH_LABS)
def test_batch_grades_solution_empty_and_half_done(lab: str, tmp_path: Path) -> None:
    exercises = lab_exercises(lab)
    available = store_repositories()
    if "busybox" not in available:
        pytest.skip("the lab's store has no busybox (make test bootstraps it)")
    images = lab_images(lab, available)
    submissions = class_folder(lab, tmp_path / "class")

    start = time.monotonic()
    pid, rows, lines = grade_class(lab, submissions, tmp_path, images)
    print(f"{lab}: batch of 3 in {time.monotonic() - start:.1f} s (images: {', '.join(images)})")

    by_student = {row["student"]: row for row in rows}
    assert sorted(by_student) == ["empty", "half-done", "solution"]
    points = sum(ex.points for ex in exercises)
    checks = [f"{ex.id}/{c.id}" for ex in exercises for c in ex.checks]
    solution, empty, half = by_student["solution"], by_student["empty"], by_student["half-done"]

    assert solution["notebook_status"] == "ok", solution["notebook_reason"]
    assert not failures(solution, checks), failures(solution, checks)
    assert float(solution["score"]) == pytest.approx(points, abs=1e-3)
    assert solution["max_score"] == f"{points:g}"

    assert empty["notebook_status"] == "ok", empty["notebook_reason"]
    assert all(empty[c].startswith("échec : ") for c in checks), empty
    assert empty["score"] == "0"

    first = exercises[0]
    half_points = {ex.id: first.points if ex is first else 0 for ex in exercises}
    assert half["notebook_status"] == "ok", half["notebook_reason"]
    assert not failures(half, [f"{first.id}/{c.id}" for c in first.checks])
    assert {ex.id: float(half[ex.id]) for ex in exercises} == pytest.approx(half_points,
                                                                           abs=1e-3), half
    assert float(half["score"]) == pytest.approx(first.points, abs=1e-3)

    # One line per check and student, hidden checks included and flagged as such.
    expected = {(s, ex.id, c.id, c.hidden) for s in by_student for ex in exercises
                for c in ex.checks}
    assert len(lines) == len(expected)
    assert {(r["student"], r["exercise"], r["check"], r["hidden"]) for r in lines} == expected
    for student, total in (("solution", points), ("empty", 0), ("half-done", first.points)):
        assert sum(r["score"] for r in lines if r["student"] == student) == pytest.approx(
            total, abs=1e-3)
    assert all(r["error"] == "" for r in lines), [r for r in lines if r["error"]]
    # Only this grader's namespaces count: a notebook run elsewhere on the host (make test,
    # another session) may hold a sandbox of its own meanwhile.
    others = {n for n in lab_netns() if not n.startswith(f"pyk-lab-{pid}-")}
    assert_sandboxes_gone(tmp_path, lines, others)

    # Last, the totals as a teacher's spreadsheet shows them: full marks read "12", not
    # "11.9998" (a sum of per-check shares such as 6/7 rounded one by one).
    assert (solution["score"], half["score"]) == (f"{points:g}", f"{first.points:g}")
    assert [half[ex.id] for ex in exercises] == [f"{p:g}" for p in half_points.values()]
