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

from . import core, tau2 as _t2
from .results import BatchFit, RMAResult

__all__ = ["rma", "fit_batch", "subgroup", "design_matrix", "column_array", "effect_arrays", "model_data",
           "TESTS"]

TESTS = _t2.TESTS


def column_array(name, x, data):
    """A metafor-style argument (column name of ``data`` or array-like) as a 1-D float array."""
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
    out = {name: None if val is None else column_array(name, val, data) for name, val in cols.items()}
    lengths = {name: len(a) for name, a in out.items() if a is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{' and '.join(lengths)} have different lengths "
                         f"({', '.join(map(str, lengths.values()))})")
    return out


def effect_arrays(data, yi, vi=None, sei=None, **more):
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


def model_data(what, yi, vi, mods=None, data=None):
    """yi, vi, the design matrix and coefficient names of a model that needs k > p."""
    y, v, _ = effect_arrays(data, yi, vi)
    k = len(y)
    X, names = (np.ones((k, 1)), ("intrcpt",)) if mods is None else design_matrix(mods, data, k)
    p = X.shape[1]
    if k <= p:
        raise ValueError(f"{what} needs more studies than coefficients: k = {k}, p = {p}")
    return y, v, X, names


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
    y, v, _ = effect_arrays(data, yi, vi, sei)
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


def _rma_intercept(y, v, method, test, level, tol, maxiter):
    """Intercept-only model in closed-form sums (the speed of single fits); every derived
    quantity from :mod:`mscreview.engine.core`."""
    k = len(y)
    fixed = method in ("EE", "FE")
    if fixed:
        tau2, iters = 0.0, 0
    else:
        tau2, iters = _t2.estimate_single(y, v, method, tol=tol, maxiter=maxiter)
    w = 1 / (v + tau2)
    sw = w.sum()
    est = (w * y).sum() / sw
    df = math.nan if test == "z" else float(k - 1)
    s2w = core.residual_multiplier((w * (y - est) ** 2).sum(), k - 1, test) if test != "z" else 1.0
    vb = s2w / sw
    se = math.sqrt(vb)
    stat = est / se if se > 0 else math.copysign(math.inf, est)
    crit, pval = core.crit_and_p(stat, df, level, test == "z")
    crit, pval = float(crit), float(pval)
    ci_low, ci_high = est - crit * se, est + crit * se
    pi_low, pi_high = core.prediction_interval(est, vb, tau2, crit)
    # heterogeneity test with equal-effects weights
    w0 = 1 / v
    sw0 = w0.sum()
    if k > 1:
        mu0 = (w0 * y).sum() / sw0
        q = max(0.0, float((w0 * (y - mu0) ** 2).sum()))
        vt = (k - 1) / (sw0 - (w0 * w0).sum() / sw0)
    else:
        q, vt = 0.0, 0.0
    q_p = core.q_pvalue(q, k - 1)
    i2, h2 = core.heterogeneity(q, k - 1, tau2, vt, fixed)
    a = np.array
    qm, qm_p = core.qm_test(a([est]), a([[vb]]), None, test == "z", df)
    return RMAResult(
        k=k, p=1, method=method, test=test, confidence_level=level, estimate=float(est),
        se=se, statistic=float(stat), df=df, pvalue=pval, ci_low=float(ci_low),
        ci_high=float(ci_high), pi_low=float(pi_low), pi_high=float(pi_high), tau2=tau2,
        se_tau2=core.tau2_se(y, v, None, tau2, method), tau=math.sqrt(tau2), i2=float(i2), h2=float(h2),
        q=q, q_df=k - 1, q_pvalue=q_p, qm=qm, qm_df=(1, math.nan if test == "z" else int(df)),
        qm_pvalue=qm_p, beta=a([est]), beta_se=a([se]),
        beta_statistic=a([stat]), beta_pvalue=a([pval]), beta_ci_low=a([ci_low]),
        beta_ci_high=a([ci_high]), coef_names=("intrcpt",), vb=a([[vb]]), weights=100 * w / sw,
        s2w=s2w, vt=float(vt), yi=y, vi=v, X=None, iterations=iters)


def _rma_mods(y, v, X, names, method, test, level, btt, tol, maxiter):
    """Model with moderators: tau^2 from :mod:`mscreview.engine.tau2`, everything else from
    :func:`mscreview.engine.core.fit` (the batch core, for one data set)."""
    k, p = X.shape
    info = _t2.estimate(y, v, X, method, tol=tol, maxiter=maxiter)
    tau2 = info["tau2"]
    f = core.fit(y[None, :], v[None, :], np.ones((1, k)), np.array([float(k)]), X[None], np.array([tau2]),
                 method, "z" if test == "z" else test, level, btt)
    m = len(core.coefficients_tested(btt, p))
    df = f["df"][0]
    beta, se, stat, pval = f["beta"][0], f["se"][0], f["stat"][0], f["pval"][0]
    ci_low, ci_high = f["ci_low"][0], f["ci_high"][0]
    w = f["W"][0]
    return RMAResult(
        k=k, p=p, method=method, test=test, confidence_level=level, estimate=float(beta[0]),
        se=float(se[0]), statistic=float(stat[0]), df=float(df), pvalue=float(pval[0]),
        ci_low=float(ci_low[0]), ci_high=float(ci_high[0]), pi_low=math.nan, pi_high=math.nan,
        tau2=tau2, se_tau2=info["se_tau2"], tau=math.sqrt(tau2),
        i2=float(f["i2"][0]), h2=float(f["h2"][0]), q=float(f["q"][0]), q_df=k - p,
        q_pvalue=float(f["q_p"][0]), qm=float(f["qm"][0]),
        qm_df=(m, math.nan) if test == "z" else (m, int(df)), qm_pvalue=float(f["qm_p"][0]), beta=beta,
        beta_se=se, beta_statistic=stat, beta_pvalue=np.asarray(pval), beta_ci_low=ci_low,
        beta_ci_high=ci_high, coef_names=names, vb=f["vb"][0], weights=100 * w / w.sum(),
        s2w=float(f["s2w"][0]), vt=float(f["vt"][0]), yi=y, vi=v, X=X, iterations=info["iterations"])


def fit_batch(Y, V, mask=None, method="REML", test="z", confidence_level=0.95, *, X=None,
              btt=None, **kwargs) -> BatchFit:
    """Fit many random-effects models or meta-regressions at once, as metafor's ``rma.uni``.

    Parameters
    ----------
    Y, V, mask, method, X
        As :func:`mscreview.engine.tau2.estimate_batch` (``kwargs``: ``tol``, ``maxiter``,
        ``ll0_tol``).
    test : str
        ``z``, ``t``, ``knha`` or ``adhoc`` (t tests with k - p df; as :func:`rma`).  Fits with a
        single study use z (metafor).
    confidence_level : float
    btt : sequence of int, optional
        Coefficients tested by QM (default: all but the intercept; the
        intercept alone without moderators).

    Returns
    -------
    BatchFit
        Q, I^2 and H^2 use equal-effects weights and metafor's typical sampling
        variance ``(k - p) / tr(P)``; fits with ``k <= p`` get Q = 0, I^2 = 0,
        H^2 = 1.  Fits whose tau^2 did not converge (NaN) get NaN everywhere
        except ``k``, ``q``, ``q_pvalue`` and ``converged``.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; available: {list(TESTS)}")
    tau2, info = _t2.estimate_batch(Y, V, mask, method, X=X, return_info=True, **kwargs)
    Y, V, Mf, k, X = _t2.prepare_batch(Y, V, mask, X)
    n = len(k)
    f = core.fit(Y, V, Mf, k, X, tau2, method, test, confidence_level, btt)
    bad = np.isnan(tau2)

    def nan_bad(a):
        return np.where(bad.reshape((n,) + (1,) * (np.ndim(a) - 1)), np.nan, a)

    beta, se, stat, pval = f["beta"], f["se"], f["stat"], f["pval"]
    return BatchFit(
        k=k.astype(int), estimate=nan_bad(beta[:, 0]), se=nan_bad(se[:, 0]),
        statistic=nan_bad(stat[:, 0]), pvalue=nan_bad(pval[:, 0]), ci_low=nan_bad(f["ci_low"][:, 0]),
        ci_high=nan_bad(f["ci_high"][:, 0]), pi_low=nan_bad(f["pi_low"]), pi_high=nan_bad(f["pi_high"]),
        tau2=tau2, q=f["q"], q_pvalue=f["q_p"], i2=nan_bad(f["i2"]), h2=nan_bad(f["h2"]), method=method,
        test=test, df=f["df"], beta=nan_bad(beta), beta_se=nan_bad(se), beta_statistic=nan_bad(stat),
        beta_pvalue=nan_bad(pval), beta_ci_low=nan_bad(f["ci_low"]), beta_ci_high=nan_bad(f["ci_high"]),
        vb=nan_bad(f["vb"]), qm=nan_bad(f["qm"]), qm_pvalue=nan_bad(f["qm_p"]), s2w=nan_bad(f["s2w"]),
        vt=f["vt"], weights=nan_bad(f["W"]), converged=info["converged"])


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
