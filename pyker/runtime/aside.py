"""Work done beside the caller's own: in a helper process when one waits, else in a thread.

A container's start prepares two things at once: its network (a namespace, a veth pair,
an address, name files) and the rest (its cgroup, its root's mount, its spec). Both are
mostly Python. In two threads they take turns on the interpreter lock, and the start waits
for about their sum; in two processes they run on two cores. Forking a process for it
then and there costs more than it saves (the copy-on-write faults of two copies of a large
interpreter, ~5 ms each here), so a helper is made ahead of time by whoever can wait:
a fork server's spare forks one while idle (pyker.cli.assistant) and offers it here.

A helper runs one call, ``function(*args)`` pickled to it, and sends back the value or the
exception, pickled. The call must change only the kernel and the disk, not this process's
memory, and must not depend on the process it runs in: it gets the caller's environment
and umask, not its working directory.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol


class Pending(Protocol):
    def result(self):
        """The call's value, or its exception raised here; waits for its end."""


class Helper(Protocol):
    def call(self, function, args: tuple) -> Pending:
        """Hand the call over; OSError (or a pickling error) if it cannot be."""

    def forget(self) -> None:
        """Drop this process's hold on the helper (a forked child's copy)."""


_HELPERS: list[Helper] = []
_WATCHING_FORKS = False


def offer(helper: Helper) -> None:
    """Make ``helper`` available to the next :func:`start` of this process."""
    global _WATCHING_FORKS
    if not _WATCHING_FORKS:
        os.register_at_fork(after_in_child=_forget)
        _WATCHING_FORKS = True
    _HELPERS.append(helper)


def start(function, *args) -> Pending:
    """``function(*args)`` beside the caller, in a helper if one is offered, else a thread."""
    while _HELPERS:
        helper = _HELPERS.pop()
        try:
            return helper.call(function, args)
        except Exception:  # noqa: BLE001 — gone, or an unpicklable call: a thread then
            helper.forget()
    return _Thread(function, args)


def _forget() -> None:
    # A forked child (a monitor, a container's init) must not take its parent's helper.
    while _HELPERS:
        _HELPERS.pop().forget()


class _Thread:
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
        if self._error is not None:
            raise self._error
        return self._value
