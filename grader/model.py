"""What an exercise is, what a check says about it, and how the points follow.

An :class:`Exercise` states a task in French and owns a tuple of :class:`Check` objects. Each
check reads the real state the student left behind (a live container, its cgroup files, its
process's ``/proc`` entries, a probe container run with the student's file), never what the
notebook printed, and answers an :class:`Outcome`. Public checks run in the notebook; hidden
ones only at grading time, and the notebook says how many remain.

Points: an exercise's points are shared among its checks by ``weight``; with
``all_or_nothing`` they are earned only when every check passes (a seccomp profile that
blocks mkdir but breaks the container is worth nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyker.errors import PykerError

if TYPE_CHECKING:
    from grader.context import Context


class GraderError(PykerError):
    """A misuse of the grader itself: unknown lab or exercise, unreadable submissions."""


class Unmet(GraderError):
    """Raised inside a check: the state the check reads is not there (no such container, no
    profile file). ``message`` is for the student, in French; the check fails with it."""

    def __init__(self, message: str, **evidence: object) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A check's answer: passed or not, why (French), and what was read (paths, values)."""

    passed: bool
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def passed(message: str, **evidence: object) -> Outcome:
    return Outcome(passed=True, message=message, evidence=evidence)


def failed(message: str, **evidence: object) -> Outcome:
    return Outcome(passed=False, message=message, evidence=evidence)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One verifiable fact. ``id`` is an English identifier; ``description`` and ``hint``
    are French. ``run`` reads the state through the context and returns an Outcome (or
    raises :class:`Unmet`)."""

    id: str
    description: str
    run: Callable[[Context], Outcome]
    hint: str = ""
    hidden: bool = False
    weight: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Exercise:
    lab: str                     # "03-cgroups": the notebook and labs/ directory name
    id: str                      # "pids": stable, the notebooks and the grade files use it
    title: str
    statement: str
    points: float
    checks: tuple[Check, ...]
    hints: tuple[str, ...] = ()
    all_or_nothing: bool = False
    student_files: tuple[str, ...] = ()  # paths under labs/ the student writes

    def __post_init__(self) -> None:
        ids = [c.id for c in self.checks]
        if not ids or len(set(ids)) != len(ids):
            raise GraderError(f"exercise {self.key}: check ids must be unique and non-empty, "
                              f"got {ids}")
        if any(c.weight <= 0 for c in self.checks):
            raise GraderError(f"exercise {self.key}: check weights must be positive")

    @property
    def key(self) -> str:
        return f"{self.lab}/{self.id}"

    @property
    def public_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.hidden)

    @property
    def hidden_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.hidden)

    def share(self, check: Check) -> float:
        """The points ``check`` carries: the exercise's points split by weight."""
        return self.points * check.weight / sum(c.weight for c in self.checks)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    lab: str
    exercise: str
    check: str
    description: str
    hidden: bool
    passed: bool
    score: float
    max_score: float
    message: str
    hint: str = ""                # given only when the check failed
    evidence: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""               # the grader's own failure (a bug or a broken host), if any

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "exercise": self.exercise, "check": self.check,
                "description": self.description, "hidden": self.hidden,
                # Exact: the batch grader adds these up again after the JSON round trip, and
                # sums of rounded shares (6 points over 7 checks) missed the total.
                "passed": self.passed, "score": self.score,
                "max_score": self.max_score, "message": self.message,
                "hint": self.hint, "evidence": dict(self.evidence), "error": self.error}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CheckResult:
        return cls(lab=doc["lab"], exercise=doc["exercise"], check=doc["check"],
                   description=doc.get("description", ""), hidden=bool(doc["hidden"]),
                   passed=bool(doc["passed"]), score=float(doc["score"]),
                   max_score=float(doc["max_score"]), message=doc["message"],
                   hint=doc.get("hint", ""), evidence=dict(doc.get("evidence", {})),
                   error=doc.get("error", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExerciseResult:
    exercise: Exercise
    results: tuple[CheckResult, ...]
    ran_hidden: bool              # False in the notebook: hidden checks were not run

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return self.exercise.points

    @property
    def public(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.hidden)

    @property
    def passed(self) -> bool:
        """Every check that ran passed, and none was left unrun."""
        return self.ran_hidden and all(r.passed for r in self.results)

    @property
    def hidden_pending(self) -> int:
        """How many hidden checks remain for grading time."""
        return 0 if self.ran_hidden else len(self.exercise.hidden_checks)


def score(exercise: Exercise, outcomes: Mapping[str, Outcome]) -> dict[str, float]:
    """Points per check id for ``outcomes`` (check id → Outcome, for the checks that ran).

    A check that did not run earns nothing; with ``all_or_nothing`` every check earns
    nothing unless every check of the exercise ran and passed.
    """
    everything = all(c.id in outcomes and outcomes[c.id].passed for c in exercise.checks)
    points = {}
    for check in exercise.checks:
        ok = check.id in outcomes and outcomes[check.id].passed
        if exercise.all_or_nothing:
            ok = everything
        points[check.id] = exercise.share(check) if ok else 0.0
    return points
