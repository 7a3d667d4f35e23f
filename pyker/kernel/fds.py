"""Descriptor chores of processes that outlive who they were talking to."""

from __future__ import annotations

import os


def null_stdio() -> None:
    """Point descriptors 0, 1 and 2 at /dev/null.

    A process that holds a copy of someone's stdout keeps that pipe's reader waiting for
    EOF: `pyker run … | cat`, a notebook reading a command's output. Whoever goes on after
    its part of the conversation (a monitor past its report, a detached one, a helper that
    only waits) lets go of them this way, keeping the numbers taken.
    """
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    if null > 2:
        os.close(null)
