"""CR2 cluster-robust tests against R clubSandwich 0.5.8 (coef_test, vcov = "CR2").

Tolerance 1e-6 relative: the working model comes from an iterative fit.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mscreview.engine.rma import rma
from mscreview.engine.multilevel import rma_mv
from mscreview.engine.robust import coef_test

REF = json.loads((Path(__file__).parent / "reference" / "engine_reference.json").read_text())
TOL = 1e-6


def _check(ct, ref):
    np.testing.assert_allclose(ct.beta, ref["beta"], rtol=TOL)
    np.testing.assert_allclose(ct.se, ref["SE"], rtol=TOL)
    np.testing.assert_allclose(ct.statistic, ref["tstat"], rtol=TOL)
    np.testing.assert_allclose(ct.df, ref["df"], rtol=TOL)
    np.testing.assert_allclose(ct.pvalue, ref["p"], rtol=TOL, atol=1e-12)


@pytest.mark.parametrize("case", REF["mv"], ids=[c["id"] for c in REF["mv"]])
def test_cr2_on_three_level_models(case):
    d = REF["mv_data"][case["data"]]
    method, test = case["id"].split("/")[1:3]
    X = np.column_stack(case["X"])
    res = rma_mv(d["yi"], d["vi"], d["study"], d["es_id"], mods=None if X.shape[1] == 1 else X[:, 1:],
                 method=method, test=test)
    _check(coef_test(res, d["study"]), case["cr2"])


def test_cr2_on_univariate_models():
    d = REF["mv_data"]["konstantopoulos"]
    for case, mods in zip(REF["cr2_uni"], [None, np.array(d["year"]) - 1985]):
        res = rma(d["yi"], d["vi"], mods=mods)
        assert res.tau2 == pytest.approx(case["tau2"][0], rel=TOL)
        _check(coef_test(res, d["study"]), case["cr2"])


def test_cr2_equals_hc_form_with_singletons_and_no_adjustment_limit():
    # With one effect per cluster, CR2 = sum of squared adjusted residuals (HC2-type);
    # check the SE against the direct formula e_i^2 / (1 - h_ii) with weights
    rng = np.random.default_rng(3)
    vi = rng.uniform(0.05, 0.2, 10)
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    res = rma(yi, vi, method="REML")
    w = 1 / (vi + res.tau2)
    h = w / w.sum()
    e = yi - res.estimate
    se_hc2 = np.sqrt(np.sum(w**2 * e**2 / (1 - h)) / w.sum() ** 2)
    ct = coef_test(res, np.arange(10))
    assert ct.se[0] == pytest.approx(se_hc2, rel=1e-10)


def test_bad_cluster():
    res = rma([0.1, 0.3, 0.2, 0.5], [0.1, 0.1, 0.2, 0.1])
    with pytest.raises(ValueError, match="cluster has length"):
        coef_test(res, [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2 clusters"):
        coef_test(res, [1, 1, 1, 1])
    assert "CR2" in repr(coef_test(res, [1, 1, 2, 2]))
