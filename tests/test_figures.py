"""figures.export: formats, widths, fixed metadata, byte-identical rebuilds (SYNTHETIC data)."""
import hashlib
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from mscreview.output import figures, plotting

SCRIPT = r"""
import matplotlib; matplotlib.use("Agg")
from mscreview.output import plotting, figures
import pandas as pd
df = pd.DataFrame({"study_id": ["SynthA", "SynthB", "SynthC"], "yi": [0.2, 0.5, 0.9], "vi": [0.04, 0.09, 0.02]})
fig = plotting.forest(df, pooled={"estimate": 0.5, "ci_low": 0.2, "ci_high": 0.8, "pi_low": -0.1, "pi_high": 1.1})
figures.export(fig, "synthetic_forest", "Synthetic forest (test)", "test", data=df)
"""


@pytest.fixture
def stage(tmp_path, monkeypatch):
    monkeypatch.setenv("MSCREVIEW_STAGE", str(tmp_path))
    yield tmp_path
    plt.close("all")


def _digests(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_export_writes_all_formats_at_journal_width(stage):
    fig = plotting.funnel([0.1, 0.4, 0.6], [0.05, 0.1, 0.2])
    rec = figures.export(fig, "synthetic_funnel", "Synthetic funnel", "99_test", width="single")
    assert rec.files == tuple(f"figures/synthetic_funnel.{e}" for e in ("pdf", "svg", "png", "tiff"))
    assert rec.width_mm == 85.0
    from PIL import Image
    png = Image.open(stage / "figures" / "synthetic_funnel.png")
    assert png.size[0] == int(85 / 25.4 * 600)           # 600 dpi at 85 mm
    assert round(png.info["dpi"][0]) == 600
    tif = Image.open(stage / "figures" / "synthetic_funnel.tiff")
    assert tif.size == png.size
    pdf = (stage / "figures" / "synthetic_funnel.pdf").read_bytes()
    assert b"/FontFile2" in pdf                          # TrueType (Type 42) font embedded
    assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf
    assert b"Matplotlib" not in pdf                      # fixed Producer/Creator
    svg = (stage / "figures" / "synthetic_funnel.svg").read_text()
    assert "<dc:date>" not in svg
    assert b"tIME" not in (stage / "figures" / "synthetic_funnel.png").read_bytes()
    # record for figures/README.md
    recs = figures.read_records(stage)
    assert [r["name"] for r in recs] == ["synthetic_funnel"] and recs[0]["notebook"] == "99_test"
    assert "| `synthetic_funnel` | Synthetic funnel | `notebooks/99_test.ipynb` | 85 x" in figures.readme(recs)


def test_two_exports_are_byte_identical(stage):
    fig = plotting.forest(__import__("pandas").DataFrame(
        {"study_id": ["A", "B"], "yi": [0.1, 0.3], "vi": [0.1, 0.2]}))
    figures.export(fig, "f1", "first", "t")
    first = _digests(stage / "figures")
    figures.export(fig, "f1", "first", "t")
    assert _digests(stage / "figures") == first


def test_exports_in_two_processes_are_byte_identical(tmp_path):
    digests = []
    for run in ("a", "b"):
        env = dict(os.environ, MSCREVIEW_STAGE=str(tmp_path / run), PYTHONHASHSEED=run == "a" and "1" or "2")
        subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True)
        digests.append(_digests(tmp_path / run / "figures"))
    assert len(digests[0]) == 4
    assert digests[0] == digests[1]


def test_export_rejects_bad_name_caption_format(stage):
    fig = plotting.funnel([0.1, 0.2], [0.1, 0.1])
    with pytest.raises(ValueError, match="must match"):
        figures.export(fig, "Bad Name", "c", "t")
    with pytest.raises(ValueError, match="caption"):
        figures.export(fig, "ok", " ", "t")
    with pytest.raises(ValueError, match="unknown format"):
        figures.export(fig, "ok", "c", "t", formats=("jpg",))
    with pytest.raises(ValueError, match="width"):
        figures.export(fig, "ok", "c", "t", width="triple")


def test_style_is_a_context_not_global():
    import importlib
    before = dict(matplotlib.rcParams)
    importlib.reload(figures)
    importlib.reload(plotting)
    assert dict(matplotlib.rcParams) == before
    with figures.style():
        assert matplotlib.rcParams["pdf.fonttype"] == 42
        assert matplotlib.rcParams["svg.hashsalt"] == "mscreview"
    assert matplotlib.rcParams["pdf.fonttype"] == before["pdf.fonttype"]


def test_palette_is_okabe_ito():
    assert set(figures.PALETTE) == set(figures.OKABE_ITO.values())
    assert figures.OKABE_ITO["vermillion"] == "#D55E00" and figures.OKABE_ITO["blue"] == "#0072B2"


def test_data_hash_depends_on_data():
    import pandas as pd
    a = figures.data_hash(pd.DataFrame({"x": [1, 2]}))
    assert a == figures.data_hash(pd.DataFrame({"x": [1, 2]}))
    assert a != figures.data_hash(pd.DataFrame({"x": [1, 3]}))
    assert len(a) == 12
