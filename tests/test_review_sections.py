"""output (numbers, tables, manuscript) and the review sections (the analyses the notebooks call).

Tables and evidence here are SYNTHETIC (made up in this file), except where a test says it
checks the committed data against an independent hand computation.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest

from mscreview.engine.format import fmt, fmt_ci
from synthetic import evidence_from
from mscreview.output import manuscript, numbers, plotting, tables
from mscreview.review import certainty, clinical, evidence, mechanisms, robustness, sources


@pytest.fixture
def stage(tmp_path, monkeypatch):
    monkeypatch.setenv("MSCREVIEW_STAGE", str(tmp_path))
    monkeypatch.setenv("MSCREVIEW_NOTEBOOK", "99_test")
    monkeypatch.setattr(numbers, "SESSION", {})
    return tmp_path


# ---------------------------------------------------------------------------
# numbers and the template
# ---------------------------------------------------------------------------

def test_render_template_formats_and_drops_comments():
    res = {"a.est": 0.51234, "a.k": 3, "a.p": 0.0004, "a.p2": 0.0625, "a.name": "very low", "a.none": None,
           "a.list": ["X", "Y"], "a.big": 125000.0}
    tpl = ("<!-- {{ not.a.key }} -->\nEst {{ a.est:.2f }}, k = {{ a.k }}, {{ a.p:p }}, {{ a.p2:p }}, "
           "{{ a.name }}, {{ a.none }}, {{a.list}}, {{ a.est }}, {{ a.big:,.0f }}, {{ a.est:pct }}")
    assert manuscript.render_template(tpl, res) == (
        "Est 0.51, k = 3, p < 0.001, p = 0.062, very low, NA, X, Y, 0.51, 125,000, 1%")


def test_render_template_lists_every_missing_key_with_its_line():
    with pytest.raises(KeyError) as ei:
        manuscript.render_template("ok {{ a }}\n{{ b }} and {{ c:.1f }}", {"a": 1}, source="t.md")
    msg = str(ei.value)
    assert "t.md:2: {{ b }}" in msg and "t.md:2: {{ c }}" in msg and "t.md:1" not in msg


def test_saved_numbers_go_to_the_fragment_and_merge_detects_conflicts(stage):
    numbers.save({"x.a": np.float64(1.5), "x.n": np.int64(3), "x.nan": float("nan")})
    numbers.save({"x.m.u": 1, "x.m.v": "text"})
    frag = json.loads((stage / "records" / "99_test.results.json").read_text())
    assert frag == {"x.a": 1.5, "x.n": 3, "x.nan": None, "x.m.u": 1, "x.m.v": "text"}
    assert isinstance(frag["x.n"], int)
    (stage / "records" / "98_other.results.json").write_text(json.dumps({"x.a": 1.5, "y": 2}))
    assert numbers.merge_fragments(stage)["y"] == 2
    (stage / "records" / "97_bad.results.json").write_text(json.dumps({"x.a": 9.0}))
    with pytest.raises(ValueError, match="'x.a' recorded as 9.0 by 97_bad and 1.5 by"):
        numbers.merge_fragments(stage)
    with pytest.raises(ValueError, match="dotted words"):
        numbers.save({"bad key": 1})


def test_write_table_three_formats_and_index(stage):
    df = pd.DataFrame({"Study": ["A_1", "B|2"], "g": [0.123456, float("nan")], "n": [10, 20]})
    t = tables.write_table(df, "synthetic_t", "A synthetic table with 50% & more")
    d = stage / "review" / "tables"
    assert (d / "synthetic_t.csv").read_text() == "Study,g,n\nA_1,0.123456,10\nB|2,,20\n"
    md = (d / "synthetic_t.md").read_text()
    assert "| A_1 | 0.12 | 10 |" in md and "| B\\|2 |  | 20 |" in md
    tex = (d / "synthetic_t.tex").read_text()
    assert r"\caption{A synthetic table with 50\% \& more}" in tex and r"A\_1 & 0.12 & 10 \\" in tex
    assert r"\begin{tabular}{lrr}" in tex and r"\toprule" in tex
    # during a build the index comes from per-notebook records (no shared file for parallel notebooks)
    assert not (d / "README.md").exists()
    entries = tables.table_records(stage)
    assert entries == {"synthetic_t": {"caption": "A synthetic table with 50% & more", "notebook": "99_test", "rows": 2}}
    assert "| `synthetic_t` | A synthetic table with 50% & more | `notebooks/99_test.ipynb` | 2 |" in \
        tables.tables_readme(entries)
    assert t.rows == 2 and "**Table `synthetic_t`.**" in t._repr_markdown_()
    with pytest.raises(ValueError, match="caption"):
        tables.write_table(df, "x", "")


def test_fmt_ci():
    assert fmt_ci(0.5, 0.1, 0.9) == "0.50 (95% CI 0.10 to 0.90)"
    assert fmt(None) == "NA" and fmt(float("nan")) == "NA"


# ---------------------------------------------------------------------------
# review sections on a SYNTHETIC evidence object
# ---------------------------------------------------------------------------

def synthetic_evidence(tmp_path):
    """Two synthetic RCTs with GMFM at 12 months, adverse events and RoB 2 judgements."""
    effects = pd.DataFrame({
        "row_id": ["T1_01", "T2_01"], "study_id": ["SynthTrialA", "SynthTrialB"],
        "cohort_id": ["SynthTrialA", "SynthTrialB"], "population": "clinical", "product_class": "msc",
        "msc_source": ["umbilical_cord", "bone_marrow"], "mechanism": "function", "outcome": ["GMFM-88", "GMFM-66"],
        "instrument": ["GMFM-88", "GMFM-66"], "instrument_family": "GMFM", "dispersion_doubt": "",
        "timepoint": [12.0, 12.0], "timepoint_unit": "months", "timepoint_days": 365.25,
        "n1i": [20, 30], "n2i": [20, 30], "yi": [0.8, 0.2], "vi": [0.11, 0.07], "measure": "SMD",
        "shared_control": False})
    extracted = pd.DataFrame({
        "row_id": ["T1_02", "T2_02"], "study_id": ["SynthTrialA", "SynthTrialB"], "mechanism": "safety",
        "outcome": ["serious adverse events", "serious adverse events"], "comparison_type": "between_groups",
        "x1i": [0, 1], "n1i": [20, 30], "x2i": [0, 0], "n2i": [20, 30]})
    rob = pd.DataFrame({"study_id": ["SynthTrialA", "SynthTrialB"], "tool": "RoB2", "domain": "overall",
                        "judgement": ["some_concerns", "low"]})
    studies = pd.DataFrame({"study_id": ["SynthTrialA", "SynthTrialB"], "cohort_id": ["SynthTrialA", "SynthTrialB"],
                            "population": "clinical", "design": "rct", "msc_source": ["umbilical_cord", "bone_marrow"],
                            "product": "msc"})
    empty = pd.DataFrame()
    return evidence.Evidence(tmp_path, studies, extracted, rob, empty, empty, empty, effects, empty,
                              pd.DataFrame(columns=["population", "product_class", "mechanism", "direction",
                                                    "significant", "basis", "cohort_id"]),
                              pd.DataFrame(columns=["population", "product_class", "mechanism", "cohort_id",
                                                    "study_ids", "direction"]))


def dl_by_hand(y, v):
    """DerSimonian-Laird by hand (Cochrane Handbook 10.10.4.1): the independent oracle."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    w = 1 / v
    mu_fe = (w * y).sum() / w.sum()
    q = (w * (y - mu_fe) ** 2).sum()
    tau2 = max(0.0, (q - (len(y) - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))
    ws = 1 / (v + tau2)
    est = (ws * y).sum() / ws.sum()
    se = math.sqrt(1 / ws.sum())
    return est, est - 1.959963984540054 * se, est + 1.959963984540054 * se


def test_gmfm_by_timepoint_matches_hand_dl_and_records_latest(tmp_path, stage):
    ev = synthetic_evidence(tmp_path)
    out = clinical.gmfm_by_timepoint(ev)
    assert list(out["months"]) == [12.0] and out["k"].iloc[0] == 2 and out["participants"].iloc[0] == 100
    est, lo, hi = dl_by_hand([0.8, 0.2], [0.11, 0.07])
    assert out["dl_z_estimate"].iloc[0] == pytest.approx(est, rel=1e-10)
    assert out["dl_z_ci_low"].iloc[0] == pytest.approx(lo, rel=1e-10)
    assert out["dl_z_ci_high"].iloc[0] == pytest.approx(hi, rel=1e-10)
    cited = clinical.gmfm_by_timepoint.numbers(ev)
    assert cited["clinical.gmfm.latest.k"] == 2
    assert cited["clinical.gmfm.latest.dl_estimate"] == pytest.approx(est, rel=1e-10)


def test_grade_rules_are_applied_as_documented(tmp_path, stage):
    ev = synthetic_evidence(tmp_path)
    g = certainty.grade_sof(ev).set_index("outcome")
    gm = g.loc["GMFM (SMD) at 12 months, as labelled"]
    assert "GMFM (SMD) at 12 months, other reading" in g.index   # no doubtful row: the same numbers
    # high (4) - 1 RoB (one trial some concerns) - inconsistency - imprecision - 1 publication bias (2 small trials)
    out = clinical.gmfm_by_timepoint(ev).iloc[0]
    lo = np.array([0.8, 0.2]) - 1.959963984540054 * np.sqrt([0.11, 0.07])
    hi = np.array([0.8, 0.2]) + 1.959963984540054 * np.sqrt([0.11, 0.07])
    d_inc = -1 if out["i2"] > 50 or lo.max() > hi.min() else 0
    crosses = out["reml_knha_ci_low"] <= 0 <= out["reml_knha_ci_high"]
    d_imp = -(int(crosses) + 1)            # 100 participants < 400 (OIS)
    expected = {4: "high", 3: "moderate", 2: "low"}.get(max(4 - 1 + d_inc + d_imp - 1, 1), "very low")
    assert gm["certainty"] == expected
    assert gm["risk_of_bias"] == "serious (-1)" and gm["indirectness"] == "not serious (0)"
    assert gm["publication_bias"] == "serious (-1)" and gm["dispersion_reading"] == "not serious (0)"
    sae = g.loc["Serious adverse events (risk difference)"]
    assert sae["trials"] == 2 and sae["participants"] == 100
    assert sae["certainty"] == "very low"   # 4 - 1 (RoB) - 2 (1 event, n < 400) - 1 (publication bias)
    # pooled 1/50 vs 0/50 (arms summed): Newcombe RD 0.02 (-0.0532 to 0.1050), by hand:
    # Wilson 1/50 = (0.003539, 0.104954), 0/50 = (0, 0.071348); L = 0.02 - sqrt(0.016461^2 + 0.071348^2)
    assert "RD 2.0 per 100 (-5.3 to 10.5)" in sae["effect"]


def test_adverse_events_rr_and_not_estimable(tmp_path, stage):
    ev = synthetic_evidence(tmp_path)
    a = clinical.adverse_events(ev).set_index("study_id")
    assert math.isnan(a.loc["SynthTrialA", "rr"]) and "not estimable" in a.loc["SynthTrialA", "note"]
    # metafor escalc("RR") with 0.5 added to every cell of a table with a zero: (1.5/31) / (0.5/31)
    assert a.loc["SynthTrialB", "rr"] == pytest.approx((1.5 / 31) / (0.5 / 31), rel=1e-12)


def test_published_comparison_reads_numbers_from_the_extracted_file(tmp_path, stage):
    ev = synthetic_evidence(tmp_path)
    assert clinical.published_estimates(ev).empty
    assert "No table of published pooled estimates" in clinical.published_note(ev)
    (tmp_path / "review").mkdir()
    pd.DataFrame([{"review_id": "SynthReview2020", "population": "clinical", "cell_types": "MSC only",
                   "outcome": "GMFM", "timepoint": "", "measure": "SMD", "k_studies": 3, "n_participants": 150,
                   "estimate": 0.9, "ci_low": 0.4, "ci_high": 1.4, "source_url": "https://example.org/t2",
                   "source_locator": "Table 2"}]).to_csv(tmp_path / "review" / "published_estimates.csv", index=False)
    c = clinical.published_comparison(ev)
    row = c[c["source"] == "SynthReview2020"].iloc[0]
    assert row["estimate"] == 0.9 and row["group"] == "Published, MSC only"
    assert "Table 2 (https://example.org/t2)" in row["locator"]
    # no timepoint stated: not like with like, kept with the reason, never a difference
    assert not row["compared"] and "not one timepoint" in row["not_compared_because"] and pd.isna(row["difference"])
    assert (c["source"] == "This review").any()


# ---------------------------------------------------------------------------
# the committed data, against an independent computation
# ---------------------------------------------------------------------------

def test_committed_gmfm_pooling_matches_hand_dl(stage):
    ev = evidence.load()
    g = evidence.gmfm_effects(ev)
    out = clinical.gmfm_by_timepoint(ev)
    pooled = out[out["k"] >= 2]
    if pooled.empty:
        pytest.skip("no GMFM timepoint with two trials in the committed data")
    for _, r in pooled.iterrows():
        sg = g[g["months"] == r["months"]]
        est, lo, hi = dl_by_hand(sg["yi"], sg["vi"])
        assert r["dl_z_estimate"] == pytest.approx(est, rel=1e-9)
        assert (r["dl_z_ci_low"], r["dl_z_ci_high"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))


def test_say_in_a_build_cites_only_this_notebooks_numbers(stage, monkeypatch, tmp_path):
    numbers.save({"mine.k": 4})
    assert manuscript.say("k = {{ mine.k }}").data == "k = 4"
    with pytest.raises(KeyError, match="other.k"):
        manuscript.say("{{ other.k }}")   # recorded by another notebook: not final during a build


def synthetic_family(tmp_path, k=12, seed=7):
    """SYNTHETIC preclinical family of k studies with SMDs and doses (not review data)."""
    rng = np.random.default_rng(seed)
    ids = [f"SynthRat{i:02d}" for i in range(k)]
    vi = rng.uniform(0.05, 0.4, k)
    yi = 0.8 + rng.normal(0, 0.3, k) + 0.6 * np.sqrt(vi)          # some small-study asymmetry
    effects = pd.DataFrame({
        "row_id": [f"{s}_01" for s in ids], "study_id": ids, "cohort_id": ids, "population": "preclinical",
        "product_class": "msc", "msc_source": (["umbilical_cord", "bone_marrow", "adipose"] * k)[:k],
        "mechanism": "neuroregeneration", "outcome": "lesion volume", "timepoint": 28.0, "timepoint_unit": "days",
        "timepoint_days": 28.0, "n1i": 8, "n2i": 8, "yi": yi, "vi": vi, "measure": "SMD", "shared_control": False})
    studies = pd.DataFrame({"study_id": ids, "cohort_id": ids, "population": "preclinical", "design": "animal_controlled",
                            "msc_source": effects["msc_source"], "dose": 10 ** rng.uniform(4.5, 6.5, k),
                            "route": "intraventricular", "species": "rat", "timing": "48 h after HI"})
    return evidence_from(tmp_path, studies, pd.DataFrame(), effects, pd.DataFrame())


def test_robustness_paths_run_when_k_allows(tmp_path, stage):
    """With k = 12 every diagnostic that the real data cannot reach yet (k = 2) runs and exports."""
    import matplotlib
    matplotlib.use("Agg")
    from mscreview.diagnostics import bias
    from mscreview.engine.rma import rma

    ev = synthetic_family(tmp_path)
    fam = ("preclinical", "msc", "neuroregeneration", "")   # no instrument outside clinical function
    assert evidence.pooled_families(ev) == [fam]
    pb = evidence.pooled_by_mechanism(ev).iloc[0]
    ref = rma(ev.effects["yi"].to_numpy(), ev.effects["vi"].to_numpy(), method="REML", test="knha")
    assert pb["estimate"] == pytest.approx(ref.estimate, rel=1e-12) and pb["k"] == 12
    ss = robustness.small_study_assessment(ev).iloc[0]
    eg = bias.regtest(ev.effects["yi"].to_numpy(), ev.effects["vi"].to_numpy())
    assert ss["assessed"] and ss["egger_pvalue"] == pytest.approx(eg.pvalue, rel=1e-12)
    names = lambda figs: sorted(f.name for f in figs)  # noqa: E731
    assert names(plotting.export_all(mechanisms.forest_figures(ev), "99_test")) == ["forest_preclinical_msc_neuroregeneration"]
    assert names(plotting.export_all(robustness.funnel_figures(ev), "99_test")) == ["funnel_preclinical_msc_neuroregeneration"]
    assert len(plotting.export_all(robustness.leave1out_figures(ev), "99_test")) == 1
    assert len(plotting.export_all(robustness.gosh_figures(ev), "99_test")) == 1
    l1 = robustness.leave_one_out(ev)
    assert len(l1) == 12 and "estimate" in l1
    assert len(robustness.influence_table(ev)) == 12
    assert robustness.bayesian(ev)["k"].iloc[0] == 12
    feas = sources.meta_regression_feasibility(ev).set_index("moderator")
    assert bool(feas.loc["log10 dose (cells)", "feasible"])
    bub = plotting.export_all(sources.bubble_figures(ev), "99_test")
    assert names(bub) == ["bubble_log10_dose"]
    est = robustness.estimator_comparison(ev)
    assert len(est) == 6
    sg = sources.source_subgroups(ev)
    assert list(sg["subgroup"][:3]) == ["adipose", "bone_marrow", "umbilical_cord"] and (sg["row"] == "difference").sum() == 2
    assert (stage / "figures" / "gosh_preclinical_msc_neuroregeneration.pdf").exists()


def test_table_index_from_parallel_notebooks_keeps_every_entry(stage, monkeypatch):
    """Two notebooks writing tables in turn (as the parallel build does) lose no index entry."""
    for nb, names in (("01_a", ["t1", "t3"]), ("02_b", ["t2", "t4"])):
        monkeypatch.setenv("MSCREVIEW_NOTEBOOK", nb)
        for n in names:
            tables.write_table(pd.DataFrame({"x": [1]}), n, f"caption {n}")
    assert sorted(tables.table_records(stage)) == ["t1", "t2", "t3", "t4"]
    monkeypatch.setenv("MSCREVIEW_NOTEBOOK", "03_c")
    tables.write_table(pd.DataFrame({"x": [1]}), "t1", "again")
    with pytest.raises(ValueError, match="'t1' written by both 01_a and 03_c"):
        tables.table_records(stage)
