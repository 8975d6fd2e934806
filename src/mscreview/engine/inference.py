"""Inference on a fitted model, computed on demand: predictions with confidence and prediction
intervals (metafor ``predict.rma``) and the Q-profile confidence interval of tau^2 (metafor
``confint.rma.uni``). Result types call these; nothing here imports them (no cycle).

References
----------
Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
*Statistics in Medicine*, 26(1), 37-52. (Q-profile)
Riley, R. D., Higgins, J. P. T., & Deeks, J. J. (2011). *BMJ*, 342, d549. (prediction interval)
"""
from __future__ import annotations

import numpy as np
from scipy.special import chdtri

from . import core

__all__ = ["predict", "generalised_q", "qprofile"]


def predict(res, newmods, level):
    """Predicted mean, CI and prediction interval of a fitted model at ``newmods`` (metafor
    ``predict.rma``); ``res`` is an :class:`~mscreview.engine.results.RMAResult`."""
    import pandas as pd
    if newmods is None:
        Xn = np.zeros((1, res.p))
        Xn[0, 0] = 1.0
    else:
        nm = np.asarray(newmods, dtype=float)
        if nm.ndim == 0:
            nm = nm.reshape(1, 1)
        elif nm.ndim == 1:
            nm = nm[None, :] if res.p - 1 == len(nm) and res.p > 2 else nm[:, None]
        if nm.shape[1] != res.p - 1:
            raise ValueError(f"newmods needs {res.p - 1} column(s) (moderators without intercept)")
        Xn = np.column_stack([np.ones(len(nm)), nm])
    pred = Xn @ res.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, res.vb, Xn))
    crit, _ = core.crit_and_p(0.0, res.df, level, res.test == "z")
    pi_low, pi_high = core.prediction_interval(pred, se**2, res.tau2, crit)
    return pd.DataFrame({"pred": pred, "se": se, "ci_low": pred - crit * se,
                         "ci_high": pred + crit * se, "pi_low": pi_low, "pi_high": pi_high})


def generalised_q(res, t):
    """Generalised Q = y'Py of a fitted model's data at tau^2 = ``t``."""
    X = res.X if res.X is not None else np.ones((res.k, 1))
    P = core.p_matrix(1 / (res.vi + t), X)
    return float(res.yi @ P @ res.yi)


def qprofile(res, level) -> dict:
    """Q-profile CI of tau^2 (Viechtbauer 2007), as metafor ``confint.rma.uni``:
    ``{"tau2_ci_low", "tau2_ci_high"}`` (the result type derives tau, I^2 and H^2 from them)."""
    from scipy.optimize import brentq
    if res.method in ("EE", "FE"):
        raise ValueError("an equal-effects model has no tau^2 to give a CI for")
    df = res.k - res.p
    alpha = 1 - level
    crit_u = chdtri(df, alpha / 2)        # upper quantile -> lower bound of tau2
    crit_l = chdtri(df, 1 - alpha / 2)    # lower quantile -> upper bound of tau2
    tmin, tmax = 0.0, max(100.0, res.tau2 * 10)
    q_min = generalised_q(res, tmin)
    # metafor stops the search at max(100, 10 tau2) and reports "> bound"; we
    # widen the interval until the root is bracketed (Q decreases to 0)
    q_max = generalised_q(res, tmax)
    while q_max > crit_l and tmax < 1e300:
        tmax *= 10
        q_max = generalised_q(res, tmax)
    def root(target):
        return brentq(lambda t: generalised_q(res, t) - target, tmin, tmax, xtol=1e-13,
                      rtol=4 * core.EPS, maxiter=1000)

    if q_min < crit_l:
        lo = hi = tmin
    else:
        hi = tmax if q_max > crit_l else root(crit_l)
    if q_max > crit_u:
        lo = hi = tmax
    elif q_min < crit_u:
        lo = tmin
    else:
        lo = root(crit_u)
    return {"tau2_ci_low": lo, "tau2_ci_high": hi}
