"""Running an exercise's checks against the store and turning outcomes into results.

A check that cannot find its state (:class:`~grader.model.Unmet`) fails with the student's
message; one that breaks (a bug, a host without nsenter) fails too, with the error kept
apart in ``error`` so that a teacher can tell "the student's work is wrong" from "the grader
is". Either way the next check runs.
"""

from __future__ import annotations

import traceback

from grader.context import Context
from grader.model import CheckResult, Exercise, ExerciseResult, Outcome, Unmet, failed, score
from grader.registry import exercise as find_exercise
from grader.registry import lab_exercises


def _run_one(check, ctx: Context) -> tuple[Outcome, str]:
    try:
        return check.run(ctx), ""
    except Unmet as err:
        return failed(err.message, **err.evidence), ""
    except Exception as err:  # noqa: BLE001 - one broken check must not stop the others
        detail = "".join(traceback.format_exception_only(err)).strip()
        return failed(f"le correcteur n'a pas pu faire cette vérification ({detail})."), \
            traceback.format_exc(limit=5)


def run_exercise(ex: Exercise, *, hidden: bool = False, ctx: Context | None = None
                 ) -> ExerciseResult:
    """Run ``ex``'s public checks, and its hidden ones too when ``hidden``."""
    ctx = ctx or Context()
    checks = ex.checks if hidden else ex.public_checks
    outcomes, errors = {}, {}
    for check in checks:
        outcomes[check.id], errors[check.id] = _run_one(check, ctx)
    points = score(ex, outcomes)
    results = tuple(
        CheckResult(lab=ex.lab, exercise=ex.id, check=c.id, description=c.description,
                    hidden=c.hidden, passed=outcomes[c.id].passed, score=points[c.id],
                    max_score=ex.share(c), message=outcomes[c.id].message,
                    hint="" if outcomes[c.id].passed else c.hint,
                    evidence=dict(outcomes[c.id].evidence), error=errors[c.id])
        for c in checks)
    return ExerciseResult(exercise=ex, results=results, ran_hidden=hidden)


def grade(lab: str, exercise_id: str, *, hidden: bool = False, ctx: Context | None = None
          ) -> ExerciseResult:
    """Grade one exercise on the store of ``ctx`` (default: this process's environment)."""
    return run_exercise(find_exercise(lab, exercise_id), hidden=hidden, ctx=ctx)


def grade_lab(lab: str, *, hidden: bool = True, ctx: Context | None = None
              ) -> list[ExerciseResult]:
    """Grade every exercise of ``lab``: what batch grading records for one student."""
    ctx = ctx or Context()
    return [run_exercise(ex, hidden=hidden, ctx=ctx) for ex in lab_exercises(lab)]
