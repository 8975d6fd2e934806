"""Estimators of the between-study variance tau^2 and the :data:`METHODS` registry.

Two entry points:

* :func:`estimate_batch` - intercept-only models for many data sets at once
  (arrays of shape ``(n_sets, k)`` with a boolean mask), vectorised across
  sets: no Python loop per fit.  Diagnostics (GOSH, leave-one-out,
  permutation tests) build on it.
* :func:`estimate` - one data set with a design matrix ``X`` (meta-regression),
  used by :func:`mscreview.meta.rma`.

Both follow metafor's ``rma.uni`` (3.8-1): the same estimating equations,
the same starting value (Hedges' estimate, truncated at zero) for the
iterative ML/REML/EB estimators, the same step-halving at the zero bound and
the same check that the likelihood at tau^2 = 0 is not higher.  They iterate
to a tighter tolerance than metafor's default (``threshold=1e-5``); the
reference tests run metafor with a tight threshold too.  Negative raw
estimates are truncated at zero in one place, :func:`clip`.

Non-convergence: :func:`estimate` raises :class:`ConvergenceError`;
:func:`estimate_batch` returns NaN for the sets that did not converge and
issues a :class:`RuntimeWarning` naming how many (a NaN is never mistaken for
a number).

References
----------
DerSimonian, R., & Laird, N. (1986). Meta-analysis in clinical trials.
*Controlled Clinical Trials*, 7(3), 177-188. (DL)
Hedges, L. V., & Olkin, I. (1985). *Statistical Methods for Meta-Analysis*.
Academic Press. (HE)
Hunter, J. E., & Schmidt, F. L. (2004). *Methods of Meta-Analysis* (2nd ed.).
Sage. (HS)
Sidik, K., & Jonkman, J. N. (2005). Simple heterogeneity variance estimation
for meta-analysis. *JRSS C*, 54(2), 367-384. (SJ)
Paule, R. C., & Mandel, J. (1982). Consensus values and weighting factors.
*Journal of Research of the National Bureau of Standards*, 87(5), 377-385. (PM)
Morris, C. N. (1983). Parametric empirical Bayes inference. *JASA*, 78(381),
47-55. (EB)
Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance
estimators in the random-effects model. *Journal of Educational and
Behavioral Statistics*, 30(3), 261-293. (ML, REML, Fisher scoring)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["METHODS", "Tau2Method", "ConvergenceError", "clip", "estimate", "estimate_batch",
           "fit_batch", "BatchFit"]

# metafor's con$tol (.Machine$double.eps^0.25) used in its ll0 check
_LL0_TOL = np.finfo(float).eps ** 0.25
TOL = 1e-10       # relative change in tau2 at which iterations stop
MAXITER = 1000
TAU2_MAX = 100.0  # metafor's tau2.max starting upper bound (PM); doubled as needed


class ConvergenceError(RuntimeError):
    """An iterative tau^2 estimator did not converge."""


@dataclass(frozen=True)
class Tau2Method:
    """One tau^2 estimator."""

    code: str
    description: str
    iterative: bool
    reference: str


METHODS: dict[str, Tau2Method] = {m.code: m for m in (
    Tau2Method("EE", "Equal-effects (common-effect) model: tau^2 = 0", False, "Hedges & Olkin (1985)"),
    Tau2Method("FE", "Fixed-effect model (alias of EE): tau^2 = 0", False, "Hedges & Olkin (1985)"),
    Tau2Method("DL", "DerSimonian-Laird method of moments", False, "DerSimonian & Laird (1986)"),
    Tau2Method("HE", "Hedges' unweighted method of moments", False, "Hedges & Olkin (1985)"),
    Tau2Method("HS", "Hunter-Schmidt", False, "Hunter & Schmidt (2004)"),
    Tau2Method("SJ", "Sidik-Jonkman", False, "Sidik & Jonkman (2005)"),
    Tau2Method("ML", "Maximum likelihood (Fisher scoring)", True, "Viechtbauer (2005)"),
    Tau2Method("REML", "Restricted maximum likelihood (Fisher scoring)", True, "Viechtbauer (2005)"),
    Tau2Method("EB", "Empirical Bayes (Morris)", True, "Morris (1983)"),
    Tau2Method("PM", "Paule-Mandel (generalised Q = k - p)", True, "Paule & Mandel (1982)"),
)}


def clip(tau2):
    """Truncate raw tau^2 estimates at zero: the single place where this happens."""
    return np.maximum(tau2, 0.0)


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; available: {list(METHODS)}")


# ---------------------------------------------------------------------------
# Batched intercept-only estimators
# ---------------------------------------------------------------------------

def _prepare(Y, V, mask):
    Y = np.asarray(Y, dtype=float)
    V = np.asarray(V, dtype=float)
    if Y.ndim == 1:
        Y, V = Y[None, :], V[None, :] if V.ndim == 1 else V
    if Y.shape != V.shape or Y.ndim != 2:
        raise ValueError(f"Y and V must have the same shape (n_sets, k); got {Y.shape} and {V.shape}")
    if mask is None:
        M = np.ones(Y.shape, dtype=bool)
    else:
        M = np.asarray(mask, dtype=bool)
        if M.ndim == 1:
            M = M[None, :]
        if M.shape != Y.shape:
            raise ValueError(f"mask must have shape {Y.shape}; got {M.shape}")
    used_y, used_v = Y[M], V[M]
    if not (np.all(np.isfinite(used_y)) and np.all(np.isfinite(used_v))):
        raise ValueError("Y or V contains NaN or infinite values among the studies used (mask)")
    if np.any(used_v <= 0):
        raise ValueError("V (sampling variances vi) must be > 0 for every study used")
    k = M.sum(axis=1)
    if np.any(k < 1):
        raise ValueError(f"{int(np.sum(k < 1))} data set(s) have no study (k = 0)")
    # Masked cells get y = 0, v = 1 and weight 0, so they drop out of every sum.
    Y = np.where(M, Y, 0.0)
    V = np.where(M, V, 1.0)
    return Y, V, M.astype(float), k.astype(float)


def _wsums(Y, V, Mf, tau2):
    """Weights, weighted mean and generalised Q at tau2 (n_sets,)."""
    W = Mf / (V + tau2[:, None])
    sw = W.sum(axis=1)
    mu = (W * Y).sum(axis=1) / sw
    R = Y - mu[:, None]
    return W, sw, mu, R


def _raw_closed(Y, V, Mf, k, method):
    n = Y.shape[0]
    km1 = k - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        if method in ("EE", "FE"):
            return np.zeros(n)
        ybar = (Mf * Y).sum(axis=1) / k
        rss_u = (Mf * (Y - ybar[:, None]) ** 2).sum(axis=1)
        if method == "HE":
            return (rss_u - (Mf * V).sum(axis=1) * km1 / k) / km1
        if method == "SJ":
            t0 = rss_u / k
            W, sw, mu, R = _wsums(Y, V, Mf, t0)
            return t0 * (W * R**2).sum(axis=1) / km1
        W, sw, mu, R = _wsums(Y, V, Mf, np.zeros(n))
        q = (W * R**2).sum(axis=1)
        if method == "DL":
            trp = sw - (W**2).sum(axis=1) / sw
            return (q - km1) / trp
        if method == "HS":
            return (q - k) / sw
    raise AssertionError(method)


def _q_at(Y, V, Mf, tau2):
    W, sw, mu, R = _wsums(Y, V, Mf, tau2)
    return (W * R**2).sum(axis=1), (W**2 * R**2).sum(axis=1)


def _pm_batch(Y, V, Mf, k, tol, maxiter):
    """Paule-Mandel: root of Q(tau2) = k - 1 by safeguarded Newton steps on a bracket."""
    n = Y.shape[0]
    target = k - 1
    tau2 = np.zeros(n)
    q0, _ = _q_at(Y, V, Mf, tau2)
    active = q0 > target  # otherwise tau2 = 0
    lo = np.zeros(n)
    hi = np.full(n, TAU2_MAX)
    # grow the upper bound until Q(hi) < target (metafor stops with an error at 100)
    for _ in range(200):
        qh, _ = _q_at(Y, V, Mf, hi)
        grow = active & (qh > target)
        if not grow.any():
            break
        hi = np.where(grow, hi * 10, hi)
    converged = ~active
    scale = (Mf * V).sum(axis=1) / k
    it = 0
    while active.any() and it < maxiter:
        it += 1
        idx = np.flatnonzero(active)
        t = tau2[idx]
        q, dq = _q_at(Y[idx], V[idx], Mf[idx], t)
        f = q - target[idx]
        # f is decreasing in tau2: keep the bracket
        lo[idx] = np.where(f > 0, t, lo[idx])
        hi[idx] = np.where(f <= 0, t, hi[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / dq
        new = t + step
        bad = ~np.isfinite(new) | (new <= lo[idx]) | (new >= hi[idx])
        new = np.where(bad, (lo[idx] + hi[idx]) / 2, new)
        done = np.abs(new - t) <= tol * (new + scale[idx])
        tau2[idx] = new
        converged[idx[done]] = True
        active[idx[done]] = False
    return tau2, converged, it


def _fisher_step(y, v, m, k, t, method):
    """Step of the iteration: Newton on the score for ML/REML where the log-likelihood
    is locally concave, otherwise (and for EB) metafor's Fisher scoring step."""
    W, sw, mu, R = _wsums(y, v, m, t)
    WR = W * R
    if method == "EB":
        with np.errstate(divide="ignore", invalid="ignore"):  # k = 1 sets: tau2 = 0 later
            adj = ((WR * R).sum(axis=1) * k / (k - 1) - k) / sw
        return np.where(np.isfinite(adj), adj, 0.0)
    W2 = W * W
    sw2 = W2.sum(axis=1)
    a = (WR * WR).sum(axis=1)
    b = (W2 * WR * R).sum(axis=1) - (W * WR).sum(axis=1) ** 2 / sw
    if method == "REML":
        info = sw2 - 2 * (W2 * W).sum(axis=1) / sw + (sw2 / sw) ** 2
        score = a - (sw - sw2 / sw)
    else:  # ML
        info = sw2
        score = a - sw
    curv = 2 * b - info
    with np.errstate(divide="ignore", invalid="ignore"):
        adj = np.where(curv > 0, score / curv, score / info)
    return np.where(np.isnan(adj), 0.0, adj)


def _fisher_batch(Y, V, Mf, k, method, tol, maxiter, start):
    """Fisher scoring as metafor, safeguarded by a bracket on the root of the score.

    Plain Fisher scoring can oscillate for a long time (e.g. one dominant
    study; metafor then stops with "did not converge" at its default
    maxiter=100).  The sign of each step tells on which side of the root the
    iterate lies; steps leaving the bracket (including steps below zero,
    which metafor halves), or overshooting without halving the previous step,
    are replaced by bisection, so the iteration always converges to a root of
    the estimating equation or to the boundary tau2 = 0.
    """
    n = Y.shape[0]
    scale = (Mf * V).sum(axis=1) / k
    tau2 = start.astype(float).copy()
    score0_neg = _fisher_step(Y, V, Mf, k, np.zeros(n), method) <= 0
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    prev = np.full(n, np.inf)
    converged = np.zeros(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    it = 0
    while active.any() and it < maxiter:
        it += 1
        idx = np.flatnonzero(active)
        t = tau2[idx]
        adj = _fisher_step(Y[idx], V[idx], Mf[idx], k[idx], t, method)
        l = np.where(adj > 0, np.maximum(lo[idx], t), lo[idx])
        h = np.where(adj < 0, np.minimum(hi[idx], t), hi[idx])
        new = t + adj
        p = prev[idx]
        slow = (np.sign(adj) != np.sign(p)) & (np.abs(adj) > 0.5 * np.abs(p))
        outside = (new <= l) | (new >= h)
        bisect = (outside | slow) & np.isfinite(h)
        new = np.where(bisect, (l + h) / 2, new)
        new = np.where(new < 0, 0.0, new)
        change = np.abs(new - t)
        done = (change <= tol * (new + scale[idx])) | ((t == 0) & (new <= 0))
        tau2[idx], lo[idx], hi[idx], prev[idx] = new, l, h, new - t
        converged[idx[done]] = True
        active[idx[done]] = False
    # bisection towards the zero bound stops a hair above it: that is the boundary
    tau2 = np.where(score0_neg & (tau2 <= 10 * tol * scale), 0.0, tau2)
    return tau2, converged, it


def _loglik_batch(Y, V, Mf, k, tau2, reml):
    W, sw, mu, R = _wsums(Y, V, Mf, tau2)
    q = (W * R**2).sum(axis=1)
    ll = -0.5 * (Mf * np.log(V + tau2[:, None])).sum(axis=1) - 0.5 * q
    if reml:
        ll += -0.5 * np.log(sw) - 0.5 * (k - 1) * math.log(2 * math.pi)
    else:
        ll += -0.5 * k * math.log(2 * math.pi)
    return ll


def estimate_batch(Y, V, mask=None, method="REML", *, tol=TOL, maxiter=MAXITER,
                   return_info=False):
    """tau^2 of intercept-only random-effects models for many data sets at once.

    Parameters
    ----------
    Y, V : array_like, shape (n_sets, k)
        Effect sizes ``yi`` and sampling variances ``vi`` (one data set per row).
    mask : array_like of bool, shape (n_sets, k), optional
        True where a study is used in that data set (default: all).
    method : str
        A key of :data:`METHODS`.
    tol, maxiter : float, int
        Iterative methods stop when the change in tau^2 is below
        ``tol * (tau2 + mean(vi))`` (relative to the scale of the data).
    return_info : bool
        Also return a dict with ``converged`` (bool array) and ``iterations``.

    Returns
    -------
    tau2 : ndarray, shape (n_sets,)
        Estimates truncated at zero; NaN where an iterative method did not
        converge (with a RuntimeWarning).  Data sets with a single study get
        tau^2 = 0, as metafor.

    Raises
    ------
    ValueError
        Unknown method, mismatched shapes, NaN/inf or ``vi <= 0`` among the
        studies used, or a data set without studies.
    """
    _check_method(method)
    Y, V, Mf, k = _prepare(Y, V, mask)
    n = Y.shape[0]
    converged = np.ones(n, dtype=bool)
    iterations = 0
    if method in ("ML", "REML", "EB"):
        start = clip(_raw_closed(Y, V, Mf, k, "HE"))
        start = np.where(np.isfinite(start), start, 0.0)
        tau2, converged, iterations = _fisher_batch(Y, V, Mf, k, method, tol, maxiter, start)
        if method in ("ML", "REML"):
            # metafor's ll0 check: Fisher scoring may stop at a local maximum
            reml = method == "REML"
            ll0 = _loglik_batch(Y, V, Mf, k, np.zeros(n), reml)
            ll = _loglik_batch(Y, V, Mf, k, tau2, reml)
            stuck = converged & (ll0 - ll > _LL0_TOL) & (tau2 > 1e-5)
            tau2 = np.where(stuck, 0.0, tau2)
    elif method == "PM":
        tau2, converged, iterations = _pm_batch(Y, V, Mf, k, tol, maxiter)
    else:
        tau2 = _raw_closed(Y, V, Mf, k, method)
    tau2 = clip(tau2)
    tau2 = np.where(k <= 1, 0.0, tau2)
    converged = converged | (k <= 1)
    if not converged.all():
        warnings.warn(f"{method}: {int((~converged).sum())} of {n} data sets did not converge "
                      f"in {maxiter} iterations; their tau2 is NaN", RuntimeWarning, stacklevel=2)
        tau2 = np.where(converged, tau2, np.nan)
    if return_info:
        return tau2, {"converged": converged, "iterations": iterations}
    return tau2


def estimate_single(y, v, method="REML", *, tol=TOL, maxiter=MAXITER):
    """tau^2 of one intercept-only data set: the algorithms of :func:`estimate_batch`
    written for 1-D arrays (no masks), for speed of single fits.

    ``y``, ``v`` must already be validated (finite, ``v > 0``, ``k >= 2``).
    Returns ``(tau2, iterations)``; raises :class:`ConvergenceError`.
    """
    k = y.shape[0]
    if method in ("EE", "FE") or k <= 1:
        return 0.0, 0
    km1 = k - 1
    if method in ("HE", "SJ", "ML", "REML", "EB"):
        yc = y - y.sum() / k
        rss_u = yc @ yc
        he = (rss_u - v.sum() * km1 / k) / km1
    if method == "HE":
        return float(clip(he)), 0
    if method == "SJ":
        t0 = rss_u / k
        w = 1 / (v + t0)
        r = y - (w @ y) / w.sum()
        return float(clip(t0 * (w @ (r * r)) / km1)), 0
    if method in ("DL", "HS"):
        w = 1 / v
        sw = w.sum()
        r = y - (w @ y) / sw
        q = w @ (r * r)
        raw = (q - km1) / (sw - (w @ w) / sw) if method == "DL" else (q - k) / sw
        return float(clip(raw)), 0
    if method == "PM":
        t, conv, it = _pm_batch(y[None, :], v[None, :], np.ones((1, k)), np.array([float(k)]),
                                tol, maxiter)
        if not conv[0]:
            raise ConvergenceError(f"PM did not converge in {maxiter} iterations")
        return float(clip(t[0])), it

    def step(t):
        # Newton step on the score for ML/REML (exact derivative), Fisher
        # scoring step where the likelihood is not locally concave, and for EB
        w = 1 / (v + t)
        sw = w.sum()
        r = y - (w @ y) / sw
        wr = w * r
        if method == "EB":
            return ((wr @ r) * k / km1 - k) / sw
        w2 = w * w
        a = wr @ wr
        b = (w2 * w) @ (r * r) - (w @ wr) ** 2 / sw
        if method == "REML":
            sw2 = w2.sum()
            info = sw2 - 2 * (w2 @ w) / sw + (sw2 / sw) ** 2
            score = a - (sw - sw2 / sw)
        else:
            info = w @ w
            score = a - sw
        curv = 2 * b - info
        return score / curv if curv > 0 else score / info

    scale = v.sum() / k
    score0_neg = step(0.0) <= 0
    t, lo, hi, prev = max(0.0, he), 0.0, math.inf, math.inf
    for it in range(1, maxiter + 1):
        adj = step(t)
        if adj != adj:  # NaN
            adj = 0.0
        if adj > 0:
            lo = max(lo, t)
        elif adj < 0:
            hi = min(hi, t)
        new = t + adj
        slow = (adj > 0) != (prev > 0) and abs(adj) > 0.5 * abs(prev)
        if (new <= lo or new >= hi or slow) and hi < math.inf:
            new = (lo + hi) / 2
        if new < 0:
            new = 0.0
        change = abs(new - t)
        prev, t_old, t = new - t, t, new
        if change <= tol * (new + scale) or (t_old == 0 and new == 0):
            break
    else:
        raise ConvergenceError(f"{method}: Fisher scoring did not converge in {maxiter} iterations")
    if score0_neg and t <= 10 * tol * scale:
        t = 0.0
    if method in ("ML", "REML") and t > 1e-5:
        def ll(tt):
            w = 1 / (v + tt)
            sw = w.sum()
            r = y - (w @ y) / sw
            out = -0.5 * np.log(v + tt).sum() - 0.5 * (w @ (r * r))
            return out - 0.5 * math.log(sw) if method == "REML" else out
        if ll(0.0) - ll(t) > _LL0_TOL:
            t = 0.0
    return float(clip(t)), it


@dataclass(frozen=True)
class BatchFit:
    """Intercept-only fits of many data sets: arrays of shape (n_sets,), one row per fit.

    Columns as :class:`mscreview.results.RMAResult` (``i2`` in percent).
    """

    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    tau2: np.ndarray
    q: np.ndarray
    q_pvalue: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    method: str
    test: str

    COLUMNS = ("k", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low",
               "pi_high", "tau2", "q", "q_pvalue", "i2", "h2")

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame({f: getattr(self, f) for f in self.COLUMNS})


def fit_batch(Y, V, mask=None, method="REML", test="z", confidence_level=0.95, **kwargs) -> BatchFit:
    """Pooled estimate, SE, test, CI, PI, tau^2, Q, I^2 (%), H^2 for many data sets at once.

    Same conventions as :func:`estimate_batch` and as :func:`mscreview.meta.rma`
    for one data set (``test`` in ``z``, ``t``, ``knha``, ``adhoc``; the t
    tests use k - 1 df; I^2 and H^2 use metafor's typical sampling variance
    ``(k-1) / tr(P)``).  Data sets with NaN tau^2 (not converged) get NaN
    everywhere except ``k`` and ``q``.
    """
    from scipy.special import chdtrc, ndtr, ndtri, stdtr, stdtrit
    if test not in ("z", "t", "knha", "adhoc"):
        raise ValueError(f"unknown test {test!r}; use 'z', 't', 'knha' or 'adhoc'")
    tau2 = estimate_batch(Y, V, mask, method, **kwargs)
    Y, V, Mf, k = _prepare(Y, V, mask)
    t = np.nan_to_num(tau2)
    W, sw, mu, R = _wsums(Y, V, Mf, t)
    W0, sw0, mu0, R0 = _wsums(Y, V, Mf, np.zeros(len(k)))
    q = (W0 * R0**2).sum(axis=1)
    df = k - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        vt = df / (sw0 - (W0**2).sum(axis=1) / sw0)
        if method in ("EE", "FE"):
            i2 = np.maximum(0.0, 100 * (q - df) / q)
            h2 = q / df
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
        q_p = chdtrc(df, q)
        s2w = np.ones(len(k))
        if test in ("knha", "adhoc"):
            rss = (W * R**2).sum(axis=1)
            s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / df)
            if test == "adhoc":
                s2w = np.maximum(s2w, 1.0)
        vb = s2w / sw
        se = np.sqrt(vb)
        stat = mu / se
        alpha = 1 - confidence_level
        if test == "z":
            crit = np.full(len(k), ndtri(1 - alpha / 2))
            pval = 2 * ndtr(-np.abs(stat))
        else:
            crit = stdtrit(df, 1 - alpha / 2)
            pval = 2 * stdtr(df, -np.abs(stat))
        pse = np.sqrt(vb + t)
    single = k <= 1
    i2 = np.where(single, 0.0, i2)
    h2 = np.where(single, 1.0, h2)
    q_p = np.where(single, 1.0, q_p)
    bad = np.isnan(tau2)

    def nan_bad(a):
        return np.where(bad, np.nan, a)

    return BatchFit(k=k.astype(int), estimate=nan_bad(mu), se=nan_bad(se), statistic=nan_bad(stat),
                    pvalue=nan_bad(pval), ci_low=nan_bad(mu - crit * se), ci_high=nan_bad(mu + crit * se),
                    pi_low=nan_bad(mu - crit * pse), pi_high=nan_bad(mu + crit * pse), tau2=tau2, q=q,
                    q_pvalue=q_p, i2=nan_bad(i2), h2=nan_bad(h2), method=method, test=test)


# ---------------------------------------------------------------------------
# One data set with a design matrix (meta-regression)
# ---------------------------------------------------------------------------

def _p_matrix(w, X):
    """P = W - W X (X'WX)^-1 X'W for diagonal weights w."""
    WX = X * w[:, None]
    A = np.linalg.solve(X.T @ WX, WX.T)
    return np.diag(w) - WX @ A


def estimate(yi, vi, X=None, method="REML", *, tol=TOL, maxiter=MAXITER):
    """tau^2 for one data set with design matrix ``X`` (k x p, including the intercept).

    Returns
    -------
    dict
        ``tau2`` (truncated at zero), ``se_tau2`` (metafor's formula for the
        method), ``iterations``.

    Raises
    ------
    ValueError
        Unknown method or ``k <= p`` (too few studies for the model).
    ConvergenceError
        An iterative method failed to converge in ``maxiter`` iterations.
    """
    _check_method(method)
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float)
    p = X.shape[1]
    if method in ("EE", "FE"):
        return {"tau2": 0.0, "se_tau2": np.nan, "iterations": 0}
    if k <= p:
        raise ValueError(f"method {method!r} needs more studies than model coefficients "
                         f"(k = {k}, p = {p})")
    iterations = 0
    # metafor works with centred yi (identical for models with an intercept)
    y = yi - yi.mean()
    In = np.eye(k)
    P_ols = In - X @ np.linalg.solve(X.T @ X, X.T)
    rss_ols = y @ P_ols @ y
    PV_ols = P_ols * vi[None, :]
    tr_pv_ols = np.trace(PV_ols)
    he = (rss_ols - tr_pv_ols) / (k - p)
    tau2_0 = None
    if method == "HE":
        raw = he
    elif method in ("DL", "HS"):
        w = 1 / vi
        P = _p_matrix(w, X)
        rss = y @ P @ y
        raw = (rss - (k - p)) / np.trace(P) if method == "DL" else (rss - k) / w.sum()
    elif method == "SJ":
        tau2_0 = np.var(y) if k > 0 else 0.0  # var(y) * (k-1)/k
        w = 1 / (vi + tau2_0)
        P = _p_matrix(w, X)
        raw = tau2_0 * (y @ P @ y) / (k - p)
    elif method == "PM":
        target = k - p

        def qfun(t):
            P = _p_matrix(1 / (vi + t), X)
            return y @ P @ y, y @ P @ P @ y

        q0, _ = qfun(0.0)
        if q0 < target:
            raw = 0.0
        else:
            lo, hi = 0.0, TAU2_MAX
            while qfun(hi)[0] > target:
                hi *= 10
                if hi > 1e300:
                    raise ConvergenceError("PM: no upper bound for tau2 found")
            t = 0.0
            for iterations in range(1, maxiter + 1):
                q, dq = qfun(t)
                f = q - target
                if f > 0:
                    lo = t
                else:
                    hi = t
                new = t + f / dq if dq > 0 else np.nan
                if not np.isfinite(new) or new <= lo or new >= hi:
                    new = (lo + hi) / 2
                if abs(new - t) <= tol * (new + float(np.mean(vi))):
                    t = new
                    break
                t = new
            else:
                raise ConvergenceError(f"PM did not converge in {maxiter} iterations")
            raw = t
    else:  # ML, REML, EB: Fisher scoring from the HE estimate, as metafor
        scale = float(np.mean(vi))

        def step(tt):
            w = 1 / (vi + tt)
            P = _p_matrix(w, X)
            Py = P @ y
            if method == "REML":
                a = (Py @ Py - np.trace(P)) / np.sum(P * P)
            elif method == "ML":
                a = (Py @ Py - w.sum()) / (w @ w)
            else:
                a = ((y @ Py) * k / (k - p) - k) / w.sum()
            return 0.0 if np.isnan(a) else float(a)

        # Fisher scoring from the HE estimate (as metafor), safeguarded by a
        # bracket on the root of the score (see _fisher_batch)
        score0_neg = step(0.0) <= 0
        t, lo, hi, prev = max(0.0, he), 0.0, math.inf, math.inf
        for iterations in range(1, maxiter + 1):
            adj = step(t)
            if adj > 0:
                lo = max(lo, t)
            elif adj < 0:
                hi = min(hi, t)
            new = t + adj
            slow = np.sign(adj) != np.sign(prev) and abs(adj) > 0.5 * abs(prev)
            if (new <= lo or new >= hi or slow) and math.isfinite(hi):
                new = (lo + hi) / 2
            if new < 0:
                new = 0.0
            change = abs(new - t)
            prev, t_old, t = new - t, t, new
            if change <= tol * (new + scale) or (t_old == 0 and new == 0):
                break
        else:
            raise ConvergenceError(f"{method}: Fisher scoring did not converge in {maxiter} "
                                   "iterations")
        if score0_neg and t <= 10 * tol * scale:
            t = 0.0
        if method in ("ML", "REML"):
            def ll(tt):
                w = 1 / (vi + tt)
                WX = X * w[:, None]
                XtWX = X.T @ WX
                b = np.linalg.solve(XtWX, WX.T @ y)
                r = y - X @ b
                out = -0.5 * np.sum(np.log(vi + tt)) - 0.5 * np.sum(w * r * r)
                if method == "REML":
                    out -= 0.5 * np.linalg.slogdet(XtWX)[1]
                return out
            if ll(0.0) - ll(t) > _LL0_TOL and t > 1e-5:
                t = 0.0
        raw = t
    tau2 = float(clip(raw))
    # standard errors as metafor reports them
    tp = tau2
    if method == "HS":
        w = 1 / vi
        P = _p_matrix(w, X)
        se = math.sqrt(1 / w.sum() ** 2 * (2 * (k - p) + 4 * tp * np.trace(P) + 2 * tp**2 * np.sum(P * P)))
    elif method == "HE":
        se = math.sqrt(1 / (k - p) ** 2 * (2 * np.sum(PV_ols * PV_ols.T) + 4 * tp * tr_pv_ols
                                           + 2 * tp**2 * (k - p)))
    elif method == "DL":
        w = 1 / vi
        P = _p_matrix(w, X)
        trp = np.trace(P)
        se = math.sqrt(1 / trp**2 * (2 * (k - p) + 4 * tp * trp + 2 * tp**2 * np.sum(P * P)))
    elif method == "SJ":
        P = _p_matrix(1 / (vi + tau2_0), X)
        PV = P * vi[None, :]
        se = math.sqrt(tau2_0**2 / (k - p) ** 2 * (2 * np.sum(PV * PV.T) + 4 * tp * np.sum(PV * P)
                                                   + 2 * tp**2 * np.sum(P * P)))
    elif method == "ML":
        w = 1 / (vi + tau2)
        se = math.sqrt(2 / np.sum(w * w))
    elif method == "REML":
        P = _p_matrix(1 / (vi + tau2), X)
        se = math.sqrt(2 / np.sum(P * P))
    else:  # EB, PM
        w = 1 / (vi + tau2)
        se = math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    return {"tau2": tau2, "se_tau2": se, "iterations": iterations}
