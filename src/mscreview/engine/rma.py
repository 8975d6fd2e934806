"""Random-effects, equal-effects and mixed-effects (meta-regression) models.

:func:`rma` is metafor's ``rma.uni`` for the methods of
:data:`mscreview.engine.tau2.METHODS` and the tests ``z``, ``t``, ``knha``
(Hartung-Knapp-Sidik-Jonkman) and ``adhoc`` (Knapp-Hartung with the
variance multiplier truncated at 1); :func:`subgroup` fits one model per
subgroup and tests subgroup differences.

The intercept-only path avoids pandas and matrix algebra (closed-form sums),
so a single REML fit takes a fraction of a millisecond; extras such as the
Q-profile confidence intervals are computed only when asked for
(:meth:`RMAResult.confint`).

References
----------
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package.
*Journal of Statistical Software*, 36(3), 1-48.
Hartung, J., & Knapp, G. (2001). A refined method for the meta-analysis of
controlled clinical trials with binary outcome. *Statistics in Medicine*,
20(24), 3875-3889.
Sidik, K., & Jonkman, J. N. (2002). A simple confidence interval for
meta-analysis. *Statistics in Medicine*, 21(21), 3153-3159.
Knapp, G., & Hartung, J. (2003). Improved tests for a random effects
meta-regression with a single covariate. *Statistics in Medicine*, 22(17),
2693-2710.
Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a
meta-analysis. *Statistics in Medicine*, 21(11), 1539-1558.
Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity
in meta-analysis. *Statistics in Medicine*, 26(1), 37-52. (Q-profile)
Riley, R. D., Higgins, J. P. T., & Deeks, J. J. (2011). Interpretation of
random effects meta-analyses. *BMJ*, 342, d549. (prediction interval)
Borenstein, M., Hedges, L. V., Higgins, J. P. T., & Rothstein, H. R. (2009).
*Introduction to Meta-Analysis*, chapter 19 (subgroup differences).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import chdtrc, chdtri, fdtrc, ndtr, ndtri, stdtr, stdtrit

from . import tau2 as _t2
from .results import HeterogeneityCI, RMAResult

__all__ = ["rma", "subgroup", "design_matrix", "TESTS"]

TESTS = _t2.TESTS
_EPS = np.finfo(float).eps


def _arraylike(name, x, data):
    if isinstance(x, str):
        if data is None:
            raise ValueError(f"{name}={x!r} given by column name but no data= DataFrame")
        if x not in data.columns:
            raise ValueError(f"column {x!r} (for {name}) not found in data; available: {list(data.columns)}")
        x = data[x]
    if hasattr(x, "to_numpy"):
        x = x.to_numpy(dtype=float)
    out = np.asarray(x, dtype=float)
    if out.ndim != 1:
        out = out.ravel() if out.size == max(out.shape, default=0) else out
    if out.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {out.shape}")
    return out


def design_matrix(mods, data=None, k=None):
    """Design matrix (with intercept) and coefficient names from moderators.

    ``mods`` may be a column name or list of names of ``data``, a DataFrame,
    a 1-D or 2-D array.  Non-numeric columns (strings, categories, booleans)
    are dummy coded against their first level (the first category of a
    pandas Categorical, otherwise the first in sorted order), as R's
    ``factor()`` does; numeric columns enter as they are.
    """
    import pandas as pd
    if isinstance(mods, str):
        mods = [mods]
    if isinstance(mods, (list, tuple)) and all(isinstance(m, str) for m in mods):
        if data is None:
            raise ValueError("mods given by column name but no data= DataFrame")
        missing = [m for m in mods if m not in data.columns]
        if missing:
            raise ValueError(f"moderator column(s) {missing} not found in data")
        frame = data[list(mods)]
    elif isinstance(mods, pd.DataFrame):
        frame = mods
    elif isinstance(mods, pd.Series):
        frame = mods.to_frame(name=mods.name or "mods")
    else:
        arr = np.asarray(mods)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"mods must be 1-D or 2-D; got shape {arr.shape}")
        names = ["mods"] if arr.shape[1] == 1 else [f"mods{j + 1}" for j in range(arr.shape[1])]
        frame = pd.DataFrame(arr, columns=names)
    if k is not None and len(frame) != k:
        raise ValueError(f"mods has {len(frame)} rows but there are {k} effect sizes")
    cols, names = [np.ones(len(frame))], ["intrcpt"]
    for c in frame.columns:
        s = frame[c]
        if s.isna().any():
            raise ValueError(f"moderator {c!r} is missing in row(s) {list(np.flatnonzero(s.isna()))}")
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            levels = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                      else sorted(s.unique(), key=str))
            levels = [lv for lv in levels if (s == lv).any()]
            for lv in levels[1:]:
                cols.append((s == lv).to_numpy(dtype=float))
                names.append(f"{c}[{lv}]")
        else:
            cols.append(s.to_numpy(dtype=float))
            names.append(str(c))
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError(f"moderators are collinear (design matrix of rank "
                         f"{np.linalg.matrix_rank(X)} < {X.shape[1]} columns: {names})")
    return X, tuple(names)


def _crit_and_p(stat, test, df, level):
    alpha = 1 - level
    if test == "z":
        return ndtri(1 - alpha / 2), 2 * ndtr(-np.abs(stat))
    return stdtrit(df, 1 - alpha / 2), 2 * stdtr(df, -np.abs(stat))


def _check_effects(y, v):
    """yi and vi of equal length, finite, vi > 0; errors name the rows."""
    if len(y) != len(v):
        raise ValueError(f"yi and vi have different lengths ({len(y)} and {len(v)})")
    if not (np.isfinite(y).all() and np.isfinite(v).all()):
        bad_y = np.flatnonzero(~np.isfinite(y)).tolist()
        bad_v = np.flatnonzero(~np.isfinite(v)).tolist()
        raise ValueError(f"NaN or infinite values: yi in rows {bad_y}, vi in rows {bad_v}")
    if (v <= 0).any():
        raise ValueError(f"vi must be > 0; vi <= 0 in rows {np.flatnonzero(v <= 0).tolist()}")


def _columns(data, **cols):
    """metafor-style arguments given as column names of ``data`` or as arrays, as 1-D float
    arrays of equal length (``None`` stays ``None``)."""
    out = {name: None if val is None else _arraylike(name, val, data) for name, val in cols.items()}
    lengths = {name: len(a) for name, a in out.items() if a is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{' and '.join(lengths)} have different lengths "
                         f"({', '.join(map(str, lengths.values()))})")
    return out


def _effects(data, yi, vi=None, sei=None, **more):
    """Effect sizes and sampling variances (``vi``, or ``sei`` squared), checked as in
    :func:`rma`, and any further columns: ``(y, v, columns)``."""
    if vi is None and sei is None:
        raise ValueError("give vi (sampling variances) or sei (standard errors)")
    if vi is not None and sei is not None:
        raise ValueError("give either vi or sei, not both")
    c = _columns(data, yi=yi, vi=vi, sei=sei, **more)
    v = c["vi"] if vi is not None else c["sei"] ** 2
    _check_effects(c["yi"], v)
    return c["yi"], v, c


def _model_data(what, yi, vi, mods=None, data=None):
    """yi, vi, the design matrix and coefficient names of a model that needs k > p."""
    y, v, _ = _effects(data, yi, vi)
    k = len(y)
    X, names = (np.ones((k, 1)), ("intrcpt",)) if mods is None else design_matrix(mods, data, k)
    p = X.shape[1]
    if k <= p:
        raise ValueError(f"{what} needs more studies than coefficients: k = {k}, p = {p}")
    return y, v, X, names


def _qm_test(beta, vb, btt, test, df):
    """Omnibus Wald test of the coefficients ``btt``: QM (chi^2 with m df for ``test="z"``,
    otherwise F = QM / m with (m, df) df), its df tuple and p-value."""
    btt = _t2.coefficients_tested(btt, len(beta))
    bsub = beta[btt]
    try:
        qm = float(bsub @ np.linalg.solve(vb[np.ix_(btt, btt)], bsub))
    except np.linalg.LinAlgError:
        qm = math.nan
    m = len(btt)
    if test == "z":
        return qm, (m, math.nan), float(chdtrc(m, qm))
    return qm / m, (m, int(df)), float(fdtrc(m, df, qm / m))


def _validate(method, test, confidence_level):
    if method not in _t2.METHODS:
        raise ValueError(f"unknown method {method!r}; available: {list(_t2.METHODS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; available: {list(TESTS)}")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1); got {confidence_level}")


def rma(yi, vi=None, mods=None, method="REML", test="z", data=None, confidence_level=0.95,
        *, sei=None, btt=None, tol=_t2.TOL, maxiter=_t2.MAXITER) -> RMAResult:
    """Fit an equal-, random- or mixed-effects meta-analytic model (metafor ``rma.uni``).

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``).
        ``sei`` (standard errors) may replace ``vi``.
    mods : optional
        Moderators: column name(s) of ``data``, DataFrame or array (see
        :func:`design_matrix`).  An intercept is always included.
    method : str
        tau^2 estimator, a key of :data:`mscreview.engine.tau2.METHODS`
        (``EE``/``FE``, ``DL``, ``HE``, ``HS``, ``SJ``, ``ML``, ``REML``,
        ``EB``, ``PM``).
    test : str
        ``"z"``, ``"t"``, ``"knha"`` or ``"adhoc"`` (see :data:`TESTS`).
    data : DataFrame, optional
    confidence_level : float
    btt : sequence of int, optional
        Coefficients tested by the omnibus QM test (default: all but the
        intercept; the intercept alone in an intercept-only model).

    Returns
    -------
    RMAResult

    Raises
    ------
    ValueError
        Unknown method or test, mismatched lengths, NaN, ``vi <= 0``, or
        fewer studies than the model needs (random-effects: ``k > p``;
        t-type tests: ``k > p``).
    mscreview.engine.tau2.ConvergenceError
        The iterative tau^2 estimator did not converge.

    References
    ----------
    Viechtbauer, W. (2010). *Journal of Statistical Software*, 36(3), 1-48.
    """
    _validate(method, test, confidence_level)
    y, v, _ = _effects(data, yi, vi, sei)
    k = len(y)
    if mods is None:
        X, names = None, ("intrcpt",)
        p = 1
    else:
        X, names = design_matrix(mods, data, k)
        p = X.shape[1]
    fixed = method in ("EE", "FE")
    if k < 1:
        raise ValueError("no studies (k = 0)")
    if not fixed and k <= p:
        raise ValueError(f"too few studies for a {method} model with {p} coefficient(s): "
                         f"k = {k}, need k > {p}")
    if fixed and k < p:
        raise ValueError(f"too few studies for {p} coefficients: k = {k}")
    if test != "z" and k <= p:
        raise ValueError(f"test={test!r} needs k > p for its degrees of freedom (k = {k}, p = {p})")
    if X is None:
        return _rma_intercept(y, v, method, test, confidence_level, tol, maxiter)
    return _rma_mods(y, v, X, names, method, test, confidence_level, btt, tol, maxiter)


def _tau2_intercept(y, v, method, tol, maxiter):
    """tau2, se_tau2, iterations for an intercept-only model in closed-form sums."""
    k = len(y)
    if method in ("EE", "FE"):
        return 0.0, math.nan, 0
    t, iterations = _t2.estimate_single(y, v, method, tol=tol, maxiter=maxiter)
    km1 = k - 1
    if method in ("ML", "REML"):
        w = 1 / (v + t)
        sw, sw2 = w.sum(), (w * w).sum()
        if method == "ML":
            se = math.sqrt(2 / sw2)
        else:
            trpp = sw2 - 2 * (w * w * w).sum() / sw + (sw2 / sw) ** 2
            se = math.sqrt(2 / trpp)
    elif method in ("EB", "PM"):
        sw = (1 / (v + t)).sum()
        se = math.sqrt(2 * k * k / km1 / sw**2)
    elif method in ("DL", "HS"):
        w = 1 / v
        sw, sw2 = w.sum(), (w * w).sum()
        trp = sw - sw2 / sw
        trpp = sw2 - 2 * (w * w * w).sum() / sw + (sw2 / sw) ** 2
        inner = 2 * km1 + 4 * t * trp + 2 * t * t * trpp
        se = math.sqrt(inner / trp**2) if method == "DL" else math.sqrt(inner / sw**2)
    elif method == "HE":
        sv = v.sum()
        spvpv = (1 - 2 / k) * (v * v).sum() + sv * sv / k**2
        trpv = sv * km1 / k
        se = math.sqrt((2 * spvpv + 4 * t * trpv + 2 * t * t * km1) / km1**2)
    else:  # SJ
        t0 = float(np.mean((y - y.mean()) ** 2))
        w = 1 / (v + t0)
        sw, sw2, sw3 = w.sum(), (w * w).sum(), (w**3).sum()
        s_pvpv = (w * w * v * v).sum() - 2 * (w**3 * v * v).sum() / sw + ((w * w * v).sum() / sw) ** 2
        s_pvp = (w * w * v).sum() - 2 * (w**3 * v).sum() / sw + sw2 * (w * w * v).sum() / sw**2
        s_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
        se = math.sqrt(t0**2 / km1**2 * (2 * s_pvpv + 4 * t * s_pvp + 2 * t * t * s_pp))
    return t, se, iterations


def _heterogeneity(q, k, p, tau2, vt, fixed):
    if k <= p:
        return 0.0, 1.0
    if fixed:
        return max(0.0, 100 * (q - (k - p)) / q) if q > 0 else 0.0, q / (k - p)
    return 100 * tau2 / (vt + tau2), tau2 / vt + 1


def _rma_intercept(y, v, method, test, level, tol, maxiter):
    k = len(y)
    fixed = method in ("EE", "FE")
    tau2, se_tau2, iters = _tau2_intercept(y, v, method, tol, maxiter)
    w = 1 / (v + tau2)
    sw = w.sum()
    est = (w * y).sum() / sw
    s2w = 1.0
    df = math.nan
    if test != "z":
        df = float(k - 1)
        if test in ("knha", "adhoc"):
            rss = (w * (y - est) ** 2).sum()
            s2w = 0.0 if rss <= _EPS else rss / (k - 1)
            if test == "adhoc":
                s2w = max(s2w, 1.0)
    vb = s2w / sw
    se = math.sqrt(vb)
    stat = est / se if se > 0 else math.copysign(math.inf, est)
    crit, pval = _crit_and_p(stat, test, df, level)
    crit, pval = float(crit), float(pval)
    ci_low, ci_high = est - crit * se, est + crit * se
    pse = math.sqrt(vb + tau2)
    pi_low, pi_high = est - crit * pse, est + crit * pse
    # heterogeneity test with equal-effects weights
    w0 = 1 / v
    sw0 = w0.sum()
    if k > 1:
        mu0 = (w0 * y).sum() / sw0
        q = max(0.0, float((w0 * (y - mu0) ** 2).sum()))
        q_p = float(chdtrc(k - 1, q))
        vt = (k - 1) / (sw0 - (w0 * w0).sum() / sw0)
    else:
        q, q_p, vt = 0.0, 1.0, 0.0
    i2, h2 = _heterogeneity(q, k, 1, tau2, vt, fixed)
    if test == "z":
        qm, qm_df, qm_p = stat * stat, (1, math.nan), pval
    else:
        qm, qm_df, qm_p = stat * stat, (1, int(df)), float(fdtrc(1, df, stat * stat))
    a = np.array
    return RMAResult(
        k=k, p=1, method=method, test=test, confidence_level=level, estimate=float(est),
        se=se, statistic=float(stat), df=df, pvalue=pval, ci_low=float(ci_low),
        ci_high=float(ci_high), pi_low=float(pi_low), pi_high=float(pi_high), tau2=tau2,
        se_tau2=se_tau2, tau=math.sqrt(tau2), i2=float(i2), h2=float(h2), q=q, q_df=k - 1,
        q_pvalue=q_p, qm=float(qm), qm_df=qm_df, qm_pvalue=qm_p, beta=a([est]), beta_se=a([se]),
        beta_statistic=a([stat]), beta_pvalue=a([pval]), beta_ci_low=a([ci_low]),
        beta_ci_high=a([ci_high]), coef_names=("intrcpt",), vb=a([[vb]]), weights=100 * w / sw,
        s2w=s2w, vt=float(vt), yi=y, vi=v, X=None, iterations=iters)


def _rma_mods(y, v, X, names, method, test, level, btt, tol, maxiter):
    k, p = X.shape
    fixed = method in ("EE", "FE")
    info = _t2.estimate(y, v, X, method, tol=tol, maxiter=maxiter)
    tau2 = info["tau2"]
    w = 1 / (v + tau2)
    WX = X * w[:, None]
    XtWX_inv = np.linalg.inv(X.T @ WX)
    beta = XtWX_inv @ (WX.T @ y)
    s2w = 1.0
    df = math.nan
    if test != "z":
        df = float(k - p)
        if test in ("knha", "adhoc"):
            rss = float(np.sum(w * (y - X @ beta) ** 2))
            s2w = 0.0 if rss <= _EPS else rss / (k - p)
            if test == "adhoc":
                s2w = max(s2w, 1.0)
    vb = s2w * XtWX_inv
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    crit, pval = _crit_and_p(stat, test, df, level)
    ci_low, ci_high = beta - crit * se, beta + crit * se
    qm, qm_df, qm_p = _qm_test(beta, vb, btt, test, df)
    w0 = 1 / v
    P0 = _t2._p_matrix(w0, X)
    yc = y - y.mean()
    q = max(0.0, float(yc @ P0 @ yc))
    q_p = float(chdtrc(k - p, q)) if k > p else 1.0
    vt = (k - p) / np.trace(P0) if k > p else 0.0
    i2, h2 = _heterogeneity(q, k, p, tau2, vt, fixed)
    return RMAResult(
        k=k, p=p, method=method, test=test, confidence_level=level, estimate=float(beta[0]),
        se=float(se[0]), statistic=float(stat[0]), df=df, pvalue=float(pval[0]),
        ci_low=float(ci_low[0]), ci_high=float(ci_high[0]), pi_low=math.nan, pi_high=math.nan,
        tau2=tau2, se_tau2=info["se_tau2"], tau=math.sqrt(tau2), i2=float(i2), h2=float(h2),
        q=q, q_df=k - p, q_pvalue=q_p, qm=qm, qm_df=qm_df, qm_pvalue=qm_p, beta=beta,
        beta_se=se, beta_statistic=stat, beta_pvalue=np.asarray(pval), beta_ci_low=ci_low,
        beta_ci_high=ci_high, coef_names=names, vb=vb, weights=100 * w / w.sum(), s2w=s2w,
        vt=float(vt), yi=y, vi=v, X=X, iterations=info["iterations"])


# ---------------------------------------------------------------------------
# Extras computed on demand
# ---------------------------------------------------------------------------

def _predict(res: RMAResult, newmods, level):
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
    crit, _ = _crit_and_p(0.0, res.test, res.df, level)
    pse = np.sqrt(se**2 + res.tau2)
    return pd.DataFrame({"pred": pred, "se": se, "ci_low": pred - crit * se,
                         "ci_high": pred + crit * se, "pi_low": pred - crit * pse,
                         "pi_high": pred + crit * pse})


def _generalised_q(res, t):
    X = res.X if res.X is not None else np.ones((res.k, 1))
    P = _t2._p_matrix(1 / (res.vi + t), X)
    return float(res.yi @ P @ res.yi)


def _qprofile(res: RMAResult, level) -> HeterogeneityCI:
    """Q-profile CI of tau^2 (Viechtbauer 2007), as metafor ``confint.rma.uni``."""
    from scipy.optimize import brentq
    if res.method in ("EE", "FE"):
        raise ValueError("an equal-effects model has no tau^2 to give a CI for")
    df = res.k - res.p
    alpha = 1 - level
    crit_u = chdtri(df, alpha / 2)        # upper quantile -> lower bound of tau2
    crit_l = chdtri(df, 1 - alpha / 2)    # lower quantile -> upper bound of tau2
    tmin, tmax = 0.0, max(100.0, res.tau2 * 10)
    q_min = _generalised_q(res, tmin)
    # metafor stops the search at max(100, 10 tau2) and reports "> bound"; we
    # widen the interval until the root is bracketed (Q decreases to 0)
    q_max = _generalised_q(res, tmax)
    while q_max > crit_l and tmax < 1e300:
        tmax *= 10
        q_max = _generalised_q(res, tmax)
    def root(target):
        return brentq(lambda t: _generalised_q(res, t) - target, tmin, tmax, xtol=1e-13,
                      rtol=4 * _EPS, maxiter=1000)

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
    vt = res.vt
    return HeterogeneityCI(
        tau2=res.tau2, tau2_ci_low=lo, tau2_ci_high=hi, tau=res.tau, tau_ci_low=math.sqrt(lo),
        tau_ci_high=math.sqrt(hi), i2=res.i2, i2_ci_low=100 * lo / (vt + lo),
        i2_ci_high=100 * hi / (vt + hi), h2=res.h2, h2_ci_low=lo / vt + 1, h2_ci_high=hi / vt + 1,
        confidence_level=level)


def subgroup(data, by, yi="yi", vi="vi", method="REML", test="z", confidence_level=0.95):
    """Fit one model per subgroup and test subgroup differences; a tidy DataFrame.

    One row per subgroup (``row="subgroup"``) with the columns of
    :meth:`RMAResult.to_frame`, then two rows ``row="difference"``:

    * ``"between subgroups (separate tau2)"``: Q test of the subgroup
      estimates with weights ``1/se^2`` (an equal-effects model on the
      subgroup estimates; Borenstein et al. 2009, ch. 19; RevMan's test),
    * ``"moderator test (common tau2)"``: the omnibus QM test of a
      meta-regression on the subgroup factor (metafor
      ``rma(yi, vi, mods = ~ factor(by))``).

    A subgroup with a single study is reported with that study's estimate
    and an equal-effects CI (``method="EE"``), since tau^2 is not
    estimable from one study.
    """
    import pandas as pd
    if by not in data.columns:
        raise ValueError(f"column {by!r} not found in data")
    if data[by].isna().any():
        raise ValueError(f"subgroup column {by!r} is missing in row(s) "
                         f"{list(np.flatnonzero(data[by].isna()))}")
    rows, est, se = [], [], []
    groups = (list(data[by].cat.categories) if isinstance(data[by].dtype, pd.CategoricalDtype)
              else sorted(data[by].unique(), key=str))
    for g in groups:
        d = data[data[by] == g]
        if len(d) == 0:
            continue
        m = method if len(d) > 1 else "EE"
        tst = test if len(d) > 1 else "z"
        r = rma(d[yi], d[vi], method=m, test=tst, confidence_level=confidence_level)
        row = r.to_frame().iloc[0].to_dict()
        row.update({"row": "subgroup", "subgroup": g})
        rows.append(row)
        est.append(r.estimate)
        se.append(r.se)
    out = pd.DataFrame(rows)
    diff_rows = []
    if len(est) > 1:
        b = rma(np.array(est), sei=np.array(se), method="EE")
        diff_rows.append({"row": "difference", "subgroup": "between subgroups (separate tau2)",
                          "k": len(est), "statistic": b.q, "df": b.q_df, "pvalue": b.q_pvalue,
                          "method": "EE", "test": "Q"})
        if len(data) > len(est):
            factor = pd.DataFrame({by: pd.Categorical(data[by], categories=groups)})
            fit = rma(data[yi], data[vi], mods=factor,
                      method=method, test=test, confidence_level=confidence_level)
            diff_rows.append({"row": "difference", "subgroup": "moderator test (common tau2)",
                              "k": fit.k, "statistic": fit.qm, "df": fit.qm_df[0],
                              "pvalue": fit.qm_pvalue, "method": method,
                              "test": "QM" if test == "z" else "F", "tau2": fit.tau2})
    out = pd.concat([out, pd.DataFrame(diff_rows)], ignore_index=True)
    cols = ["row", "subgroup"] + [c for c in out.columns if c not in ("row", "subgroup")]
    return out[cols]
