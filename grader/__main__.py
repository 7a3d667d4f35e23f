"""``python -m grader``: grade a class, grade this store, run a notebook, or a sandbox.

    python -m grader grade LAB SUBMISSIONS --csv grades.csv --jsonl results.jsonl
    python -m grader run LAB [EXERCISE] [--hidden] [--json FILE]
    python -m grader list
    python -m grader execute NOTEBOOK [--cell-timeout S] [--status FILE] [--output FILE]
    python -m grader sandbox [--images busybox,debian] -- COMMAND [ARG...]

``execute`` and ``run`` are what batch grading runs inside each student's sandbox; they work
on their own too (``run`` grades the store of the current environment). ``sandbox`` runs a
command in a fresh sandbox and returns its exit status: ``make test`` runs nbval that way.
Exit status: 0 when the command did its job (whatever the grades), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader.model import GraderError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser("grade", help="execute and grade every submission of a lab")
    grade.add_argument("lab")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--csv", type=Path, help="per-student totals and reasons")
    grade.add_argument("--jsonl", type=Path, help="one JSON line per check")
    grade.add_argument("--timeout", type=float, default=600, help="per notebook, seconds")
    grade.add_argument("--cell-timeout", type=float, default=120, help="per cell, seconds")
    grade.add_argument("--images", default="busybox,debian",
                       help="repositories copied from this store into each sandbox")
    grade.add_argument("--executed", type=Path, help="keep executed notebooks in this dir")
    grade.add_argument("--workdir", type=Path, help="where sandboxes go (default: $TMPDIR)")

    run = sub.add_parser("run", help="grade the store of the current environment")
    run.add_argument("lab")
    run.add_argument("exercise", nargs="?")
    run.add_argument("--hidden", action="store_true", help="run the hidden checks too")
    run.add_argument("--json", type=Path, help="write the check results as a JSON list")

    sub.add_parser("list", help="list the labs, exercises and checks")

    execute = sub.add_parser("execute", help="execute a notebook with nbclient")
    execute.add_argument("notebook", type=Path)
    execute.add_argument("--cell-timeout", type=float, default=120)
    execute.add_argument("--status", type=Path, help="write the outcome as JSON")
    execute.add_argument("--output", type=Path, help="write the executed notebook")

    sandbox = sub.add_parser("sandbox", help="run a command in a fresh sandbox")
    sandbox.add_argument("--images", default="busybox,debian")
    sandbox.add_argument("argv", nargs=argparse.REMAINDER)
    return parser


def _grade(args: argparse.Namespace) -> int:
    from grader.batch import grade_submissions
    from grader.export import write_csv, write_jsonl

    grades = grade_submissions(args.lab, args.submissions, images=_repos(args.images),
                               timeout=args.timeout, cell_timeout=args.cell_timeout,
                               executed_dir=args.executed, workdir=args.workdir)
    if args.csv:
        write_csv(args.lab, grades, args.csv)
    if args.jsonl:
        write_jsonl(grades, args.jsonl)
    for g in grades:
        print(f"{g.student}\t{g.score:g}/{g.max_score:g}\t{g.execution.status}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from grader.feedback import render_text
    from grader.runner import grade, grade_lab

    if args.exercise:
        exercises = [grade(args.lab, args.exercise, hidden=args.hidden)]
    else:
        exercises = grade_lab(args.lab, hidden=args.hidden)
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for e in exercises for r in e.results],
                                        ensure_ascii=False, indent=1))
    else:
        print("\n\n".join(render_text(e) for e in exercises))
    return 0


def _list() -> int:
    from grader.exercises import ALL

    for ex in ALL:
        checks = ", ".join(c.id + (" (hidden)" if c.hidden else "") for c in ex.checks)
        print(f"{ex.lab}\t{ex.id}\t{ex.points:g} pts\t{checks}")
    return 0


def _execute(args: argparse.Namespace) -> int:
    from grader.execute import execute, write_status

    outcome = execute(args.notebook.resolve(), cell_timeout=args.cell_timeout,
                      cwd=Path.cwd(), output=args.output)
    if args.status:
        write_status(outcome, args.status)
    print(f"{outcome.status}: {outcome.reason}" if outcome.reason else outcome.status)
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    import os
    import subprocess
    import tempfile

    from grader.batch import seed_archive
    from grader.context import lab_dir
    from grader.exercises import ALL
    from grader.sandbox import Sandbox

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise GraderError("sandbox: no command given (python -m grader sandbox -- CMD ...)")
    with tempfile.TemporaryDirectory(prefix="pyker-grade-") as scratch:
        archive = Path(scratch) / "images.tar"
        refs = seed_archive(archive, _repos(args.images), env=dict(os.environ))
        # The files students write are left out, as in batch grading: a notebook must write
        # its own, never find one left in the checkout.
        student_files = {f for ex in ALL for f in ex.student_files}
        with Sandbox.create(images=archive if refs else None, labs_from=lab_dir(),
                            exclude=student_files) as box:
            print(f"grader: sandbox {box.root} (network namespace {box.netns}; images: "
                  f"{', '.join(refs) or 'none'})", file=sys.stderr)
            return subprocess.run(argv, env=box.env(), preexec_fn=box.preexec).returncode


def _repos(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "grade":
            return _grade(args)
        if args.command == "run":
            return _run(args)
        if args.command == "list":
            return _list()
        if args.command == "execute":
            return _execute(args)
        return _sandbox(args)
    except GraderError as err:
        print(f"grader: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
