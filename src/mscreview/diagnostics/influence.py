"""Sensitivity analyses: leave-one-out, influence diagnostics and cumulative meta-analysis.

All refits are done at once by the engine's batched fitter (:func:`mscreview.engine.rma.fit_batch`) with a
mask of shape ``(n_fits, k)``: leave-one-out uses the complement of the identity, cumulative
meta-analysis a lower-triangular mask in the chosen order. Definitions and output follow R
metafor's ``leave1out``, ``influence`` and ``cumul`` (version 3.8).

References
----------
Viechtbauer, W., & Cheung, M. W.-L. (2010). Outlier and influence diagnostics for
meta-analysis. Research Synthesis Methods, 1(2), 112-125.
Lau, J., Schmid, C. H., & Chalmers, T. C. (1995). Cumulative meta-analysis of clinical trials
builds evidence for exemplary medical care. Journal of Clinical Epidemiology, 48(1), 45-57.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.rma import effect_arrays, fit_batch, model_data
from ..engine.tau2 import control_options

__all__ = ["leave1out", "influence", "cumul"]

_FIT_COLUMNS = ["estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "q", "q_pvalue",
                "tau2", "i2", "h2"]


def _labels(slab, k, data):
    if slab is None:
        return [f"Study {i + 1}" for i in range(k)]
    if isinstance(slab, str) and data is not None and slab in data.columns:
        slab = data[slab]
    slab = [str(s) for s in slab]
    if len(slab) != k:
        raise ValueError(f"slab has {len(slab)} labels but there are {k} studies")
    return slab


def _fit_frame(f):
    return pd.DataFrame({c: getattr(f, c) for c in _FIT_COLUMNS})


def leave1out(yi, vi, method="REML", test="z", data=None, slab=None, confidence_level=0.95,
              control=None):
    """Refit the random-effects model leaving out each study in turn.

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``).
    method, test : str
        As in :func:`mscreview.engine.rma.rma` (metafor names).
    data : pandas.DataFrame, optional
    slab : sequence of str or str, optional
        Study labels (or a column name).
    confidence_level : float
    control : dict, optional
        Options of iterative estimators (see :func:`mscreview.engine.tau2.control_options`).

    Returns
    -------
    pandas.DataFrame
        One row per omitted study: ``study``, ``k`` (studies in the refit), ``estimate``, ``se``,
        ``statistic``, ``pvalue``, ``ci_low``, ``ci_high``, ``q``, ``q_pvalue``, ``tau2``,
        ``i2`` (percent), ``h2``.

    References
    ----------
    Viechtbauer, W., & Cheung, M. W.-L. (2010). Outlier and influence diagnostics for
    meta-analysis. Research Synthesis Methods, 1(2), 112-125.
    """
    y, v, _ = effect_arrays(data, yi, vi)
    k = y.size
    if k < 2:
        raise ValueError(f"leave1out needs at least 2 studies, got k = {k}")
    mask = ~np.eye(k, dtype=bool)
    f = fit_batch(y, v, mask, method=method, test=test, confidence_level=confidence_level,
                  **control_options(control))
    out = _fit_frame(f)
    out.insert(0, "k", f.k)
    out.insert(0, "study", _labels(slab, k, data))
    return out


def cumul(yi, vi, order=None, method="REML", test="z", data=None, slab=None, decreasing=False,
          confidence_level=0.95, control=None):
    """Cumulative meta-analysis: the model on the first 1, 2, ..., k studies in a given order.

    Parameters
    ----------
    yi, vi : array_like or str
    order : array_like or str, optional
        Sort key (e.g. publication year, or its column name); ties keep the data order, as R's
        ``order``. Default: the data order.
    method, test, data, slab, confidence_level, control
        As in :func:`leave1out`.
    decreasing : bool
        Sort the key in decreasing order.

    Returns
    -------
    pandas.DataFrame
        One row per step, in the chosen order: ``study`` (the study added), ``order`` (its key),
        ``k`` and the model columns of :func:`leave1out`.

    References
    ----------
    Lau, J., Schmid, C. H., & Chalmers, T. C. (1995). Cumulative meta-analysis of clinical trials
    builds evidence for exemplary medical care. Journal of Clinical Epidemiology, 48(1), 45-57.
    """
    y, v, c = effect_arrays(data, yi, vi, order=order)
    k = y.size
    key = np.arange(k, dtype=float) if c["order"] is None else c["order"]
    if key.shape != (k,):
        raise ValueError(f"order must have one value per study ({k}), got shape {key.shape}")
    idx = np.argsort(-key if decreasing else key, kind="stable")
    y, v = y[idx], v[idx]
    mask = np.tril(np.ones((k, k), dtype=bool))
    f = fit_batch(y, v, mask, method=method, test=test, confidence_level=confidence_level,
                  **control_options(control))
    out = _fit_frame(f)
    out.insert(0, "k", f.k)
    out.insert(0, "order", key[idx])
    out.insert(0, "study", [_labels(slab, k, data)[i] for i in idx])
    return out


def influence(yi, vi, mods=None, method="REML", test="z", data=None, slab=None, control=None):
    """Case-deletion influence diagnostics, as metafor's ``influence.rma.uni``.

    For each study i, with the model refitted without it (tau2, coefficients and their
    covariance re-estimated):

    - ``rstudent``: externally standardised residual, (yi - xi b(-i)) divided by
      sqrt(vi + tau2(-i) + var(xi b(-i))) (with the Knapp-Hartung factor when ``test="knha"``);
    - ``dffits``: change in the fitted value, standardised;
    - ``cook_d``: Cook's distance over all coefficients, with the full model's covariance;
    - ``cov_r``: ratio det(vb(-i)) / det(vb);
    - ``tau2_del``, ``qe_del``: tau2 and the Q statistic without study i;
    - ``hat``: leverage (diagonal of the hat matrix); ``weight``: weight in percent;
    - ``dfbetas_<coef>``: change in each coefficient in units of its standard error;
    - ``inf``: metafor's flag, True when |dffits| > 3 sqrt(p/(k-p)), or the chi-square(p)
      CDF of ``cook_d`` exceeds 0.5, or hat > 3 p/k, or any |dfbetas| > 1.

    Parameters
    ----------
    yi, vi : array_like or str
    mods : array_like, str or list of str, optional
        Moderators (an intercept is added).
    method, test, data, slab, control
        As in :func:`leave1out`.

    Returns
    -------
    pandas.DataFrame
        One row per study with the columns listed above.

    References
    ----------
    Viechtbauer, W., & Cheung, M. W.-L. (2010). Outlier and influence diagnostics for
    meta-analysis. Research Synthesis Methods, 1(2), 112-125.
    Belsley, D. A., Kuh, E., & Welsch, R. E. (1980). Regression diagnostics. Wiley.
    """
    y, v, X, names = model_data("influence", yi, vi, mods, data)
    k, p = X.shape
    # the full model (row 0) and the k leave-one-out models in one batch
    mask = np.vstack([np.ones((1, k), dtype=bool), ~np.eye(k, dtype=bool)])
    both = fit_batch(y, v, mask, method=method, test=test, X=X, **control_options(control))
    beta, vb, tau2 = both.beta[0], both.vb[0], both.tau2[0]
    w = 1.0 / (v + tau2)
    A = (X * w[:, None]).T @ X
    Ainv = np.linalg.inv(A)
    hat = np.einsum("ip,pq,iq->i", X, Ainv, X) * w
    hat[hat > 1 - 10 * np.finfo(float).eps] = 1.0
    weight = 100 * w / w.sum()

    bd, vbd, t2d, s2w = both.beta[1:], both.vb[1:], both.tau2[1:], both.s2w[1:]
    pred_full = X @ beta
    delpred = np.einsum("ip,ip->i", X, bd)
    vdelpred = np.einsum("ip,ipq,iq->i", X, vbd, X)
    dffits = (pred_full - delpred) / np.sqrt(s2w * hat * (t2d + v))
    # vb.del: covariance over all k studies with the leave-out tau2 (metafor's choice)
    Wd = 1.0 / (v[None, :] + t2d[:, None])
    Ad = np.einsum("kp,nk,kq->npq", X, Wd, X)
    vb_del = np.linalg.inv(Ad)
    dfb = beta[None, :] - bd
    dfbetas = dfb / np.sqrt(s2w[:, None] * np.diagonal(vb_del, axis1=1, axis2=2))
    svb = np.linalg.inv(vb)
    cook = np.einsum("np,pq,nq->n", dfb, svb, dfb)
    cov_r = np.linalg.det(vbd) / np.linalg.det(vb)
    resid = y - delpred
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    seresid = np.sqrt(v * s2w + vdelpred + t2d * s2w)
    rstudent = resid / seresid
    m = p
    with np.errstate(invalid="ignore"):
        flag = ((np.abs(dffits) > 3 * np.sqrt(p / (k - p))) | (stats.chi2.cdf(cook, m) > 0.5)
                | (hat > 3 * p / k) | np.any(np.abs(dfbetas) > 1, axis=1))
    out = pd.DataFrame({"study": _labels(slab, k, data), "rstudent": rstudent, "dffits": dffits,
                        "cook_d": cook, "cov_r": cov_r, "tau2_del": t2d, "qe_del": both.q[1:],
                        "hat": hat, "weight": weight})
    for j, nm in enumerate(names):
        out[f"dfbetas_{nm}"] = dfbetas[:, j]
    out["inf"] = flag
    return out
