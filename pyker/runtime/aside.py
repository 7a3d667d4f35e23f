"""Work done beside the caller's own: in a helper process when one waits, else in a thread.

A container's start prepares two things at once: its network (a namespace, a veth pair,
an address, name files) and the rest (its cgroup, its root's mount, its spec). Both are
mostly Python. In two threads they take turns on the interpreter lock, and the start waits
for about their sum; in two processes they run on two cores. Forking a process for it
then and there costs more than it saves (the copy-on-write faults of two copies of a large
interpreter, ~5 ms each here), so a helper is made ahead of time by whoever can wait:
the fork server forks one with each spare (pyker.cli.assistant), offered here to the
command the spare becomes.

A helper runs calls one at a time, each ``function(*args)`` pickled to it, and sends back
the value or the exception, pickled; while it runs one, another call goes to a thread. A
call must change only the kernel and the disk, not this process's memory, and must not
depend on the process it runs in: it gets the caller's environment, umask and working
directory (by its path).
"""

from __future__ import annotations

import os
import threading
from typing import Protocol


class Pending(Protocol):
    received: bool  # the outcome is in (result() returns or raises the call's own)

    def result(self):
        """The call's value, or its exception raised here; waits for its end."""


class Helper(Protocol):
    def call(self, function, args: tuple) -> Pending:
        """Hand the call over; OSError (or a pickling error) if it cannot be."""

    def forget(self) -> None:
        """Drop this process's hold on the helper (a forked child's copy)."""


_HELPERS: list[Helper] = []  # free
_BUSY: list[Helper] = []     # running a call
_WATCHING_FORKS = False


def offer(helper: Helper) -> None:
    """Make ``helper`` available to this process's next call beside its work."""
    global _WATCHING_FORKS
    if not _WATCHING_FORKS:
        os.register_at_fork(after_in_child=_forget)
        _WATCHING_FORKS = True
    _HELPERS.append(helper)


def start(function, *args) -> Pending:
    """``function(*args)`` beside the caller, in a helper if one is free, else a thread."""
    pending = in_helper(function, *args)
    return pending if pending is not None else _Thread(function, args)


def in_helper(function, *args) -> Pending | None:
    """``function(*args)`` in a helper if one is free; None if none is (the caller does
    it in line, for work that a thread would only slow down)."""
    while _HELPERS:
        helper = _HELPERS.pop()
        try:
            pending = helper.call(function, args)
        except OSError:  # gone
            helper.forget()
            continue
        except Exception:  # noqa: BLE001 — a call that cannot travel (unpicklable)
            _HELPERS.append(helper)
            return None
        _BUSY.append(helper)
        return _Lent(helper, pending)
    return None


def _forget() -> None:
    # A forked child (a monitor, a container's init) must not take its parent's helpers,
    # nor keep them alive by holding their sockets.
    for helpers in (_HELPERS, _BUSY):
        while helpers:
            helpers.pop().forget()


class _Lent:
    """A helper's call; the helper is free again once the outcome is in."""

    def __init__(self, helper: Helper, pending: Pending) -> None:
        self._helper = helper
        self._pending = pending

    @property
    def received(self) -> bool:
        return self._pending.received

    def result(self):
        try:
            return self._pending.result()
        finally:
            if self._pending.received and self._helper in _BUSY:
                _BUSY.remove(self._helper)
                _HELPERS.append(self._helper)


class _Thread:
    received = False

    def __init__(self, function, args: tuple) -> None:
        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self._thread.start()

    def _run(self, function, args: tuple) -> None:
        try:
            self._value = function(*args)
        except BaseException as err:  # noqa: BLE001 — handed to the caller by result()
            self._error = err

    def result(self):
        self._thread.join()
        self.received = True
        if self._error is not None:
            raise self._error
        return self._value
