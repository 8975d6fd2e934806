"""statsmodels as an independent check: the engine against
``statsmodels.stats.meta_analysis.combine_effects`` where their methods coincide, and the event-rate
CIs (``statsmodels.stats.proportion.proportion_confint``) against scipy's exact binomial CI.

The data sets are the real ones of ``tests/reference/engine_reference.json`` (dat.bcg log risk
ratios, dat.normand1999 SMDs, dat.hackshaw1998 log odds ratios, as metafor ships them). Where
statsmodels differs from metafor (and so from the engine) is written in
``tests/reference/engine_README.md`` ("statsmodels").
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from mscreview.engine.rma import rma
from mscreview.review.uncontrolled import event_rates

REF = json.loads((Path(__file__).parent / "reference" / "engine_reference.json").read_text())
DATASETS = ["bcg_rr", "bcg_or", "normand_md", "normand_smd", "hackshaw", "random_k8_tau0.4", "edge_k2"]

#: closed forms (fixed effect, DL) do the same few operations on both sides
CLOSED = 1e-10
#: Paule-Mandel: statsmodels stops its fixed-point iteration at ``atol=1e-5`` on the change of the
#: generalised Q (``_fit_tau_iterative``, at most 50 steps), far looser than the engine's 1e-12; on
#: edge_k2 its tau^2 is 0.1999994 against metafor's 0.2 (3e-6 relative)
ITERATIVE = 2e-5


def _data(name):
    d = REF["datasets"][name]
    return np.asarray(d["yi"], float), np.asarray(d["vi"], float)


@pytest.mark.parametrize("name", DATASETS)
def test_fixed_effect_equals_engine_ee(name):
    yi, vi = _data(name)
    ours = rma(yi, vi, method="EE", test="z")
    sm = combine_effects(yi, vi, method_re="chi2", use_t=False)
    assert sm.mean_effect_fe == pytest.approx(ours.estimate, rel=CLOSED)
    assert sm.sd_eff_w_fe == pytest.approx(ours.se, rel=CLOSED)
    # z test and Wald CI
    assert 2 * stats.norm.sf(abs(sm.mean_effect_fe / sm.sd_eff_w_fe)) == pytest.approx(ours.pvalue, rel=1e-8)
    fe = sm.summary_frame().loc["fixed effect"]
    assert (fe["ci_low"], fe["ci_upp"]) == pytest.approx((ours.ci_low, ours.ci_high), rel=CLOSED)
    # Cochran's Q from the fixed-effect fit
    assert sm.q == pytest.approx(ours.q, rel=CLOSED)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("method, method_re, tol", [("DL", "chi2", CLOSED), ("PM", "iterated", ITERATIVE)])
def test_random_effects_z_equals_engine(name, method, method_re, tol):
    yi, vi = _data(name)
    ours = rma(yi, vi, method=method, test="z")
    sm = combine_effects(yi, vi, method_re=method_re, use_t=False)
    scale = float(np.mean(vi))       # tau2 of exactly 0 on one side and 1e-17 on the other is no failure
    assert sm.tau2 == pytest.approx(ours.tau2, rel=tol, abs=tol * scale)
    assert sm.mean_effect_re == pytest.approx(ours.estimate, rel=tol, abs=tol * scale)
    assert sm.sd_eff_w_re == pytest.approx(ours.se, rel=tol)
    re = sm.summary_frame().loc["random effect"]
    assert (re["ci_low"], re["ci_upp"]) == pytest.approx((ours.ci_low, ours.ci_high), rel=tol, abs=tol * scale)
    z = sm.mean_effect_re / sm.sd_eff_w_re
    assert 2 * stats.norm.sf(abs(z)) == pytest.approx(ours.pvalue, rel=max(tol, 1e-8) * 100)
    assert sm.i2 * 100 == pytest.approx(ours.i2, rel=1e-8, abs=1e-8) if method == "DL" else True


@pytest.mark.filterwarnings("ignore:`use_t=True` requires")   # about the per-study CIs, not used here
@pytest.mark.parametrize("name", DATASETS)
def test_hartung_knapp_matches_statsmodels_wls_with_t(name):
    # statsmodels' "random effect wls" row scales the variance by the weighted residual mean square
    # (Hartung & Knapp 2001; Sidik & Jonkman 2002) without truncation, as metafor's test = "knha";
    # with use_t=True its CI uses t(k - 1), as metafor's.
    yi, vi = _data(name)
    ours = rma(yi, vi, method="DL", test="knha")
    sm = combine_effects(yi, vi, method_re="chi2", use_t=True)
    row = sm.summary_frame(use_t=True).loc["random effect wls"]
    assert row["eff"] == pytest.approx(ours.estimate, rel=CLOSED)
    assert row["sd_eff"] == pytest.approx(ours.se, rel=CLOSED)
    assert (row["ci_low"], row["ci_upp"]) == pytest.approx((ours.ci_low, ours.ci_high), rel=1e-9)


def test_event_rate_ci_is_clopper_pearson_as_scipy():
    # SYNTHETIC rows: 0/8, 1/10, 3/12, 12/12 and a controlled row 2/15 vs 5/14
    ex = pd.DataFrame({"row_id": ["r1", "r2", "r3", "r4", "r5"], "study_id": ["A", "B", "C", "D", "E"],
                       "mechanism": "safety", "outcome": "adverse events", "comparison_type": "single_arm",
                       "x1i": [0, 1, 3, 12, 2], "n1i": [8, 10, 12, 12, 15],
                       "x2i": [np.nan, np.nan, np.nan, np.nan, 5], "n2i": [np.nan, np.nan, np.nan, np.nan, 14]})
    st = pd.DataFrame({"study_id": list("ABCDE"), "design": ["case_series"] * 4 + ["rct"]})
    out = event_rates(ex, st).set_index("row_id")
    for rid, x, n in zip(ex["row_id"], ex["x1i"], ex["n1i"]):
        ci = stats.binomtest(int(x), int(n)).proportion_ci(method="exact")
        assert out.loc[rid, "p1_ci_low"] == pytest.approx(ci.low, rel=1e-12, abs=1e-15)
        assert out.loc[rid, "p1_ci_high"] == pytest.approx(ci.high, rel=1e-12, abs=1e-15)
    ci = stats.binomtest(5, 14).proportion_ci(method="exact")
    assert (out.loc["r5", "p2_ci_low"], out.loc["r5", "p2_ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)
    # by hand: 0/8 -> upper = 1 - 0.025^(1/8) = 0.36942; 12/12 -> lower = 0.025^(1/12) = 0.73535
    assert out.loc["r1", "p1_ci_low"] == 0.0
    assert out.loc["r1", "p1_ci_high"] == pytest.approx(1 - 0.025 ** (1 / 8), rel=1e-10)
    assert out.loc["r4", "p1_ci_low"] == pytest.approx(0.025 ** (1 / 12), rel=1e-10)
    # Wilson would differ (a broken method= would fail here): 1/10 Wilson upper is 0.404
    assert out.loc["r2", "p1_ci_high"] == pytest.approx(0.44502, abs=1e-4)
