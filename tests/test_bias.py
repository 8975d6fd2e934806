"""regtest, ranktest, trimfill against R metafor 3.8-1 (tests/reference/diag_reference.json,
made by tests/reference/diag_reference.R); PET-PEESE and funnel data against hand derivations.
Synthetic data sets in the reference are labelled random_* / ties_k8."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mscreview.diagnostics.bias import funnel_data, pet_peese, ranktest, regtest, trimfill

REF = json.loads((Path(__file__).parent / "reference" / "diag_reference.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}
CONTROL = {"threshold": 1e-12, "tol": 1e-12}
CLOSED = {"FE", "EE", "DL", "HE", "HS", "SJ"}


def tol(method):
    # closed-form estimators 1e-10 relative; iterative (REML, ML, PM, EB) 1e-6
    return 1e-10 if method in CLOSED else 1e-6


def ids(fn):
    return sorted(i for i, c in CASES.items() if c["fn"] == fn)


def test_reference_grid_is_complete():
    assert len(ids("regtest")) >= 132
    assert len(ids("ranktest")) >= 14
    assert len(ids("trimfill")) >= 108


@pytest.mark.parametrize("cid", ids("regtest"))
def test_regtest_matches_metafor(cid):
    c = CASES[cid]
    d, r = c["data"], c["result"]
    t = tol(d["method"]) if d["model"] == "rma" else 1e-10
    out = regtest(d["yi"], d["vi"], ni=d.get("ni"), model=d["model"], predictor=d["predictor"],
                  method=d["method"], test=d["test"], min_k=3, control=CONTROL)
    assert out.statistic == pytest.approx(r["statistic"], rel=t, abs=1e-12)
    assert out.pvalue == pytest.approx(r["pvalue"], rel=t, abs=1e-14)
    assert out.slope == pytest.approx(r["slope"], rel=t, abs=1e-12)
    if r["df"] is not None:
        assert out.df == r["df"]
    else:
        assert np.isnan(out.df)
    if r.get("est") is not None:
        assert out.estimate == pytest.approx(r["est"], rel=t, abs=1e-12)
        assert out.ci_low == pytest.approx(r["ci_low"], rel=t, abs=1e-12)
        assert out.ci_high == pytest.approx(r["ci_high"], rel=t, abs=1e-12)
    else:
        assert np.isnan(out.estimate)


@pytest.mark.parametrize("cid", ids("ranktest"))
def test_ranktest_matches_metafor(cid):
    c = CASES[cid]
    d, r = c["data"], c["result"]
    out = ranktest(d["yi"], d["vi"], exact=d["exact"], min_k=3)
    assert out.statistic == pytest.approx(r["statistic"], rel=1e-10)
    assert out.pvalue == pytest.approx(r["pvalue"], rel=1e-10)


def test_ranktest_ties_fall_back_to_normal():
    d = CASES["ranktest_ties_k8_TRUE"]["data"]
    assert ranktest(d["yi"], d["vi"], min_k=3).exact is False


@pytest.mark.parametrize("cid", ids("trimfill"))
def test_trimfill_matches_metafor(cid):
    c = CASES[cid]
    d, r = c["data"], c["result"]
    side = None if d["side"] == "auto" else d["side"]
    out = trimfill(d["yi"], d["vi"], method=d["method"], estimator=d["estimator"], side=side,
                   min_k=3, control=CONTROL)
    t = tol(d["method"])
    assert out.side == r["side"]
    assert out.k0 == r["k0"]
    if r["se_k0"] is None:
        assert np.isnan(out.se_k0)
    else:
        assert out.se_k0 == pytest.approx(r["se_k0"], rel=1e-10)
    if r["p_k0"] is not None:
        assert out.p_k0 == pytest.approx(r["p_k0"], rel=1e-12)
    assert out.k == r["k"]
    for f in ["estimate", "se", "tau2", "ci_low", "ci_high"]:
        assert getattr(out, f) == pytest.approx(r[f], rel=t, abs=1e-10), f
    np.testing.assert_allclose(out.yi[out.fill], np.atleast_1d(r["yi_filled"]), rtol=t, atol=1e-10)
    np.testing.assert_allclose(out.vi[out.fill], np.atleast_1d(r["vi_filled"]), rtol=1e-12)


def test_min_k_refusal_names_threshold_and_override():
    rng = np.random.default_rng(0)
    yi, vi = rng.normal(size=8), rng.uniform(0.05, 0.2, 8)
    for fn in (regtest, ranktest, trimfill, pet_peese):
        with pytest.raises(ValueError, match=r"k = 8 .*minimum of 10.*Cochrane.*min_k"):
            fn(yi, vi)
    assert np.isfinite(regtest(yi, vi, min_k=8).pvalue)
    with pytest.raises(ValueError, match="at least 3"):
        regtest(yi[:2], vi[:2], min_k=0)


def test_regtest_needs_ni_for_sample_size_predictors():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="ni="):
        regtest(rng.normal(size=12), rng.uniform(0.1, 0.2, 12), predictor="ninv")


def test_pet_peese_equals_wls_by_hand():
    # oracle: numpy least squares with weights 1/vi
    rng = np.random.default_rng(7)
    vi = rng.uniform(0.01, 0.2, 15)
    yi = 0.2 + 1.5 * np.sqrt(vi) + rng.normal(0, np.sqrt(vi))
    res = pet_peese(yi, vi)
    w = np.sqrt(1 / vi)
    for pred, r in ((np.sqrt(vi), res.pet), (vi, res.peese)):
        X = np.column_stack([np.ones(15), pred])
        b, rss, *_ = np.linalg.lstsq(X * w[:, None], yi * w, rcond=None)
        s2 = rss[0] / 13
        cov = s2 * np.linalg.inv((X * (1 / vi)[:, None]).T @ X)
        assert r.estimate == pytest.approx(b[0], rel=1e-10)
        assert r.slope == pytest.approx(b[1], rel=1e-10)
        assert r.statistic == pytest.approx(b[1] / np.sqrt(cov[1, 1]), rel=1e-10)
        half = stats.t.isf(0.025, 13) * np.sqrt(cov[0, 0])
        assert r.ci_low == pytest.approx(b[0] - half, rel=1e-10)
    p_int = 2 * stats.t.sf(abs(res.pet.estimate) / ((res.pet.estimate - res.pet.ci_low) / stats.t.isf(0.025, 13)), 13)
    assert res.pet_pvalue == pytest.approx(p_int, rel=1e-8)
    assert res.selected == ("PEESE" if p_int < 0.10 else "PET")
    assert res.estimate == (res.peese if res.selected == "PEESE" else res.pet).estimate


def test_funnel_data_contours_and_regions():
    fd = funnel_data([0.5, 0.1, -0.9], [0.04, 0.25, 0.09])
    c95 = fd.contours[fd.contours.level == 0.95]
    assert c95.ci_high.iloc[-1] == pytest.approx(1.959963984540054 * 0.5)
    assert c95.sei.max() == pytest.approx(0.5)
    # study 1: z = 2.5, p = 0.0124 -> between 0.01 and 0.05
    assert fd.studies.region.tolist() == ["0.01 <= p < 0.05", "p >= 0.1", "p < 0.01"]
    assert fd.studies.pvalue[0] == pytest.approx(2 * stats.norm.sf(2.5))
