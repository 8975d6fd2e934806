"""Conversions of reported statistics into means, SDs, ``yi`` and ``vi``.

Every conversion a review needs is done here in code, never by hand, so that
each derived number can be traced to the reported one.

References
----------
Higgins, J. P. T., et al. (eds.) (2023). *Cochrane Handbook for Systematic
Reviews of Interventions*, version 6.4, section 6.5.2.2 (SD from SE and CI).
Wan, X., Wang, W., Liu, J., & Tong, T. (2014). Estimating the sample mean and
standard deviation from the sample size, median, range and/or interquartile
range. *BMC Medical Research Methodology*, 14, 135.
Luo, D., Wan, X., Liu, J., & Tong, T. (2018). Optimally estimating the sample
mean from the sample size, median, mid-range, and/or mid-quartile range.
*Statistical Methods in Medical Research*, 27(6), 1785-1805.
Shi, J., Luo, D., Weng, H., et al. (2020). Optimally estimating the sample
standard deviation from the five-number summary. *Research Synthesis
Methods*, 11(5), 641-654.
Hozo, S. P., Djulbegovic, B., & Hozo, I. (2005). Estimating the mean and
variance from the median, range, and the size of a sample. *BMC Medical
Research Methodology*, 5, 13.
Walter, S. D., & Yao, X. (2007). Effect sizes can be calculated for studies
reporting ranges for outcome variables in systematic reviews. *Journal of
Clinical Epidemiology*, 60(8), 849-852.
Bland, M. (2015). Estimating mean and standard deviation from the sample size,
three quartiles, minimum, and maximum. *International Journal of Statistics
in Medical Research*, 4(1), 57-64.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri, stdtrit

from .effectsize import hedges_correction

__all__ = ["sd_from_sem", "sd_from_ci", "conv_fivenum", "conv_wald", "smd_from_t",
           "smd_from_p", "harmonise_direction", "FIVENUM_METHODS"]


def _f(x):
    return np.asarray(x, dtype=float)


def sd_from_sem(sem, n):
    """SD from a standard error of the mean: ``sd = sem * sqrt(n)`` (Cochrane Handbook 6.5.2.2)."""
    sem, n = _f(sem), _f(n)
    if np.any(n <= 0):
        raise ValueError("n must be > 0 to convert SEM to SD")
    if np.any(sem < 0):
        raise ValueError("sem must be >= 0")
    return sem * np.sqrt(n)


def sd_from_ci(ci_low, ci_high, n, dist="t", confidence_level=0.95):
    """SD of a group from the confidence interval of its mean (Cochrane Handbook 6.5.2.2).

    ``sd = sqrt(n) (ci_high - ci_low) / (2 q)`` with ``q`` the
    ``1 - (1-confidence_level)/2`` quantile of the t distribution with
    ``n - 1`` df (``dist="t"``, the Handbook's advice for small samples) or
    of the standard normal (``dist="z"``: 3.92 = 2 x 1.96 for 95%).
    """
    lo, hi, n = _f(ci_low), _f(ci_high), _f(n)
    if np.any(hi < lo):
        raise ValueError("ci_high < ci_low")
    if np.any(n < 2):
        raise ValueError("n must be >= 2 to convert a CI to an SD")
    p = 1 - (1 - confidence_level) / 2
    if dist == "t":
        q = stdtrit(n - 1, p)
    elif dist == "z":
        q = ndtri(p)
    else:
        raise ValueError(f"dist={dist!r} is unknown; use 't' or 'z'")
    return np.sqrt(n) * (hi - lo) / (2 * q)


FIVENUM_METHODS = {
    "mean": {
        "rec": "Luo et al. (2018) for every case (metafor's recommended default)",
        "luo2016": "Luo et al. (2018), equations (7), (11), (15)",
        "hozo2005": "Hozo et al. (2005): (min + 2 median + max)/4 if n <= 25 else median (case 1 only)",
        "wan2014": "Wan et al. (2014)",
        "bland2015": "Bland (2015) (case 3; = Wan for the mean)",
        "walter2007": "Walter & Yao (2007): the median (case 1 only)",
    },
    "sd": {
        "rec": "Wan et al. (2014) for cases 1-2, Shi et al. (2020) for case 3",
        "wan2014": "Wan et al. (2014), equations (9), (16) and their average for case 3",
        "shi2020": "Shi et al. (2020), equation (10) (case 3)",
        "hozo2005": "Hozo et al. (2005) (case 1 only)",
        "bland2015": "Bland (2015) (case 3 only)",
        "walter2007": "Walter & Yao (2007): range / expected range of n normal draws (case 1 only)",
    },
}


def _expected_range(n):
    """Expected range of n standard normal draws: integral of 1 - (1-Phi)^n - Phi^n."""
    from scipy.integrate import quad
    from scipy.special import ndtr

    def one(ni):
        if not np.isfinite(ni):
            return np.nan
        return quad(lambda x: 1 - (1 - ndtr(x)) ** ni - ndtr(x) ** ni, -np.inf, np.inf)[0]
    return np.array([one(x) for x in np.atleast_1d(n)])


def conv_fivenum(min=None, q1=None, median=None, q3=None, max=None, n=None, *,
                 method=("rec", "rec"), test=True):
    """Estimate a mean and SD from a median with range and/or quartiles (metafor's ``conv.fivenum``).

    Three cases, as metafor: (1) min, median, max; (2) q1, median, q3;
    (3) all five.  A normal distribution is assumed; when ``test`` is true, a
    significant skewness test (Shi et al.) leaves the row as NaN, because the
    normal-theory formulas would mislead.  Rows with ``n < 5`` are NaN.
    metafor's log-normal option (``dist="lnorm"``) is not implemented.

    Parameters
    ----------
    min, q1, median, q3, max, n : array_like
        The reported summary; missing values as NaN or None.
    method : str or (str, str)
        Methods for the mean and the SD, keys of :data:`FIVENUM_METHODS`.
    test : bool
        Apply the skewness test.

    Returns
    -------
    DataFrame
        Columns ``mean``, ``sd``, ``case`` (1-3, 0 if undeterminable),
        ``skew_statistic``, ``skew_crit``, ``skewed``.

    References
    ----------
    Wan et al. (2014); Luo et al. (2018); Shi et al. (2020); Hozo et al. (2005);
    Bland (2015) - see the module references.  metafor >= 4.0 ``conv.fivenum``
    (not in metafor 3.8-1, so tests use hand-computed values).
    """
    if isinstance(method, str):
        method = (method, method)
    m_mean, m_sd = method
    if m_mean not in FIVENUM_METHODS["mean"]:
        raise ValueError(f"unknown mean method {m_mean!r}; use {list(FIVENUM_METHODS['mean'])}")
    if m_sd not in FIVENUM_METHODS["sd"]:
        raise ValueError(f"unknown sd method {m_sd!r}; use {list(FIVENUM_METHODS['sd'])}")
    vals = [min, q1, median, q3, max, n]
    k = next((len(np.atleast_1d(v)) for v in vals if v is not None and np.ndim(v) > 0), 1)
    a, b, m, c, d, n = (np.full(k, np.nan) if v is None else
                        np.broadcast_to(np.asarray(v, dtype=float), (k,)).copy() for v in vals)
    for i in range(k):
        seq = [x for x in (a[i], b[i], m[i], c[i], d[i]) if not np.isnan(x)]
        if any(x > y for x, y in zip(seq, seq[1:])):
            raise ValueError(f"min <= q1 <= median <= q3 <= max is not true in row {i}")
    n = np.where(n < 5, np.nan, n)
    na = np.isnan
    case1 = ~na(a) & na(b) & na(c) & ~na(d) & ~na(m)
    case2 = na(a) & ~na(b) & ~na(c) & na(d) & ~na(m)
    case3 = ~na(a) & ~na(b) & ~na(c) & ~na(d) & ~na(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        xi = 2 * ndtri((n - 0.375) / (n + 0.25))
        eta = 2 * ndtri((0.75 * n - 0.125) / (n + 0.25))
        t1 = np.abs((a + d - 2 * m) / (d - a))
        c1 = 1 / np.log(n + 9) + 2.5 / (n + 1)
        t2 = np.abs((b + c - 2 * m) / (c - b))
        c2 = 2.65 / np.sqrt(n) - 6 / n**2
        t3 = np.maximum(2.65 * np.log(0.6 * n) / np.sqrt(n) * t1, t2)
        c3 = 3 / np.sqrt(n) - 40 / n**3
        stat = np.select([case1, case2, case3], [t1, t2, t3], np.nan)
        crit = np.select([case1, case2, case3], [c1, c2, c3], np.nan)
        # means
        w1 = 4 / (4 + n**0.75)
        w2 = 0.7 + 0.39 / n
        w31 = 2.2 / (2.2 + n**0.75)
        w32 = 0.7 - 0.72 / n**0.55
        luo = np.select([case1, case2, case3], [
            w1 * (a + d) / 2 + (1 - w1) * m,
            w2 * (b + c) / 2 + (1 - w2) * m,
            w31 * (a + d) / 2 + w32 * (b + c) / 2 + (1 - w31 - w32) * m], np.nan)
        wan_mean = np.select([case1, case2, case3], [
            (a + 2 * m + d) / 4, (b + m + c) / 3,
            (a + 2 * b + 2 * m + 2 * c + d) / 8], np.nan)
        mean = {"rec": luo, "luo2016": luo, "wan2014": wan_mean,
                "bland2015": np.where(case3, wan_mean, np.nan),
                "hozo2005": np.where(case1, np.where(n <= 25, (a + 2 * m + d) / 4, m), np.nan),
                "walter2007": np.where(case1, m, np.nan),
                }[m_mean]
        wan1 = (d - a) / xi
        wan2 = (c - b) / eta
        ws = 1 / (1 + 0.07 * n**0.6)
        shi = ws * (d - a) / xi + (1 - ws) * (c - b) / eta
        if m_sd == "rec":
            sd = np.select([case1, case2, case3], [wan1, wan2, shi], np.nan)
        elif m_sd == "wan2014":
            sd = np.select([case1, case2, case3], [wan1, wan2, (wan1 + wan2) / 2], np.nan)
        elif m_sd == "shi2020":
            sd = np.where(case3, shi, np.nan)
        elif m_sd == "walter2007":
            sd = np.where(case1 & ~na(n), (d - a) / _expected_range(n), np.nan)
        elif m_sd == "hozo2005":
            hz = np.where(n <= 15, np.sqrt(((a - 2 * m + d) ** 2 / 4 + (d - a) ** 2) / 12),
                          np.where(n <= 70, (d - a) / 4, (d - a) / 6))
            sd = np.where(case1 & ~na(n), hz, np.nan)
        else:  # bland2015
            bl = np.sqrt((a**2 + 2 * b**2 + 2 * m**2 + 2 * c**2 + d**2) / 16
                         + (a * b + b * m + m * c + c * d) / 8
                         - (a + 2 * b + 2 * m + 2 * c + d) ** 2 / 64)
            sd = np.where(case3, bl, np.nan)
    skewed = stat >= crit
    if test:
        mean = np.where(skewed, np.nan, mean)
        sd = np.where(skewed, np.nan, sd)
    mean = np.where(na(n), np.nan, mean)
    sd = np.where(na(n), np.nan, sd)
    case = np.select([case1, case2, case3], [1, 2, 3], 0)
    return pd.DataFrame({"mean": mean, "sd": sd, "case": case, "skew_statistic": stat,
                         "skew_crit": crit, "skewed": skewed})


def conv_wald(estimate=None, ci_low=None, ci_high=None, pvalue=None, *, transf=None,
              confidence_level=0.95):
    """Turn a reported estimate with its CI (or two-sided p-value) into ``yi`` and ``vi``.

    As metafor's ``conv.wald``: ``yi = transf(estimate)``;
    ``vi = ((transf(ci_high) - transf(ci_low)) / (2 z))^2`` with ``z`` the
    normal quantile of the confidence level; where the CI is missing,
    ``vi = (yi / z_p)^2`` with ``z_p`` the normal quantile of ``1 - p/2``.
    Use ``transf=np.log`` for ratios (OR, RR, HR).

    Returns
    -------
    (yi, vi) : tuple of arrays
    """
    tf = (lambda x: x) if transf is None else transf

    def arr(x):
        return None if x is None else np.atleast_1d(_f(x))

    est, lo, hi, p = map(arr, (estimate, ci_low, ci_high, pvalue))
    if est is None:
        raise ValueError("conv_wald needs the estimate")
    with np.errstate(invalid="ignore", divide="ignore"):
        yi = tf(est)
        vi = np.full(yi.shape, np.nan)
        if lo is not None and hi is not None:
            if np.any(hi < lo):
                raise ValueError("ci_high < ci_low")
            z = ndtri(1 - (1 - confidence_level) / 2)
            vi = ((tf(hi) - tf(lo)) / (2 * z)) ** 2
        if p is not None:
            if np.any((p <= 0) | (p > 1)):
                raise ValueError("pvalue must be in (0, 1]")
            vp = (yi / ndtri(1 - p / 2)) ** 2
            vi = np.where(np.isnan(vi), vp, vi)
    return yi, vi


def smd_from_t(t, n1i, n2i):
    """Hedges' g and its variance from an independent-samples t statistic.

    ``d = t sqrt(1/n1i + 1/n2i)``, then metafor's SMD with the exact
    correction: ``yi = c(n1i+n2i-2) d``, ``vi = 1/n1i + 1/n2i + yi^2/(2(n1i+n2i))``
    (metafor ``escalc("SMD", ti=...)``).
    """
    t, n1i, n2i = _f(t), _f(n1i), _f(n2i)
    if np.any((n1i <= 0) | (n2i <= 0)):
        raise ValueError("group sizes must be > 0")
    d = t * np.sqrt(1 / n1i + 1 / n2i)
    yi = hedges_correction(n1i + n2i - 2) * d
    return yi, 1 / n1i + 1 / n2i + yi**2 / (2 * (n1i + n2i))


def smd_from_p(pvalue, n1i, n2i, sign=1):
    """Hedges' g from an exact two-sided p-value of a t test (sign gives the direction).

    ``t = sign * qt(1 - p/2, n1i + n2i - 2)``, then :func:`smd_from_t`.
    """
    p, n1i, n2i, sign = _f(pvalue), _f(n1i), _f(n2i), np.sign(_f(sign))
    if np.any((p <= 0) | (p > 1)):
        raise ValueError("pvalue must be in (0, 1]")
    if np.any(sign == 0):
        raise ValueError("sign must be +1 or -1")
    t = sign * stdtrit(n1i + n2i - 2, 1 - p / 2)
    return smd_from_t(t, n1i, n2i)


def harmonise_direction(yi, higher_is_better, measure="SMD"):
    """Flip effect sizes so that positive always means benefit of treatment.

    For outcomes where lower is better (e.g. Modified Ashworth Scale) the
    sign of a difference measure (MD, SMD, MC, ...; ``log`` ratios too) is
    reversed.  ``higher_is_better`` is a bool or an array of bools; NaN /
    None raise, because an unknown direction must be resolved by a reviewer.
    ``NMD`` is already direction-free and is returned unchanged.
    """
    yi = _f(yi)
    if measure == "NMD":
        return yi.copy()
    hib = pd.Series(np.broadcast_to(np.asarray(higher_is_better, dtype=object), yi.shape).ravel())
    if hib.isna().any():
        raise ValueError(f"higher_is_better is missing in row(s) {hib.index[hib.isna()].tolist()}")
    good = hib.map(lambda v: v in (True, 1, "true", "True", "TRUE", "yes")).to_numpy()
    bad = hib.map(lambda v: v in (False, 0, "false", "False", "FALSE", "no")).to_numpy()
    if not np.all(good | bad):
        raise ValueError(f"higher_is_better must be true/false; got {hib[~(good | bad)].tolist()}")
    return np.where(good.reshape(yi.shape), yi, -yi)
