"""The fitting core: every quantity of a fitted (mixed-effects) meta-analytic model, in one place.

Given effect sizes, sampling variances, a design matrix and tau^2, the functions here give the
coefficients and their covariance, the tests (``z``, ``t``, ``knha``, ``adhoc``) with their critical
values and p-values, Q and its p-value, I^2 and H^2, the omnibus QM test, the prediction interval
and metafor's standard error of tau^2. Single fits (:func:`mscreview.engine.rma.rma`, with or
without moderators), batches (:func:`mscreview.engine.rma.fit_batch`, which the diagnostics use)
and the multilevel model take them from here; the tau^2 estimators stay in
:mod:`mscreview.engine.tau2` and never compute a test.

Functions work on scalars (one fit) and on arrays with one element per fit; the intercept-only
single fit keeps its closed-form sums (a fraction of a millisecond per fit) and uses the same
functions for every derived quantity.

References
----------
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software*, 36(3), 1-48.
Hartung, J., & Knapp, G. (2001). *Statistics in Medicine*, 20(24), 3875-3889. (knha)
Higgins, J. P. T., & Thompson, S. G. (2002). *Statistics in Medicine*, 21(11), 1539-1558. (I^2, H^2)
Riley, R. D., Higgins, J. P. T., & Deeks, J. J. (2011). *BMJ*, 342, d549. (prediction interval)
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import chdtrc, fdtrc, ndtr, ndtri, stdtr, stdtrit

__all__ = ["EPS", "crit_and_p", "residual_multiplier", "heterogeneity", "q_pvalue", "qm_test",
           "coefficients_tested", "prediction_interval", "p_matrix", "wls", "xtdx", "tr_p", "tau2_se", "fit"]

EPS = np.finfo(float).eps


def crit_and_p(stat, df, confidence_level, z=True):
    """Critical value and two-sided p-value of Wald statistics: normal (``z`` true) or t with
    ``df`` degrees of freedom. ``z`` may be an array (one flag per fit)."""
    alpha = 1 - confidence_level
    if not isinstance(z, np.ndarray):
        if z:
            return ndtri(1 - alpha / 2), 2 * ndtr(-np.abs(stat))
        return stdtrit(df, 1 - alpha / 2), 2 * stdtr(df, -np.abs(stat))
    crit = np.where(z, ndtri(1 - alpha / 2), stdtrit(df, 1 - alpha / 2))
    zc = z if np.ndim(stat) == np.ndim(z) else z[:, None]
    dfc = df if np.ndim(stat) == np.ndim(df) else df[:, None]
    return crit, np.where(zc, 2 * ndtr(-np.abs(stat)), 2 * stdtr(dfc, -np.abs(stat)))


def residual_multiplier(rss, df_res, test):
    """The Knapp-Hartung multiplier s2w of the coefficients' covariance: the weighted residual
    variance ``rss / (k - p)`` for ``knha`` (0 for a perfect fit), truncated below at 1 for
    ``adhoc``; 1 for ``z`` and ``t``."""
    if test not in ("knha", "adhoc"):
        return np.ones(np.shape(rss)) if isinstance(rss, np.ndarray) else 1.0
    if not isinstance(rss, np.ndarray):
        s2w = 0.0 if rss <= EPS else rss / df_res
        return max(s2w, 1.0) if test == "adhoc" else s2w
    s2w = np.where(rss <= EPS, 0.0, rss / df_res)
    return np.maximum(s2w, 1.0) if test == "adhoc" else s2w


def heterogeneity(q, df_res, tau2, vt, fixed):
    """I^2 (percent) and H^2: from tau^2 and the typical sampling variance ``vt`` for random- and
    mixed-effects models, from Q for equal-effects models; 0 and 1 when ``k <= p``."""
    if not isinstance(q, np.ndarray) and not isinstance(tau2, np.ndarray):
        if df_res <= 0:
            return 0.0, 1.0
        if fixed:
            return max(0.0, 100 * (q - df_res) / q) if q > 0 else 0.0, q / df_res
        return 100 * tau2 / (vt + tau2), tau2 / vt + 1
    has = df_res > 0
    if fixed:
        return (np.where(has & (q > 0), np.maximum(0.0, 100 * (q - df_res) / q), 0.0),
                np.where(has, q / df_res, 1.0))
    return np.where(has, 100 * tau2 / (vt + tau2), 0.0), np.where(has, tau2 / vt + 1, 1.0)


def q_pvalue(q, df_res):
    """p-value of the test for (residual) heterogeneity, chi^2 with ``k - p`` df (1 when ``k <= p``)."""
    if not isinstance(q, np.ndarray) and not isinstance(df_res, np.ndarray):
        return float(chdtrc(df_res, q)) if df_res > 0 else 1.0
    return np.where(df_res > 0, chdtrc(df_res, q), 1.0)


def coefficients_tested(btt, p):
    """Indices of the coefficients the omnibus QM test covers (metafor's ``btt``):
    by default all but the intercept, or the intercept alone without moderators."""
    btt = (list(range(1, p)) if p > 1 else [0]) if btt is None else list(btt)
    if not btt or any(not 0 <= j < p for j in btt):
        raise ValueError(f"btt must index coefficients 0..{p - 1}; got {btt}")
    return btt


def qm_test(beta, vb, btt, z, df):
    """Omnibus Wald test of the coefficients ``btt``.

    One fit: ``beta`` (p,), ``vb`` (p, p), ``z`` a bool, ``df`` a number; n fits: ``beta`` (n, p),
    ``vb`` (n, p, p), ``z`` and ``df`` (n,). Returns ``(qm, pvalue)``: QM, chi^2 with m df where
    ``z``, otherwise F = QM / m with (m, df) df.
    """
    one = beta.ndim == 1
    btt = coefficients_tested(btt, beta.shape[-1])
    m = len(btt)
    if one:
        if m == 1:
            qm = float(beta[btt[0]] ** 2 / vb[btt[0], btt[0]])
        else:
            bsub = beta[btt]
            try:
                qm = float(bsub @ np.linalg.solve(vb[np.ix_(btt, btt)], bsub))
            except np.linalg.LinAlgError:
                qm = math.nan
        if z:
            return qm, float(chdtrc(m, qm))
        return qm / m, float(fdtrc(m, df, qm / m))
    bb = beta[:, btt]
    vbb = vb[:, btt][:, :, btt]
    with np.errstate(invalid="ignore", divide="ignore"):
        if m == 1:
            qm = bb[:, 0] ** 2 / vbb[:, 0, 0]
        else:
            try:
                qm = np.einsum("np,np->n", bb, np.linalg.solve(vbb, bb[:, :, None])[:, :, 0])
            except np.linalg.LinAlgError:
                qm = np.full(len(bb), np.nan)
        qm = np.where(z, qm, qm / m)
        return qm, np.where(z, chdtrc(m, qm), fdtrc(m, df, qm))


def prediction_interval(pred, var, tau2, crit):
    """``pred -/+ crit * sqrt(var + tau2)`` (``var`` the variance of the prediction): where the true
    effect of a new study is expected."""
    pse = np.sqrt(var + tau2) if isinstance(var, np.ndarray) or isinstance(tau2, np.ndarray) else math.sqrt(var + tau2)
    return pred - crit * pse, pred + crit * pse


def p_matrix(w, X):
    """P = W - W X (X'WX)^-1 X'W for diagonal weights w (one data set)."""
    WX = X * w[:, None]
    A = np.linalg.solve(X.T @ WX, WX.T)
    return np.diag(w) - WX @ A


def wls(Y, W, X):
    """Weighted least squares per set with weights W (n, k) (zero for unused studies).

    Returns coefficients ``b`` (n, p), ``A = X'WX`` and its inverse (n, p, p), and residuals
    ``R`` (n, k). Intercept-only (``X is None``): the weighted mean.
    """
    if X is None:
        sw = W.sum(axis=1)
        mu = (W * Y).sum(axis=1) / sw
        return mu[:, None], sw[:, None, None], (1 / sw)[:, None, None], Y - mu[:, None]
    XW = X * W[:, :, None]
    A = np.swapaxes(XW, 1, 2) @ X
    Ai = np.linalg.inv(A)
    b = (Ai @ (np.swapaxes(XW, 1, 2) @ Y[:, :, None]))[:, :, 0]
    R = Y - (X @ b[:, :, None])[:, :, 0]
    return b, A, Ai, R


def xtdx(X, D):
    """X' diag(D) X per set: (n, p, p)."""
    return np.swapaxes(X * D[:, :, None], 1, 2) @ X


def tr_p(W, Ai, X):
    """tr(P) for P = W - W X (X'WX)^-1 X'W, per set."""
    sw = W.sum(axis=1)
    if X is None:
        return sw - (W * W).sum(axis=1) / sw
    return sw - np.trace(Ai @ xtdx(X, W * W), axis1=1, axis2=2)


def tau2_se(y, v, X, tau2, method) -> float:
    """Standard error of tau^2 as metafor reports it for ``method`` (one data set; ``X`` None for
    intercept-only models, which use closed-form sums); NaN for equal-effects models."""
    if method in ("EE", "FE"):
        return math.nan
    k = len(y)
    t = tau2
    if X is None:
        km1 = k - 1
        if method in ("ML", "REML"):
            w = 1 / (v + t)
            sw, sw2 = w.sum(), (w * w).sum()
            if method == "ML":
                return math.sqrt(2 / sw2)
            trpp = sw2 - 2 * (w * w * w).sum() / sw + (sw2 / sw) ** 2
            return math.sqrt(2 / trpp)
        if method in ("EB", "PM"):
            sw = (1 / (v + t)).sum()
            return math.sqrt(2 * k * k / km1 / sw**2)
        if method in ("DL", "HS"):
            w = 1 / v
            sw, sw2 = w.sum(), (w * w).sum()
            trp = sw - sw2 / sw
            trpp = sw2 - 2 * (w * w * w).sum() / sw + (sw2 / sw) ** 2
            inner = 2 * km1 + 4 * t * trp + 2 * t * t * trpp
            return math.sqrt(inner / trp**2) if method == "DL" else math.sqrt(inner / sw**2)
        if method == "HE":
            sv = v.sum()
            spvpv = (1 - 2 / k) * (v * v).sum() + sv * sv / k**2
            trpv = sv * km1 / k
            return math.sqrt((2 * spvpv + 4 * t * trpv + 2 * t * t * km1) / km1**2)
        # SJ
        t0 = float(np.mean((y - y.mean()) ** 2))
        w = 1 / (v + t0)
        sw, sw2, sw3 = w.sum(), (w * w).sum(), (w**3).sum()
        s_pvpv = (w * w * v * v).sum() - 2 * (w**3 * v * v).sum() / sw + ((w * w * v).sum() / sw) ** 2
        s_pvp = (w * w * v).sum() - 2 * (w**3 * v).sum() / sw + sw2 * (w * w * v).sum() / sw**2
        s_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
        return math.sqrt(t0**2 / km1**2 * (2 * s_pvpv + 4 * t * s_pvp + 2 * t * t * s_pp))
    p = X.shape[1]
    if method == "HS":
        w = 1 / v
        P = p_matrix(w, X)
        return math.sqrt(1 / w.sum() ** 2 * (2 * (k - p) + 4 * t * np.trace(P) + 2 * t**2 * np.sum(P * P)))
    if method == "HE":
        PV_ols = (np.eye(k) - X @ np.linalg.solve(X.T @ X, X.T)) * v[None, :]
        return math.sqrt(1 / (k - p) ** 2 * (2 * np.sum(PV_ols * PV_ols.T) + 4 * t * np.trace(PV_ols)
                                             + 2 * t**2 * (k - p)))
    if method == "DL":
        P = p_matrix(1 / v, X)
        trp = np.trace(P)
        return math.sqrt(1 / trp**2 * (2 * (k - p) + 4 * t * trp + 2 * t**2 * np.sum(P * P)))
    if method == "SJ":
        tau2_0 = np.var(y)  # the starting value: population variance of the yi
        P = p_matrix(1 / (v + tau2_0), X)
        PV = P * v[None, :]
        return math.sqrt(tau2_0**2 / (k - p) ** 2 * (2 * np.sum(PV * PV.T) + 4 * t * np.sum(PV * P)
                                                     + 2 * t**2 * np.sum(P * P)))
    if method == "ML":
        w = 1 / (v + tau2)
        return math.sqrt(2 / np.sum(w * w))
    if method == "REML":
        P = p_matrix(1 / (v + tau2), X)
        return math.sqrt(2 / np.sum(P * P))
    w = 1 / (v + tau2)   # EB, PM
    return math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)


def fit(Y, V, Mf, k, X, tau2, method, test, confidence_level, btt=None) -> dict:
    """Every quantity of the models ``(Y[i], V[i], X[i])`` at ``tau2[i]``, for n fits at once.

    ``Y``, ``V``, ``Mf`` (n, k) with unused studies masked (``Mf`` 0, weight 0); ``k`` (n,) studies
    per fit; ``X`` None (intercept only) or (n or 1, k, p). Fits with a single study use z
    (metafor). Returns arrays keyed as the fields of
    :class:`mscreview.engine.results.BatchFit` (no NaN masking for non-converged tau^2).
    """
    n = len(k)
    p = 1 if X is None else X.shape[2]
    kp = k - p
    t = np.nan_to_num(tau2)
    W = Mf / (V + t[:, None])
    beta, A, Ai, R = wls(Y, W, X)
    W0 = Mf / V
    b0, A0, Ai0, R0 = wls(Y, W0, X)
    has = kp > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(has, np.maximum(0.0, (W0 * R0**2).sum(axis=1)), 0.0)
        q_p = q_pvalue(q, kp)
        vt = np.where(has, kp / tr_p(W0, Ai0, X), 0.0)
        i2, h2 = heterogeneity(q, kp, tau2, vt, method in ("EE", "FE"))
        zrow = k == 1 if test != "z" else np.ones(n, dtype=bool)  # metafor: z for k = 1
        s2w = np.where(zrow, 1.0, residual_multiplier((W * R**2).sum(axis=1), kp, test))
        vb = s2w[:, None, None] * Ai
        se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
        stat = beta / se
        df = np.where(zrow, np.nan, kp)
        crit, pval = crit_and_p(stat, df, confidence_level, zrow)
        crit = crit[:, None]
        qm, qm_p = qm_test(beta, vb, btt, zrow, df)
        if X is None:
            pi_low, pi_high = prediction_interval(beta[:, 0], vb[:, 0, 0], t, crit[:, 0])
        else:
            pi_low = pi_high = np.full(n, np.nan)
    return dict(beta=beta, se=se, stat=stat, pval=pval, crit=crit, df=df, vb=vb, s2w=s2w, q=q, q_p=q_p,
                vt=vt, i2=i2, h2=h2, qm=qm, qm_p=qm_p, pi_low=pi_low, pi_high=pi_high, W=W,
                ci_low=beta - crit * se, ci_high=beta + crit * se)
