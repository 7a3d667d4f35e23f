"""Live graphs of a few containers in a notebook: ``docker stats`` as curves.

::

    from pyker.metrics.dashboard import Dashboard
    tableau = Dashboard(["stress1", "stress2"], metrics=("cpu", "memory", "pids"))
    tableau.show()      # the picture keeps moving while the next cells run
    ...
    tableau.stop()      # the last picture stays in the notebook

Each second a background thread reads every container's counters the way ``pyker stats``
does (:func:`pyker.runtime.stats.sample`: CPU % from usage deltas, memory without the
inactive page cache, tasks), draws a matplotlib figure and replaces the cell's picture with
it through a *display id* (``display(..., display_id=True)`` then ``handle.update(...)``):
the kernel sends an ``update_display_data`` message, and JupyterLab redraws the output where
it is, even while another cell runs. No interactive matplotlib backend is needed (ipympl is
not installed), only PNG re-renders of a figure drawn without pyplot, which is not
thread-safe.

Under nbval (or with ``PYKER_NOTEBOOK_STATIC=1``, or outside a kernel) a live picture would
be a different picture at each run: ``show()`` then samples for ``duration`` seconds and
draws once, so the notebook's committed output is a real, final picture.

matplotlib and IPython are imported when a dashboard draws, never by the CLI.
"""

from __future__ import annotations

import io
import os
import threading
import time
import weakref
from collections.abc import Sequence

from pyker.errors import UsageError

METRICS = {"cpu": "CPU % (100: one core)", "memory": "memory (MiB)", "pids": "pids"}
MIB = 1024 * 1024
#: consecutive samples where no container runs before a live dashboard stops by itself
IDLE_STOP = 3


def static_mode() -> bool:
    """True where a live picture makes no sense: ``PYKER_NOTEBOOK_STATIC=1``, a notebook run
    by nbval (pytest's PYTEST_CURRENT_TEST names an ``.ipynb`` item: the kernel inherits
    it), or no Jupyter kernel at all."""
    if os.environ.get("PYKER_NOTEBOOK_STATIC", "").lower() in ("1", "true", "yes"):
        return True
    if ".ipynb::" in os.environ.get("PYTEST_CURRENT_TEST", ""):
        return True
    try:
        from IPython import get_ipython
    except ImportError:
        return True
    shell = get_ipython()
    return shell is None or not hasattr(shell, "kernel")


class Dashboard:
    """Live graphs of ``containers`` (names or IDs).

    Args:
        containers: the containers to follow, each a graph line in every panel.
        metrics: panels, top to bottom, among ``cpu``, ``memory`` and ``pids``.
        interval: seconds between samples (and redraws).
        window: seconds of history shown.
        engine: the engine whose store names the containers (default ``Engine()``).
        static: draw once instead of live; default :func:`static_mode`.
        duration: seconds sampled before the single picture of static mode.

    Raises:
        UsageError: an unknown metric, no container, or a non-positive interval.
        ContainerNotFound: a container the store does not know.
    """

    def __init__(self, containers: Sequence[str], metrics: Sequence[str] = tuple(METRICS), *,
                 interval: float = 1.0, window: float = 60.0, engine=None,
                 static: bool | None = None, duration: float = 5.0) -> None:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown or not metrics:
            raise UsageError(f"unknown dashboard metric {unknown[0] if unknown else '(none)'}"
                             f": want some of {', '.join(METRICS)}")
        if not containers:
            raise UsageError("a dashboard needs at least one container")
        if interval <= 0 or window <= 0:
            raise UsageError(f"interval ({interval}) and window ({window}) must be positive")
        if engine is None:
            from pyker.engine import Engine

            engine = Engine()
        self.engine = engine
        self.metrics, self.interval, self.window = tuple(metrics), interval, window
        self.static = static_mode() if static is None else static
        self.duration = duration
        records = [engine.containers.resolve(c) for c in containers]
        self.names = [r.name for r in records]
        self._ids = {r.name: r.id for r in records}
        self._series: dict[str, dict[str, list[tuple[float, float]]]] = {
            n: {m: [] for m in METRICS} for n in self.names}
        self._previous: dict[str, object] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle = None
        self._plot: _Plot | None = None  # the live picture, redrawn in place
        self._draw_lock = threading.Lock()
        self._idle = 0
        self._t0 = time.monotonic()

    # -- sampling --------------------------------------------------------------------------

    def sample(self) -> bool:
        """Read every container once; True when at least one of them runs."""
        from pyker.errors import CgroupError, ContainerNotFound
        from pyker.runtime.stats import cpu_percent, is_running, sample

        t = time.monotonic() - self._t0
        running = False
        for name in self.names:
            try:
                record = self.engine.containers.load(self._ids[name])
                current = sample(record)
            except (ContainerNotFound, CgroupError):
                continue  # removed, or its cgroup went while read: its lines just end
            running = running or is_running(record)
            previous = self._previous.get(name)
            self._previous[name] = current
            with self._lock:
                series = self._series[name]
                if previous is not None:
                    series["cpu"].append((t, cpu_percent(previous, current)))
                series["memory"].append((t, current.memory / MIB))
                series["pids"].append((t, float(current.pids)))
                for points in series.values():  # what the window no longer shows
                    while points and points[0][0] < t - self.window - self.interval:
                        points.pop(0)
        return running

    def data(self) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """A copy of the samples: container → metric → ``[(seconds since start, value)]``."""
        with self._lock:
            return {n: {m: list(points) for m, points in s.items()}
                    for n, s in self._series.items()}

    # -- drawing ---------------------------------------------------------------------------

    def figure(self):
        """The current picture, as a new matplotlib Figure (drawn without pyplot)."""
        plot = _Plot(self.names, self.metrics)
        plot.update(self.data(), self.window, self.interval)
        return plot.figure

    def png(self) -> bytes:
        """The current picture as PNG bytes."""
        plot = _Plot(self.names, self.metrics)
        plot.update(self.data(), self.window, self.interval)
        return plot.png()

    def _image(self):
        from IPython.display import Image

        with self._draw_lock:  # the thread's redraws and stop()'s last one
            if self._plot is None:
                self._plot = _Plot(self.names, self.metrics)
            self._plot.update(self.data(), self.window, self.interval)
            return Image(data=self._plot.png(), format="png")

    # -- showing ---------------------------------------------------------------------------

    def show(self) -> None:
        """Display the dashboard: live (updated in place until :meth:`stop`), or, in static
        mode, one picture after ``duration`` seconds of samples."""
        from IPython.display import display

        if self.static:
            self.sample()
            deadline = time.monotonic() + self.duration
            while time.monotonic() < deadline:
                time.sleep(min(self.interval, max(0.0, deadline - time.monotonic())))
                self.sample()
            display(self._image())
            return
        if self.live:
            return
        for other in list(_LIVE):  # the same graphs shown again: the older ones stop
            if other is not self and other.names == self.names:
                other.stop()
        _LIVE.add(self)
        self.sample()
        self._handle = display(self._image(), display_id=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pyker-dashboard", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            due += self.interval
            if self._stop.wait(max(0.0, due - time.monotonic())):
                break
            running = self.sample()
            self._idle = 0 if running else self._idle + 1
            self._redraw()
            if self._idle >= IDLE_STOP:
                _LIVE.discard(self)
                break  # every container stopped: the picture stays as it ends

    def _redraw(self) -> None:
        if self._handle is not None:
            self._handle.update(self._image())

    @property
    def live(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop sampling; the picture is redrawn one last time and stays."""
        self._stop.set()
        _LIVE.discard(self)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._redraw()


#: the dashboards drawing live in this kernel (a re-run cell replaces its own)
_LIVE: weakref.WeakSet[Dashboard] = weakref.WeakSet()


class _Plot:
    """A figure with one panel per metric and one line per container in each, redrawn in
    place: only the lines' data and the limits change between two pictures, and the PNG
    is encoded from the canvas's pixels once drawn. That is about a third of the CPU time
    of a new figure and ``savefig`` each time (~70 ms instead of ~230 ms a picture), which
    matters on a lab machine whose CPUs the students are measuring."""

    def __init__(self, names: Sequence[str], metrics: Sequence[str]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        height = 2.1 * len(metrics) + 0.5
        self.figure = Figure(figsize=(8, height), dpi=100)
        self.canvas = FigureCanvasAgg(self.figure)
        # Fixed margins (inches), not a layout engine that would run at every picture.
        self.figure.subplots_adjust(left=0.9 / 8, right=1 - 0.2 / 8, bottom=0.55 / height,
                                    top=1 - 0.15 / height, hspace=0.15)
        self.axes = list(self.figure.subplots(len(metrics), 1, sharex=True,
                                              squeeze=False)[:, 0])
        self.names, self.metrics = list(names), list(metrics)
        self.lines = {}
        for ax, metric in zip(self.axes, self.metrics):
            for i, name in enumerate(self.names):
                (self.lines[name, metric],) = ax.plot([], [], color=f"C{i}", linewidth=2,
                                                      label=name)
            ax.set_ylabel(METRICS[metric])
            ax.grid(True, alpha=0.3)
            if metric == "pids":
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        self.axes[0].legend(loc="upper left", fontsize="small", ncols=min(len(names), 4))
        self.axes[-1].set_xlabel("seconds")

    def update(self, data: dict[str, dict[str, list[tuple[float, float]]]], window: float,
               interval: float) -> None:
        end = max((p[-1][0] for s in data.values() for p in s.values() if p), default=0.0)
        for ax, metric in zip(self.axes, self.metrics):
            top = 0.0
            for name in self.names:
                points = data[name][metric]
                self.lines[name, metric].set_data([p[0] for p in points],
                                                  [p[1] for p in points])
                top = max([top, *(p[1] for p in points)])
            # Room above the highest point, so a line at 100 % is not drawn on the frame.
            ax.set_ylim(0, max(top * 1.15, 1.0))
        self.axes[0].set_xlim(max(0.0, end - window), max(end, interval))

    def png(self) -> bytes:
        from PIL import Image  # matplotlib's own dependency, for its PNG writer too

        self.canvas.draw()
        pixels = Image.frombuffer("RGBA", self.canvas.get_width_height(),
                                  self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        pixels.save(buffer, format="png", compress_level=1)  # speed over a few kilobytes
        return buffer.getvalue()
