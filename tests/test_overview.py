"""The overview of effect sizes by mechanism and source (review/overview.py, output/overview.py) and the
study labels (data/labels.py).

Uses the SYNTHETIC fixture (tests/data_synthetic; invented values) and, where the rule is about
completeness, the review's own data: the checks are built from the shared functions
(``primary_effects``, ``pooled_by_mechanism``, ``study_dirs``), never from hard-coded counts.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from mscreview.data import tables as tbl  # noqa: E402
from mscreview.data.labels import study_label, study_labels  # noqa: E402
from mscreview.output import plotting  # noqa: E402
from mscreview.review import evidence, overview, rules  # noqa: E402

FIX = Path(__file__).parent / "data_synthetic"


@pytest.fixture(scope="module")
def real():
    return evidence.load()


@pytest.fixture(scope="module")
def synth():
    return evidence.load(FIX)


# --------------------------------------------------------------------------- study labels

@pytest.mark.parametrize("sid, expected", [
    ("vanVelthoven2010a", "van Velthoven 2010a"),
    ("Gu2020", "Gu 2020"),
    ("LiuYS2012", "Liu YS 2012"),
    ("WangL2013", "Wang L 2013"),
    ("Thomi2019b", "Thomi 2019b"),
])
def test_study_label_from_the_id(sid, expected):
    assert study_label(sid) == expected


def test_study_label_takes_the_citation_spelling_and_knows_ids_without_author():
    st = pd.DataFrame({"study_id": ["TapiaBustos2021", "vanVelthoven2017", "ASC-HIE-LPS-2013", "Cameron",
                                    "DoubleCourse2019", "hUCMSC-BCAO-CP"],
                       "citation": ["Tapia-Bustos A, Lespay-Rebolledo C. Title.", "vanVelthoven et al. (2017), as listed",
                                    "Authors not seen. Transplantation of ...", "Cameron SH, et al. Delayed ...",
                                    "[Authors not seen.] Synergistic ...", "Authors, journal and year not seen."],
                       "year": [2021, 2017, 2013, np.nan, 2019, np.nan]})
    lab = study_labels(st)
    assert lab == {"TapiaBustos2021": "Tapia-Bustos 2021",        # hyphen from the citation
                   "vanVelthoven2017": "van Velthoven 2017",      # particle split even where the citation runs it on
                   "ASC-HIE-LPS-2013": "ASC-HIE-LPS 2013",        # no author: short id, then the year
                   "Cameron": "Cameron n.d.",                      # author without a year
                   "DoubleCourse2019": "DoubleCourse 2019",        # looks like Author+Year, citation says no author
                   "hUCMSC-BCAO-CP": "hUCMSC-BCAO-CP"}


def test_study_labels_never_give_two_studies_one_label():
    st = pd.DataFrame({"study_id": ["Gu2020", "Gu-2020"], "citation": ["Gu J. A.", "Authors not seen. B."],
                       "year": [2020, 2020]})
    lab = study_labels(st)
    assert lab == {"Gu2020": "Gu2020", "Gu-2020": "Gu-2020"}
    assert study_labels(st, ["Gu2020"]) == {"Gu2020": "Gu2020"}   # a subset sees the same collision


def test_every_included_study_gets_a_label(real):
    lab = study_labels(real.studies)
    assert set(lab) == set(real.studies["study_id"])
    assert len(set(lab.values())) == len(lab)


# --------------------------------------------------------------------------- the table

@pytest.mark.parametrize("which", ["synth", "real"])
def test_no_effect_size_disappears(which, request):
    ev = request.getfixturevalue(which)
    t = overview.effect_overview(ev)
    studies = t[(t["kind"] == "study") & (t["measure"] == "SMD")]
    # one study row for every effect, and the primary ones (pooled, plotted) marked
    assert sorted(studies["row_id"]) == sorted(ev.effects["row_id"])
    prim = evidence.primary_effects(ev)
    assert sorted(studies.loc[studies["primary"].astype(bool), "row_id"]) == sorted(prim["row_id"])
    # rows with event counts (no SMD) are there as risk ratios
    rr, _ = rules.effect_table(ev.extracted, ev.studies, "RR")
    rr = rr[~rr["row_id"].isin(ev.effects["row_id"])]
    assert sorted(t.loc[(t["kind"] == "study") & (t["measure"] == "RR"), "row_id"]) == sorted(rr["row_id"])
    # and the figure draws every primary effect
    rows = overview.overview_rows(ev)
    assert sorted(rows.loc[(rows["kind"] == "study") & (rows["measure"] == "SMD"), "row_id"]) == sorted(prim["row_id"])


def test_study_rows_carry_hedges_g_with_its_wald_ci(synth):
    t = overview.effect_overview(synth).set_index("row_id")
    e = synth.effects.set_index("row_id")
    rid = e.index[0]
    yi, vi = e.loc[rid, "yi"], e.loc[rid, "vi"]
    # 95% Wald interval by hand: yi -/+ 1.959964 sqrt(vi)
    assert t.loc[rid, "estimate"] == pytest.approx(yi, abs=1e-6)
    assert t.loc[rid, "ci_low"] == pytest.approx(yi - 1.959964 * np.sqrt(vi), abs=1e-6)
    assert t.loc[rid, "ci_high"] == pytest.approx(yi + 1.959964 * np.sqrt(vi), abs=1e-6)
    assert t.loc[rid, "n"] == e.loc[rid, "n1i"] + e.loc[rid, "n2i"]


def test_a_k1_family_shows_its_single_study_and_no_pool(synth):
    pb = evidence.pooled_by_mechanism(synth)
    single = pb[pb["k"] == 1]
    assert len(single), "the fixture should have a family with k = 1"
    t = overview.effect_overview(synth)
    for r in single.itertuples():
        fam = t[(t["population"] == r.population) & (t["product_class"] == r.product_class)
                & (t["mechanism"] == r.mechanism)]
        assert list(fam.loc[fam["kind"] == "study", "study_id"].unique()) == [r.study_ids]
        assert not (fam["kind"] == "pooled").any()


def test_pooled_rows_are_the_shared_pooled_estimates(real):
    pb = evidence.pooled_by_mechanism(real)
    pb = pb[pb["pooled"]]
    t = overview.effect_overview(real)
    other = t["note"].fillna("").str.startswith("sensitivity (protocol 9.3)")
    pooled = t[(t["kind"] == "pooled") & (t["msc_source"] == "all") & ~other]
    keys = ["population", "product_class", "mechanism"]
    want = sorted((*r, round(e, 6), int(k)) for r, e, k in zip(pb[keys].itertuples(index=False), pb["estimate"], pb["k"]))
    got = sorted((*r, round(e, 6), int(k)) for r, e, k in zip(pooled[keys].itertuples(index=False), pooled["estimate"],
                                                              pooled["k"]))
    assert got == want


@pytest.mark.parametrize("which", ["synth", "real"])
def test_direction_counts_cover_every_cohort_without_an_effect(which, request):
    ev = request.getfixturevalue(which)
    t = overview.effect_overview(ev)
    d = t[t["kind"] == "directions"]
    assert (d["favours_msc"] + d["favours_control"] + d["no_clear_direction"] == d["cohorts"]).all()
    keys = ["population", "product_class", "mechanism"]
    rr, _ = rules.effect_table(ev.extracted, ev.studies, "RR")
    rr = rr[~((rr["x1i"] == 0) & (rr["x2i"] == 0))]   # an RR with no event in either arm is no effect size
    eff = pd.concat([ev.effects, rr], ignore_index=True)
    coh = eff["cohort_id"].where(eff["cohort_id"].notna(), eff["study_id"])
    with_effect = set(zip(*(eff[k] for k in keys), coh))
    expected = ev.study_dirs[[tuple(r) not in with_effect
                              for r in ev.study_dirs[keys + ["cohort_id"]].itertuples(index=False)]]
    got = d.groupby(keys)["cohorts"].sum()
    want = expected.groupby(keys).size()
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False, check_dtype=False)


def test_a_published_estimate_appears_by_population_mechanism_and_source(tmp_path):
    root = tmp_path / "fixture"
    shutil.copytree(FIX, root)
    p = root / "review" / "published_estimates.csv"
    pub = pd.read_csv(p)
    base = pub.iloc[0].to_dict()
    # SYNTHETIC published strata: one by cell source (shown), one by species (listed as left out)
    add = [{**base, "estimate_id": "PUB-901", "review_id": "Synth2021", "population": "preclinical",
            "subgroup": "Source: Bone marrow", "outcome": "sensorimotor function: cylinder test", "estimate": 2.5,
            "ci_low": 2.0, "ci_high": 3.0},
           {**base, "estimate_id": "PUB-902", "review_id": "Synth2021", "population": "preclinical",
            "subgroup": "Species: Rat", "outcome": "cognitive function", "estimate": 2.0, "ci_low": 1.5,
            "ci_high": 2.5}]
    pd.concat([pub, pd.DataFrame(add)], ignore_index=True).to_csv(p, index=False)
    ev = evidence.load(root)
    t = overview.effect_overview(ev)
    hit = t[t["estimate_id"] == "PUB-901"]
    assert len(hit) == 1
    r = hit.iloc[0]
    assert (r["kind"], r["population"], r["mechanism"], r["msc_source"]) == ("published", "preclinical", "function",
                                                                            "bone_marrow")
    assert r["estimate"] == 2.5 and r["label"].startswith("Synth 2021")
    assert not (t["estimate_id"] == "PUB-902").any()
    left = overview.published_left_out(ev)
    assert left.set_index("estimate_id").loc["PUB-902", "reason"].startswith("stratum by species")
    # the original (unstratified) synthetic estimate is shown over all sources
    assert t.loc[t["estimate_id"] == "PUB-001", "msc_source"].item() == "all"


@pytest.mark.parametrize("outcome, mechanism", [
    ("apoptosis (white matter)", "anti_apoptosis"),
    ("microglial activation (white matter)", "immunomodulation"),
    ("neuroinflammation (TNF-alpha)", "immunomodulation"),
    ("oligodendrocyte number (grey matter)", "neuroregeneration"),
    ("infarct size", "neuroregeneration"),
    ("adverse event: diarrhea", "safety"),
    ("Gross Motor Performance Measure (GMPM)", "function"),
    ("cognitive function: water maze test", "function"),
    ("something unrelated", None),
])
def test_published_outcomes_map_to_mechanisms(outcome, mechanism):
    assert overview.published_mechanism(outcome) == mechanism


def test_event_rows_give_the_risk_ratio_on_the_natural_scale(real):
    t = overview.effect_overview(real)
    rr = t[(t["kind"] == "study") & (t["measure"] == "RR")]
    if rr.empty:
        pytest.skip("no controlled event counts in the data")
    ex = real.extracted.set_index("row_id")
    for r in rr.itertuples():
        x1, n1, x2, n2 = (float(ex.loc[r.row_id, c]) for c in ("x1i", "n1i", "x2i", "n2i"))
        if x1 == 0 and x2 == 0:
            assert np.isnan(r.estimate) and "not estimable" in r.note
        elif x1 > 0 and x2 > 0:
            # RR and its Wald CI on the log scale by hand (no continuity correction without a zero cell)
            se = np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
            assert r.estimate == pytest.approx((x1 / n1) / (x2 / n2), rel=1e-6)
            assert r.ci_low == pytest.approx(np.exp(np.log(r.estimate) - 1.959964 * se), rel=1e-5)


def test_table_order_follows_the_mechanism_registry(real):
    t = overview.effect_overview(real)
    order = {m: i for i, m in enumerate(evidence.MECH_ORDER)}
    ranks = t["mechanism"].map(order).to_numpy()
    assert (np.diff(ranks) >= 0).all()


# --------------------------------------------------------------------------- the figure

def test_overview_figure_draws_on_given_axes_and_clips_wide_intervals(real):
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation

    rows = overview.overview_rows(real)
    fig = plotting.effect_overview(rows, xlim=(-1, 3))
    ax = fig.axes[0]
    assert ax.get_xlim() == (-1, 3)
    # something beyond 3 (e.g. a k = 2 Hartung-Knapp interval) ends in an arrow at the limit
    wide = rows[rows["draw"].isin(["square", "diamond", "open_diamond"]) & ((rows["ci_high"] > 3) | (rows["ci_low"] < -1))]
    arrows = [c for c in ax.get_children() if isinstance(c, Annotation) and c.arrow_patch is not None]
    assert len(wide) and len(arrows) >= len(wide)
    texts = " ".join(t.get_text() for t in ax.texts)
    for slugged in ("paracrine_trophic", "umbilical_cord", "msc_ev", "favours_msc"):
        assert slugged not in texts
    plt.close(fig)
    fig2, ax2 = plt.subplots(figsize=(174 / 25.4, 8))
    assert plotting.effect_overview(rows.head(5), ax=ax2) is fig2
    plt.close(fig2)


def test_overview_spec_exports(real, tmp_path, monkeypatch):
    from mscreview.output import figures

    monkeypatch.setenv("MSCREVIEW_STAGE", str(tmp_path))
    rec = plotting.export_all(overview.overview_figure(real), "04_effects_by_source")[0]
    assert rec.name == "effect_overview" and rec.width_mm == pytest.approx(figures.WIDTHS_MM["double"], abs=0.5)
    assert rec.height_mm <= 247.0   # fits a journal page
    assert (tmp_path / "figures" / "effect_overview.pdf").exists()


def test_gmfm_pool_is_shown_under_both_readings(real):
    """Protocol 9.3: the GMFM pool appears as labelled and with the doubtful SDs read as SEMs, and the
    second equals the clinical section's other-reading estimate at the primary timepoint."""
    from mscreview.review import clinical
    t = overview.effect_overview(real)
    other = t[t["note"].fillna("").str.startswith("sensitivity (protocol 9.3)")]
    nums = clinical.gmfm_both_readings.numbers(real)
    assert len(other) == 1
    assert round(float(other["estimate"].iloc[0]), 6) == round(nums["clinical.gmfm.other_reading.estimate"], 6)
    assert int(other["k"].iloc[0]) == nums["clinical.gmfm.other_reading.k"]


def test_published_estimate_without_a_measure_is_not_drawn(real):
    """A published estimate whose effect measure the page does not state stays in the table, not the figure."""
    t = overview.effect_overview(real)
    unstated = t[(t["kind"] == "published") & (t["measure"].fillna("") == "")]
    drawn = overview.overview_rows(real)
    assert len(unstated) > 0
    assert not drawn["estimate_id"].isin(unstated["estimate_id"]).any()
