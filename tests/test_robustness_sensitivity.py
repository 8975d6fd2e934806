"""Sensitivity analyses of notebook 06 (mscreview.review.robustness) and the like-with-like comparison and
imputed-SD sensitivity of notebook 05/06 (mscreview.review.clinical), on SYNTHETIC evidence.

Every table here is SYNTHETIC (invented in this file, not review data). Expected values are computed by hand
in the test (formulas in comments), never by the engine under test.
"""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mscreview.data import schema
from synthetic import evidence_from
from mscreview.review import clinical, evidence, imputation, robustness, rules


def hedges_g(m1, sd1, n1, m2, sd2, n2):
    """Hedges' g with the exact small-sample correction J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)), m = n1 + n2 - 2
    (Hedges 1981, as metafor's escalc), and metafor's variance 1/n1 + 1/n2 + g^2 / (2 (n1 + n2)), by hand."""
    sp = math.sqrt(((n1 - 1) * sd1 ** 2 + (n2 - 1) * sd2 ** 2) / (n1 + n2 - 2))
    m = n1 + n2 - 2
    j = math.exp(math.lgamma(m / 2) - 0.5 * math.log(m / 2) - math.lgamma((m - 1) / 2))
    g = j * (m1 - m2) / sp
    return g, 1 / n1 + 1 / n2 + g ** 2 / (2 * (n1 + n2))


def reml_hk_k2(y, v):
    """REML + Hartung-Knapp for k = 2 by hand: tau2 = max(0, ((y1 - y2)^2 - v1 - v2) / 2) (the contrast
    y1 - y2 ~ N(0, v1 + v2 + 2 tau2) is all the REML likelihood sees); HK se^2 = sum w (y - mu)^2 / ((k - 1) sum w)."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    tau2 = max(0.0, ((y[0] - y[1]) ** 2 - v.sum()) / 2)
    w = 1 / (v + tau2)
    mu = (w * y).sum() / w.sum()
    se = math.sqrt((w * (y - mu) ** 2).sum() / (w.sum()))
    t = stats.t.ppf(0.975, 1)
    return mu, mu - t * se, mu + t * se, tau2


def _row(rid, sid, n, m1, sd1, m2, sd2, disp, tp=12.0, outcome="GMFM-88"):
    r = {c: "" for c in schema.columns("data/extracted.csv")}
    r.update(row_id=rid, study_id=sid, mechanism="function", outcome=outcome, higher_is_better=True,
             timepoint=tp, timepoint_unit="months", comparison_type="between_groups", data_availability="numeric",
             score_type="change", center_type="mean", n1i=n, m1i=m1, sd1i=sd1, n2i=n, m2i=m2, sd2i=sd2,
             dispersion_type=disp, source_kind="primary",
             instrument="GMFM-88" if outcome == "GMFM-88" else "")
    return r


def clinical_evidence(tmp_path, rows, doubt=None):
    """SYNTHETIC controlled MSC trials (one per row) turned into an Evidence by the shared rules."""
    ex = pd.DataFrame(rows).replace("", pd.NA)
    for c in ("n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i", "timepoint", "x1i", "x2i", "lo1i", "lo2i", "hi1i",
              "hi2i", "effect", "effect_ci_low", "effect_ci_high"):
        ex[c] = pd.to_numeric(ex[c], errors="coerce")
    if doubt is not None:
        ex["dispersion_doubt"] = [doubt.get(r, "") for r in ex["row_id"]]
    sids = sorted(set(ex["study_id"]))
    studies = pd.DataFrame({"study_id": sids, "cohort_id": sids, "population": "clinical", "design": "rct",
                            "product": "msc", "msc_source": "umbilical_cord", "species": "human", "route": "intravenous"})
    effects, excluded = rules.effect_table(ex, studies, "SMD")
    return evidence_from(tmp_path, studies, ex, effects, excluded)


TWO = [_row("SynthA_01", "SynthA", 20, 10.0, 2.0, 5.0, 2.0, "SD"), _row("SynthB_01", "SynthB", 25, 8.0, 6.0, 4.0, 6.0, "SD")]


# ---------------------------------------------------------------------------------------------
# dispersion read the other way (protocol 9.3)
# ---------------------------------------------------------------------------------------------

def test_flagged_dispersion_read_as_sem_matches_hand_pooling(tmp_path):
    ev = clinical_evidence(tmp_path, TWO, doubt={"SynthA_01": "SYNTHETIC: SDs a fifth of the other trial's"})
    t = robustness.dispersion_sensitivity(ev)
    got = t[t["variant"] == "flagged dispersion read the other way"].set_index("family")
    # by hand: SynthA read as SEM: SD = 2 * sqrt(20) in both arms
    ga, va = hedges_g(10, 2 * math.sqrt(20), 20, 5, 2 * math.sqrt(20), 20)
    gb, vb = hedges_g(8, 6, 25, 4, 6, 25)
    mu, lo, hi, _ = reml_hk_k2([ga, gb], [va, vb])
    assert ga == pytest.approx(0.5479, abs=2e-4)          # about (1 - 3/151) * 5 / 8.944
    for fam in got.index:                                   # the mechanism family and the GMFM timepoint
        assert got.loc[fam, "estimate"] == pytest.approx(mu, rel=1e-9)
        assert (got.loc[fam, "ci_low"], got.loc[fam, "ci_high"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
        # the primary (as labelled) is beside it
        g0, v0 = hedges_g(10, 2, 20, 5, 2, 20)
        assert got.loc[fam, "primary_estimate"] == pytest.approx(reml_hk_k2([g0, gb], [v0, vb])[0], rel=1e-9)
    # the unstated-dispersion variants change nothing here: dropped, with one row saying so
    dropped = t[t["family"] == "(all)"]
    assert set(dropped["variant"]) == {"unstated dispersion read as SD", "unstated dispersion read as SEM"}
    assert dropped["note"].str.contains("identical to the primary").all()
    # the extracted table itself is never changed
    assert ev.extracted.loc[0, "dispersion_type"] == "SD"


def test_no_flag_column_says_no_flagged_rows(tmp_path):
    ev = clinical_evidence(tmp_path, TWO)
    t = robustness.dispersion_sensitivity(ev)
    row = t[t["variant"] == "flagged dispersion read the other way"].iloc[0]
    assert row["family"] == "(none)" and "no flagged rows" in row["note"]
    assert robustness.dispersion_sensitivity.numbers(ev)["robustness.dispersion.flagged_rows"] == 0


# ---------------------------------------------------------------------------------------------
# cohorts counted once (protocol 9.7)
# ---------------------------------------------------------------------------------------------

def test_overlap_sensitivity_keeps_one_report_per_group_each_in_turn(tmp_path):
    rows = TWO + [_row("SynthC_01", "SynthC", 30, 9.0, 5.0, 6.0, 5.0, "SD")]
    (tmp_path / "review").mkdir()
    pd.DataFrame([{"group_id": "OV01", "study_ids": "SynthA;SynthB", "evidence": "SYNTHETIC", "source": "test",
                   "validated": "false"}]).to_csv(tmp_path / "review" / "overlap_groups.csv", index=False)
    ev = clinical_evidence(tmp_path, rows)
    t = robustness.overlap_sensitivity(ev)
    t = t[t["family"] == "clinical / msc / function / GMFM"].set_index("kept")
    assert set(t.index) == {"SynthA", "SynthB"} and (t["k"] == 2).all()
    g = {s: hedges_g(*a) for s, a in {"SynthA": (10, 2, 20, 5, 2, 20), "SynthB": (8, 6, 25, 4, 6, 25),
                                      "SynthC": (9, 5, 30, 6, 5, 30)}.items()}
    for kept, dropped in (("SynthA", "SynthB"), ("SynthB", "SynthA")):
        mu, lo, hi, _ = reml_hk_k2([g[kept][0], g["SynthC"][0]], [g[kept][1], g["SynthC"][1]])
        assert t.loc[kept, "dropped"] == dropped
        assert t.loc[kept, "estimate"] == pytest.approx(mu, rel=1e-9)
        assert t.loc[kept, "ci_high"] == pytest.approx(hi, rel=1e-9)
    assert "depend" in robustness.overlap_note(ev) or "does not change" in robustness.overlap_note(ev)


def test_overlap_leaving_one_study_shows_its_own_estimate(tmp_path):
    (tmp_path / "review").mkdir()
    pd.DataFrame([{"group_id": "OV01", "study_ids": "SynthA;SynthB", "evidence": "SYNTHETIC", "source": "test",
                   "validated": "false"}]).to_csv(tmp_path / "review" / "overlap_groups.csv", index=False)
    ev = clinical_evidence(tmp_path, TWO)
    t = robustness.overlap_sensitivity(ev).set_index(["family", "kept"])
    ga, va = hedges_g(10, 2, 20, 5, 2, 20)
    r = t.loc[("clinical / msc / function / GMFM", "SynthA")]
    assert r["k"] == 1 and r["conclusion_changes"]
    assert r["estimate"] == pytest.approx(ga, rel=1e-9)
    assert r["ci_low"] == pytest.approx(ga - 1.959963984540054 * math.sqrt(va), rel=1e-9)
    assert "nothing is left to pool" in robustness.overlap_note(ev)


# ---------------------------------------------------------------------------------------------
# estimators that coincide, prediction intervals, Bayes reported whole
# ---------------------------------------------------------------------------------------------

def test_estimators_coincide_at_k2_and_are_marked(tmp_path):
    ev = clinical_evidence(tmp_path, [_row("SynthA_01", "SynthA", 20, 12.0, 2.0, 5.0, 2.0, "SD"), TWO[1]])
    t = robustness.estimator_comparison(ev)
    fam = t[t["family"] == "clinical / msc / function / GMFM"]
    ga, va = hedges_g(12, 2, 20, 5, 2, 20)
    gb, vb = hedges_g(8, 6, 25, 4, 6, 25)
    tau2 = ((ga - gb) ** 2 - va - vb) / 2                 # > 0 here: heterogeneous
    assert tau2 > 0 and np.allclose(fam["tau2"], tau2, rtol=1e-6)
    assert list(fam["distinct"]) == [True, True, False, False, False, False]
    assert (fam.loc[~fam["distinct"], "same_as"] == "REML").all()
    assert fam.loc[~fam["distinct"], "note"].str.contains("identical at k = 2").all()
    nums = robustness.estimator_comparison.numbers(ev)
    assert nums["robustness.estimators.distinct_fits"] == 2 * nums["robustness.estimators.families"]


def test_no_prediction_interval_below_three_studies():
    assert evidence.fit_numbers("x", {"k": 2, "estimate": 1.0, "pi_low": -5.0, "pi_high": 7.0})["x.pi_low"] is None
    assert evidence.fit_numbers("x", {"k": 3, "estimate": 1.0, "pi_low": -5.0, "pi_high": 7.0})["x.pi_low"] == -5.0


def test_bayes_numbers_under_every_prior_and_conflict(tmp_path):
    from mscreview.engine.bayes import bayesmeta, prior_data_conflict
    ev = clinical_evidence(tmp_path, TWO)
    nums = robustness.prior_sensitivity.numbers(ev)
    nums.update(robustness.bayesian.numbers(ev))
    g = evidence.families_for_robustness(ev)["clinical / msc / function / GMFM"]
    b = bayesmeta(g["yi"].to_numpy(), g["vi"].to_numpy(), tau_prior="halfcauchy", tau_scale=1.0)
    key = "bayes.clinical_msc_function_GMFM.halfcauchy_1"
    assert nums[f"{key}.mean"] == pytest.approx(b.summary.loc["mu", "mean"], rel=1e-12)
    assert nums[f"{key}.cri_low"] == pytest.approx(b.summary.loc["mu", "ci_low"], rel=1e-12)
    assert nums[f"{key}.p_benefit"] == pytest.approx(1 - float(b.cdf(0.0)), rel=1e-12)
    for p in ("halfnormal_0_25", "halfnormal_0_5", "halfnormal_1", "halfcauchy_0_25", "halfcauchy_0_5"):
        assert {f"bayes.clinical_msc_function_GMFM.{p}.{f}" for f in ("mean", "median", "cri_low", "cri_high",
                                                                  "p_benefit")} <= set(nums)
    c = prior_data_conflict(g["yi"].to_numpy(), g["vi"].to_numpy(), tau_prior="halfnormal", tau_scale=0.5)
    assert nums["bayes.clinical_msc_function_GMFM.conflict"] == pytest.approx(c.pvalue, rel=1e-12)
    assert robustness.bayesian(ev)[["pi_low", "pi_high"]].isna().all().all()


# ---------------------------------------------------------------------------------------------
# like with like; Liu2017-style imputed SD (protocol 9.2)
# ---------------------------------------------------------------------------------------------

def test_imputed_sd_is_a_parameter_and_never_data(tmp_path):
    rows = [TWO[1], _row("SynthC_01", "SynthC", 20, 10.0, "", 5.0, "", "none")]
    ev = clinical_evidence(tmp_path, rows)
    assert "SynthC_01" in set(ev.excluded["row_id"])        # primary: no dispersion, listed as excluded
    gb, vb = hedges_g(8, 6, 25, 4, 6, 25)
    for sd in (5.0, 2.5):
        t = imputation.imputed_sd_sensitivity(ev, sd).set_index("months")
        gc, vc = hedges_g(10, sd, 20, 5, sd, 20)           # sd 5: d = 1, g = J(38), about 1 - 3/151
        mu, lo, hi, _ = reml_hk_k2([gb, gc], [vb, vc])
        assert t.loc[12.0, "k"] == 2 and t.loc[12.0, "primary_k"] == 1 and t.loc[12.0, "imputed"] == "SynthC"
        assert t.loc[12.0, "estimate"] == pytest.approx(mu, rel=1e-9)
        assert t.loc[12.0, "ci_low"] == pytest.approx(lo, rel=1e-9)
    assert pd.isna(ev.extracted.loc[1, "sd1i"])             # the borrowed SD never enters the extracted table
    assert imputation.BORROWED_SDS[0]["sd"] == 5.1 and "Table 3" in imputation.BORROWED_SDS[0]["locator"]


def test_published_pool_compared_only_like_with_like(tmp_path):
    ev = clinical_evidence(tmp_path, TWO)
    (tmp_path / "review").mkdir()
    base = {"population": "clinical", "outcome": "GMFM", "k_studies": 2, "n_participants": 90,
            "source_url": "https://example.org/t", "source_locator": "Table 2"}
    pd.DataFrame([
        {**base, "review_id": "SynthSame2020", "cell_types": "MSC only", "timepoint": "12 months", "measure": "SMD",
         "estimate": 0.9, "ci_low": 0.4, "ci_high": 1.4},
        {**base, "review_id": "SynthNoMeasure2025", "cell_types": "MSC only", "timepoint": "12 months",
         "measure": "", "estimate": 1.0, "ci_low": 0.3, "ci_high": 1.7},
        {**base, "review_id": "SynthMixed2019", "cell_types": "all cell types (mixed)", "timepoint": "12 months",
         "measure": "SMD", "estimate": 0.6, "ci_low": 0.1, "ci_high": 1.1},
    ]).to_csv(tmp_path / "review" / "published_estimates.csv", index=False)
    c = clinical.published_comparison(ev).set_index("source")
    ga, va = hedges_g(10, 2, 20, 5, 2, 20)
    gb, vb = hedges_g(8, 6, 25, 4, 6, 25)
    ours = reml_hk_k2([ga, gb], [va, vb])[0]
    assert c.loc["SynthSame2020", "compared"]
    assert c.loc["SynthSame2020", "difference"] == pytest.approx(0.9 - ours, rel=1e-9)
    assert not c.loc["SynthNoMeasure2025", "compared"]
    assert "effect measure" in c.loc["SynthNoMeasure2025", "not_compared_because"]
    assert "other cell products" in c.loc["SynthMixed2019", "not_compared_because"]
    plotted = clinical.published_gmfm_forest_data(ev)["data"]["source"]
    assert "SynthSame2020" in set(plotted) and not {"SynthNoMeasure2025", "SynthMixed2019"} & set(plotted)


def test_inferred_pool_trials_say_inferred():
    r = {"review_id": "Xie2020", "outcome": "adverse event: diarrhea", "included_study_ids": float("nan")}
    assert "inferred" in clinical._pool_trials(r) and clinical._pool_trials(r).startswith("Gu2020; Huang2018")
