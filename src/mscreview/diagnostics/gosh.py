"""GOSH (graphical display of study heterogeneity): the model on every subset of studies.

All subsets are fitted at once by the engine's batched fitter
(:func:`mscreview.engine.rma.fit_batch`) with a boolean mask of the studies each fit uses: no Python
loop per fit.

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

from ..engine.rma import fit_batch
from ..engine.tau2 import control_options

__all__ = ["GoshResult", "gosh"]


def chunked(fn, n, chunk, progress, desc):
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
        tau2 estimator, a key of :data:`mscreview.engine.tau2.METHODS`.
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
        metafor-style options of the iterative estimators: ``threshold``, ``maxiter``, ``tol``
        (see :func:`mscreview.engine.tau2.control_options`).

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

    options = control_options(control)

    def run(s, e):
        f = fit_batch(yi, vi, incl[s:e], method=method, **options)
        h2 = f.h2
        if method == "DL":
            # metafor's gosh() takes a shortcut for DL that reports H2 = Q / (k - 1), also when
            # tau2 is truncated at 0 (rma() would report H2 = 1 there); we follow gosh()
            h2 = np.where(f.k > 1, f.q / np.maximum(f.k - 1, 1), 1.0)
        return np.column_stack([f.k, f.q, f.i2, h2, f.tau2, f.estimate])

    parts = chunked(run, incl.shape[0], chunk, progress and incl.shape[0] > 20000, "gosh")
    res = np.vstack(parts)
    frame = pd.DataFrame(res, columns=["k", "q", "i2", "h2", "tau2", "estimate"])
    frame["k"] = frame["k"].astype(int)
    return GoshResult(frame=frame, incl=incl, exact=exact, method=method, n_subsets=int(incl.shape[0]))
