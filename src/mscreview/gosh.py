"""GOSH (graphical display of study heterogeneity): the model on every subset of studies.

The module also holds :func:`_fit_batch`, the batched random-effects / meta-regression fitter
the other diagnostics (:mod:`mscreview.sensitivity`, :mod:`mscreview.permutest`,
:mod:`mscreview.bias`) build on. It fits ``n_fits`` models at once from arrays of shape
``(n_fits, k)`` and a boolean mask of the studies each fit uses: no Python loop per fit.
It reproduces metafor's ``rma.uni`` algorithms step for step (the same starting values,
Fisher-scoring steps, step halving, the ML/REML check against tau2 = 0, and the same
formulas for Q, I2 and H2), so converged values agree with metafor to rounding.

Notes
-----
:func:`_fit_batch` supports moderators (``X`` of shape ``(k, p)`` or ``(n_fits, k, p)``),
which the engine's intercept-only ``mscreview.tau2.estimate_batch`` does not; permutation
tests of moderators and influence diagnostics of meta-regressions need them.

References
----------
Olkin, I., Dahabreh, I. J., & Trikalinos, T. A. (2012). GOSH - a graphical display of study
heterogeneity. Research Synthesis Methods, 3(3), 214-223.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal of
Statistical Software, 36(3), 1-48.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .tau2 import METHODS as _ENGINE_METHODS
from .tau2 import estimate_batch as _engine_estimate_batch

__all__ = ["GoshResult", "gosh", "GOSH_METHODS"]

#: tau2 estimators the batched fitter implements (metafor's names).
GOSH_METHODS = ("EE", "FE", "CE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS = ("z", "t", "knha", "adhoc")

#: Default control values. ``threshold`` is tighter than metafor's 1e-5 so that results are
#: converged values rather than values stopped early; ``tol`` is metafor's default for the
#: ML/REML check against tau2 = 0.
DEFAULT_CONTROL = {"threshold": 1e-10, "maxiter": 1000, "tol": np.finfo(float).eps ** 0.25,
                   "tau2_max": 100.0, "stepadj": 1.0}

_EPS = np.finfo(float).eps


def _control(control):
    con = dict(DEFAULT_CONTROL)
    if control:
        unknown = set(control) - set(con)
        if unknown:
            raise ValueError(f"unknown control option(s) {sorted(unknown)}; known: {sorted(con)}")
        con.update(control)
    return con


def _as_batch(Y, V, mask, X):
    """Broadcast inputs to Y, V, M of shape (n, k) and X of shape (n|1, k, p)."""
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    V = np.atleast_2d(np.asarray(V, dtype=float))
    if mask is not None:
        M = np.asarray(mask, dtype=bool)
        Y, V, M = np.broadcast_arrays(Y, V, np.atleast_2d(M))
        n, k = Y.shape
    else:
        Y, V = np.broadcast_arrays(Y, V)
        n, k = Y.shape
        M = np.ones((n, k), dtype=bool)
    if X is None:
        X = np.ones((1, k, 1))
    else:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim == 2:
            X = X[None]
        if X.shape[1] != k:
            raise ValueError(f"X has {X.shape[1]} rows but there are {k} studies")
        if X.shape[0] > 1 and n == 1:
            # one data set, many design matrices (permutation tests)
            n = X.shape[0]
            Y, V, M = (np.broadcast_to(a, (n, k)) for a in (Y, V, M))
    bad = M & ~(np.isfinite(Y) & np.isfinite(V))
    if bad.any():
        raise ValueError("yi and vi must be finite for every study used")
    if (M & (V <= 0)).any():
        raise ValueError("vi must be > 0 for every study used")
    Y = np.where(M, Y, 0.0)
    V = np.where(M, V, 1.0)
    return Y, V, M, X


def _inv(A):
    if A.shape[-1] == 1:
        return 1.0 / A
    return np.linalg.inv(A)


def _wls(Y, W, X):
    """Weighted least squares per fit: returns beta (n,p), A^-1 (n,p,p), residuals (n,k)."""
    XW = X * W[:, :, None]                                  # (n,k,p)
    A = np.einsum("nkp,nkq->npq", XW, np.broadcast_to(X, XW.shape))
    Ai = _inv(A)
    b = np.einsum("npq,nq->np", Ai, np.einsum("nkp,nk->np", XW, Y))
    r = Y - np.einsum("nkp,np->nk", np.broadcast_to(X, XW.shape), b)
    return b, Ai, r


def _p_quantities(Y, W, X, need_pp=True):
    """y'Py, tr(P), y'PPy, tr(PP) for P = W - W X (X'WX)^-1 X'W, without forming P."""
    b, Ai, r = _wls(Y, W, X)
    Xb = np.broadcast_to(X, W.shape + (X.shape[2],))
    wr = W * r
    yPy = np.einsum("nk,nk->n", wr, r)
    XW2X = np.einsum("nkp,nk,nkq->npq", Xb, W * W, Xb)
    G = np.einsum("npq,nqr->npr", Ai, XW2X)                 # A^-1 X'W^2 X
    sw = W.sum(1)
    trP = sw - np.trace(G, axis1=1, axis2=2)
    if not need_pp:
        return yPy, trP, None, None, b, Ai, r
    yPPy = np.einsum("nk,nk->n", wr, wr)
    XW3X = np.einsum("nkp,nk,nkq->npq", Xb, W ** 3, Xb)
    trPP = ((W * W).sum(1) - 2 * np.trace(np.einsum("npq,nqr->npr", Ai, XW3X), axis1=1, axis2=2)
            + np.einsum("npq,nqp->n", G, G))
    return yPy, trP, yPPy, trPP, b, Ai, r


def _subset(X, idx):
    return X if X.shape[0] == 1 else X[idx]


def _ll(Y, V, M, X, tau2, method):
    W = M / (V + tau2[:, None])
    b, Ai, r = _wls(Y, W, X)
    k = M.sum(1)
    p = X.shape[2]
    rss = np.einsum("nk,nk->n", W * r, r)
    slv = np.where(M, np.log(V + tau2[:, None]), 0.0).sum(1)
    if method == "ML":
        return -0.5 * k * np.log(2 * np.pi) - 0.5 * slv - 0.5 * rss
    sign, logdet = np.linalg.slogdet(_inv(Ai))
    return -0.5 * (k - p) * np.log(2 * np.pi) - 0.5 * slv - 0.5 * logdet - 0.5 * rss


def _tau2_batch(Y, V, M, X, method, con):
    """tau2 for each fit, as metafor's rma.uni computes it. Returns (tau2, converged, iters)."""
    n, k_all = Y.shape
    p = X.shape[2]
    k = M.sum(1).astype(float)
    tau2 = np.zeros(n)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=int)
    if method in ("EE", "FE", "CE"):
        return tau2, conv, iters
    if X.shape[0] == 1 and p == 1 and np.all(X == 1) and method in _ENGINE_METHODS:
        # intercept-only: the engine's batched estimator (mscreview.tau2.estimate_batch)
        with np.errstate(divide="ignore", invalid="ignore"):
            t, info = _engine_estimate_batch(Y, V, M, method, tol=con["threshold"],
                                             maxiter=con["maxiter"], return_info=True)
        return t, np.asarray(info["converged"], dtype=bool), iters
    one = k == 1                      # metafor's "k1" method: tau2 = 0
    live = np.flatnonzero(~one)
    if live.size == 0:
        return tau2, conv, iters
    Yl, Vl, Ml, Xl, kl = Y[live], V[live], M[live], _subset(X, live), k[live]
    if method in ("DL", "HS"):
        W = Ml / Vl
        yPy, trP, *_ = _p_quantities(Yl, W, Xl, need_pp=False)
        t = (yPy - (kl - p)) / trP if method == "DL" else (yPy - kl) / W.sum(1)
    elif method in ("HE", "ML", "REML", "EB"):
        Wo = Ml.astype(float)
        b, Ai, r = _wls(Yl, Wo, Xl)
        rss = np.einsum("nk,nk->n", Wo * r, r)
        Xb = np.broadcast_to(Xl, Wo.shape + (p,))
        XVX = np.einsum("nkp,nk,nkq->npq", Xb, Wo * Vl, Xb)
        trPV = (Wo * Vl).sum(1) - np.trace(np.einsum("npq,nqr->npr", Ai, XVX), axis1=1, axis2=2)
        t = (rss - trPV) / (kl - p)
        if method != "HE":
            t = _fisher_scoring(Yl, Vl, Ml, Xl, kl, np.maximum(t, 0.0), method, con, conv, iters, live)
    elif method == "SJ":
        # population variance of the used yi as the starting value (metafor: var(ymci)*(k-1)/k)
        ybar = (Yl * Ml).sum(1) / kl
        t0 = (Ml * (Yl - ybar[:, None]) ** 2).sum(1) / kl
        W = Ml / (Vl + t0[:, None])
        yPy, *_ = _p_quantities(Yl, W, Xl, need_pp=False)
        t = t0 * yPy / (kl - p)
    elif method == "PM":
        t = _paule_mandel(Yl, Vl, Ml, Xl, kl, con)
    else:
        raise ValueError(f"unknown method {method!r}; choose one of {GOSH_METHODS}")
    tau2[live] = np.maximum(t, 0.0)
    return tau2, conv, iters


def _fisher_scoring(Y, V, M, X, k, t, method, con, conv_out, iters_out, live):
    n = Y.shape[0]
    p = X.shape[2]
    t = t.copy()
    active = np.arange(n)
    it = np.zeros(n, dtype=int)
    for _ in range(con["maxiter"] + 1):
        if active.size == 0:
            break
        Ya, Va, Ma, Xa = Y[active], V[active], M[active], _subset(X, active)
        ta = t[active]
        W = Ma / (Va + ta[:, None])
        yPy, trP, yPPy, trPP, *_ = _p_quantities(Ya, W, Xa, need_pp=method != "EB")
        if method == "ML":
            adj = (yPPy - W.sum(1)) / (W * W).sum(1)
        elif method == "REML":
            adj = (yPPy - trP) / trPP
        else:  # EB
            ka = k[active]
            adj = (yPy * ka / (ka - p) - ka) / W.sum(1)
        adj = np.where(np.isnan(adj), 0.0, adj * con["stepadj"])
        # step halving as metafor: while (tau2 + adj < tau2.min) adj <- adj/2
        neg = ta + adj < 0
        if neg.any():
            adj = np.where(neg & (ta == 0), 0.0, adj)
            neg = ta + adj < 0
            while neg.any():
                adj = np.where(neg, adj / 2, adj)
                neg = ta + adj < 0
        new = ta + adj
        change = np.abs(ta - new)
        t[active] = new
        it[active] += 1
        done = change <= con["threshold"]
        active = active[~done]
    if active.size:
        conv_out[live[active]] = False
        t[active] = np.nan
    iters_out[live] = it
    if method in ("ML", "REML") and np.isfinite(con["tol"]):
        ok = np.isfinite(t)
        ll0 = _ll(Y, V, M, X, np.zeros(n), method)
        ll1 = _ll(Y, V, M, X, np.where(ok, t, 0.0), method)
        stuck = ok & (ll0 - ll1 > con["tol"]) & (t > con["threshold"])
        t = np.where(stuck, 0.0, t)
    return t


def _paule_mandel(Y, V, M, X, k, con):
    """Paule-Mandel: root of the generalised Q statistic = k - p, by vectorised bisection."""
    p = X.shape[2]
    target = k - p

    def q(t):
        W = M / (V + t[:, None])
        b, Ai, r = _wls(Y, W, X)
        return np.einsum("nk,nk->n", W * r, r)

    n = Y.shape[0]
    lo = np.zeros(n)
    hi = np.full(n, float(con["tau2_max"]))
    q0 = q(lo)
    zero = q0 < target
    # metafor stops with an error when Q(tau2.max) > target; we widen the bracket instead
    for _ in range(60):
        over = ~zero & (q(hi) > target)
        if not over.any():
            break
        hi = np.where(over, hi * 10, hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        qm = q(mid)
        up = qm > target
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
        if np.all((hi - lo) <= 1e-15 * np.maximum(1.0, hi)):
            break
    return np.where(zero, 0.0, 0.5 * (lo + hi))


def _fit_batch(Y, V, mask=None, X=None, method="REML", test="z", confidence_level=0.95,
               btt=None, control=None, tau2=None):
    """Fit ``n`` random-effects (meta-regression) models at once, as metafor's ``rma.uni``.

    Parameters
    ----------
    Y, V : array_like, shape (n, k) or (k,)
        Effect sizes and sampling variances (broadcast against each other).
    mask : array_like of bool, shape (n, k), optional
        True where a study is used in a fit. Default: all.
    X : array_like, shape (k, p) or (n, k, p), optional
        Design matrix including the intercept column. Default: intercept only.
    method, test : str
        tau2 estimator (:data:`GOSH_METHODS`) and inference (``"z"``, ``"t"``, ``"knha"``,
        ``"adhoc"``).
    btt : sequence of int, optional
        Coefficients tested by QM; default all but an intercept in column 0 (if present).
    control : dict, optional
        ``threshold``, ``maxiter``, ``tol``, ``tau2_max``, ``stepadj`` (see DEFAULT_CONTROL).
    tau2 : array_like, optional
        Fixed tau2 per fit (skips estimation).

    Returns
    -------
    dict of arrays, one entry per fit: ``tau2``, ``beta`` (n, p), ``se`` (n, p), ``vb``
    (n, p, p), ``statistic`` (n, p), ``pvalue`` (n, p), ``ci_low``, ``ci_high`` (n, p),
    ``q``, ``q_pvalue``, ``i2``, ``h2``, ``qm``, ``qm_pvalue``, ``s2w``, ``df``, ``k``,
    ``converged``, ``weights`` (n, k; 1/(vi + tau2) for used studies, 0 otherwise).
    """
    method = {"CE": "EE"}.get(method, method)
    if method not in GOSH_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {GOSH_METHODS}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose one of {TESTS}")
    con = _control(control)
    Y, V, M, X = _as_batch(Y, V, mask, X)
    n, _ = Y.shape
    p = X.shape[2]
    k = M.sum(1)
    if (k < 1).any():
        raise ValueError("every fit needs at least one study")
    if tau2 is None:
        t2, conv, _ = _tau2_batch(Y, V, M, X, method, con)
    else:
        t2 = np.broadcast_to(np.asarray(tau2, float), (n,)).copy()
        conv = np.ones(n, dtype=bool)
    if method in ("EE", "FE"):
        t2 = np.zeros(n)
    tt = np.where(np.isfinite(t2), t2, 0.0)
    W = M / (V + tt[:, None])
    b, Ai, r = _wls(Y, W, X)
    vb = Ai.copy()
    s2w = np.ones(n)
    kp = (k - p).astype(float)
    if test in ("knha", "adhoc"):
        rss = np.einsum("nk,nk->n", W * r, r)
        with np.errstate(divide="ignore", invalid="ignore"):
            s2w = np.where(rss <= _EPS, 0.0, rss / kp)
        if test == "adhoc":
            s2w = np.maximum(s2w, 1.0)
    # metafor sets test="z" for a fit with k = 1
    zrow = k == 1
    s2w = np.where(zrow, 1.0, s2w)
    vb = vb * s2w[:, None, None]
    se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = b / se
    alpha = 1 - confidence_level
    if btt is None:
        intercept = bool(np.all(X[..., 0] == 1))
        btt = list(range(1, p)) if (intercept and p > 1) else list(range(p))
    btt = list(btt)
    m = len(btt)
    bb = b[:, btt]
    with np.errstate(divide="ignore", invalid="ignore"):
        vbb = vb[:, btt][:, :, btt]
        qm = np.einsum("np,np->n", bb, np.linalg.solve(vbb, bb[:, :, None])[:, :, 0]) \
            if m > 1 else bb[:, 0] ** 2 / vbb[:, 0, 0]
    df = np.full(n, np.nan)
    pval = 2 * stats.norm.sf(np.abs(z))
    crit = np.full((n, 1), stats.norm.isf(alpha / 2))
    qm_p = stats.chi2.sf(qm, m)
    if test in ("knha", "adhoc", "t"):
        with np.errstate(divide="ignore", invalid="ignore"):
            dfx = np.where(kp > 0, kp, np.nan)
            tr = ~zrow
            df = np.where(tr, kp, np.nan)
            pval = np.where(tr[:, None], 2 * stats.t.sf(np.abs(z), dfx[:, None]), pval)
            crit = np.where(tr[:, None], stats.t.isf(alpha / 2, dfx)[:, None], crit)
            qm = np.where(tr, qm / m, qm)
            qm_p = np.where(tr, stats.f.sf(qm, m, dfx), qm_p)
    ci_low = b - crit * se
    ci_high = b + crit * se
    # heterogeneity: Q with fixed-effect weights, I2 and H2 as metafor (i2def "1")
    Wf = M / V
    yPy, trP, *_ = _p_quantities(Y, Wf, X, need_pp=False)
    has = kp > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(has, np.maximum(0.0, yPy), 0.0)
        q_p = np.where(has, stats.chi2.sf(q, np.where(has, kp, 1)), 1.0)
        vt = np.where(has, kp / trP, 0.0)
        if method in ("EE", "FE"):
            i2 = np.where(has, np.maximum(0.0, 100 * (q - kp) / q), 0.0)
            h2 = np.where(has, q / kp, 1.0)
        else:
            i2 = np.where(has, 100 * t2 / (vt + t2), 0.0)
            h2 = np.where(has, t2 / vt + 1, 1.0)
    return {"tau2": t2, "beta": b, "se": se, "vb": vb, "statistic": z, "pvalue": pval,
            "ci_low": ci_low, "ci_high": ci_high, "q": q, "q_pvalue": q_p, "i2": i2, "h2": h2,
            "qm": qm, "qm_pvalue": qm_p, "s2w": s2w, "df": df, "k": k, "converged": conv,
            "weights": W, "vt": vt}


def _chunked(fn, n, chunk, progress, desc):
    """Run fn(start, stop) over chunks of rows, with a tqdm bar when asked."""
    from tqdm.auto import tqdm

    out = []
    starts = range(0, n, chunk)
    bar = tqdm(total=n, desc=desc, disable=not progress, leave=False)
    try:
        for s in starts:
            e = min(n, s + chunk)
            out.append(fn(s, e))
            bar.update(e - s)
    finally:
        bar.close()
    return out


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GoshResult:
    """Fits on subsets of studies.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per subset: ``k``, ``q``, ``i2`` (percent), ``h2``, ``tau2``, ``estimate``,
        sorted by ``k`` as metafor. For ``method="DL"``, ``h2`` is Q / (k - 1) as in metafor's
        ``gosh()`` (below 1 when tau2 is truncated at 0).
    incl : numpy.ndarray of bool, shape (n_subsets, k)
        Which studies each subset uses (row ``i`` belongs to ``frame.iloc[i]``).
    exact : bool
        True when every subset was fitted; False for a seeded random sample.
    method : str
    n_subsets : int
    """

    frame: pd.DataFrame
    incl: np.ndarray
    exact: bool
    method: str
    n_subsets: int

    def to_frame(self, labels=None):
        """The results with one boolean column per study (named by ``labels``)."""
        labels = list(labels) if labels is not None else [f"study_{j + 1}" for j in range(self.incl.shape[1])]
        return pd.concat([self.frame, pd.DataFrame(self.incl, columns=labels)], axis=1)


def _all_subsets(k, min_size=1):
    """Masks of all subsets in metafor's order (expand.grid: study 1 varies fastest)."""
    codes = np.arange(2 ** k, dtype=np.int64)
    incl = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
    incl = incl[incl.sum(1) >= min_size]
    order = np.argsort(incl.sum(1), kind="stable")
    return incl[order]


def gosh(yi, vi, method="REML", subsets=None, max_exact_k=20, seed=None, progress=True,
         chunk=32768, control=None):
    """Fit the random-effects model to every subset of studies (GOSH).

    All ``2**k - 1`` non-empty subsets are fitted when ``k <= max_exact_k`` (default 20, about a
    million fits) and ``subsets`` does not ask for fewer; otherwise ``subsets`` (default 10**6,
    metafor's default) random subsets are drawn with a seeded generator: a subset size
    ``m ~ Binomial(k, 1/2)`` restricted to ``m >= 1``, then ``m`` studies at random, as metafor.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    method : str
        tau2 estimator (metafor name, see :data:`GOSH_METHODS`).
    subsets : int, optional
        Number of random subsets; if it is at least the number of all subsets, all are fitted.
    max_exact_k : int
        Largest k for which all subsets are fitted by default.
    seed : int or numpy.random.Generator, optional
        Seed for the random sample (ignored when all subsets are fitted).
    progress : bool
        Show a tqdm progress bar (for large runs).
    chunk : int
        Fits per vectorised batch (memory control).
    control : dict, optional
        Options of the iterative estimators (see ``DEFAULT_CONTROL``).

    Returns
    -------
    GoshResult

    References
    ----------
    Olkin, I., Dahabreh, I. J., & Trikalinos, T. A. (2012). GOSH - a graphical display of study
    heterogeneity. Research Synthesis Methods, 3(3), 214-223.
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.ndim != 1 or yi.shape != vi.shape:
        raise ValueError(f"yi and vi must be 1-D of equal length, got {yi.shape} and {vi.shape}")
    k = yi.size
    if k < 2:
        raise ValueError(f"gosh needs at least 2 studies, got k = {k}")
    n_all = 2 ** k - 1 if k < 63 else float("inf")
    if subsets is None:
        exact = k <= max_exact_k
        n_fit = n_all if exact else 10 ** 6
    else:
        subsets = int(round(subsets))
        if subsets < 2:
            raise ValueError(f"subsets must be >= 2, got {subsets}")
        exact = n_all <= subsets
        n_fit = n_all if exact else subsets
    if exact:
        incl = _all_subsets(k)
    else:
        rng = np.random.default_rng(seed)
        sizes = np.arange(1, k + 1)
        prob = stats.binom.pmf(sizes, k, 0.5)
        m = rng.choice(sizes, size=n_fit, p=prob / prob.sum())
        # m random studies per row: rank of uniform keys below m
        keys = rng.random((n_fit, k))
        ranks = keys.argsort(1).argsort(1)
        incl = ranks < m[:, None]
        incl = incl[np.argsort(incl.sum(1), kind="stable")]

    def run(s, e):
        f = _fit_batch(yi[None, :], vi[None, :], incl[s:e], method=method, control=control)
        h2 = f["h2"]
        if method == "DL":
            # metafor's gosh() takes a shortcut for DL that reports H2 = Q / (k - 1), also when
            # tau2 is truncated at 0 (rma() would report H2 = 1 there); we follow gosh()
            kk = f["k"]
            h2 = np.where(kk > 1, f["q"] / np.maximum(kk - 1, 1), 1.0)
        return np.column_stack([f["k"], f["q"], f["i2"], h2, f["tau2"], f["beta"][:, 0]])

    parts = _chunked(run, incl.shape[0], chunk, progress and incl.shape[0] > 20000, "gosh")
    res = np.vstack(parts)
    frame = pd.DataFrame(res, columns=["k", "q", "i2", "h2", "tau2", "estimate"])
    frame["k"] = frame["k"].astype(int)
    return GoshResult(frame=frame, incl=incl, exact=exact, method=method, n_subsets=int(incl.shape[0]))


def _columns(data, **cols):
    """Resolve metafor-style arguments given as column names of ``data`` or as arrays."""
    out = {}
    for name, val in cols.items():
        if val is None:
            out[name] = None
            continue
        if isinstance(val, str):
            if data is None:
                raise ValueError(f"{name}={val!r} is a column name but no data= was given")
            if val not in data.columns:
                raise ValueError(f"column {val!r} (for {name}) not found in data; columns: {list(data.columns)}")
            val = data[val]
        arr = np.asarray(val, dtype=float)
        out[name] = arr
    ks = {n: a.shape[0] for n, a in out.items() if a is not None and a.ndim >= 1}
    if len(set(ks.values())) > 1:
        raise ValueError(f"mismatched lengths: {ks}")
    for n in ("yi", "vi"):
        a = out.get(n)
        if a is not None:
            if a.ndim != 1:
                raise ValueError(f"{n} must be one-dimensional")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{n} has missing or non-finite values at positions "
                                 f"{np.flatnonzero(~np.isfinite(a)).tolist()}")
    if out.get("vi") is not None and np.any(out["vi"] <= 0):
        raise ValueError(f"vi must be > 0; non-positive at positions {np.flatnonzero(out['vi'] <= 0).tolist()}")
    return out


def _design(mods, k, data=None):
    """Design matrix with an intercept column from ``mods`` (array (k,), (k, q) or column names)."""
    if mods is None:
        return np.ones((k, 1)), ["intrcpt"]
    names = None
    if isinstance(mods, str):
        mods = [mods]
    if isinstance(mods, (list, tuple)) and mods and all(isinstance(m, str) for m in mods):
        if data is None:
            raise ValueError("mods given as column names but no data= was given")
        missing = [m for m in mods if m not in data.columns]
        if missing:
            raise ValueError(f"moderator column(s) {missing} not found in data")
        names = list(mods)
        mods = data[names].to_numpy(dtype=float)
    elif isinstance(mods, pd.DataFrame):
        names = [str(c) for c in mods.columns]
        mods = mods.to_numpy(dtype=float)
    Z = np.asarray(mods, dtype=float)
    if Z.ndim == 1:
        Z = Z[:, None]
    if Z.shape[0] != k:
        raise ValueError(f"mods has {Z.shape[0]} rows but there are {k} studies")
    if not np.all(np.isfinite(Z)):
        raise ValueError("mods has missing or non-finite values")
    names = names or [f"mod{j + 1}" for j in range(Z.shape[1])]
    X = np.column_stack([np.ones(k), Z])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError("the design matrix (intercept + mods) is not of full rank")
    return X, ["intrcpt"] + names
