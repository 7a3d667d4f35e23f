"""The grader's model, scoring, rendering, parsers of /proc files and grade files — no root,
no engine: checks here are small functions, and /proc texts are exact copies of real ones."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from grader import feedback, observe
from grader.batch import StudentGrade, discover
from grader.context import Context, lab_file
from grader.execute import Execution
from grader.export import csv_header, csv_row, write_csv, write_jsonl
from grader.model import (Check, CheckResult, Exercise, GraderError, Outcome, Unmet, failed,
                          passed, score)
from grader.registry import exercise, lab_exercises, labs
from grader.runner import run_exercise
from grader.sandbox import _copy_labs


def fixed(outcome: Outcome):
    return lambda ctx: outcome


def make(*checks: Check, all_or_nothing: bool = False, points: float = 4) -> Exercise:
    return Exercise(lab="99-test", id="demo", title="Démo", statement="Faites la démo.",
                    points=points, checks=checks, hints=("Relisez l'énoncé.",),
                    all_or_nothing=all_or_nothing)


OK, KO = passed("bien"), failed("raté")


# -- the model and the points -----------------------------------------------------------------

def test_points_are_shared_by_weight() -> None:
    ex = make(Check(id="a", description="a", run=fixed(OK)),
              Check(id="b", description="b", run=fixed(OK), weight=3))
    assert ex.share(ex.checks[0]) == 1 and ex.share(ex.checks[1]) == 3
    assert score(ex, {"a": OK, "b": KO}) == {"a": 1, "b": 0}


def test_all_or_nothing_needs_every_check_run_and_passed() -> None:
    ex = make(Check(id="a", description="a", run=fixed(OK)),
              Check(id="h", description="h", run=fixed(OK), hidden=True), all_or_nothing=True)
    assert score(ex, {"a": OK, "h": OK}) == {"a": 2, "h": 2}
    assert score(ex, {"a": OK, "h": KO}) == {"a": 0, "h": 0}
    assert score(ex, {"a": OK}) == {"a": 0, "h": 0}  # hidden not run: nothing yet


@pytest.mark.parametrize("checks", [(), ("a", "a")])
def test_exercise_refuses_empty_or_duplicate_check_ids(checks: tuple[str, ...]) -> None:
    with pytest.raises(GraderError, match="check ids must be unique"):
        make(*(Check(id=c, description=c, run=fixed(OK)) for c in checks))


def test_exercise_refuses_a_weightless_check() -> None:
    with pytest.raises(GraderError, match="weights must be positive"):
        make(Check(id="a", description="a", run=fixed(OK), weight=0))


def test_check_result_round_trips_through_json() -> None:
    r = CheckResult(lab="03-cgroups", exercise="pids", check="pids-max", description="d",
                    hidden=False, passed=False, score=0.0, max_score=2.0, message="m", hint="h",
                    evidence={"value": "max", "pid": 12})
    assert CheckResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


# -- the exercises the notebooks name ---------------------------------------------------------

REQUIRED = {"02-namespaces": {"hostname", "isolated-net"}, "03-cgroups": {"pids", "memory"},
            "04-capabilities": {"no-chown", "bind-80"},
            "05-seccomp": {"no-mkdir", "chmod-blocked"}}


def test_the_ids_the_notebooks_use_exist() -> None:
    assert set(labs()) >= set(REQUIRED)
    for lab, ids in REQUIRED.items():
        assert {e.id for e in lab_exercises(lab)} >= ids


def test_every_exercise_is_stated_in_french_with_public_checks_and_hints() -> None:
    for lab in REQUIRED:
        for ex in lab_exercises(lab):
            assert ex.public_checks and ex.hints and ex.statement and ex.title, ex.key
            assert all(c.description for c in ex.checks), ex.key
            assert all(c.hint for c in ex.public_checks), ex.key
            assert ex.points == sum(c.weight for c in ex.checks), ex.key  # a point per weight
            script = Path(__file__).parents[2] / "labs" / lab / "solutions" / f"{ex.id}.sh"
            assert script.is_file(), f"{ex.key} has no solution script {script}"


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(GraderError, match="known labs are 01-introduction, 02-namespaces"):
        lab_exercises("01-nope")
    with pytest.raises(GraderError, match="known exercises are pids, memory"):
        exercise("03-cgroups", "cpu")


# -- running checks ---------------------------------------------------------------------------

def boom(ctx: Context) -> Outcome:
    raise KeyError("CapEff")


def unmet(ctx: Context) -> Outcome:
    raise Unmet("aucun conteneur nommé « x ».", container="x")


def test_runner_keeps_going_and_tells_unmet_from_broken() -> None:
    ex = make(Check(id="unmet", description="u", run=unmet, hint="lancez-le"),
              Check(id="broken", description="b", run=boom),
              Check(id="fine", description="f", run=fixed(OK)),
              Check(id="secret", description="s", run=fixed(OK), hidden=True))
    result = run_exercise(ex, ctx=Context(env={}))
    by = {r.check: r for r in result.results}
    assert set(by) == {"unmet", "broken", "fine"}  # hidden ones wait for grading
    assert by["unmet"].message == "aucun conteneur nommé « x »." and by["unmet"].error == ""
    assert by["unmet"].evidence == {"container": "x"} and by["unmet"].hint == "lancez-le"
    assert not by["broken"].passed and "KeyError: 'CapEff'" in by["broken"].message
    assert "boom" in by["broken"].error  # the traceback, for the teacher
    assert by["fine"].passed and by["fine"].hint == ""
    assert result.hidden_pending == 1 and not result.passed
    graded = run_exercise(ex, hidden=True, ctx=Context(env={}))
    assert graded.hidden_pending == 0 and len(graded.results) == 4


# -- what the student sees --------------------------------------------------------------------

def result_of(*outcomes: tuple[str, Outcome, bool], ran_hidden: bool = False):
    checks = [Check(id=i, description=i, run=fixed(o), hidden=h, hint=f"indice {i}")
              for i, o, h in outcomes]
    return run_exercise(make(*checks), hidden=ran_hidden, ctx=Context(env={}))


def test_summary_is_honest_about_hidden_checks() -> None:
    three_two = result_of(("a", OK, False), ("b", OK, False), ("c", OK, False),
                          ("x", OK, True), ("y", OK, True))
    assert feedback.summary(three_two) == ("3/3 vérifications publiques réussies ; "
                                           "2 autres sont faites à la correction.")
    one = result_of(("a", KO, False), ("x", OK, True))
    assert feedback.summary(one) == ("0/1 vérification publique réussie ; "
                                     "1 autre est faite à la correction.")
    none = result_of(("a", OK, False), ("b", KO, False))
    assert feedback.summary(none) == "1/2 vérifications publiques réussies."
    graded = result_of(("a", OK, False), ("x", KO, True), ran_hidden=True)
    assert feedback.summary(graded) == ("1/1 vérification publique réussie ; "
                                        "vérifications cachées : 0/1.")


def test_text_shows_marks_reasons_and_how_to_get_a_hint() -> None:
    result = result_of(("a", passed("pids.max vaut 50."), False),
                       ("b", failed("pids.max vaut max, attendu 50."), False))
    text = feedback.render_text(result)
    assert "✓ a : pids.max vaut 50." in text.splitlines()
    assert "✗ b : pids.max vaut max, attendu 50." in text.splitlines()
    assert text.splitlines()[-1] == 'Un indice ? check("99-test", "demo", hint=True)'
    hinted = feedback.render_text(result, hint=True).splitlines()
    assert hinted[-2:] == ["Indice : indice b", "Indice : Relisez l'énoncé."]


def test_html_escapes_what_the_kernel_said() -> None:
    result = result_of(("a", failed("sortie : <script>x</script> & co"), False))
    html = feedback.render_html(result)
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in html and "<script>" not in html
    assert "✗" in html and "0/1 vérification publique réussie." in html


def test_outside_the_lab_vm_check_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    feedback.check("03-cgroups", "pids")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "VM du TP" in out and "root" in out


# -- /proc parsers, on real texts -------------------------------------------------------------

STATUS = """Name:\thttpd
Umask:\t0022
State:\tS (sleeping)
Pid:\t20442
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
CapInh:\t0000000000000000
CapPrm:\t0000000000000400
CapEff:\t0000000000000400
CapBnd:\t0000000000000400
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t2
"""


def test_status_uids_capabilities_and_seccomp() -> None:
    status = observe.parse_status(STATUS)
    assert observe.uids(status) == (1000, 1000, 1000, 1000)
    assert status["Seccomp"] == "2"
    sets = observe.capability_sets(status)
    assert sets["CapEff"] == {"CAP_NET_BIND_SERVICE"} and sets["CapAmb"] == frozenset()


def test_cgroup_membership_v1_hybrid_and_v2_lines() -> None:
    text = ("9:name=systemd:/\n8:pids:/pyker/abc\n2:cpu,cpuacct:/pyker/abc\n0::/\n")
    assert observe.parse_cgroup_membership(text) == [
        ("9", ("name=systemd",), "/"), ("8", ("pids",), "/pyker/abc"),
        ("2", ("cpu", "cpuacct"), "/pyker/abc"), ("0", (), "/")]


def test_net_dev_interfaces() -> None:
    text = ("Inter-|   Receive                            |  Transmit\n"
            " face |bytes    packets errs drop fifo frame|bytes    packets\n"
            "    lo:       0       0    0    0    0     0        0       0\n"
            "  eth0:    1042      12    0    0    0     0      866       9\n")
    assert observe.parse_net_dev(text) == ["lo", "eth0"]


def test_tcp_listeners_from_tcp6() -> None:
    text = ("  sl  local_address                         remote_address                        "
            "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 "
            "0A 00000000:00000000 00:00000000 00000000  1000        0 749830 1 0 100 0 0 10 0\n"
            "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0"
            "        0 749831 1 0 20 4 30 10 -1\n")
    assert observe.parse_tcp(text) == [observe.Listener(
        address="00000000000000000000000000000000", port=80, uid=1000, inode=749830)]


# -- where lab files are ----------------------------------------------------------------------

def test_lab_file_follows_pyker_lab_dir(tmp_path: Path) -> None:
    assert lab_file("05-seccomp", "no-mkdir.json", {"PYKER_LAB_DIR": str(tmp_path)}) == \
        tmp_path / "05-seccomp" / "no-mkdir.json"
    assert lab_file("05-seccomp", "no-mkdir.json", {}).parts[-3:] == \
        ("labs", "05-seccomp", "no-mkdir.json")


def test_sandbox_labs_leave_out_solutions_and_student_files(tmp_path: Path) -> None:
    src = tmp_path / "labs"
    for rel in ("05-seccomp/solutions/no-mkdir.json", "05-seccomp/no-mkdir.json",
                "05-seccomp/default-no-chmod.json", "03-cgroups/stress/Dockerfile"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("{}")
    dest = tmp_path / "copy"
    _copy_labs(src, dest, {"05-seccomp/no-mkdir.json"})
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "03-cgroups/stress/Dockerfile", "05-seccomp/default-no-chmod.json"]


# -- submissions and grade files --------------------------------------------------------------

def test_discover_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "03-cgroups.ipynb").write_text("{}")
    (tmp_path / "bob" / "brouillon.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "notes.txt").write_text("")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    found = discover(tmp_path, "03-cgroups")
    assert [(s.student, s.notebook and s.notebook.name) for s in found] == [
        ("alice", "alice.ipynb"), ("bob", "03-cgroups.ipynb"), ("carol", None)]
    assert found[2].problem == "aucun notebook (.ipynb) dans le dossier"
    with pytest.raises(GraderError, match="does not exist"):
        discover(tmp_path / "missing", "03-cgroups")


def sample_grade() -> StudentGrade:
    results = []
    for ex in lab_exercises("03-cgroups"):
        for c in ex.checks:
            ok = ex.id == "pids" or c.id == "running"
            results.append(CheckResult(lab=ex.lab, exercise=ex.id, check=c.id,
                                       description=c.description, hidden=c.hidden, passed=ok,
                                       score=ex.share(c) if ok else 0.0, max_score=ex.share(c),
                                       message="bien" if ok else "memory.max vaut max"))
    return StudentGrade(student="bob", notebook="bob.ipynb",
                        execution=Execution(status="timeout", reason="cellule 3 : trop long"),
                        results=tuple(results))


def test_csv_has_totals_exercise_scores_and_reasons(tmp_path: Path) -> None:
    assert csv_header("03-cgroups") == [
        "student", "notebook", "notebook_status", "notebook_reason", "score", "max_score",
        "pids", "memory", "pids/running", "pids/pids-max", "pids/fork-limit",
        "memory/running", "memory/memory-limit", "cleanup"]
    assert csv_row("03-cgroups", sample_grade()) == [
        "bob", "bob.ipynb", "timeout", "cellule 3 : trop long", "5", "7", "4", "1",
        "ok", "ok", "ok", "ok", "échec : memory.max vaut max", ""]
    write_csv("03-cgroups", [sample_grade()], tmp_path / "g.csv")
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as f:
        assert list(csv.DictReader(f))[0]["memory/memory-limit"] == "échec : memory.max vaut max"


def test_jsonl_has_one_line_per_check_with_the_run(tmp_path: Path) -> None:
    write_jsonl([sample_grade()], tmp_path / "r.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    assert lines[-1] | {"evidence": None} == {
        "student": "bob", "notebook": "bob.ipynb", "notebook_status": "timeout",
        "notebook_reason": "cellule 3 : trop long", "lab": "03-cgroups", "exercise": "memory",
        "check": "memory-limit", "description": "la limite mémoire de son cgroup vaut 64 Mio",
        "hidden": False, "passed": False, "score": 0.0, "max_score": 2.0,
        "message": "memory.max vaut max", "hint": "", "evidence": None, "error": ""}
