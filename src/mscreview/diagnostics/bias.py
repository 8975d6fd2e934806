"""Small-study effects: Egger's regression test, Begg-Mazumdar rank test, trim-and-fill,
PET-PEESE and the data of contour-enhanced funnel plots.

Every test refuses (``ValueError``) when there are fewer studies than ``min_k`` (default 10):
the Cochrane Handbook (version 6.4, section 13.3.5.4; 10.4.3.1 in version 5.1) advises that
tests for funnel-plot asymmetry be used only with at least 10 studies, because with fewer the
power is too low to tell chance from real asymmetry (Sterne et al., 2011). Pass ``min_k`` to
override explicitly; the hard minimum of each method (the model must be estimable) still holds.

Computations follow R metafor 3.8 (``regtest``, ``ranktest``, ``trimfill``) step for step.

References
----------
Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis detected
by a simple, graphical test. BMJ, 315(7109), 629-634.
Begg, C. B., & Mazumdar, M. (1994). Operating characteristics of a rank correlation test for
publication bias. Biometrics, 50(4), 1088-1101.
Duval, S., & Tweedie, R. (2000). Trim and fill: a simple funnel-plot-based method of testing
and adjusting for publication bias in meta-analysis. Biometrics, 56(2), 455-463.
Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to reduce
publication selection bias. Research Synthesis Methods, 5(1), 60-78.
Peters, J. L., Sutton, A. J., Jones, D. R., Abrams, K. R., & Rushton, L. (2008).
Contour-enhanced meta-analysis funnel plots help distinguish publication bias from other
causes of asymmetry. Journal of Clinical Epidemiology, 61(10), 991-996.
Sterne, J. A. C., et al. (2011). Recommendations for examining and interpreting funnel plot
asymmetry in meta-analyses of randomised controlled trials. BMJ, 343, d4002.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.rma import effect_arrays, fit_batch
from ..engine.tau2 import control_options

__all__ = ["RegtestResult", "RanktestResult", "TrimfillResult", "PetPeeseResult", "FunnelData",
           "regtest", "ranktest", "trimfill", "pet_peese", "funnel_data", "MIN_K",
           "PREDICTORS"]

#: Default minimum number of studies for any funnel-asymmetry method (Cochrane Handbook).
MIN_K = 10

#: Predictors of Egger-type regression tests (metafor's names): what each regresses yi on.
PREDICTORS = {
    "sei": "standard error sqrt(vi) (Egger's test)",
    "vi": "sampling variance vi",
    "ni": "total sample size ni",
    "ninv": "inverse sample size 1/ni",
    "sqrtni": "square root of the sample size",
    "sqrtninv": "inverse square root of the sample size",
}


def _check_k(k, min_k, what, hard_min):
    if k < hard_min:
        raise ValueError(f"{what} cannot be computed with k = {k} studies: it needs at least "
                         f"{hard_min} for the model to be estimable")
    if k < min_k:
        raise ValueError(
            f"{what}: k = {k} studies is below the minimum of {min_k}. With fewer than 10 studies "
            "tests for funnel-plot asymmetry have too little power to distinguish chance from real "
            "asymmetry (Cochrane Handbook 10.4.3.1 / 13.3.5.4; Sterne et al. 2011, BMJ 343:d4002). "
            f"Pass min_k={k} (or lower) to compute it anyway.")


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegtestResult:
    """Regression test for funnel-plot asymmetry (metafor ``regtest``).

    ``statistic``/``pvalue`` test the coefficient of the predictor (z or t, with ``df`` for
    t). ``estimate`` with ``ci_low``/``ci_high`` is the limit estimate (the intercept: the
    effect expected at infinite precision) for predictors sei, vi, ninv, sqrtninv; NaN for
    others. ``slope`` is the predictor's coefficient.
    """

    statistic: float
    pvalue: float
    df: float
    slope: float
    estimate: float
    ci_low: float
    ci_high: float
    model: str
    predictor: str
    method: str
    test: str
    k: int
    tau2: float
    confidence_level: float = 0.95

    def to_frame(self):
        return pd.DataFrame([{f: getattr(self, f) for f in self.__dataclass_fields__}])


def regtest(yi, vi=None, *, sei=None, ni=None, model="rma", predictor="sei", method="REML",
            test="z", data=None, confidence_level=0.95, min_k=MIN_K, control=None):
    """Egger-type regression test for funnel-plot asymmetry.

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``); ``sei`` may replace
        ``vi``.
    ni : array_like or str, optional
        Sample sizes (needed for predictors ``ni``, ``ninv``, ``sqrtni``, ``sqrtninv``).
    model : {"rma", "lm"}
        ``"rma"``: a meta-regression with the given ``method`` and ``test`` (metafor's default).
        ``"lm"``: weighted least squares with weights 1/vi and a multiplicative dispersion
        term, i.e. Egger's original test (t with k - 2 df).
    predictor : str
        One of :data:`PREDICTORS`.
    method, test : str
        tau2 estimator and inference of the ``"rma"`` model.
    confidence_level : float
    min_k : int
        Refuse with fewer studies (default 10, see the module notes).
    control : dict, optional
        Options of iterative estimators.

    Returns
    -------
    RegtestResult

    References
    ----------
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). BMJ, 315, 629-634.
    Sterne, J. A. C., & Egger, M. (2005). Regression methods to detect publication and other
    bias in meta-analysis. In Publication bias in meta-analysis (pp. 99-110). Wiley.
    """
    if model not in ("rma", "lm"):
        raise ValueError(f"model must be 'rma' or 'lm', got {model!r}")
    if predictor not in PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}; choose one of {list(PREDICTORS)}")
    y, v, c = effect_arrays(data, yi, vi, sei, ni=ni)
    k = y.size
    _check_k(k, min_k, "regtest", 3)
    n = c["ni"]
    if predictor in ("ni", "ninv", "sqrtni", "sqrtninv"):
        if n is None:
            raise ValueError(f"predictor={predictor!r} needs sample sizes: pass ni=")
        if np.any(n <= 0):
            raise ValueError("ni must be > 0")
    xcol = {"sei": lambda: np.sqrt(v), "vi": lambda: v, "ni": lambda: n, "ninv": lambda: 1 / n,
            "sqrtni": lambda: np.sqrt(n), "sqrtninv": lambda: 1 / np.sqrt(n)}[predictor]()
    X = np.column_stack([np.ones(k), xcol])
    if np.linalg.matrix_rank(X) < 2:
        raise ValueError("the predictor is constant: the model is not of full rank")
    if model == "rma":
        f = fit_batch(y, v, method=method, test=test, confidence_level=confidence_level, X=X,
                      **control_options(control))
    else:
        # lm(yi ~ X - 1, weights = 1/vi): WLS with estimated dispersion, t(k - 2)
        f = fit_batch(y, v, method="FE", test="knha", confidence_level=confidence_level, X=X)
        method, test = "FE", "t"
    limit = predictor in ("sei", "vi", "ninv", "sqrtninv")
    return RegtestResult(
        statistic=float(f.beta_statistic[0, 1]), pvalue=float(f.beta_pvalue[0, 1]),
        df=float(f.df[0]), slope=float(f.beta[0, 1]),
        estimate=float(f.estimate[0]) if limit else np.nan,
        ci_low=float(f.ci_low[0]) if limit else np.nan,
        ci_high=float(f.ci_high[0]) if limit else np.nan,
        model=model, predictor=predictor, method=method, test=test, k=k,
        tau2=float(f.tau2[0]), confidence_level=confidence_level)


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RanktestResult:
    """Begg and Mazumdar's rank correlation test (metafor ``ranktest``).

    ``statistic`` is Kendall's tau (tau-b) between the standardised effects and the sampling
    variances; ``pvalue`` is two-sided, exact when ``exact`` is True (no ties), otherwise from
    the normal approximation with the tie-corrected variance (as R's ``cor.test``).
    """

    statistic: float
    pvalue: float
    exact: bool
    k: int

    def to_frame(self):
        return pd.DataFrame([{f: getattr(self, f) for f in self.__dataclass_fields__}])


def _kendall_exact_cdf(q, n):
    """P(T <= q) for T = number of concordant pairs among n untied pairs (R's pkendall)."""
    dist = np.array([1.0])
    for m in range(2, n + 1):
        # inversions of permutations of m items: convolve with uniform over 0..m-1
        new = np.convolve(dist, np.ones(m)) / m
        dist = new
    if q < 0:
        return 0.0
    return float(dist[: int(q) + 1].sum())


def _kendall_test(x, y, exact):
    n = x.size
    tau = stats.kendalltau(x, y, variant="b").statistic
    _, cx = np.unique(x, return_counts=True)
    _, cy = np.unique(y, return_counts=True)
    ties = (cx > 1).any() or (cy > 1).any()
    if exact and not ties:
        q = round((tau + 1) * n * (n - 1) / 4)
        if q > n * (n - 1) / 4:
            p = 1 - _kendall_exact_cdf(q - 1, n)
        else:
            p = _kendall_exact_cdf(q, n)
        return tau, min(2 * p, 1.0), True
    xt = cx[cx > 1].astype(float)
    yt = cy[cy > 1].astype(float)
    T0 = n * (n - 1) / 2
    T1 = np.sum(xt * (xt - 1)) / 2
    T2 = np.sum(yt * (yt - 1)) / 2
    S = tau * np.sqrt((T0 - T1) * (T0 - T2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = np.sum(xt * (xt - 1) * (2 * xt + 5))
    vu = np.sum(yt * (yt - 1) * (2 * yt + 5))
    v1 = np.sum(xt * (xt - 1)) * np.sum(yt * (yt - 1))
    v2 = np.sum(xt * (xt - 1) * (xt - 2)) * np.sum(yt * (yt - 1) * (yt - 2))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = S / np.sqrt(var_s)
    return tau, float(2 * min(stats.norm.cdf(z), stats.norm.sf(z))), False


def ranktest(yi, vi=None, *, sei=None, data=None, exact=True, min_k=MIN_K):
    """Begg and Mazumdar's rank correlation test for funnel-plot asymmetry.

    The standardised deviates (yi - theta_FE) / sqrt(vi - 1/sum(1/vi)) are correlated with vi by
    Kendall's tau. As metafor (which calls R's ``cor.test(..., exact=TRUE)``), the p-value is
    exact when there are no ties and ``exact`` is True, otherwise the normal approximation with
    tie-corrected variance (no continuity correction).

    Parameters
    ----------
    yi, vi, sei, data
        As in :func:`regtest`.
    exact : bool
        Use the exact null distribution when there are no ties (default True, as metafor).
    min_k : int
        Refuse with fewer studies (default 10).

    Returns
    -------
    RanktestResult

    References
    ----------
    Begg, C. B., & Mazumdar, M. (1994). Biometrics, 50(4), 1088-1101.
    """
    y, v, _ = effect_arrays(data, yi, vi, sei)
    k = y.size
    _check_k(k, min_k, "ranktest", 3)
    w = 1 / v
    theta = np.sum(w * y) / np.sum(w)
    vstar = v - 1 / np.sum(w)
    ystar = (y - theta) / np.sqrt(vstar)
    tau, p, was_exact = _kendall_test(ystar, v, exact)
    return RanktestResult(statistic=float(tau), pvalue=float(p), exact=was_exact, k=k)


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrimfillResult:
    """Trim-and-fill (metafor ``trimfill``): the model refitted with ``k0`` filled studies.

    ``estimate`` ... ``tau2`` come from the random-effects (or equal-effects) model on the
    observed plus filled studies (``model``, an engine ``RMAResult``). ``yi``, ``vi`` and
    ``fill`` (True for filled studies) hold the augmented data, observed studies first.
    ``p_k0`` is the test of k0 = 0 for the R0 estimator (NaN for L0).
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float
    estimate: float
    se: float
    statistic: float
    pvalue: float
    ci_low: float
    ci_high: float
    tau2: float
    k: int
    method: str
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    fill: np.ndarray = field(repr=False)
    model: object = field(repr=False)

    def to_frame(self):
        names = ["k0", "se_k0", "side", "estimator", "p_k0", "estimate", "se", "statistic",
                 "pvalue", "ci_low", "ci_high", "tau2", "k", "method"]
        return pd.DataFrame([{f: getattr(self, f) for f in names}])

    def data_frame(self):
        """Observed and filled studies: ``yi``, ``vi``, ``fill``."""
        return pd.DataFrame({"yi": self.yi, "vi": self.vi, "fill": self.fill})


def _beta0(y, v, method, control):
    return float(fit_batch(y, v, method=method, **control_options(control)).estimate[0])


def trimfill(yi, vi=None, *, sei=None, data=None, method="REML", test="z", side=None,
             estimator="L0", maxiter=100, confidence_level=0.95, min_k=MIN_K, control=None):
    """Duval and Tweedie's trim-and-fill method.

    Parameters
    ----------
    yi, vi, sei, data
        As in :func:`regtest`.
    method, test : str
        Model of the trimmed and filled fits (metafor names).
    side : {"left", "right"}, optional
        Side where studies are missing. Default as metafor: from the sign of the slope of a
        meta-regression of yi on sqrt(vi) (slope < 0: "right", else "left").
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies.
    maxiter : int
        Iterations of the trim-and-fill algorithm.
    confidence_level : float
    min_k : int
        Refuse with fewer studies (default 10).
    control : dict, optional
        Options of iterative estimators.

    Returns
    -------
    TrimfillResult

    References
    ----------
    Duval, S., & Tweedie, R. (2000). Biometrics, 56(2), 455-463.
    Duval, S., & Tweedie, R. (2000). A nonparametric "trim and fill" method of accounting for
    publication bias in meta-analysis. JASA, 95(449), 89-98.
    """
    from ..engine.rma import rma

    if estimator not in ("L0", "R0"):
        raise ValueError(f"estimator must be 'L0' or 'R0', got {estimator!r}")
    y0, v0, _ = effect_arrays(data, yi, vi, sei)
    k = y0.size
    _check_k(k, min_k, "trimfill", 3)
    if side is None:
        X = np.column_stack([np.ones(k), np.sqrt(v0)])
        slope = fit_batch(y0, v0, method=method, X=X, **control_options(control)).beta[0, 1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    y = -y0 if side == "right" else y0.copy()
    ix = np.argsort(y, kind="stable")
    y, v = y[ix], v0[ix]
    k0_sav, k0, it = -1, 0, 0
    se_k0 = np.nan
    while abs(k0 - k0_sav) > 0:
        k0_sav = k0
        it += 1
        if it > maxiter:
            raise RuntimeError(f"trim and fill did not converge in {maxiter} iterations")
        beta = _beta0(y[: k - k0], v[: k - k0], method, control)
        yc = y - beta
        rank = np.empty(k)
        rank[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
        srank = np.sign(yc) * rank
        if estimator == "R0":
            negs = -srank[srank < 0]
            if negs.size == 0:
                raise ValueError("R0 estimator undefined: no study lies below the trimmed estimate")
            k0f = (k - negs.max()) - 1
            se_k0 = np.sqrt(2 * max(0, k0f) + 2)
        else:
            Sr = srank[srank > 0].sum()
            k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
            with np.errstate(invalid="ignore"):
                var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f ** 3 + 27 * k0f ** 2 + 17 * k0f
                          - 18 * k * k0f ** 2 - 18 * k * k0f + 6 * k ** 2 * k0f) / 24
                se_k0 = 4 * np.sqrt(var_sr) / (2 * k - 1)
        # R's round() rounds half to even, as numpy's
        k0 = int(max(0, np.round(k0f)))
        se_k0 = float(np.maximum(0.0, se_k0))
    if k0 > 0:
        yc = -(yc - beta) if side == "right" else yc - beta
        y_fill = np.concatenate([y0, -yc[k - k0:]])
        v_fill = np.concatenate([v0, v[k - k0:]])
    else:
        y_fill, v_fill = y0.copy(), v0.copy()
    fill = np.r_[np.zeros(k, bool), np.ones(k0, bool)]
    options = control_options(control)
    options.pop("ll0_tol", None)  # rma's single fits use metafor's default
    model = rma(y_fill, v_fill, method=method, test=test, confidence_level=confidence_level,
                **options)
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else np.nan
    return TrimfillResult(k0=k0, se_k0=se_k0, side=side, estimator=estimator, p_k0=p_k0,
                          estimate=model.estimate, se=model.se, statistic=model.statistic,
                          pvalue=model.pvalue, ci_low=model.ci_low, ci_high=model.ci_high,
                          tau2=model.tau2, k=k + k0, method=method, yi=y_fill, vi=v_fill,
                          fill=fill, model=model)


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PetPeeseResult:
    """PET-PEESE (Stanley and Doucouliagos 2014).

    ``pet`` regresses yi on sei, ``peese`` on vi (both WLS with weights 1/vi by default).
    ``selected`` is "PEESE" when PET's intercept test rejects zero at ``alpha`` (two-sided),
    else "PET"; ``estimate``, ``ci_low``, ``ci_high``, ``pvalue`` are that model's intercept.
    """

    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    selected: str
    pet: RegtestResult
    peese: RegtestResult
    pet_pvalue: float
    alpha: float

    def to_frame(self):
        rows = []
        for name, r in (("PET", self.pet), ("PEESE", self.peese)):
            rows.append({"model": name, "estimate": r.estimate, "ci_low": r.ci_low,
                         "ci_high": r.ci_high, "slope": r.slope, "slope_pvalue": r.pvalue,
                         "selected": name == self.selected})
        return pd.DataFrame(rows)


def pet_peese(yi, vi=None, *, sei=None, data=None, model="lm", method="REML", test="z",
              alpha=0.10, confidence_level=0.95, min_k=MIN_K):
    """Precision-effect test and precision-effect estimate with standard error (PET-PEESE).

    PET: yi = b0 + b1 sei; PEESE: yi = b0 + b1 vi; both weighted by 1/vi (``model="lm"``, the
    WLS form of Stanley and Doucouliagos) or as random-effects meta-regressions
    (``model="rma"``). The conditional estimator reports PEESE's intercept when PET's intercept
    differs from zero (two-sided p < ``alpha``; 0.10 two-sided is the one-sided 5% test used by
    Stanley and Doucouliagos when the effect has the expected sign), otherwise PET's.

    Returns
    -------
    PetPeeseResult

    References
    ----------
    Stanley, T. D., & Doucouliagos, H. (2014). Research Synthesis Methods, 5(1), 60-78.
    """
    pet = regtest(yi, vi, sei=sei, data=data, model=model, predictor="sei", method=method,
                  test=test, confidence_level=confidence_level, min_k=min_k)
    peese = regtest(yi, vi, sei=sei, data=data, model=model, predictor="vi", method=method,
                    test=test, confidence_level=confidence_level, min_k=min_k)
    # p-value of PET's intercept
    y, v, _ = effect_arrays(data, yi, vi, sei)
    X = np.column_stack([np.ones(v.size), np.sqrt(v)])
    options = dict(method="FE", test="knha") if model == "lm" else dict(method=method, test=test)
    p_int = float(fit_batch(y, v, X=X, **options).pvalue[0])
    sel = peese if p_int < alpha else pet
    Xs = np.column_stack([np.ones(v.size), v if sel is peese else np.sqrt(v)])
    fs = fit_batch(y, v, X=Xs, **options)
    return PetPeeseResult(estimate=sel.estimate, ci_low=sel.ci_low, ci_high=sel.ci_high,
                          pvalue=float(fs.pvalue[0]),
                          selected="PEESE" if sel is peese else "PET", pet=pet, peese=peese,
                          pet_pvalue=p_int, alpha=alpha)


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunnelData:
    """Data of a contour-enhanced funnel plot.

    ``studies``: one row per study with ``yi``, ``sei``, ``pvalue`` (two-sided z test of
    yi = ``refline``) and ``region`` (the significance band it falls in, e.g. "p < 0.01").
    ``contours``: for each ``level`` and a grid of ``sei`` from 0 to the largest standard error,
    the bounds ``ci_low``/``ci_high`` = refline -/+ z_(1-(1-level)/2) sei outside which a study is
    significant at 1 - level.
    """

    studies: pd.DataFrame
    contours: pd.DataFrame
    refline: float
    levels: tuple


def funnel_data(yi, vi=None, *, sei=None, data=None, levels=(0.90, 0.95, 0.99), refline=0.0,
                n_grid=101, se_max=None):
    """Contours and points of a contour-enhanced funnel plot (no drawing; see plotting).

    Parameters
    ----------
    yi, vi, sei, data
        As in :func:`regtest`.
    levels : sequence of float
        Confidence levels of the contours (default 0.90, 0.95, 0.99, i.e. p = 0.10, 0.05, 0.01).
    refline : float
        Value the contours are centred on (0 for significance contours).
    n_grid : int
        Points of the standard-error grid.
    se_max : float, optional
        Largest standard error of the grid (default: the largest sei).

    Returns
    -------
    FunnelData

    References
    ----------
    Peters, J. L., et al. (2008). Journal of Clinical Epidemiology, 61(10), 991-996.
    """
    y, v, _ = effect_arrays(data, yi, vi, sei)
    s = np.sqrt(v)
    levels = tuple(sorted(float(l) for l in levels))
    if not all(0 < l < 1 for l in levels):
        raise ValueError(f"levels must lie in (0, 1), got {levels}")
    p = 2 * stats.norm.sf(np.abs(y - refline) / s)
    alphas = sorted(1 - l for l in levels)
    # label bands as "a <= p < b" from the widest to the narrowest
    bounds = [0.0] + alphas
    region = np.full(y.size, f"p >= {alphas[-1]:.2g}", dtype=object)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        sel = (p >= lo) & (p < hi)
        region[sel] = f"p < {hi:.2g}" if lo == 0 else f"{lo:.2g} <= p < {hi:.2g}"
    studies = pd.DataFrame({"yi": y, "sei": s, "pvalue": p, "region": region})
    top = float(np.max(s)) if se_max is None else float(se_max)
    grid = np.linspace(0.0, top, n_grid)
    rows = []
    for lev in levels:
        zc = stats.norm.isf((1 - lev) / 2)
        rows.append(pd.DataFrame({"level": lev, "sei": grid, "ci_low": refline - zc * grid,
                                  "ci_high": refline + zc * grid}))
    return FunnelData(studies=studies, contours=pd.concat(rows, ignore_index=True),
                      refline=float(refline), levels=levels)
