"""Three-level models and the shared-control covariance against R metafor 3.8-1.

Tolerance ITERATIVE = 1e-6 relative (REML/ML optimisation on both sides;
metafor's nlminb with rel.tol = 1e-10); variance components near zero are
compared with an absolute floor of 1e-6 x mean(vi).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mscreview.engine.rma import rma
from mscreview.engine.multilevel import rma_mv, vcov_shared_control

REF = json.loads((Path(__file__).parent / "reference" / "engine_reference.json").read_text())
ITERATIVE = 1e-6


def _fit(case):
    d = REF["mv_data"][case["data"]]
    method, test = case["id"].split("/")[1:3]
    X = np.column_stack(case["X"])
    mods = None if X.shape[1] == 1 else X[:, 1:]
    return rma_mv(d["yi"], d["vi"], d["study"], d["es_id"], mods=mods, method=method, test=test), d


@pytest.mark.parametrize("case", REF["mv"], ids=[c["id"] for c in REF["mv"]])
def test_three_level_matches_metafor(case):
    res, d = _fit(case)
    v = case["values"]
    s = float(np.mean(d["vi"]))
    np.testing.assert_allclose(res.sigma2, v["sigma2"], rtol=ITERATIVE, atol=ITERATIVE * s)
    for ours, theirs in ((res.beta, "beta"), (res.beta_se, "se"), (res.beta_ci_low, "ci.lb"),
                         (res.beta_ci_high, "ci.ub"), (res.beta_statistic, "zval")):
        np.testing.assert_allclose(ours, v[theirs], rtol=ITERATIVE, atol=ITERATIVE * np.sqrt(s))
    np.testing.assert_allclose(res.beta_pvalue, v["pval"], rtol=ITERATIVE, atol=1e-12)
    assert res.q == pytest.approx(v["QE"][0], rel=1e-10)
    assert res.q_pvalue == pytest.approx(v["QEp"][0], rel=1e-9, abs=1e-15)
    assert res.qm == pytest.approx(v["QM"][0], rel=ITERATIVE)
    assert res.loglik == pytest.approx(v["logLik"][0], rel=1e-9)
    assert res.k == v["k"]
    if len(res.beta) == 1:
        assert res.pi_low == pytest.approx(v["pi.lb"][0], rel=ITERATIVE)
        assert res.pi_high == pytest.approx(v["pi.ub"][0], rel=ITERATIVE)
    if res.test == "t":
        assert res.df == v["ddf"][0]


def test_shared_control_covariance_matches_vcalc():
    sc = REF["shared_control"]
    d = sc["data"]
    V = vcov_shared_control(d["vi"], d["study"], d["trt"], ["ctrl"] * len(d["vi"]), d["n1i"], d["n2i"])
    np.testing.assert_allclose(V, np.column_stack(sc["V"]), rtol=1e-12, atol=1e-15)
    # hand derivation: arms a and b of study 1 share the control (n_c = 11)
    r = (1 / 11) / np.sqrt((1 / 10 + 1 / 11) * (1 / 12 + 1 / 11))
    assert V[0, 1] == pytest.approx(r * np.sqrt(d["vi"][0] * d["vi"][1]), rel=1e-12)
    assert V[0, 3] == 0.0  # different studies
    res = rma_mv(d["yi"], V, d["study"])
    f = sc["fit"]
    np.testing.assert_allclose(res.beta, f["beta"], rtol=ITERATIVE)
    np.testing.assert_allclose(res.beta_se, f["se"], rtol=ITERATIVE)
    np.testing.assert_allclose(res.sigma2, f["sigma2"], atol=1e-8)


def test_three_level_reduces_to_rma_when_one_effect_per_study():
    rng = np.random.default_rng(5)
    vi = rng.uniform(0.02, 0.2, 12)
    yi = rng.normal(0.3, np.sqrt(vi + 0.1))
    uni = rma(yi, vi, method="REML")
    mv = rma_mv(yi, vi, study=np.arange(12))
    # sigma2 components are not separately identified; their sum is tau2
    assert sum(mv.sigma2) == pytest.approx(uni.tau2, rel=1e-6)
    assert mv.estimate == pytest.approx(uni.estimate, rel=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown method"):
        rma_mv([0.1, 0.2, 0.3, 0.4], [0.1] * 4, [1, 1, 2, 2], method="DL")
    with pytest.raises(ValueError, match="too few"):
        rma_mv([0.1, 0.2], [0.1, 0.1], [1, 2])
    with pytest.raises(ValueError, match="must be > 0"):
        rma_mv([0.1, 0.2, 0.3, 0.4], [0.1, 0, 0.1, 0.1], [1, 1, 2, 2])
    with pytest.raises(ValueError, match="NaN"):
        rma_mv([0.1, np.nan, 0.3, 0.4], [0.1] * 4, [1, 1, 2, 2])
    with pytest.raises(ValueError, match="study has length"):
        rma_mv([0.1, 0.2, 0.3, 0.4], [0.1] * 4, [1, 1, 2])
    with pytest.raises(ValueError, match="not unique"):
        rma_mv([0.1, 0.2, 0.3, 0.4], [0.1] * 4, [1, 1, 2, 2], es_id=[1, 1, 1, 2])
    with pytest.raises(ValueError, match="group sizes"):
        vcov_shared_control([0.1, 0.1], [1, 1], ["a", "b"], ["c", "c"], [10, 0], [10, 10])


def test_objects():
    case = REF["mv"][0]
    res, _ = _fit(case)
    assert "Three-level model (k = 56 effects in 11 studies" in repr(res)
    f = res.to_frame()
    assert f.shape[0] == 1 and "sigma2_study" in f.columns
    assert "<pre>" in res._repr_html_()
