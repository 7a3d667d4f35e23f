"""The notebook dashboard, live in a real kernel, then as JupyterLab shows it.

A three-cell notebook follows two busy containers: the first cell shows the dashboard, the
second sleeps (the picture must keep moving meanwhile), the third stops it and prints what
it sampled. nbclient runs it in a real IPython kernel, which keeps the first cell's picture
up to date through its display id as a browser would. Then JupyterLab serves the executed
notebook and headless Chromium takes a screenshot of the page: the figure is there, drawn
1:1, both containers' curves in it (tab:blue and tab:orange, matplotlib's C0 and C1).

JupyterLab and Chromium run in the tests' network namespace (nothing but its loopback), with
their configuration, settings and runtime files in ``tmp_path``; none outlives the test.
Static mode (nbval, ``PYKER_NOTEBOOK_STATIC=1``) is checked in-process: one picture after
sampling.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Pyker, enter_tests_netns
from integration.test_metrics import free_port, http_get, in_tests_netns, stop, wait_for

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")
pytest.importorskip("jupyterlab")

pytestmark = [pytest.mark.requires("root", "busybox")]

TAB_BLUE, TAB_ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)
WINDOW = (1400, 1000)
NAMES = ("dash1", "dash2")
# Unequal loads keep the two curves apart: drawn over each other, tab:orange would hide most of
# tab:blue's pixels (both CPU lines at the same quota, both pids lines at one process).
BUSY = {"dash1": ("0.2", "while :; do :; done", (3, 30)),
        "dash2": ("0.5", "sleep 600 & while :; do :; done", (10, 60))}

CELLS = [
    "from pyker.metrics.dashboard import Dashboard\n"
    f"tableau = Dashboard({list(NAMES)!r}, interval=0.5, window=30)\n"
    "tableau.show()",
    "import time\ntime.sleep(3)\ntableau.live",
    "tableau.stop()\nimport json\n"
    "print(json.dumps({n: {m: [v for _, v in points] for m, points in s.items()}\n"
    "                  for n, s in tableau.data().items()}))",
]

EXECUTE = """\
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=120, kernel_name="python3").execute()
nbformat.write(nb, sys.argv[1])
"""


def _rgb(png: bytes):
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"), dtype=np.int16)


def _where(rgb, colour: tuple[int, int, int]):
    return np.argwhere((rgb == colour).all(axis=2))


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("needs headless Chromium: apt-get install -y --no-install-recommends "
                    "chromium")
    return found


@pytest.fixture(scope="module")
def busy_pair(pk: Pyker):
    for name in NAMES:  # a fraction of a core each: visible, and kind to the other tests
        cpus, script, _ = BUSY[name]
        pk("run", "-d", "--name", name, "--cpus", cpus, "busybox", "sh", "-c", script)
    yield NAMES
    pk("rm", "-f", *NAMES)


@pytest.fixture
def executed(tmp_path: Path, pk: Pyker, busy_pair):
    """The notebook, run by nbclient in a live kernel: its path."""
    path = tmp_path / "lab" / "tableau.ipynb"
    path.parent.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    env = {k: v for k, v in pk.env.items() if k != "PYKER_NOTEBOOK_STATIC"}
    subprocess.run([sys.executable, "-c", EXECUTE, str(path)], env=env, check=True,
                   capture_output=True, timeout=120, cwd=path.parent)
    return path


@pytest.fixture
def jupyterlab(tmp_path: Path):
    """A JupyterLab serving ``tmp_path/lab`` on the namespace's loopback: (url, token)."""
    token = secrets.token_hex(16)
    port = in_tests_netns(free_port)
    dirs = {name: tmp_path / name for name in ("config", "data", "runtime", "settings",
                                               "workspaces")}
    # No "would you like news?" prompt over the page (JupyterLab 4's notification setting).
    settings = dirs["settings"] / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["config"]),
           "JUPYTER_DATA_DIR": str(dirs["data"]), "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
           "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"])}
    with open(tmp_path / "jupyterlab.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
             "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path / 'lab'}"],
            env=env, stdout=log, stderr=log, preexec_fn=enter_tests_netns)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("JupyterLab answering", lambda: in_tests_netns(
            http_get, f"{url}/api/status?token={token}")[0] == 200, 60)
        yield url, token
    finally:
        stop(proc)
    # The kernel the page started is gone with the server (its connection file was ours).
    leftovers = [p for p in Path("/proc").glob("[0-9]*/cmdline")
                 if str(dirs["runtime"]).encode() in _read(p)]
    assert leftovers == []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _outputs(path: Path) -> list[list[dict]]:
    return [cell["outputs"] for cell in nbformat.read(path, as_version=4).cells]


def test_dashboard_updates_live_and_renders_in_jupyterlab(executed, jupyterlab, tmp_path):
    import base64

    show, sleep, stop_cell = _outputs(executed)
    # One picture in the first cell, replaced in place; the thread was still sampling while
    # the second cell ran; the third printed the samples behind the last picture.
    pictures = [o for o in show if "image/png" in o.get("data", {})]
    assert len(show) == len(pictures) == 1
    assert sleep[0]["data"]["text/plain"] == "True"
    data = json.loads(stop_cell[0]["text"])
    assert sorted(data) == sorted(NAMES)
    for name in NAMES:
        cpu = data[name]["cpu"]
        assert len(cpu) >= 5, f"{name}: {len(cpu)} CPU samples in ~4 s at 2 a second"
        cpus, _, (low, high) = BUSY[name]
        assert low < sum(cpu) / len(cpu) < high, f"{name} at --cpus {cpus}: {cpu}"
        assert all(p >= 1 for p in data[name]["pids"])
    png = base64.b64decode(pictures[0]["data"]["image/png"])
    figure = _rgb(png)
    blue, orange = _where(figure, TAB_BLUE), _where(figure, TAB_ORANGE)
    assert len(blue) > 200 and len(orange) > 200, "a line per container"

    url, token = jupyterlab
    shot_path = tmp_path / "jupyterlab.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-proxy-server", "--disable-background-networking", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'chromium-profile'}", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--force-color-profile=srgb",
                    f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=30000",
                    f"--screenshot={shot_path}",
                    f"{url}/lab/tree/{executed.name}?token={token}"],
                   check=True, capture_output=True, timeout=120, preexec_fn=enter_tests_netns)
    shot = _rgb(shot_path.read_bytes())
    assert shot.shape == (WINDOW[1], WINDOW[0], 3)
    assert (shot < 250).any(axis=2).mean() > 0.05, "the page is not blank"
    # The figure is in the page where its orange pixels say, 1:1: the same picture.
    found = _where(shot, TAB_ORANGE)
    assert len(found) == len(orange), "every orange pixel of the figure, and no other"
    dy, dx = found.min(axis=0) - orange.min(axis=0)
    height, width = figure.shape[:2]
    assert 0 <= dy <= WINDOW[1] - height and 0 <= dx <= WINDOW[0] - width
    region = shot[dy:dy + height, dx:dx + width]
    assert np.abs(region - figure).max() <= 2, "the dashboard drawn as the notebook holds it"


def test_static_mode_draws_once_after_sampling(pk: Pyker, busy_pair, monkeypatch, capsys):
    for key in ("PYKER_DATA_ROOT", "PYKER_RUN_ROOT", "PYKER_DAEMON_CONFIG"):
        monkeypatch.setenv(key, pk.env[key])
    monkeypatch.setenv("PYKER_NOTEBOOK_STATIC", "1")
    from pyker.metrics.dashboard import Dashboard

    tableau = Dashboard(list(NAMES), metrics=("cpu", "pids"), interval=0.5, duration=2)
    assert tableau.static
    tableau.show()  # blocks for the duration, then displays one picture
    assert not tableau.live
    assert "Image object" in capsys.readouterr().out  # outside a kernel: IPython's repr
    data = tableau.data()
    assert all(len(data[n]["cpu"]) >= 3 for n in NAMES)
    figure = _rgb(tableau.png())
    assert figure.shape[0] < figure.shape[1], "two panels: wider than tall"
    assert len(_where(figure, TAB_BLUE)) > 100 and len(_where(figure, TAB_ORANGE)) > 100


def test_live_dashboard_ends_by_itself_once_its_container_stops(pk: Pyker, monkeypatch,
                                                                 capsys):
    for key in ("PYKER_DATA_ROOT", "PYKER_RUN_ROOT", "PYKER_DAEMON_CONFIG"):
        monkeypatch.setenv(key, pk.env[key])
    from pyker.metrics import dashboard

    pk("run", "-d", "--name", "dash3", "--cpus", "0.2", "busybox", "sh", "-c",
       "while :; do :; done")
    try:
        tableau = dashboard.Dashboard(["dash3"], metrics=("cpu",), interval=0.2,
                                      static=False)
        tableau.show()  # outside a kernel, each picture is IPython's repr on stdout
        assert tableau.live and tableau in dashboard._LIVE
        again = dashboard.Dashboard(["dash3"], metrics=("cpu",), interval=0.2, static=False)
        again.show()  # the same graphs shown again: the first one stops
        assert not tableau.live and again.live
        wait_for("CPU samples", lambda: len(again.data()["dash3"]["cpu"]) >= 3, 10)
        pk("kill", "dash3")
        wait_for("the dashboard stopping", lambda: not again.live, 10)
        assert again not in dashboard._LIVE
        cpu = [v for _, v in again.data()["dash3"]["cpu"]]
        assert max(cpu) > 5 and cpu[-1] == 0, cpu  # it ran, then it stopped
    finally:
        pk("rm", "-f", "dash3")
    assert "Image object" in capsys.readouterr().out
