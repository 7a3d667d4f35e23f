"""What a check is given: the engine on the student's store, and a way to run pyker there.

The same environment variables that point the student's ``!pyker`` lines at a store
(``PYKER_DATA_ROOT``, ``PYKER_RUN_ROOT``, ``PYKER_DAEMON_CONFIG``) point the grader at it, so
the notebook's kernel, a batch worker and a test all grade the store they used. Lab files
(a seccomp profile the student writes) live under :func:`lab_dir`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB_DIR_ENV = "PYKER_LAB_DIR"


def lab_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The labs/ directory: ``$PYKER_LAB_DIR`` (batch grading, tests) or the repository's."""
    env = os.environ if environ is None else environ
    return Path(env.get(LAB_DIR_ENV) or REPO / "labs")


def lab_file(lab: str, name: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where a lab's file is read and written: ``lab_file("05-seccomp", "no-mkdir.json")``.

    Notebooks write the student's files through this, so that batch grading, which gives each
    student a labs/ directory of their own, finds them.
    """
    return lab_dir(environ) / lab / name


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """The store under grading. ``preexec`` runs in each pyker child before exec (tests put
    their commands in a network namespace of their own with it)."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    preexec: Callable[[], None] | None = None
    timeout: float = 60.0
    probe_image: str = "busybox"

    @property
    def engine(self):
        """The Python API on this store (an Engine holds only paths: one per use is free)."""
        from pyker import config
        from pyker.engine import Engine

        return Engine(config.load(dict(self.env)))

    @property
    def lab_dir(self) -> Path:
        return lab_dir(self.env)

    def pyker(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real CLI on this store (this interpreter's pyker), output captured.

        A command that outlives ``timeout`` is reported as exit status 124, as timeout(1)
        does, with what it printed so far: a check fails, the grader goes on.
        """
        # -P: the current directory (a student's files) must not shadow pyker.
        argv = [sys.executable, "-P", "-m", "pyker", *args]
        env = dict(self.env)
        env.setdefault("PYTHONPATH", str(REPO))
        try:
            return subprocess.run(argv, capture_output=True, text=True, env=env,
                                  timeout=timeout or self.timeout, preexec_fn=self.preexec,
                                  stdin=subprocess.DEVNULL, errors="replace")
        except subprocess.TimeoutExpired as err:
            out = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else ""
            return subprocess.CompletedProcess(argv, 124, out,
                                               f"timed out after {err.timeout:.0f} s")

