"""Finding exercises by lab and id."""

from __future__ import annotations

from grader.model import Exercise, GraderError


def _all() -> tuple[Exercise, ...]:
    from grader.exercises import ALL

    return ALL


def labs() -> list[str]:
    """The labs that have exercises, in course order."""
    return sorted({e.lab for e in _all()})


def lab_exercises(lab: str) -> tuple[Exercise, ...]:
    """Every exercise of ``lab``, in the order the notebook gives them.

    Raises:
        GraderError: no exercise belongs to ``lab``.
    """
    found = tuple(e for e in _all() if e.lab == lab)
    if not found:
        raise GraderError(f'unknown lab "{lab}": known labs are {", ".join(labs())}')
    return found


def exercise(lab: str, exercise_id: str) -> Exercise:
    """The exercise ``exercise_id`` of ``lab``.

    Raises:
        GraderError: the lab or the exercise is unknown (the message lists the known ones).
    """
    found = lab_exercises(lab)
    for candidate in found:
        if candidate.id == exercise_id:
            return candidate
    raise GraderError(f'unknown exercise "{exercise_id}" in lab {lab}: known exercises are '
                      f'{", ".join(e.id for e in found)}')
