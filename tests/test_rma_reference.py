"""The engine against R metafor 3.8-1 and clubSandwich 0.5.8 (tests/reference/engine_reference.json).

The JSON is written by ``Rscript tests/reference/engine_reference.R`` and
holds the R call, the package versions and every value at full precision.

Tolerances (one per kind of quantity):

* ``CLOSED = 1e-10`` relative: closed-form estimators (EE, DL, HE, HS, SJ) and
  everything computed from them; both sides do the same few floating-point
  operations, so only rounding differs.
* ``ITERATIVE = 1e-6`` relative: ML, REML, EB, PM and the Q-profile CI bounds
  (root finding / Fisher scoring; metafor's own stopping rules limit the
  agreement even with a tight ``threshold``).
* Absolute floors scale with the data (``vi``), so that a tau^2 of exactly
  zero on one side and 1e-17 on the other is not a failure.

Known differences from metafor that we keep are listed in
``tests/reference/README.md`` with their cause.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscreview.engine.rma import rma

REF = json.loads((Path(__file__).parent / "reference" / "engine_reference.json").read_text())
CLOSED = 1e-10
ITERATIVE = 1e-6
ITERATIVE_METHODS = {"ML", "REML", "EB", "PM"}

# The grid may grow but must never shrink silently.
MIN_CASES = {"escalc": 25, "rma": 1044, "mods": 108, "mv": 7, "datasets": 29}


def test_reference_grid_is_complete():
    for key, n in MIN_CASES.items():
        assert len(REF[key]) >= n, f"reference grid {key!r} shrank: {len(REF[key])} < {n}"
    assert REF["versions"]["metafor"] == "3.8.1"
    methods = {c["method"] for c in REF["rma"]}
    tests = {c["test"] for c in REF["rma"]}
    assert methods == {"EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"}
    assert tests == {"z", "t", "knha", "adhoc"}
    assert not [c["id"] for c in REF["rma"] if "error" in c]
    assert len(REF["batch"]["Y"]) >= 150 and len(REF["batch"]["results"]) >= 8


def _close(ours, theirs, rtol, atol, what):
    ours = np.atleast_1d(np.asarray(ours, dtype=float))
    theirs = np.atleast_1d(np.asarray([np.nan if t is None else t for t in np.atleast_1d(theirs)],
                                      dtype=float))
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs {theirs.shape}"
    both_nan = np.isnan(ours) & np.isnan(theirs)
    ok = both_nan | np.isclose(ours, theirs, rtol=rtol, atol=atol)
    assert ok.all(), f"{what}: ours {ours} vs metafor {theirs} (rtol {rtol}, atol {atol})"


def _scalar(x):
    return x[0] if isinstance(x, list) else x


def check_fit(res, v, method, scale, label, pred=True, closed=CLOSED):
    tol = ITERATIVE if method in ITERATIVE_METHODS else closed
    s = scale
    _close(res.tau2, v["tau2"], tol, tol * s, f"{label} tau2")
    if method != "EE":
        _close(res.se_tau2, v["se.tau2"], tol, tol * s, f"{label} se_tau2")
    _close(res.beta, v["beta"], tol, tol * math.sqrt(s), f"{label} beta")
    _close(res.beta_se, v["se"], tol, tol * math.sqrt(s), f"{label} se")
    _close(res.beta_statistic, v["zval"], tol, tol, f"{label} statistic")
    _close(res.beta_pvalue, v["pval"], tol, 1e-14, f"{label} pvalue")
    _close(res.beta_ci_low, v["ci.lb"], tol, tol * math.sqrt(s), f"{label} ci_low")
    _close(res.beta_ci_high, v["ci.ub"], tol, tol * math.sqrt(s), f"{label} ci_high")
    _close(res.q, v["QE"], closed, 1e-12, f"{label} Q")
    _close(res.q_pvalue, v["QEp"], closed, 1e-14, f"{label} Q p")
    _close(res.i2, v["I2"], tol, tol * 100, f"{label} I2")
    _close(res.h2, v["H2"], tol, tol, f"{label} H2")
    _close(res.qm, v["QM"], tol, tol, f"{label} QM")
    _close(res.qm_pvalue, v["QMp"], tol, 1e-14, f"{label} QM p")
    _close(res.s2w, v["s2w"], tol, tol, f"{label} s2w")
    _close(res.weights, v["weights"], tol, tol * 100, f"{label} weights (%)")
    if res.test != "z":
        assert res.df == _scalar(v["ddf"])
    if pred and v.get("pi.lb"):  # metafor gives no PI for EE models
        _close(res.pi_low, v["pi.lb"], tol, tol * math.sqrt(s), f"{label} pi_low")
        _close(res.pi_high, v["pi.ub"], tol, tol * math.sqrt(s), f"{label} pi_high")
    if "confint" in v:
        ci = res.confint()
        qtol = ITERATIVE
        for name, lo, hi in (("tau2", ci.tau2_ci_low, ci.tau2_ci_high),
                             ("I2", ci.i2_ci_low, ci.i2_ci_high),
                             ("H2", ci.h2_ci_low, ci.h2_ci_high)):
            ref = v["confint"][name]
            atol = qtol * (s if name == "tau2" else 100 if name == "I2" else 1)
            _close([lo, hi], ref[1:], qtol, atol, f"{label} confint {name}")


RMA_CASES = [c for c in REF["rma"] if "values" in c]


@pytest.mark.parametrize("case", RMA_CASES, ids=[c["id"] for c in RMA_CASES])
def test_rma_matches_metafor(case):
    d = REF["datasets"][case["data"]]
    yi, vi = np.array(d["yi"]), np.array(d["vi"])
    res = rma(yi, vi, method=case["method"], test=case["test"])
    check_fit(res, case["values"], case["method"], float(np.median(vi)), case["id"])


MOD_CASES = [c for c in REF["mods"] if "values" in c]
MOD_COLUMNS = {"ablat": ["ablat"], "year_ablat": ["year", "ablat"], "alloc": ["alloc"]}


@pytest.mark.parametrize("case", MOD_CASES, ids=[c["id"] for c in MOD_CASES])
def test_moderators_match_metafor(case):
    md = REF["mods_data"]
    data = pd.DataFrame(md)
    res = rma("yi", "vi", mods=MOD_COLUMNS[case["spec"]], data=data, method=case["method"],
              test=case["test"])
    X_r = np.column_stack(case["X"])
    np.testing.assert_array_equal(res.X, X_r)
    assert len(res.coef_names) == len(case["coef_names"])
    # rounding in X'WX is amplified by the condition number of X (year ~ 1950
    # next to an intercept: cond ~ 5e5), on both sides
    closed = max(CLOSED, np.linalg.cond(res.X) * 1e-15)
    check_fit(res, case["values"], case["method"], float(np.median(data.vi)), case["id"], pred=False,
              closed=closed)
    if "predict" in case["values"]:
        p = case["values"]["predict"]
        tol = ITERATIVE if case["method"] in ITERATIVE_METHODS else closed
        pr = res.predict(np.array(p["newmods"], dtype=float)[:, None])
        for ours, theirs in (("pred", "pred"), ("se", "se"), ("ci_low", "ci.lb"), ("ci_high", "ci.ub"),
                             ("pi_low", "pi.lb"), ("pi_high", "pi.ub")):
            if not p[theirs]:  # metafor gives no PI for EE models
                continue
            _close(pr[ours].to_numpy(), p[theirs], tol, tol, f"{case['id']} predict {ours}")


@pytest.mark.parametrize("method", sorted(REF["batch"]["results"]))
def test_estimate_batch_matches_metafor_loop(method):
    from mscreview.engine.rma import fit_batch
    b = REF["batch"]
    Y, V, M = np.array(b["Y"]), np.array(b["V"]), np.array(b["mask"], dtype=bool)
    ref = b["results"][method]
    fit = fit_batch(Y, V, M, method=method)
    tol = ITERATIVE if method in ITERATIVE_METHODS else CLOSED
    _close(fit.tau2, ref["tau2"], tol, tol * 0.25, f"batch {method} tau2")
    _close(fit.estimate, ref["estimate"], tol, tol * 0.5, f"batch {method} estimate")
    _close(fit.se, ref["se"], tol, tol * 0.5, f"batch {method} se")
