"""What a reader sees of 03-cgroups: nbconvert renders it, headless Chromium takes a picture.

The notebook's committed outputs are rendered as they are (nothing is executed), and the
screenshot must show the live plot of the CPU-share cell (``mesures.tracer_partage``): the
matplotlib figure embedded in the page, drawn pixel for pixel where the cell's output is,
its container-1 curve (tab:blue, 75 %) above container-2's (tab:orange, 25 %).

Chromium never reaches the network: nbconvert is told to load no script from a CDN, every
host name resolves to nothing (``--host-resolver-rules``), there is no proxy and no
background networking, and the page is a local file.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("nbconvert")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "03-cgroups.ipynb"
WINDOW = (1280, 1000)
TAB_BLUE, TAB_ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # matplotlib's C0 and C1


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("needs headless Chromium: apt-get install -y --no-install-recommends "
                    "chromium")
    return found


def _plot_section() -> tuple[list[str], bytes]:
    """The ids of the cells of the CPU-share section, from its ``## `` heading to the cell
    that draws the plot, and that cell's figure (the one image/png output it has)."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    drawing = [i for i, c in enumerate(cells)
               if c["cell_type"] == "code" and "tracer_partage" in _text(c["source"])]
    assert len(drawing) == 1, "one cell draws the CPU shares"
    end = drawing[0]
    start = max(i for i in range(end) if cells[i]["cell_type"] == "markdown"
                and _text(cells[i]["source"]).startswith("## "))
    images = [o["data"] for o in cells[end]["outputs"] if "image/png" in o.get("data", {})]
    assert len(images) == 1, "its committed output is one figure"
    assert _text(images[0]["text/plain"]).startswith("<Figure size ")  # matplotlib's repr
    return [c["id"] for c in cells[start:end + 1]], base64.b64decode(_text(images[0]["image/png"]))


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value  # nbformat's multiline


def _rgb(png: bytes):
    """The picture as RGB, a transparent figure composed over the page's white."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"), dtype=np.int16)


def _where(rgb, colour: tuple[int, int, int]):
    return np.argwhere((rgb == colour).all(axis=2))


def _render(tmp_path: Path, cell_ids: list[str]) -> Path:
    """nbconvert's HTML of the notebook, with the cells of the plot's section only (a style
    added to its head hides the others), so that the plot is in the first screen."""
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(NOTEBOOK),
                    "--output-dir", str(tmp_path), "--output", "03-cgroups",
                    "--HTMLExporter.require_js_url=", "--HTMLExporter.mathjax_url="],
                   check=True, capture_output=True, timeout=120)
    html = (tmp_path / "03-cgroups.html").read_text()
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


def test_screenshot_of_03_cgroups_shows_the_cpu_share_plot(tmp_path):
    _chromium()
    section, png = _plot_section()
    figure = Image.open(io.BytesIO(png))
    assert figure.info.get("Software", "").startswith("Matplotlib")
    plot = _rgb(png)
    blue, orange = _where(plot, TAB_BLUE), _where(plot, TAB_ORANGE)
    assert len(blue) > 200 and len(orange) > 200, "both curves are drawn"
    assert np.median(blue[:, 0]) < np.median(orange[:, 0]), "container-1 above container-2"

    shot_path = tmp_path / "03-cgroups.png"
    _screenshot(_render(tmp_path, section), shot_path)
    shot = _rgb(shot_path.read_bytes())
    assert shot.shape == (WINDOW[1], WINDOW[0], 3)
    assert (shot < 250).any(axis=2).mean() > 0.02, "the page is not blank"

    # The figure is where its tab:orange pixels say, drawn 1:1: the same picture.
    found = _where(shot, TAB_ORANGE)
    assert len(found) == len(orange), "every orange pixel of the figure, and no other"
    dy, dx = found.min(axis=0) - orange.min(axis=0)
    height, width = plot.shape[:2]
    assert 0 <= dy <= WINDOW[1] - height and 0 <= dx <= WINDOW[0] - width
    region = shot[dy:dy + height, dx:dx + width]
    assert np.abs(region - plot).max() <= 2, "the plot drawn as the notebook holds it"
