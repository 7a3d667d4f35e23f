"""Which stages a build needs: the target, and every stage it reaches through ``FROM`` or
``COPY --from`` (the classic builder skips the others, as BuildKit does)."""

from __future__ import annotations

from pyker.build import instructions as ins
from pyker.build.substitution import expand
from pyker.errors import BuildError


def target(dockerfile, name: str) -> ins.Stage:
    """The stage ``--target`` names, or the last one."""
    if not name:
        return dockerfile.stages[-1]
    stage = dockerfile.stage(name)
    if stage is None:
        raise BuildError(f"failed to reach build target {name} in Dockerfile")
    return stage


def reference(dockerfile, word: str, before: int) -> int | None:
    """The index of the stage ``word`` names (name or number), among those before."""
    for stage in dockerfile.stages[:before]:
        if word.lower() in (stage.name, str(stage.index)) and stage.name != "":
            return stage.index
        if word.isdigit() and int(word) == stage.index:
            return stage.index
    return None


def needed(dockerfile, index: int, meta_args: dict[str, str], escape: str) -> set[int]:
    """The target and every stage it reaches through FROM or COPY --from."""
    found, todo = set(), [index]
    while todo:
        i = todo.pop()
        if i in found:
            continue
        found.add(i)
        stage = dockerfile.stages[i]
        base = expand(stage.base, meta_args, escape=escape)
        refs = [reference(dockerfile, base, i) if not base.isdigit() else None]
        for inst in stage.instructions:
            if isinstance(inst, ins.Copy) and inst.from_:
                refs.append(inst.from_stage if inst.from_stage is not None
                            else reference(dockerfile, inst.from_, len(dockerfile.stages)))
        todo.extend(r for r in refs if r is not None and r != i)
    return found
