"""Work beside the caller's (pyker.runtime.aside) and the fork server's assistant that runs it
in a process of its own (pyker.cli.assistant).

The assistants here are real processes forked from the test's, as a fork server forks
them; each test reaps the one it made.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pyker.cli import assistant
from pyker.errors import ExecError, NetworkNotFound, PykerError
from pyker.runtime import aside


@pytest.fixture
def helper():
    made = assistant.fork([])
    yield made
    made.forget()
    try:
        os.waitpid(made.pid, 0)  # it exits on its socket's end of file, or after its call
    except ChildProcessError:  # reaped by the test
        pass
    aside._forget()  # not used by the test: not left for the next one


def test_without_a_helper_the_call_runs_in_a_thread():
    pending = aside.start(lambda: (os.getpid(), threading.get_ident()))
    pid, thread = pending.result()
    assert pid == os.getpid() and thread != threading.get_ident()


def test_an_offered_assistant_runs_the_calls_in_its_own_process(helper):
    aside.offer(helper)
    assert aside.start(os.getpid).result() == helper.pid
    assert aside.in_helper(os.getpid).result() == helper.pid  # free again: the next call


def test_while_the_assistant_is_busy_a_call_goes_to_a_thread_or_in_line(helper):
    aside.offer(helper)
    busy = aside.start(_after, 0.3, "slow")
    assert aside.in_helper(os.getpid) is None  # the caller does it itself
    assert aside.start(os.getpid).result() == os.getpid()
    assert busy.result() == "slow"
    assert aside.start(os.getpid).result() == helper.pid


def test_without_a_helper_in_helper_is_none():
    assert aside.in_helper(os.getpid) is None


def test_the_assistant_names_itself_in_ps(helper):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        name = Path(f"/proc/{helper.pid}/comm").read_text().strip()
        if name == assistant.NAME:
            break
        time.sleep(0.01)
    assert name == "pyker-assistant"


def test_an_error_comes_back_with_its_type_message_and_fields(helper):
    aside.offer(helper)
    with pytest.raises(NetworkNotFound) as caught:
        aside.start(_raise, NetworkNotFound("dev")).result()
    assert str(caught.value) == str(NetworkNotFound("dev"))
    assert caught.value.ref == "dev" and caught.value.exit_code == 125


def test_an_os_error_keeps_its_errno_and_path(helper):
    aside.offer(helper)
    with pytest.raises(FileNotFoundError) as caught:
        aside.start(os.stat, "/no/such/path").result()
    assert caught.value.filename == "/no/such/path"


def test_pyker_errors_survive_pickling_whatever_their_constructor():
    import pickle

    for err in (NetworkNotFound("x"), ExecError("not found", 127), PykerError("plain")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
        assert back.exit_code == err.exit_code and back.__dict__ == err.__dict__


def test_the_call_sees_the_callers_environment_umask_and_directory(helper, monkeypatch,
                                                                     tmp_path):
    monkeypatch.setenv("PYKER_ASIDE_TEST", "after the fork")
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o027)
    try:
        aside.offer(helper)
        seen = aside.start(_environment_and_umask, "PYKER_ASIDE_TEST").result()
        writer = aside.start(_write_here, "relative.txt", "here").result()
    finally:
        os.umask(old)
    assert seen == ("after the fork", 0o027)
    assert (tmp_path / "relative.txt").read_text() == "here" and writer == helper.pid


def test_an_assistant_killed_during_its_call_is_an_error_not_a_hang(helper):
    aside.offer(helper)
    pending = aside.start(time.sleep, 30)
    os.kill(helper.pid, signal.SIGKILL)
    with pytest.raises(PykerError, match="ended without a result"):
        pending.result()


def test_an_assistant_dies_with_its_command_instead_of_finishing_the_call(helper):
    command = os.fork()
    if command == 0:  # the command: hands over a long call, then is gone (killed)
        aside.offer(helper)
        aside.start(time.sleep, 30)
        os._exit(0)
    helper.forget()  # the command's socket only: its end closes with it
    os.waitpid(command, 0)
    started = time.monotonic()
    _, status = os.waitpid(helper.pid, 0)
    assert time.monotonic() - started < 10 and os.waitstatus_to_exitcode(status) == 1


def test_a_wait_interrupted_by_a_signal_can_be_resumed(helper):
    """^C during the wait: the caller asks again (to undo what the call made), and the
    outcome is still there for it."""
    class Interrupted(Exception):
        pass

    def interrupt(*_):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        aside.offer(helper)
        pending = aside.start(_after, 0.5, "made")
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Interrupted):
            pending.result()
        assert pending.result() == "made"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_an_unpicklable_call_runs_in_a_thread_and_the_assistant_stays(helper):
    aside.offer(helper)
    assert aside.start(lambda: os.getpid()).result() == os.getpid()
    assert aside.start(os.getpid).result() == helper.pid


def test_the_assistant_exits_when_its_command_lets_go_of_it(helper):
    aside.offer(helper)
    assert aside.start(os.getpid).result() == helper.pid
    aside._forget()  # as in a forked child, or at the command's exit: the socket closes
    _, status = os.waitpid(helper.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_dead_assistant_leaves_the_call_to_a_thread(helper):
    os.kill(helper.pid, signal.SIGKILL)
    os.waitpid(helper.pid, 0)
    aside.offer(helper)
    assert aside.start(os.getpid).result() == os.getpid()


def test_a_forked_child_does_not_take_its_parents_assistant(helper):
    aside.offer(helper)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, b"%d" % (len(aside._HELPERS) + len(aside._BUSY)))
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"0"
    os.close(read)
    os.close(write)
    assert aside.start(os.getpid).result() == helper.pid  # still the parent's to use


def _raise(err: BaseException) -> None:
    raise err


def _environment_and_umask(name: str) -> tuple[str | None, int]:
    mask = os.umask(0)
    os.umask(mask)
    return os.environ.get(name), mask


def _after(delay: float, value: str) -> str:
    time.sleep(delay)
    return value


def _write_here(name: str, text: str) -> int:
    Path(name).write_text(text)
    return os.getpid()
