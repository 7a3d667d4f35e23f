"""What a reader sees of the notebooks' plots: nbconvert renders, headless Chromium takes a picture.

The committed outputs are rendered as they are (nothing is executed), and for each row of
``PLOTS`` the screenshot must show the figure of the cell that draws it, embedded in the page
and drawn pixel for pixel where the cell's output is. The figures, and what is checked of each
(matplotlib's default colours: C0 tab:blue, C1 tab:orange, C2 tab:green):

- 03-cgroups, ``mesures.tracer_partage``: each container's share of one core over 8 s, with
  768 and 256 CPU shares; container-1's curve (tab:blue, near 75 %) above container-2's
  (tab:orange, near 25 %).
- 11-network, ``reseau.tracer_repartition``: bars of the requests each ``es`` server answered;
  one client's 20 requests (tab:blue) split 10 and 10 by the DNS round robin, so two blue bars
  of one height, and 10 fresh clients' requests (tab:orange), half the blue bars' area.
- 12-logs-monitoring, the ``PROMETHEUS.plage`` cell: Prometheus's
  ``rate(container_cpu_usage_seconds_total[10s])`` of two containers, with grey dashed guides
  at 1.0 (``--cpuset-cpus 0``, one core) and 0.5 (``--cpus 0.5``); n12-limite's curve
  (tab:blue) lies on the 0.5 guide, under n12-stress's (tab:orange), which is not above 1.0.
- 12-logs-monitoring, the live ``Dashboard`` (not a matplotlib ``Figure`` output but the
  ``Image`` its display handle redraws, so another way into the page): its CPU panel (top
  half) has n12-stress (tab:blue) above n12-limite (tab:orange), as Prometheus saw them.

Set ``PYKER_SCREENSHOTS`` to a directory to keep a copy of each screenshot there.

Chromium never reaches the network: nbconvert is told to load no script from a CDN, every
host name resolves to nothing (``--host-resolver-rules``), there is no proxy and no
background networking, and the page is a local file.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("nbconvert")

REPO = Path(__file__).resolve().parents[2]
WINDOW = (1280, 1000)
TAB_BLUE, TAB_ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # matplotlib's C0 and C1
GREY = (0x80, 0x80, 0x80)  # matplotlib's "grey", the guides of 12's Prometheus plot


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value  # nbformat's multiline


def _rgb(png: bytes):
    """The picture as RGB, a transparent figure composed over the page's white."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"), dtype=np.int16)


def _mask(rgb, colour: tuple[int, int, int]):
    return (rgb == colour).all(axis=2)


def _where(rgb, colour: tuple[int, int, int]):
    return np.argwhere(_mask(rgb, colour))


def _bars(rgb, colour: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(width, height) of each bar of that colour standing on the lowest row it reaches; a
    legend's swatch, which stands on nothing, is not one."""
    mask = _mask(rgb, colour)
    bottom = np.flatnonzero(mask.any(axis=1)).max()
    columns = np.flatnonzero(mask[bottom])
    bars = []
    for run in np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1):
        upward = mask[:bottom + 1, run[len(run) // 2]][::-1]
        bars.append((len(run), int(upward.argmin()) if not upward.all() else len(upward)))
    return bars


# What each figure must show; they see the figure's own pixels, before any rendering.

def _cpu_shares(plot) -> None:
    blue, orange = _where(plot, TAB_BLUE), _where(plot, TAB_ORANGE)
    assert len(blue) > 200 and len(orange) > 200, "both curves are drawn"
    assert np.median(blue[:, 0]) < np.median(orange[:, 0]), "container-1 above container-2"


def _round_robin(plot) -> None:
    blue, orange = _bars(plot, TAB_BLUE), _bars(plot, TAB_ORANGE)
    assert len(blue) == 2 and orange, f"both distributions' bars are drawn: {blue}, {orange}"
    (_, one), (_, other) = blue
    assert abs(one - other) <= 1, f"one client's requests split evenly: heights {one}, {other}"
    area = sum(w * h for w, h in orange) / sum(w * h for w, h in blue)
    assert abs(area - 0.5) < 0.02, f"10 requests against 20, bars of one width: {area:.3f}"


def _prometheus(plot) -> None:
    grey = _mask(plot, GREY).sum(axis=1)
    one_core, half = sorted(np.argsort(-grey)[:2])
    # Dashed, a guide colours about half of the axes' width; the guides' labels, a few pixels.
    assert grey[half] > plot.shape[1] / 3, "the dashed guides at 1.0 and 0.5 cross the axes"
    # The legend is above the one-core guide, and no curve may be: keep the curves only.
    blue = np.median(_where(plot[one_core - 3:], TAB_BLUE)[:, 0]) + one_core - 3
    orange = np.median(_where(plot[one_core - 3:], TAB_ORANGE)[:, 0]) + one_core - 3
    assert abs(blue - half) <= 4, f"n12-limite on its --cpus 0.5 quota: row {blue} vs {half}"
    assert one_core - 3 <= orange < blue - 5, "n12-stress above n12-limite, at most one core"


def _dashboard(plot) -> None:
    cpu = plot[:plot.shape[0] // 2]
    stress, limited = _where(cpu, TAB_BLUE), _where(cpu, TAB_ORANGE)
    assert len(stress) > 200 and len(limited) > 200, "both CPU curves are drawn"
    assert np.median(stress[:, 0]) < np.median(limited[:, 0]), "n12-stress above n12-limite"


@dataclass(frozen=True, slots=True)
class Plot:
    name: str  # the screenshot's, and the test's id
    notebook: str  # path from the repository's root
    marker: str  # in the source of one code cell only: the cell that draws the figure
    check: Callable[..., None]  # given the figure's RGB array, asserts what it shows
    output: str = "<Figure size "  # how its text/plain begins (matplotlib's repr)
    anchor: tuple[int, int, int] = TAB_ORANGE  # a colour only the figure has on the page


PLOTS = (
    Plot("03-cgroups", "notebooks/03-cgroups.ipynb", "tracer_partage", _cpu_shares),
    Plot("11-network", "notebooks/11-network.ipynb", "tracer_repartition", _round_robin),
    Plot("12-logs-monitoring", "notebooks/12-logs-monitoring.ipynb", "PROMETHEUS.plage",
         _prometheus),
    Plot("12-logs-monitoring-dashboard", "notebooks/12-logs-monitoring.ipynb", "Dashboard(",
         _dashboard, output="<IPython.core.display.Image object>"),
)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("needs headless Chromium: apt-get install -y --no-install-recommends "
                    "chromium")
    return found


def _plot_cells(plot: Plot) -> tuple[list[str], bytes]:
    """The ids of the cells to show: the ``## `` heading of the drawing cell's section, the
    markdown just before the drawing cell, and that cell; and its figure (its one image/png
    output)."""
    cells = json.loads((REPO / plot.notebook).read_text())["cells"]
    drawing = [i for i, c in enumerate(cells)
               if c["cell_type"] == "code" and plot.marker in _text(c["source"])]
    assert len(drawing) == 1, f"one cell of {plot.notebook} holds {plot.marker!r}"
    end = drawing[0]
    heading = max(i for i in range(end) if cells[i]["cell_type"] == "markdown"
                  and _text(cells[i]["source"]).startswith("## "))
    lead = end
    while lead > heading + 1 and cells[lead - 1]["cell_type"] == "markdown":
        lead -= 1
    images = [o["data"] for o in cells[end]["outputs"] if "image/png" in o.get("data", {})]
    assert len(images) == 1, "its committed output is one figure"
    assert _text(images[0]["text/plain"]).startswith(plot.output)
    ids = [cells[heading]["id"]] + [c["id"] for c in cells[lead:end + 1]]
    return ids, base64.b64decode(_text(images[0]["image/png"]))


def _render(tmp_path: Path, notebook: Path, cell_ids: list[str]) -> Path:
    """nbconvert's HTML of the notebook, with the listed cells only (a style added to its
    head hides the others), so that the plot is in the first screen."""
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(notebook),
                    "--output-dir", str(tmp_path), "--output", notebook.stem,
                    "--HTMLExporter.require_js_url=", "--HTMLExporter.mathjax_url="],
                   check=True, capture_output=True, timeout=120)
    html = (tmp_path / f"{notebook.stem}.html").read_text()
    # Mermaid's loader (a CDN URL nbconvert cannot be told to drop) imports only for a
    # diagram, and the notebook has none: no script of the page asks for the network.
    assert '<div class="jp-Mermaid">' not in html
    assert "https://cdnjs" not in html.replace(
        "https://cdnjs.cloudflare.com/ajax/libs/mermaid", "")
    shown = "".join(f':not([id="cell-id={cell_id}"])' for cell_id in cell_ids)
    only = f"<style>.jp-Cell{shown} {{ display: none; }}</style>"
    page = tmp_path / "plot-cell.html"
    page.write_text(html.replace("</head>", only + "\n</head>", 1))
    return page


def _screenshot(page: Path, out: Path) -> None:
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-proxy-server", "--disable-background-networking",
                    "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run",
                    f"--user-data-dir={out.parent / 'chromium-profile'}",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    "--force-color-profile=srgb", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    f"--screenshot={out}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    keep = os.environ.get("PYKER_SCREENSHOTS")
    if keep:  # for a person to look at, before any assertion can fail
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, Path(keep) / out.name)


@pytest.mark.parametrize("plot", PLOTS, ids=[p.name for p in PLOTS])
def test_screenshot_shows_the_committed_plot(plot: Plot, tmp_path):
    _chromium()
    cells, png = _plot_cells(plot)
    if plot.output.startswith("<Figure"):
        assert Image.open(io.BytesIO(png)).info.get("Software", "").startswith("Matplotlib")
    figure = _rgb(png)
    plot.check(figure)

    shot_path = tmp_path / f"{plot.name}.png"
    _screenshot(_render(tmp_path, REPO / plot.notebook, cells), shot_path)
    shot = _rgb(shot_path.read_bytes())
    assert shot.shape == (WINDOW[1], WINDOW[0], 3)
    assert (shot < 250).any(axis=2).mean() > 0.02, "the page is not blank"

    # The figure is where its anchor-coloured pixels say, drawn 1:1: the same picture.
    expected, found = _where(figure, plot.anchor), _where(shot, plot.anchor)
    assert len(expected) > 100, "the anchor colour marks the figure"
    assert len(found) == len(expected), "every anchor pixel of the figure, and no other"
    dy, dx = found.min(axis=0) - expected.min(axis=0)
    height, width = figure.shape[:2]
    assert 0 <= dy <= WINDOW[1] - height and 0 <= dx <= WINDOW[0] - width, "all on screen"
    region = shot[dy:dy + height, dx:dx + width]
    assert np.abs(region - figure).max() <= 2, "the plot drawn as the notebook holds it"
