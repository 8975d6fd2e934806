"""Estimators of the between-study variance tau^2 and the :data:`METHODS` registry.

Entry points:

* :func:`estimate_batch` - random-effects models and meta-regressions for many
  data sets at once (arrays of shape ``(n_sets, k)`` with a boolean mask, and
  a design matrix ``X`` of shape ``(k, p)`` or ``(n_sets, k, p)``), vectorised
  across sets: no Python loop per fit.  :func:`mscreview.engine.rma.fit_batch`
  fits the models on it (the diagnostics build on that).
* :func:`estimate_single` - one intercept-only data set in scalar arithmetic
  (the speed of single fits), used by :func:`mscreview.engine.rma.rma`.
* :func:`estimate` - one data set with a design matrix ``X`` and the standard
  error of tau^2 (:func:`mscreview.engine.core.tau2_se`), used by
  :func:`mscreview.engine.rma.rma` with moderators.

Estimators only: the tests, Q, I^2, QM and the prediction interval of a fit are computed in
:mod:`mscreview.engine.core`.

Both follow metafor's ``rma.uni`` (3.8-1): the same estimating equations,
the same starting value (Hedges' estimate, truncated at zero) for the
iterative ML/REML/EB estimators, the same step-halving at the zero bound and
the same check that the likelihood at tau^2 = 0 is not higher.  They iterate
to a tighter tolerance than metafor's default (``threshold=1e-5``); the
reference tests run metafor with a tight threshold too.  Negative raw
estimates are truncated at zero in one place, :func:`clip`.

Non-convergence: :func:`estimate` and :func:`estimate_single` raise :class:`ConvergenceError`;
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

from . import core

__all__ = ["METHODS", "TESTS", "Tau2Method", "ConvergenceError", "clip", "estimate",
           "estimate_single", "estimate_batch", "prepare_batch", "control_options"]

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


#: Tests of the coefficients (metafor's ``test=``).
TESTS = {
    "z": "Wald-type z tests and CIs (normal distribution)",
    "t": "t tests and CIs with k - p degrees of freedom",
    "knha": "Hartung-Knapp-Sidik-Jonkman: variance multiplied by the weighted residual "
            "variance s2w, t with k - p df",
    "adhoc": "Knapp-Hartung with s2w truncated below at 1, t with k - p df",
}


def clip(tau2):
    """Truncate raw tau^2 estimates at zero: the single place where this happens."""
    return np.maximum(tau2, 0.0)


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; available: {list(METHODS)}")


# ---------------------------------------------------------------------------
# Batched estimators: many data sets at once, intercept-only or with moderators
# ---------------------------------------------------------------------------

def prepare_batch(Y, V, mask, X=None):
    """Validate and broadcast batch inputs.

    Returns ``Y``, ``V`` (n_sets, k) with masked cells set to y = 0, v = 1
    (they get weight 0 and drop out of every sum), the mask as floats, the
    number of studies per set, and ``X`` as ``None`` (intercept only) or of
    shape (n_sets or 1, k, p).
    """
    Y = np.asarray(Y, dtype=float)
    V = np.asarray(V, dtype=float)
    Y = Y[None, :] if Y.ndim == 1 else Y
    V = V[None, :] if V.ndim == 1 else V
    if (Y.ndim != 2 or V.ndim != 2 or Y.shape[1] != V.shape[1]
            or (Y.shape[0] != V.shape[0] and 1 not in (Y.shape[0], V.shape[0]))):
        raise ValueError(f"Y and V must have the same shape (n_sets, k); got {Y.shape} and {V.shape}")
    k_all = Y.shape[1]
    n = max(Y.shape[0], V.shape[0])
    M = None
    if mask is not None:
        M = np.asarray(mask, dtype=bool)
        M = M[None, :] if M.ndim == 1 else M
        n = max(n, M.shape[0]) if n == 1 else n
        if M.ndim != 2 or M.shape[1] != k_all or M.shape[0] not in (1, n):
            raise ValueError(f"mask must have shape {(n, k_all)}; got {M.shape}")
    if X is not None:
        X = np.asarray(X, dtype=float)
        X = X[:, None] if X.ndim == 1 else X
        X = X[None] if X.ndim == 2 else X
        if X.ndim != 3 or X.shape[1] != k_all:
            raise ValueError(f"X must have shape (k, p) or (n_sets, k, p) with k = {k_all}; "
                             f"got {X.shape}")
        n = max(n, X.shape[0]) if n == 1 else n
        if X.shape[0] not in (1, n):
            raise ValueError(f"X has {X.shape[0]} design matrices for {n} data sets")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values")
        if X.shape[0] == 1 and X.shape[2] == 1 and np.all(X == 1):
            X = None  # intercept only: closed-form sums
    Y = np.broadcast_to(Y, (n, k_all))
    V = np.broadcast_to(V, (n, k_all))
    M = np.ones((n, k_all), dtype=bool) if M is None else np.broadcast_to(M, (n, k_all))
    used_y, used_v = Y[M], V[M]
    if not (np.all(np.isfinite(used_y)) and np.all(np.isfinite(used_v))):
        raise ValueError("Y or V contains NaN or infinite values among the studies used (mask)")
    if np.any(used_v <= 0):
        raise ValueError("V (sampling variances vi) must be > 0 for every study used")
    k = M.sum(axis=1)
    if np.any(k < 1):
        raise ValueError(f"{int(np.sum(k < 1))} data set(s) have no study (k = 0)")
    Y = np.where(M, Y, 0.0)
    V = np.where(M, V, 1.0)
    return Y, V, M.astype(float), k.astype(float), X


def _rows(X, idx):
    """Design matrices of the sets ``idx`` (X shared by all sets stays as it is)."""
    return X if X is None or X.shape[0] == 1 else X[idx]


def _raw_closed(Y, V, Mf, X, k, p, method):
    """Closed-form (non-iterative) estimates, before truncation at zero."""
    n = Y.shape[0]
    if method in ("EE", "FE"):
        return np.zeros(n)
    if method == "HE":
        # ordinary least squares: (RSS - tr(P V)) / (k - p)
        b, A, Ai, R = core.wls(Y, Mf, X)
        rss = (Mf * R**2).sum(axis=1)
        MV = Mf * V
        if X is None:
            tr_pv = MV.sum(axis=1) * (k - 1) / k
        else:
            tr_pv = MV.sum(axis=1) - np.trace(Ai @ core.xtdx(X, MV), axis1=1, axis2=2)
        return (rss - tr_pv) / (k - p)
    if method == "SJ":
        # start: population variance of the used yi (metafor: var(yi) * (k-1)/k)
        ybar = (Mf * Y).sum(axis=1) / k
        t0 = (Mf * (Y - ybar[:, None]) ** 2).sum(axis=1) / k
        W = Mf / (V + t0[:, None])
        b, A, Ai, R = core.wls(Y, W, X)
        return t0 * (W * R**2).sum(axis=1) / (k - p)
    W = Mf / V
    b, A, Ai, R = core.wls(Y, W, X)
    q = (W * R**2).sum(axis=1)
    if method == "DL":
        return (q - (k - p)) / core.tr_p(W, Ai, X)
    if method == "HS":
        return (q - k) / W.sum(axis=1)
    raise AssertionError(method)


def _q_at(Y, V, Mf, X, tau2):
    """Generalised Q = y'Py and its negative derivative y'PPy at tau2."""
    W = Mf / (V + tau2[:, None])
    b, A, Ai, R = core.wls(Y, W, X)
    WR = W * R  # = P y
    return (WR * R).sum(axis=1), (WR * WR).sum(axis=1)


def _pm_batch(Y, V, Mf, X, k, p, tol, maxiter):
    """Paule-Mandel: root of Q(tau2) = k - p by safeguarded Newton steps on a bracket."""
    n = Y.shape[0]
    target = k - p
    tau2 = np.zeros(n)
    q0, _ = _q_at(Y, V, Mf, X, tau2)
    active = q0 > target  # otherwise tau2 = 0
    lo = np.zeros(n)
    hi = np.full(n, TAU2_MAX)
    # grow the upper bound until Q(hi) < target (metafor stops with an error at 100)
    for _ in range(200):
        qh, _ = _q_at(Y, V, Mf, X, hi)
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
        q, dq = _q_at(Y[idx], V[idx], Mf[idx], _rows(X, idx), t)
        f = q - target[idx]
        # f is decreasing in tau2: keep the bracket
        lo[idx] = np.where(f > 0, t, lo[idx])
        hi[idx] = np.where(f <= 0, t, hi[idx])
        step = f / dq
        new = t + step
        bad = ~np.isfinite(new) | (new <= lo[idx]) | (new >= hi[idx])
        new = np.where(bad, (lo[idx] + hi[idx]) / 2, new)
        done = np.abs(new - t) <= tol * (new + scale[idx])
        tau2[idx] = new
        converged[idx[done]] = True
        active[idx[done]] = False
    return tau2, converged, it


def _fisher_step(Y, V, Mf, X, k, p, t, method):
    """Step of the iteration: Newton on the score for ML/REML where the log-likelihood
    is locally concave, otherwise (and for EB) metafor's Fisher scoring step.

    With P = W - W X (X'WX)^-1 X'W: REML score y'PPy - tr(P), information
    tr(PP); ML score y'PPy - tr(W), information tr(W^2); the derivative of
    y'PPy is -2 y'PPPy.
    """
    W = Mf / (V + t[:, None])
    b, A, Ai, R = core.wls(Y, W, X)
    sw = W.sum(axis=1)
    WR = W * R  # = P y
    if method == "EB":
        adj = ((WR * R).sum(axis=1) * k / (k - p) - k) / sw
        return np.where(np.isfinite(adj), adj, 0.0)
    W2 = W * W
    sw2 = W2.sum(axis=1)
    a = (WR * WR).sum(axis=1)
    if X is None:
        ypppy = (W2 * WR * R).sum(axis=1) - (W * WR).sum(axis=1) ** 2 / sw
        trp = sw - sw2 / sw
        trpp = sw2 - 2 * (W2 * W).sum(axis=1) / sw + (sw2 / sw) ** 2
    else:
        u = (X * (W * WR)[:, :, None]).sum(axis=1)             # X'W(Py)
        ypppy = (W2 * WR * R).sum(axis=1) - np.einsum("np,npq,nq->n", u, Ai, u)
        G = Ai @ core.xtdx(X, W2)
        trp = sw - np.trace(G, axis1=1, axis2=2)
        trpp = (sw2 - 2 * np.trace(Ai @ core.xtdx(X, W2 * W), axis1=1, axis2=2)
                + np.einsum("npq,nqp->n", G, G))
    if method == "REML":
        info, score = trpp, a - trp
    else:  # ML
        info, score = sw2, a - sw
    curv = 2 * ypppy - info
    adj = np.where(curv > 0, score / curv, score / info)
    return np.where(np.isnan(adj), 0.0, adj)


def _fisher_batch(Y, V, Mf, X, k, p, method, tol, maxiter, start):
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
    score0_neg = _fisher_step(Y, V, Mf, X, k, p, np.zeros(n), method) <= 0
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
        adj = _fisher_step(Y[idx], V[idx], Mf[idx], _rows(X, idx), k[idx], p, t, method)
        l = np.where(adj > 0, np.maximum(lo[idx], t), lo[idx])
        h = np.where(adj < 0, np.minimum(hi[idx], t), hi[idx])
        new = t + adj
        pr = prev[idx]
        slow = (np.sign(adj) != np.sign(pr)) & (np.abs(adj) > 0.5 * np.abs(pr))
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


def _loglik_batch(Y, V, Mf, X, k, p, tau2, reml):
    W = Mf / (V + tau2[:, None])
    b, A, Ai, R = core.wls(Y, W, X)
    ll = -0.5 * (Mf * np.log(V + tau2[:, None])).sum(axis=1) - 0.5 * (W * R**2).sum(axis=1)
    if reml:
        logdet = np.log(A[:, 0, 0]) if X is None else np.linalg.slogdet(A)[1]
        return ll - 0.5 * logdet - 0.5 * (k - p) * math.log(2 * math.pi)
    return ll - 0.5 * k * math.log(2 * math.pi)


def control_options(control):
    """Keyword options of the estimators from a metafor-style ``control`` dict.

    ``threshold`` (convergence tolerance of the iterative estimators, relative
    here: ``tol``), ``maxiter`` and ``tol`` (metafor's tolerance of the check
    that the ML/REML log-likelihood at tau^2 = 0 is not higher: ``ll0_tol``).
    """
    names = {"threshold": "tol", "maxiter": "maxiter", "tol": "ll0_tol"}
    control = dict(control or {})
    unknown = set(control) - set(names)
    if unknown:
        raise ValueError(f"unknown control option(s) {sorted(unknown)}; known: {sorted(names)}")
    return {names[key]: val for key, val in control.items()}


def estimate_batch(Y, V, mask=None, method="REML", *, X=None, tol=TOL, maxiter=MAXITER,
                   ll0_tol=_LL0_TOL, return_info=False):
    """tau^2 of random-effects models (meta-regressions) for many data sets at once.

    Parameters
    ----------
    Y, V : array_like, shape (n_sets, k) or (k,)
        Effect sizes ``yi`` and sampling variances ``vi`` (one data set per row;
        a single row is broadcast against ``mask`` and ``X``).
    mask : array_like of bool, shape (n_sets, k), optional
        True where a study is used in that data set (default: all).
    method : str
        A key of :data:`METHODS`.
    X : array_like, shape (k, p) or (n_sets, k, p), optional
        Design matrix including the intercept column (default: intercept only).
        One matrix per set allows permutation tests of moderators.
    tol, maxiter : float, int
        Iterative methods stop when the change in tau^2 is below
        ``tol * (tau2 + mean(vi))`` (relative to the scale of the data).
    ll0_tol : float
        ML/REML: tau^2 is set to 0 when the log-likelihood there is higher by
        more than this (metafor's check that Fisher scoring did not stop at a
        local maximum).
    return_info : bool
        Also return a dict with ``converged`` (bool array) and ``iterations``.

    Returns
    -------
    tau2 : ndarray, shape (n_sets,)
        Estimates truncated at zero; NaN where an iterative method did not
        converge (with a RuntimeWarning).  Data sets with no more studies than
        coefficients (``k <= p``; a single study without moderators) get
        tau^2 = 0, as metafor's ``k = 1`` rule.

    Raises
    ------
    ValueError
        Unknown method, mismatched shapes, NaN/inf or ``vi <= 0`` among the
        studies used, or a data set without studies.
    """
    _check_method(method)
    Y, V, Mf, k, X = prepare_batch(Y, V, mask, X)
    p = 1 if X is None else X.shape[2]
    n = Y.shape[0]
    converged = np.ones(n, dtype=bool)
    iterations = 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if method in ("ML", "REML", "EB"):
            start = clip(_raw_closed(Y, V, Mf, X, k, p, "HE"))
            start = np.where(np.isfinite(start), start, 0.0)
            tau2, converged, iterations = _fisher_batch(Y, V, Mf, X, k, p, method, tol, maxiter,
                                                        start)
            if method in ("ML", "REML"):
                # metafor's ll0 check: Fisher scoring may stop at a local maximum
                reml = method == "REML"
                ll0 = _loglik_batch(Y, V, Mf, X, k, p, np.zeros(n), reml)
                ll = _loglik_batch(Y, V, Mf, X, k, p, tau2, reml)
                stuck = converged & (ll0 - ll > ll0_tol) & (tau2 > 1e-5)
                tau2 = np.where(stuck, 0.0, tau2)
        elif method == "PM":
            tau2, converged, iterations = _pm_batch(Y, V, Mf, X, k, p, tol, maxiter)
        else:
            tau2 = _raw_closed(Y, V, Mf, X, k, p, method)
    tau2 = clip(tau2)
    few = k <= p
    tau2 = np.where(few, 0.0, tau2)
    converged = converged | few
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
        t, conv, it = _pm_batch(y[None, :], v[None, :], np.ones((1, k)), None, np.array([float(k)]),
                                1, tol, maxiter)
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
    t, lo, hi, prev = float(clip(he)), 0.0, math.inf, math.inf
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


# ---------------------------------------------------------------------------
# One data set with a design matrix (meta-regression)
# ---------------------------------------------------------------------------

def estimate(yi, vi, X=None, method="REML", *, tol=TOL, maxiter=MAXITER):
    """tau^2 and its standard error for one data set with design matrix ``X`` (k x p,
    including the intercept): :func:`estimate_batch` for one set, plus metafor's SE formulas.

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t, info = estimate_batch(yi, vi, None, method, X=X, tol=tol, maxiter=maxiter,
                                 return_info=True)
    if not info["converged"][0]:
        raise ConvergenceError(f"{method} did not converge in {maxiter} iterations")
    iterations = info["iterations"]
    tau2 = float(t[0])
    se = core.tau2_se(yi, vi, X, tau2, method)   # as metafor reports it
    return {"tau2": tau2, "se_tau2": se, "iterations": iterations}
