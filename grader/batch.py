"""Grading a class: each student's notebook executed in a sandbox of its own, then graded.

``python -m grader grade 03-cgroups submissions/ --csv grades.csv --jsonl results.jsonl``

For each submission, one after the other (two notebooks at once would fight over two cores
and make timeouts lie):

1. a :class:`~grader.sandbox.Sandbox`: a private store seeded with the base images of the
   grader's own store, a labs/ directory with the course material (never the solutions nor
   the files the student must write), a network namespace;
2. the notebook executed there by a worker process (``python -m grader execute``), killed
   with its whole process group past the total timeout;
3. every check, hidden ones too, run there by a second worker (``python -m grader run``),
   so that what the notebook left running is what gets graded, even after a crash;
4. the sandbox removed, whatever happened.

A submission is ``submissions/<student>.ipynb``, or a directory ``submissions/<student>/``
holding the notebook (``<lab>.ipynb``, or its only ``.ipynb``) and any files it needs; a
``labs/`` directory in it is merged into the sandbox's labs/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.context import lab_dir
from grader.execute import Execution
from grader.model import CheckResult, GraderError
from grader.registry import lab_exercises
from grader.sandbox import Sandbox

DEFAULT_IMAGES = ("busybox", "debian")


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    student: str
    notebook: Path | None        # None: nothing to run (the reason says why)
    files: Path | None = None    # a directory whose content the notebook may need
    problem: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentGrade:
    student: str
    notebook: str
    execution: Execution
    results: tuple[CheckResult, ...]
    cleanup: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)


def discover(directory: Path, lab: str) -> list[Submission]:
    """The submissions in ``directory``, sorted by student.

    Raises:
        GraderError: ``directory`` is not a directory.
    """
    if not directory.is_dir():
        raise GraderError(f"submissions directory {directory} does not exist")
    found = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            found.append(Submission(student=entry.stem, notebook=entry))
        elif entry.is_dir():
            found.append(_directory_submission(entry, lab))
    return found


def _directory_submission(entry: Path, lab: str) -> Submission:
    notebooks = sorted(p for p in entry.glob("*.ipynb"))
    named = [p for p in notebooks if p.stem == lab]
    if named or len(notebooks) == 1:
        return Submission(student=entry.name, notebook=(named or notebooks)[0], files=entry)
    problem = (f"plusieurs notebooks et aucun nommé {lab}.ipynb" if notebooks
               else "aucun notebook (.ipynb) dans le dossier")
    return Submission(student=entry.name, notebook=None, files=entry, problem=problem)


def seed_archive(dest: Path, repositories: Sequence[str], *, env: dict[str, str]) -> list[str]:
    """Save the tags of ``repositories`` found in the store of ``env`` into ``dest``.

    Returns the references saved (a repository absent from the store is skipped).

    Raises:
        GraderError: ``pyker save`` failed.
    """
    listed = _pyker(["images", "--format", "{{.Repository}}:{{.Tag}}"], env=env)
    refs = [ref for ref in listed.stdout.split()
            if ref.rsplit(":", 1)[0] in repositories and not ref.endswith(":<none>")]
    if not refs:
        return []
    saved = _pyker(["save", "-o", str(dest), *refs], env=env, timeout=600)
    if saved.returncode != 0:
        raise GraderError(f"pyker save {' '.join(refs)} failed: {saved.stderr.strip()}")
    return refs


def _pyker(args: list[str], *, env: dict[str, str], timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", "-m", "pyker", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def grade_submissions(lab: str, directory: Path, *, images: Sequence[str] = DEFAULT_IMAGES,
                      timeout: float = 600, cell_timeout: float = 120,
                      executed_dir: Path | None = None, workdir: Path | None = None,
                      log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)
                      ) -> list[StudentGrade]:
    """Execute and grade every submission of ``directory`` for ``lab``; sandboxes and
    scratch files go under ``workdir`` (default: the system's temporary directory)."""
    lab_exercises(lab)  # an unknown lab fails before anything runs
    submissions = discover(directory, lab)
    scratch = Path(tempfile.mkdtemp(prefix="pyker-grade-", dir=workdir))
    try:
        archive = scratch / "images.tar"
        refs = seed_archive(archive, images, env=dict(os.environ))
        log(f"grader: {len(submissions)} submission(s) for {lab}; images: "
            f"{', '.join(refs) or 'none'}")
        grades = []
        for sub in submissions:
            try:
                grade = grade_one(lab, sub, images=archive if refs else None, timeout=timeout,
                                  cell_timeout=cell_timeout, executed_dir=executed_dir,
                                  workdir=workdir)
            except Exception as err:  # noqa: BLE001 - one submission never stops the batch
                reason = f"le correcteur a échoué sur cette copie : {type(err).__name__}: {err}"
                grade = StudentGrade(student=sub.student, notebook=sub.notebook.name if
                                     sub.notebook else "",
                                     execution=Execution(status="crash", reason=reason),
                                     results=_all_failed(lab, reason, error=repr(err)))
            why = f": {grade.execution.reason}" if grade.execution.reason else ""
            log(f"grader: {grade.student}: {grade.score:g}/{grade.max_score:g} "
                f"({grade.execution.status}{why})")
            grades.append(grade)
        return grades
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def grade_one(lab: str, sub: Submission, *, images: Path | None, timeout: float,
              cell_timeout: float, executed_dir: Path | None = None,
              workdir: Path | None = None) -> StudentGrade:
    if sub.notebook is None:
        execution = Execution(status="missing", reason=sub.problem)
        return StudentGrade(student=sub.student, notebook="", execution=execution,
                            results=_all_failed(lab, f"pas de notebook : {sub.problem}"))
    student_files = {f for ex in lab_exercises(lab) for f in ex.student_files}
    box = Sandbox.create(images=images, labs_from=lab_dir(), exclude=student_files,
                         parent=workdir)
    try:
        notebook = _install(sub, box)
        executed = box.root / "executed.ipynb"
        execution = _execute(box, notebook, timeout=timeout, cell_timeout=cell_timeout,
                             output=executed)
        results = _run_checks(box, lab)
        if executed_dir is not None and executed.exists():
            executed_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(executed, executed_dir / f"{sub.student}.ipynb")
    finally:
        cleanup = tuple(box.remove())
    return StudentGrade(student=sub.student, notebook=sub.notebook.name, execution=execution,
                        results=results, cleanup=cleanup)


def _install(sub: Submission, box: Sandbox) -> Path:
    """The submission's files into the sandbox's work dir; its labs/ merged into labs/."""
    if sub.files is not None:
        shutil.copytree(sub.files, box.work_dir, dirs_exist_ok=True, symlinks=True)
        if (box.work_dir / "labs").is_dir():
            shutil.copytree(box.work_dir / "labs", box.lab_dir, dirs_exist_ok=True)
        return box.work_dir / sub.notebook.name
    return Path(shutil.copy(sub.notebook, box.work_dir / sub.notebook.name))


def _worker(box: Sandbox, args: list[str], *, timeout: float) -> tuple[int | None, str]:
    """``python -m grader ARGS`` in the sandbox, in a session of its own; returns (exit
    status, stderr tail), with None for a worker killed at ``timeout``.

    ``-P``: the work dir (the student's files) is the worker's cwd, and must not come first
    on sys.path, where a ``grader.py`` or ``pyker/`` of the submission would shadow ours.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-P", "-m", "grader", *args], cwd=box.work_dir,
                                env=box.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=box.preexec, start_new_session=True)
        try:
            status: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status = None
        err.seek(0)
        return status, err.read().decode(errors="replace")[-2000:]


def _execute(box: Sandbox, notebook: Path, *, timeout: float, cell_timeout: float,
             output: Path) -> Execution:
    status_file = box.root / "execution.json"
    status, stderr = _worker(box, ["execute", str(notebook), "--cell-timeout", str(cell_timeout),
                                   "--status", str(status_file), "--output", str(output)],
                             timeout=timeout)
    if status is None:
        return Execution(status="timeout", reason=f"le notebook a dépassé {timeout:g} s au "
                                                  "total : exécution arrêtée")
    try:
        return Execution.from_dict(json.loads(status_file.read_text()))
    except (OSError, ValueError):
        return Execution(status="crash", reason=f"l'exécution a échoué (code {status}) : "
                                                f"{stderr.strip()[-300:]}")


def _run_checks(box: Sandbox, lab: str, timeout: float = 600) -> tuple[CheckResult, ...]:
    out = box.root / "results.json"
    status, stderr = _worker(box, ["run", lab, "--hidden", "--json", str(out)], timeout=timeout)
    try:
        return tuple(CheckResult.from_dict(d) for d in json.loads(out.read_text()))
    except (OSError, ValueError, KeyError):
        why = "délai dépassé" if status is None else f"code {status}"
        return _all_failed(lab, f"le correcteur n'a pas pu s'exécuter ({why}).",
                           error=stderr.strip())


def _all_failed(lab: str, message: str, error: str = "") -> tuple[CheckResult, ...]:
    return tuple(CheckResult(lab=lab, exercise=ex.id, check=c.id, description=c.description,
                             hidden=c.hidden, passed=False, score=0.0, max_score=ex.share(c),
                             message=message, error=error)
                 for ex in lab_exercises(lab) for c in ex.checks)

