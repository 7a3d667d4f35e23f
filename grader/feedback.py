"""What the student sees in the notebook: ✓/✗ per check, the reason, hints on request.

``check("03-cgroups", "pids")`` runs the public checks on the store the notebook's ``!pyker``
lines use, and shows one line per check and a summary that says honestly how many hidden
checks remain for grading time. In a Jupyter kernel the result is HTML (with a text/plain
twin, which nbval compares); elsewhere plain text. Hints come with ``hint=True`` or, when
ipywidgets is there, from a button.

The checks read the kernel's state, so they need root on a Linux host with pyker: anywhere
else (Binder) ``check`` says so in one line and checks nothing.
"""

from __future__ import annotations

import html
import os
import sys

from grader.model import ExerciseResult

PASS, FAIL = "✓", "✗"
NEEDS_LAB_VM = ("⚠ Cette vérification lit l'état réel du noyau (conteneurs, cgroups, /proc) : "
                "lancez-la sur la VM du TP, en root, avec pyker installé.")


def lab_vm_missing() -> str | None:
    """Why checks cannot run here (French, one line), or None on the lab VM."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return NEEDS_LAB_VM
    try:
        import pyker  # noqa: F401
    except ImportError:
        return NEEDS_LAB_VM
    return None


def summary(result: ExerciseResult) -> str:
    public = result.public
    ok = sum(r.passed for r in public)
    noun = "vérification publique réussie" if len(public) <= 1 else \
        "vérifications publiques réussies"
    text = f"{ok}/{len(public)} {noun}"
    pending = result.hidden_pending
    if pending == 1:
        text += " ; 1 autre est faite à la correction"
    elif pending > 1:
        text += f" ; {pending} autres sont faites à la correction"
    elif result.ran_hidden:
        hidden = [r for r in result.results if r.hidden]
        if hidden:
            text += f" ; vérifications cachées : {sum(r.passed for r in hidden)}/{len(hidden)}"
    return text + "."


def hints_of(result: ExerciseResult) -> list[str]:
    """The failing checks' own hints first, then the exercise's general ones."""
    own = [r.hint for r in result.results if not r.passed and r.hint]
    return own + [h for h in result.exercise.hints if h not in own]


def render_text(result: ExerciseResult, *, hint: bool = False) -> str:
    ex = result.exercise
    lines = [f"{ex.lab} / {ex.id} — {ex.title}", f"  {ex.statement}"]
    for r in result.results:
        mark = PASS if r.passed else FAIL
        tag = " (cachée)" if r.hidden else ""
        lines.append(f"{mark} {r.check}{tag} : {r.message}")
    lines.append(summary(result))
    if hint:
        lines += [f"Indice : {h}" for h in hints_of(result)]
    elif not all(r.passed for r in result.results) and hints_of(result):
        lines.append(f'Un indice ? check("{ex.lab}", "{ex.id}", hint=True)')
    return "\n".join(lines)


def render_html(result: ExerciseResult, *, hint: bool = False) -> str:
    ex = result.exercise
    esc = html.escape
    rows = []
    for r in result.results:
        color = "#1a7f37" if r.passed else "#cf222e"
        mark = PASS if r.passed else FAIL
        tag = " <em>(cachée)</em>" if r.hidden else ""
        rows.append(f'<li style="list-style:none"><span style="color:{color};'
                    f'font-weight:bold">{mark}</span> <code>{esc(r.check)}</code>{tag} : '
                    f"{esc(r.message)}</li>")
    parts = [f'<div class="pyker-grader"><p><strong>{esc(ex.lab)} / {esc(ex.id)}</strong> — '
             f"{esc(ex.title)}<br><small>{esc(ex.statement)}</small></p>",
             f'<ul style="padding-left:0.5em">{"".join(rows)}</ul>',
             f"<p>{esc(summary(result))}</p>"]
    if hint:
        parts.append("".join(f"<p>💡 {esc(h)}</p>" for h in hints_of(result)))
    parts.append("</div>")
    return "".join(parts)


def _kernel():
    """The IPython shell when running in a Jupyter kernel, else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def show(result: ExerciseResult, *, hint: bool = False) -> None:
    """Display ``result``: HTML with a text twin in Jupyter, text elsewhere."""
    if _kernel() is None:
        print(render_text(result, hint=hint))
        return
    from IPython.display import display

    display({"text/html": render_html(result, hint=hint),
             "text/plain": render_text(result, hint=hint)}, raw=True)
    if not hint and not all(r.passed for r in result.results) and hints_of(result):
        _hint_button(result)


def _hint_button(result: ExerciseResult) -> None:
    """One hint per click, if ipywidgets is installed; the text line says how otherwise."""
    try:
        import ipywidgets
    except ImportError:
        return
    from IPython.display import display

    hints = hints_of(result)
    button = ipywidgets.Button(description="Afficher un indice", icon="lightbulb-o")
    out = ipywidgets.Output()
    shown = []

    def on_click(_button) -> None:
        if len(shown) < len(hints):
            shown.append(hints[len(shown)])
            with out:
                print(f"💡 {shown[-1]}")
        if len(shown) == len(hints):
            button.disabled = True

    button.on_click(on_click)
    display(ipywidgets.VBox([button, out]))


def check(lab: str, exercise_id: str, *, hint: bool = False) -> None:
    """Check an exercise from a notebook: ``check("03-cgroups", "pids")``.

    Runs the public checks on the store this kernel's ``!pyker`` lines use and shows the
    result; hidden checks are counted, not run. Off the lab VM, says so in one line.
    """
    missing = lab_vm_missing()
    if missing:
        print(missing)
        return
    from grader.runner import grade

    show(grade(lab, exercise_id, hidden=False), hint=hint)
