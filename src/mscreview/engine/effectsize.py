"""Effect sizes: one vectorised function per measure and the :data:`MEASURES` registry.

Formulas and argument names follow metafor's ``escalc()`` (version 3.8-1) so
that a meta-analyst can read them without a glossary: group 1 is the
treatment (experimental) arm and group 2 the control arm, ``m1i``/``sd1i``/
``n1i`` are the mean, SD and size of group 1, ``ai``/``bi``/``ci``/``di`` the
cells of a 2x2 table (events / non-events in group 1, events / non-events in
group 2), ``ri`` a pre-post correlation and ``ni`` the size of a single group.

Every function returns ``(yi, vi)`` as float arrays.  Missing inputs (NaN)
propagate to NaN outputs, as in metafor; :func:`escalc` reports impossible
inputs (negative SDs or counts, group sizes <= 0, ``|ri| > 1``) as
:class:`ValueError` naming the column.

References
----------
Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size
and related estimators. *Journal of Educational Statistics*, 6(2), 107-128.
Bonett, D. G. (2008). Confidence intervals for standardized linear contrasts
of means. *Psychological Methods*, 13(2), 99-109. (SMDH)
Hedges, L. V., Gurevitch, J., & Curtis, P. S. (1999). The meta-analysis of
response ratios in experimental ecology. *Ecology*, 80(4), 1150-1156. (ROM)
Becker, B. J. (1988). Synthesizing standardized mean-change measures. *British
Journal of Mathematical and Statistical Psychology*, 41(2), 257-278. (SMCC, SMCR)
Gibbons, R. D., Hedeker, D. R., & Davis, J. M. (1993). Estimation of effect size
from a series of experiments involving paired comparisons. *Journal of
Educational Statistics*, 18(3), 271-279. (SMCC)
Vesterinen, H. M., et al. (2014). Meta-analysis of data from animal studies: a
practical guide. *Journal of Neuroscience Methods*, 221, 92-102. (NMD)
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package.
*Journal of Statistical Software*, 36(3), 1-48.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import gammaln

__all__ = [
    "MEASURES", "Measure", "escalc", "hedges_correction",
    "md", "smd", "smdh", "rom", "nmd", "mc", "smcc", "smcr",
    "odds_ratio", "risk_ratio", "risk_difference",
]

ZERO_CELL_RULES = ("only0", "all", "if0all", "none")


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def hedges_correction(mi) -> np.ndarray:
    """Exact small-sample correction factor ``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``.

    ``mi`` are the degrees of freedom (``n1i + n2i - 2`` for two groups,
    ``ni - 1`` for one group).  Returns NaN for ``mi <= 1`` (undefined), as
    metafor's ``.cmicalc``.

    References
    ----------
    Hedges, L. V. (1981). *Journal of Educational Statistics*, 6(2), 107-128.
    """
    mi = _f(mi)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.exp(gammaln(mi / 2) - np.log(np.sqrt(mi / 2)) - gammaln((mi - 1) / 2))
    return np.where(mi <= 1, np.nan, out)


# ---------------------------------------------------------------------------
# Two-group continuous outcomes
# ---------------------------------------------------------------------------

def md(m1i, sd1i, n1i, m2i, sd2i, n2i):
    """Raw mean difference ``m1i - m2i`` with the unequal-variance sampling variance.

    ``vi = sd1i^2/n1i + sd2i^2/n2i`` (metafor ``vtype="LS"``).
    """
    m1i, sd1i, n1i, m2i, sd2i, n2i = map(_f, (m1i, sd1i, n1i, m2i, sd2i, n2i))
    return m1i - m2i, sd1i**2 / n1i + sd2i**2 / n2i


def smd(m1i, sd1i, n1i, m2i, sd2i, n2i, vtype="LS"):
    """Standardised mean difference, Hedges' *g* with the exact bias correction.

    ``yi = c(m) (m1i - m2i) / s_pooled`` with ``m = n1i + n2i - 2``.  The
    default variance (metafor's ``vtype="LS"``) is
    ``vi = 1/n1i + 1/n2i + yi^2 / (2 (n1i + n2i))``; ``vtype="UB"`` gives the
    unbiased estimate ``1/n1i + 1/n2i + (1 - (m-2)/(m c(m)^2)) yi^2`` and
    ``vtype="LS2"`` gives ``c(m)^2 (1/n1i + 1/n2i + d^2/(2 (n1i+n2i)))``.

    References
    ----------
    Hedges, L. V. (1981). *Journal of Educational Statistics*, 6(2), 107-128.
    """
    m1i, sd1i, n1i, m2i, sd2i, n2i = map(_f, (m1i, sd1i, n1i, m2i, sd2i, n2i))
    ni = n1i + n2i
    mi = ni - 2
    sdpi = np.sqrt(((n1i - 1) * sd1i**2 + (n2i - 1) * sd2i**2) / mi)
    di = (m1i - m2i) / sdpi
    cmi = hedges_correction(mi)
    yi = cmi * di
    if vtype == "LS":
        vi = 1 / n1i + 1 / n2i + yi**2 / (2 * ni)
    elif vtype == "UB":
        vi = 1 / n1i + 1 / n2i + (1 - (mi - 2) / (mi * cmi**2)) * yi**2
    elif vtype == "LS2":
        vi = cmi**2 * (1 / n1i + 1 / n2i + di**2 / (2 * ni))
    else:
        raise ValueError(f"vtype={vtype!r} is not available for SMD; use 'LS', 'UB' or 'LS2'")
    return yi, vi


def smdh(m1i, sd1i, n1i, m2i, sd2i, n2i):
    """SMD with heteroscedastic population variances (Bonett 2008), bias-corrected as metafor."""
    m1i, sd1i, n1i, m2i, sd2i, n2i = map(_f, (m1i, sd1i, n1i, m2i, sd2i, n2i))
    cmi = hedges_correction(n1i + n2i - 2)
    si = np.sqrt((sd1i**2 + sd2i**2) / 2)
    yi = cmi * (m1i - m2i) / si
    vi = (yi**2 * (sd1i**4 / (n1i - 1) + sd2i**4 / (n2i - 1)) / (2 * (sd1i**2 + sd2i**2) ** 2)
          + (sd1i**2 / (n1i - 1) + sd2i**2 / (n2i - 1)) / ((sd1i**2 + sd2i**2) / 2))
    return yi, cmi**2 * vi


def rom(m1i, sd1i, n1i, m2i, sd2i, n2i):
    """Log ratio of means ``log(m1i/m2i)`` (Hedges et al. 1999), delta-method variance.

    ``vi = sd1i^2/(n1i m1i^2) + sd2i^2/(n2i m2i^2)``.  Means must be positive
    (a ratio-scale outcome); otherwise ``yi`` is NaN.
    """
    m1i, sd1i, n1i, m2i, sd2i, n2i = map(_f, (m1i, sd1i, n1i, m2i, sd2i, n2i))
    with np.errstate(invalid="ignore", divide="ignore"):
        yi = np.log(m1i / m2i)
    return yi, sd1i**2 / (n1i * m1i**2) + sd2i**2 / (n2i * m2i**2)


def nmd(m1i, sd1i, n1i, m2i, sd2i, n2i, m0i):
    """Normalised mean difference (percent of the injury effect), as used by CAMARADES.

    Group 1 is the treated injured group, group 2 the untreated (vehicle)
    injured group and ``m0i`` the mean of the sham (uninjured) group.  The
    effect is the percentage of the injury-induced deficit that the treatment
    removes, positive for improvement whatever the direction of the scale::

        yi  = 100 (m2i - m1i) / (m2i - m0i)
        vi  = (100 sd1i / (m2i - m0i))^2 / n1i + (100 sd2i / (m2i - m0i))^2 / n2i

    References
    ----------
    Vesterinen, H. M., et al. (2014). *Journal of Neuroscience Methods*, 221,
    92-102, section 2.6.1.  (Not in metafor; checked against hand-derived values.)
    """
    m1i, sd1i, n1i, m2i, sd2i, n2i, m0i = map(_f, (m1i, sd1i, n1i, m2i, sd2i, n2i, m0i))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = 100.0 / (m2i - m0i)
        yi = (m2i - m1i) * scale
        vi = (sd1i * scale) ** 2 / n1i + (sd2i * scale) ** 2 / n2i
    return yi, vi


# ---------------------------------------------------------------------------
# Single-group pre-post (change) outcomes: group 1 = post (or follow-up), 2 = pre
# ---------------------------------------------------------------------------

def mc(m1i, sd1i, m2i, sd2i, ni, ri):
    """Raw mean change ``m1i - m2i``; ``vi = (sd1i^2 + sd2i^2 - 2 ri sd1i sd2i) / ni``."""
    m1i, sd1i, m2i, sd2i, ni, ri = map(_f, (m1i, sd1i, m2i, sd2i, ni, ri))
    return m1i - m2i, (sd1i**2 + sd2i**2 - 2 * ri * sd1i * sd2i) / ni


def smcc(m1i, sd1i, m2i, sd2i, ni, ri):
    """Standardised mean change using change-score standardisation (Gibbons et al. 1993).

    ``yi = c(ni-1) (m1i - m2i) / sd_change``, ``vi = 1/ni + yi^2/(2 ni)``.
    """
    m1i, sd1i, m2i, sd2i, ni, ri = map(_f, (m1i, sd1i, m2i, sd2i, ni, ri))
    cmi = hedges_correction(ni - 1)
    sddi = np.sqrt(sd1i**2 + sd2i**2 - 2 * ri * sd1i * sd2i)
    yi = cmi * (m1i - m2i) / sddi
    return yi, 1 / ni + yi**2 / (2 * ni)


def smcr(m1i, sd1i, m2i, ni, ri):
    """Standardised mean change using raw-score (pre-test SD) standardisation (Becker 1988).

    metafor's argument order is kept: ``sd1i`` is the standardiser.
    ``yi = c(ni-1) (m1i - m2i) / sd1i``, ``vi = 2 (1 - ri)/ni + yi^2/(2 ni)``.
    """
    m1i, sd1i, m2i, ni, ri = map(_f, (m1i, sd1i, m2i, ni, ri))
    cmi = hedges_correction(ni - 1)
    yi = cmi * (m1i - m2i) / sd1i
    return yi, 2 * (1 - ri) / ni + yi**2 / (2 * ni)


# ---------------------------------------------------------------------------
# 2x2 tables
# ---------------------------------------------------------------------------

def _add_to_cells(ai, bi, ci, di, add, to):
    ai, bi, ci, di = map(_f, (ai, bi, ci, di))
    if to not in ZERO_CELL_RULES:
        raise ValueError(f"to={to!r} is unknown; use one of {ZERO_CELL_RULES}")
    if to == "none" or add == 0:
        return ai, bi, ci, di
    if to == "all":
        return ai + add, bi + add, ci + add, di + add
    has0 = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
    if to == "if0all":
        if np.any(has0):
            return ai + add, bi + add, ci + add, di + add
        return ai, bi, ci, di
    inc = np.where(has0, add, 0.0)
    return ai + inc, bi + inc, ci + inc, di + inc


def odds_ratio(ai, bi, ci, di, add=0.5, to="only0"):
    """Log odds ratio with metafor's zero-cell rule (``add=1/2`` to every cell of a study with a zero).

    ``vi = 1/ai + 1/bi + 1/ci + 1/di`` (Woolf).
    """
    ai, bi, ci, di = _add_to_cells(ai, bi, ci, di, add, to)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(ai / bi) - np.log(ci / di)
        vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
    return yi, vi


def risk_ratio(ai, bi, ci, di, add=0.5, to="only0"):
    """Log risk ratio; ``vi = 1/ai - 1/n1i + 1/ci - 1/n2i`` after the zero-cell rule."""
    ai, bi, ci, di = _add_to_cells(ai, bi, ci, di, add, to)
    n1i, n2i = ai + bi, ci + di
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(ai / n1i) - np.log(ci / n2i)
        vi = 1 / ai - 1 / n1i + 1 / ci - 1 / n2i
    return yi, vi


def risk_difference(ai, bi, ci, di, add=0.5, to="only0"):
    """Risk difference ``p1 - p2``; ``vi = p1(1-p1)/n1i + p2(1-p2)/n2i`` after the zero-cell rule.

    metafor applies the zero-cell rule to ``RD`` too (its default ``to="only0"``).
    """
    ai, bi, ci, di = _add_to_cells(ai, bi, ci, di, add, to)
    n1i, n2i = ai + bi, ci + di
    p1, p2 = ai / n1i, ci / n2i
    return p1 - p2, p1 * (1 - p1) / n1i + p2 * (1 - p2) / n2i


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """One outcome measure: its metafor code, meaning, inputs and function."""

    code: str
    description: str
    args: tuple[str, ...]
    function: Callable
    scale: str  # "raw", "log" or "percent": how yi is expressed
    options: tuple[str, ...] = ()


MEASURES: dict[str, Measure] = {m.code: m for m in (
    Measure("MD", "Raw mean difference (group 1 - group 2)",
            ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), md, "raw"),
    Measure("SMD", "Standardised mean difference, Hedges' g (exact correction)",
            ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), smd, "raw", ("vtype",)),
    Measure("SMDH", "Standardised mean difference with heteroscedastic SDs (Bonett)",
            ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), smdh, "raw"),
    Measure("ROM", "Log ratio of means (response ratio)",
            ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), rom, "log"),
    Measure("NMD", "Normalised mean difference against a sham group (%, CAMARADES)",
            ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "m0i"), nmd, "percent"),
    Measure("MC", "Raw mean change (single group, pre-post)",
            ("m1i", "sd1i", "m2i", "sd2i", "ni", "ri"), mc, "raw"),
    Measure("SMCC", "Standardised mean change, change-score standardisation",
            ("m1i", "sd1i", "m2i", "sd2i", "ni", "ri"), smcc, "raw"),
    Measure("SMCR", "Standardised mean change, raw-score standardisation",
            ("m1i", "sd1i", "m2i", "ni", "ri"), smcr, "raw"),
    Measure("OR", "Log odds ratio", ("ai", "bi", "ci", "di"), odds_ratio, "log", ("add", "to")),
    Measure("RR", "Log risk ratio", ("ai", "bi", "ci", "di"), risk_ratio, "log", ("add", "to")),
    Measure("RD", "Risk difference", ("ai", "bi", "ci", "di"), risk_difference, "raw", ("add", "to")),
)}

_NONNEG = ("sd1i", "sd2i", "ai", "bi", "ci", "di")
_POSITIVE = ("n1i", "n2i", "ni")


def _column(name, value, data, k_hint):
    if isinstance(value, str):
        if data is None:
            raise ValueError(f"column {name}={value!r} given by name but no data= DataFrame")
        if value not in data.columns:
            raise ValueError(f"column {value!r} (for {name}) not found in data; "
                             f"available: {list(data.columns)}")
        value = data[value]
    arr = np.asarray(value, dtype=float) if not isinstance(value, pd.Series) else value.to_numpy(dtype=float)
    return np.atleast_1d(arr)


def escalc(measure: str, data: pd.DataFrame | None = None, *, var_names=("yi", "vi"),
           **columns) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` (metafor's ``escalc``).

    Parameters
    ----------
    measure : str
        A code of :data:`MEASURES` (``"SMD"``, ``"MD"``, ``"ROM"``, ``"OR"``, ...).
    data : DataFrame, optional
        Table the columns are taken from; a copy with ``yi`` and ``vi``
        appended is returned.
    var_names : tuple of str
        Names of the two appended columns.
    **columns
        The inputs of the measure by metafor name (``m1i``, ``sd1i``, ``n1i``,
        ``ai``, ``ri``, ...), each a column name of ``data`` or an array;
        plus options of the measure (``vtype`` for SMD; ``add``, ``to`` for
        2x2 measures, defaults ``add=0.5, to="only0"`` as metafor; for 2x2
        tables ``n1i``/``n2i`` may replace ``bi``/``di``).

    Returns
    -------
    DataFrame
        ``data`` (copied) or a new frame of the inputs, with ``yi`` and ``vi``.

    Raises
    ------
    ValueError
        Unknown measure, missing or unknown argument, mismatched lengths,
        negative SDs or counts, group sizes <= 0, events > group size,
        correlations outside [-1, 1].

    References
    ----------
    Viechtbauer, W. (2010). *Journal of Statistical Software*, 36(3), 1-48.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; available: {sorted(MEASURES)}")
    spec = MEASURES[measure]
    options = {o: columns.pop(o) for o in spec.options if o in columns}
    if spec.args[:4] == ("ai", "bi", "ci", "di"):
        # metafor also accepts n1i/n2i in place of bi/di
        n1i, n2i = columns.pop("n1i", None), columns.pop("n2i", None)
        if "bi" not in columns and n1i is not None and "ai" in columns:
            columns["bi"] = _column("n1i", n1i, data, None) - _column("ai", columns["ai"], data, None)
        if "di" not in columns and n2i is not None and "ci" in columns:
            columns["di"] = _column("n2i", n2i, data, None) - _column("ci", columns["ci"], data, None)
    unknown = set(columns) - set(spec.args)
    if unknown:
        raise ValueError(f"measure {measure!r} does not take {sorted(unknown)}; "
                         f"it needs {list(spec.args)}")
    missing = [a for a in spec.args if a not in columns]
    if missing:
        raise ValueError(f"measure {measure!r} needs {list(spec.args)}; missing {missing}")
    arrays = {a: _column(a, columns[a], data, None) for a in spec.args}
    lengths = {a: len(v) for a, v in arrays.items() if len(v) != 1}
    k = max(lengths.values(), default=1)
    if data is not None:
        k = len(data) if not lengths else k
    bad = {a: n for a, n in lengths.items() if n != k}
    if bad or (data is not None and k != len(data)):
        raise ValueError(f"mismatched lengths for measure {measure!r}: "
                         f"{ {a: len(v) for a, v in arrays.items()} }"
                         + (f", data has {len(data)} rows" if data is not None else ""))
    arrays = {a: np.broadcast_to(v, (k,)).astype(float) for a, v in arrays.items()}
    for a, v in arrays.items():
        rows = None
        if a in _NONNEG and np.any(v < 0):
            rows, what = np.flatnonzero(v < 0), "negative"
        elif a in _POSITIVE and np.any(v <= 0):
            rows, what = np.flatnonzero(v <= 0), "<= 0"
        elif a == "ri" and np.any(np.abs(v) > 1):
            rows, what = np.flatnonzero(np.abs(v) > 1), "outside [-1, 1]"
        if rows is not None:
            raise ValueError(f"{a} is {what} in row(s) {rows.tolist()}")
    yi, vi = spec.function(**arrays, **options)
    # metafor recodes +-Inf (e.g. log(0) without a zero-cell correction) to NA
    yi = np.where(np.isinf(yi), np.nan, yi)
    vi = np.where(np.isinf(vi), np.nan, vi)
    if data is None:
        out = pd.DataFrame({a: arrays[a] for a in spec.args})
    else:
        out = data.copy()
    out[var_names[0]] = yi
    out[var_names[1]] = vi
    return out
