"""Journal-ready output (issue 9, items 3-5): stored precision, the seaborn theme kept inside the
export context, display names instead of slugs, metafor-style clipped intervals, figures laid out
for the width they are exported at. All data SYNTHETIC (made up here, from no study)."""
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mscreview.output import figures, numbers, plotting, tables

LONG = ["Synthetic meta-analysis of cell therapy in children with cerebral palsy, GMFM-88 at 12 months "
        "(k = 7) [measure not stated]", "Short label", "Another synthetic published review with a long name"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def stage(tmp_path, monkeypatch):
    monkeypatch.setenv("MSCREVIEW_STAGE", str(tmp_path))
    return tmp_path


# ---------------------------------------------------------------------------
# Stored precision
# ---------------------------------------------------------------------------

def test_fixed_precision_by_hand():
    assert numbers.SIGNIFICANT == 6
    assert numbers.fixed(1.581800768587535) == 1.5818               # 1.58180|0768... -> 6 digits
    assert numbers.fixed(-7.921693796297478) == -7.92169
    assert numbers.fixed(89.44671457811212) == 89.4467
    assert numbers.fixed(2.2886e-26) == 0.0                         # below 1e-12: stored as 0
    assert str(numbers.fixed(-1e-17)) == "0.0"                      # and never "-0.0"
    assert numbers.fixed(1234567.0) == 1234570.0


def test_noise_in_the_15th_digit_writes_the_same_bytes(stage):
    clean = 0.1234567890123
    noisy = clean * (1 + 3e-15)
    assert noisy != clean
    for i, v in enumerate((clean, noisy)):
        df = pd.DataFrame({"k": [2, 3], "estimate": [v, -v], "label": ["a", "b"], "mixed": [v, "text"]})
        tables.write_table(df, f"t{i}", "Synthetic", "99_test")
        numbers.save({"x.estimate": v, "x.k": 2, "x.list": [v, 1]}, "99_test")
        (stage / f"r{i}.json").write_text(numbers.dumps(json.loads(
            (stage / "records" / "99_test.results.json").read_text())))
    d = stage / "review" / "tables"
    for ext in ("csv", "md", "tex"):
        assert (d / f"t0.{ext}").read_text().replace("t0", "t") == (d / f"t1.{ext}").read_text().replace("t1", "t")
    assert (d / "t0.csv").read_text().splitlines()[1] == "2,0.123457,a,0.123457"   # ints stay ints
    assert (stage / "r0.json").read_bytes() == (stage / "r1.json").read_bytes()
    saved = json.loads((stage / "r0.json").read_text())
    assert saved == {"x.estimate": 0.123457, "x.k": 2, "x.list": [0.123457, 1]}
    assert isinstance(saved["x.k"], int)


# ---------------------------------------------------------------------------
# Theme inside the export context only
# ---------------------------------------------------------------------------

def _rc():
    return {k: (str(v)) for k, v in mpl.rcParams.items()}


def test_plotting_functions_leave_global_rcparams_alone(stage):
    before = _rc()
    df = pd.DataFrame({"study_id": ["A", "B", "C"], "yi": [0.1, 0.4, 0.2], "vi": [0.1, 0.05, 0.2]})
    fig = plotting.forest(df)
    plotting.evidence_map(pd.DataFrame([[3, 0], [1, 17]], index=["function", "safety"],
                                       columns=["bone_marrow", "adipose"]))
    plotting.distribution(["intravenous", "intrathecal", "intravenous"])
    plotting.distribution([1e6, 2e6, 5e7], kind="hist", log=True)
    figures.export(fig, "rc_forest", "Synthetic", "99_test", formats=("svg",))
    assert _rc() == before
    # inside the style, seaborn's ticks style and paper context are in force under the review's own
    with figures.style():
        assert mpl.rcParams["font.size"] == 7.0 and mpl.rcParams["svg.hashsalt"] == "mscreview"
        assert mpl.rcParams["xtick.bottom"] is True and mpl.rcParams["axes.grid"] is False


# ---------------------------------------------------------------------------
# Labels: display names, plurals, wrapping
# ---------------------------------------------------------------------------

def _all_text(fig):
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def test_no_slug_reaches_a_figure():
    tab = pd.DataFrame([[3, 0], [1, 2]], index=["paracrine_trophic", "anti_apoptosis"],
                       columns=["umbilical_cord", "bone_marrow"])
    texts = _all_text(plotting.evidence_map(tab))
    assert "Paracrine/trophic" in texts and "Anti-apoptosis" in texts
    counts = {"identified": {"database": 10}, "excluded_eligibility": {"not_msc": 3, "not_cp_model": 1}}
    texts += _all_text(plotting.prisma_flow(counts))
    rob = pd.DataFrame({"tool": "SYRCLE", "study_id": ["A", "A"], "domain": ["random_housing", "other_bias"],
                        "judgement": ["some_concerns", "low"]})
    texts += _all_text(plotting.rob_summary(rob))
    joined = "\n".join(texts)
    for slug in ("paracrine trophic", "anti apoptosis", "not msc", "paracrine_trophic", "random housing",
                 "other bias", "not cp model", "umbilical_cord", "some concerns", "database ("):
        assert slug not in joined, slug       # slugs are lower case; display names are not
    assert "Not MSC (n = 3)" in joined and "Random housing" in joined and "Some concerns" in joined


def test_one_month_is_singular():
    from mscreview.output.plotbase import plural
    assert plural(1, "month") == "1 month" and plural(12, "month") == "12 months"
    assert plural(1.5, "month") == "1.5 months"


def test_long_labels_wrap_and_are_never_cut():
    df = pd.DataFrame({"label": LONG, "yi": [0.5, 0.2, 0.8], "ci_low": [0.1, -0.1, 0.3], "ci_high": [0.9, 0.5, 1.3]})
    for width in ("double", "single"):
        fig = plotting.forest(df, label="label", ci_low="ci_low", ci_high="ci_high", width=width)
        ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert [t.replace("\n", " ") for t in ticks] == LONG               # every word kept
        assert not any("..." in t for t in ticks)
        assert "\n" in ticks[0]
    claims = pd.DataFrame({"claim_id": ["C1"], "claim": [" ".join(["word"] * 60) + " END"],
                           "verdict": ["not_supported"]})
    texts = _all_text(plotting.claims_verdicts(claims))
    assert any(t.endswith("END") for t in texts) and not any("..." in t for t in texts)


# ---------------------------------------------------------------------------
# Forest: alim-style clipping
# ---------------------------------------------------------------------------

def test_very_wide_pooled_interval_is_clipped_with_arrows():
    # k = 2 with a Hartung-Knapp CI of -9 to 12 around study intervals within -0.2 .. 3.2
    df = pd.DataFrame({"study_id": ["A", "B"], "yi": [0.9, 2.2], "ci_low": [-0.2, 1.2], "ci_high": [2.0, 3.2]})
    pooled = {"estimate": 1.58, "ci_low": -7.92, "ci_high": 11.09, "k": 2}
    fig = plotting.forest(df, ci_low="ci_low", ci_high="ci_high", pooled=pooled)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    # limits from the studies (and the null): -0.2 .. 3.2 padded by 5% of 3.4
    assert lo == pytest.approx(-0.2 - 0.17) and hi == pytest.approx(3.2 + 0.17)
    arrows = [ln for ln in ax.lines if ln.get_marker() in ("<", ">")]
    assert sorted(ln.get_marker() for ln in arrows) == ["<", ">"]
    assert all(lo - 1e-9 <= ln.get_xdata()[0] <= hi + 1e-9 for ln in arrows)
    # the text column still prints the whole interval
    assert "1.58 [-7.92, 11.09]" in _all_text(fig)


def test_interval_within_reach_widens_the_axis_instead():
    df = pd.DataFrame({"study_id": ["A", "B"], "yi": [0.0, 1.0], "ci_low": [-0.5, 0.5], "ci_high": [0.5, 1.5]})
    fig = plotting.forest(df, ci_low="ci_low", ci_high="ci_high",
                          pooled={"estimate": 0.5, "ci_low": -0.8, "ci_high": 1.8})
    ax = fig.axes[0]
    assert not [ln for ln in ax.lines if ln.get_marker() in ("<", ">")]
    assert ax.get_xlim()[0] < -0.8 and ax.get_xlim()[1] > 1.8


# ---------------------------------------------------------------------------
# Evidence map: integer colour scale
# ---------------------------------------------------------------------------

def test_evidence_map_colour_bar_has_whole_counts():
    tab = pd.DataFrame([[17, 0, 2], [1, 5, 9]], index=["function", "safety"],
                       columns=["bone_marrow", "adipose", "placenta"])
    fig = plotting.evidence_map(tab)
    cbar = fig.axes[0].collections[0].colorbar
    ticks = [t for t in cbar.get_ticks() if cbar.vmin <= t <= cbar.vmax]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert cbar.vmin == 0.5 and cbar.vmax == 17.5                       # one colour per count 1..17
    assert all(float(t).is_integer() for t in ticks) and 17.5 not in ticks
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == sorted(["17", "2", "1", "5", "9"])


# ---------------------------------------------------------------------------
# Export: width, dpi, folder; nothing clipped or overlapping at either width
# ---------------------------------------------------------------------------

def _builders():
    rng = np.random.default_rng(9)
    eff = pd.DataFrame({"study_id": [f"Synth{2000 + i} et al." for i in range(6)], "yi": rng.normal(0.5, 0.4, 6),
                        "vi": rng.uniform(0.02, 0.3, 6), "src": ["umbilical_cord", "bone_marrow"] * 3})
    pooled = [{"group": "umbilical_cord", "estimate": 0.5, "ci_low": -9.0, "ci_high": 12.0, "k": 2},
              {"estimate": 0.45, "ci_low": 0.25, "ci_high": 0.65, "pi_low": -0.1, "pi_high": 1.0, "k": 6,
               "label": "Overall random-effects model, REML with Hartung-Knapp adjustment"}]
    rob = pd.DataFrame({"tool": "SYRCLE", "study_id": np.repeat(["SynthA", "SynthB"], 3),
                        "domain": ["sequence_generation", "random_housing", "selective_reporting"] * 2,
                        "judgement": ["low", "high", "unclear", "unclear", "low", "high"]})
    claims = pd.DataFrame({"claim_id": ["C1", "C2"], "claim": [LONG[0] + " " + LONG[2], "Short"],
                           "verdict": ["partly_supported", "not_verifiable"]})
    return {
        "forest": lambda w: plotting.forest(eff, group="src", pooled=pooled, width=w),
        "funnel": lambda w: plotting.funnel(eff["yi"], eff["vi"], estimate=0.5, width=w),
        "evidence_map": lambda w: plotting.evidence_map(pd.DataFrame(
            [[3, 0, 1], [1, 17, 4]], index=["paracrine_trophic", "function"],
            columns=["umbilical_cord", "bone_marrow", "cord_blood"]), width=w),
        "traffic_light": lambda w: plotting.rob_traffic_light(rob, width=w),
        "rob_summary": lambda w: plotting.rob_summary(rob, width=w),
        "claims": lambda w: plotting.claims_verdicts(claims, width=w),
        "routes": lambda w: plotting.distribution(["intravenous", "intrathecal", "intra_arterial", None],
                                                  by=["clinical", "preclinical", "clinical", "clinical"], width=w),
        "dose": lambda w: plotting.distribution([1e6, 2e6, 5e7, 1e5], kind="hist", log=True, xlabel="cells", width=w),
    }


@pytest.mark.parametrize("name", list(_builders()))
@pytest.mark.parametrize("width", ["double", "single"])
def test_nothing_clipped_or_overlapping_at_either_width(name, width):
    fig = _builders()[name](width)
    with figures.style():
        fig.draw_without_rendering()      # constrained layout, as export runs it
        problems = figures.layout_problems(fig)
    assert not problems, f"{name} at {width}: {problems}"


def test_reexport_at_single_width_lays_out_again(tmp_path):
    df = pd.DataFrame({"label": LONG, "yi": [0.5, 0.2, 0.8], "ci_low": [0.1, -0.1, 0.3], "ci_high": [0.9, 0.5, 1.3]})
    fig = plotting.forest(df, label="label", ci_low="ci_low", ci_high="ci_high", width="double")
    double_lines = fig.axes[0].get_yticklabels()[0].get_text().count("\n")
    with _no_warning():                  # export warns when a text is cut or overlaps
        rec = figures.export(fig, "relaid", "Synthetic", "99_test", width="single", dpi=150, outdir=tmp_path,
                             formats=("png",))
    assert rec.width_mm == 85.0
    assert rec.files == (str(tmp_path / "relaid.png"),)
    from PIL import Image
    im = Image.open(tmp_path / "relaid.png")
    assert im.size[0] == int(85.0 / 25.4 * 150) and round(im.info["dpi"][0]) == 150
    # the single-column figure was drawn again: more lines per label, not the same drawing shrunk
    # (the record's height grows with the extra lines)
    assert rec.height_mm > 14.0 + 3.4 * 3 - 0.1
    refig = fig.mscreview_builder(width="single")
    assert refig.axes[0].get_yticklabels()[0].get_text().count("\n") > double_lines


def test_a_figure_without_builder_is_not_shrunk(tmp_path):
    fig, ax = figures.new_figure("double", 40)
    ax.plot([0, 1], [0, 1])
    with pytest.raises(ValueError, match="would be shrunk to 85 mm"):
        figures.export(fig, "plain", "Synthetic", "99_test", width="single", outdir=tmp_path)


class _no_warning:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)
        return False


def test_a_very_wide_study_interval_is_clipped_too():
    # rows: three ordinary intervals (widths 1.0, 0.8, 1.2; median 1.0) and one of width 21 (> 4 x 1.0)
    df = pd.DataFrame({"study_id": list("ABCD"), "yi": [0.5, 0.8, 1.0, 1.5],
                       "ci_low": [0.0, 0.4, 0.4, -9.0], "ci_high": [1.0, 1.2, 1.6, 12.0]})
    fig = plotting.forest(df, ci_low="ci_low", ci_high="ci_high")
    lo, hi = fig.axes[0].get_xlim()
    assert lo == pytest.approx(0.0 - 0.08) and hi == pytest.approx(1.6 + 0.08)   # 5% of 1.6
    assert sorted(ln.get_marker() for ln in fig.axes[0].lines if ln.get_marker() in ("<", ">")) == ["<", ">"]


def test_shared_value_gets_the_display_name_of_its_own_vocabulary():
    fig = plotting.distribution(["intravenous", "other", "intrathecal", "other"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Other route" in labels and "Other source" not in labels


def test_traffic_light_wraps_domain_names_when_they_fit():
    rob = pd.DataFrame({"tool": "RoB2", "study_id": np.repeat(["SynthA", "SynthB"], 6),
                        "domain": ["randomisation", "deviations", "missing_data", "measurement",
                                   "selection_of_result", "overall"] * 2, "judgement": "low"})
    fig = plotting.rob_traffic_light(rob, tool="RoB2")
    ticks = fig.axes[0].get_xticklabels()
    assert ticks[0].get_text() == "Randomisation\nprocess" and ticks[0].get_rotation() == 0
    with figures.style():
        assert not figures.layout_problems(fig)
