"""The lab grader: checks a student's work by reading the real engine and kernel state.

In a notebook::

    from grader import check
    check("03-cgroups", "pids")              # ✓/✗ per public check, and why
    check("03-cgroups", "pids", hint=True)   # with hints

For a class: ``python -m grader grade 03-cgroups submissions/ --csv grades.csv --jsonl
results.jsonl`` (see :mod:`grader.batch`).

Layering: grader sits above pyker and uses its Python API (:mod:`pyker.engine`), its
parsers (capabilities, seccomp profiles, cgroup layout) and its CLI, as a student would.
"""

from __future__ import annotations

from grader.context import Context as Context
from grader.context import lab_dir as lab_dir
from grader.context import lab_file as lab_file
from grader.feedback import check as check
from grader.model import CheckResult as CheckResult
from grader.model import Exercise as Exercise
from grader.model import ExerciseResult as ExerciseResult
from grader.model import GraderError as GraderError
from grader.runner import grade as grade
from grader.runner import grade_lab as grade_lab
