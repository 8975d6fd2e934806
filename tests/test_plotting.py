"""Smoke tests for every plot function, on SYNTHETIC data made up here (not review data).

Each test checks that the function returns a Figure, does not save anything,
leaves rcParams untouched and draws what it should (counts of artists).
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mscreview.output import plotting

RNG = np.random.default_rng(20260101)


@pytest.fixture(autouse=True)
def _close_and_check_rc():
    before = dict(matplotlib.rcParams)
    yield
    plt.close("all")
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set(), "plot changed global rcParams"


def synthetic_effects(k=6):
    """SYNTHETIC effects (not data from any study)."""
    return pd.DataFrame({
        "study_id": [f"Synth{2000 + i}" for i in range(k)],
        "yi": RNG.normal(0.5, 0.4, k), "vi": RNG.uniform(0.02, 0.3, k),
        "msc_source": (["umbilical_cord", "bone_marrow"] * k)[:k],
        "log_dose": RNG.uniform(5, 7, k),
    })


def test_forest_with_subgroups_diamonds_and_prediction_interval():
    df = synthetic_effects()
    pooled = [
        {"group": "umbilical_cord", "estimate": 0.5, "ci_low": 0.2, "ci_high": 0.8, "k": 3, "i2": 12.0},
        {"group": "bone_marrow", "estimate": 0.4, "ci_low": 0.1, "ci_high": 0.7, "k": 3},
        {"group": None, "label": "Overall", "estimate": 0.45, "ci_low": 0.25, "ci_high": 0.65,
         "pi_low": -0.1, "pi_high": 1.0, "k": 6, "i2": 30.0},
    ]
    fig = plotting.forest(df, group="msc_source", pooled=pooled, xlabel="SMD")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # 2 headers + 6 studies + 2 subgroup diamonds + 2 gaps + overall
    assert len(labels) == 2 + 6 + 2 + 2 + 1
    assert labels[0] == "Umbilical cord" and labels[-1].startswith("Overall (k = 6, I\u00b2 = 30%)")
    assert len(ax.patches) == 3  # three diamonds
    texts = [t.get_text() for t in ax.texts]
    assert any("PI [-0.10, 1.00]" in t for t in texts)
    assert isinstance(fig, matplotlib.figure.Figure)


def test_forest_ci_columns_log_scale():
    df = pd.DataFrame({"study_id": ["A", "B"], "yi": [np.log(0.5), np.log(2.0)],
                       "ci_low": [np.log(0.2), np.log(1.1)], "ci_high": [np.log(1.2), np.log(3.5)]})
    fig = plotting.forest(df, ci_low="ci_low", ci_high="ci_high", transf=np.exp, xscale="log", null=0.0,
                          xlabel="Risk ratio")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(t.get_text().startswith("0.50 [0.20, 1.20]") for t in ax.texts)


def test_forest_on_given_axes_and_empty_raises():
    fig, ax = plt.subplots()
    assert plotting.forest(synthetic_effects(2), ax=ax) is fig
    with pytest.raises(ValueError, match="no rows"):
        plotting.forest(synthetic_effects(0))


def test_funnel_contours_and_trimfill_points():
    df = synthetic_effects(10)
    fig = plotting.funnel(df.yi, df.vi, estimate=0.5, filled={"yi": [-0.2, -0.1], "vi": [0.1, 0.2]})
    ax = fig.axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # SE axis inverted
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "p < 0.01" in legend and "imputed (trim-and-fill)" in legend


def test_bubble_with_fit_band():
    df = synthetic_effects(8)
    fig = plotting.bubble(df.log_dose, df.yi, df.vi, intercept=0.1, slope=0.05,
                          vb=[[0.04, -0.005], [-0.005, 0.001]], xlabel="log10 dose")
    ax = fig.axes[0]
    assert len(ax.collections) == 2  # bubbles + band


def test_effect_direction_and_harvest():
    df = pd.DataFrame({"study_id": ["S1", "S1", "S2", "S3", "S3"],
                       "mechanism": ["immunomodulation", "immunomodulation", "anti_apoptosis", "function",
                                     "immunomodulation"],
                       "direction": ["favours_msc", "favours_control", "favours_msc", "no_clear_direction",
                                     "favours_msc"],
                       "n": [20, 20, 12, 40, 40], "rob": ["high", "high", "unclear", "low", "low"]})
    fig = plotting.effect_direction(df, n="n", rob="rob")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["S3", "S2", "S1"]
    # S1 immunomodulation: 1 of 2 = 50% < 70% -> no clear direction (diamond); one collection per direction,
    # never a fill by significance (Boon & Thomson 2021)
    n_points = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_points == 4  # S1 imm., S2 anti-apoptosis, S3 function, S3 imm.
    assert len(ax.collections) == 2  # up (favours MSC), diamond (no clear direction)
    texts = [t.get_text() for t in ax.texts]
    assert {"20", "12", "40", "high", "unclear", "low"} <= set(texts)   # sample size and RoB beside each row
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:2] == ["n", "risk of bias"] and "Anti-apoptosis" in labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["favours MSC", "favours control", "no clear direction"]
    fig2 = plotting.harvest(df)
    assert len(fig2.axes) == 3
    heights = {round(p.get_height(), 6) for a in fig2.axes for p in a.patches}
    assert heights == {1.0}   # significance is not encoded


def test_rob_plots():
    from mscreview.data.schema import ROB_DOMAINS
    rows = []
    for s in ["SynthA", "SynthB", "SynthC"]:
        for i, d in enumerate(ROB_DOMAINS["SYRCLE"]):
            rows.append({"study_id": s, "tool": "SYRCLE", "domain": d,
                         "judgement": ["low", "unclear", "high"][(i + len(s)) % 3]})
    rob = pd.DataFrame(rows)
    fig = plotting.rob_traffic_light(rob)
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 2 * 30  # circle + symbol per cell
    fig2 = plotting.rob_summary(rob)
    assert len(fig2.axes[0].patches) == 30  # 10 domains x 3 judgements
    with pytest.raises(ValueError, match="RoB2"):
        plotting.rob_summary(rob, tool="RoB2")


def test_prisma_flow_shows_counts():
    counts = {"identified": {"database": 120, "reading_list": 30}, "duplicates_removed": 20,
              "screened": 130, "excluded_screening": 80, "sought_retrieval": 50, "not_retrieved": 4,
              "assessed_eligibility": 46, "excluded_eligibility": {"not_msc": 10, "review": 6},
              "included_studies": 30, "included_reports": 31}
    fig = plotting.prisma_flow(counts)
    text = "\n".join(t.get_text() for t in fig.axes[0].texts)
    for s in ["(n = 150)", "Databases (n = 120)", "duplicate records (n = 20)", "Records screened\n(n = 130)",
              "Reports excluded (n = 16)", "Not MSC (n = 10)", "(n = 30)"]:
        assert s in text, s


def test_evidence_map_counts_and_annotations():
    tab = pd.DataFrame([[3, 0], [1, 2]], index=["immunomodulation", "function"],
                       columns=["umbilical_cord", "bone_marrow"])
    annot = pd.DataFrame([["g 0.5", ""], ["", ""]], index=tab.index, columns=tab.columns)
    fig = plotting.evidence_map(tab, annot=annot)
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["1", "2", "3\ng 0.5"]


def test_claims_verdicts():
    df = pd.DataFrame({"claim_id": ["C1", "C2"], "claim": ["A synthetic claim", "Another"],
                       "verdict": ["partly_supported", "not_verifiable"]})
    fig = plotting.claims_verdicts(df)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "Partly supported" in texts and "Not verifiable" in texts and "C1" in texts


def test_gosh_and_leave1out():
    g = pd.DataFrame({"estimate": RNG.normal(0.4, 0.1, 500), "i2": RNG.uniform(0, 80, 500)})
    fig = plotting.gosh(g)
    assert len(fig.axes) == 3
    l1 = pd.DataFrame({"study_id": ["A", "B", "C"], "estimate": [0.4, 0.5, 0.3],
                       "ci_low": [0.1, 0.2, 0.0], "ci_high": [0.7, 0.8, 0.6]})
    fig2 = plotting.leave1out(l1, full={"estimate": 0.4, "ci_low": 0.2, "ci_high": 0.6})
    assert [t.get_text() for t in fig2.axes[0].get_yticklabels()] == ["\u2212 A", "\u2212 B", "\u2212 C"]


def test_distribution_and_posterior():
    fig = plotting.distribution(["intravenous", "intrathecal", "intravenous", None], xlabel="Route")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "Intravenous" and labels[-1] == "Not reported"   # most frequent on top
    fig2 = plotting.distribution([1e6, 5e6, 1e7], kind="hist", log=True, xlabel="cells")
    assert fig2.axes[0].get_xlabel() == "Cells, log scale" and fig2.axes[0].get_xscale() == "log"
    x = np.linspace(-1, 1, 50)
    fig3 = plotting.posterior({"half-normal(0.5)": (x, np.exp(-x ** 2))})
    assert len(fig3.axes[0].lines) == 2


def test_plot_functions_never_save(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plotting.forest(synthetic_effects(3))
    plotting.funnel([0.1, 0.2, 0.3], [0.1, 0.1, 0.2])
    assert list(tmp_path.iterdir()) == []
