"""Permutation tests for random-effects models and meta-regressions (as metafor's
``permutest.rma.uni``), with every permuted model fitted in one batch.

Intercept-only model: the signs of the yi are flipped at random (exact test: all 2**k sign
patterns). With moderators: the rows of the design matrix are permuted over the studies
(exact test: every distinct permutation, k! / prod(n_j!) for groups of identical rows). The
exact test is used when requested or when it needs no more permutations than ``iter``,
otherwise ``iter`` seeded random permutations, the first being the observed data (as metafor).

References
----------
Follmann, D. A., & Proschan, M. A. (1999). Valid inference in random effects meta-analysis.
Biometrics, 55(3), 732-737.
Higgins, J. P. T., & Thompson, S. G. (2004). Controlling the risk of spurious findings from
meta-regression. Statistics in Medicine, 23(11), 1663-1682.
Viechtbauer, W., Lopez-Lopez, J. A., Sanchez-Meca, J., & Marin-Martinez, F. (2015). A
comparison of procedures to test for moderators in mixed-effects meta-regression models.
Psychological Methods, 20(3), 360-374.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from math import factorial, prod

import numpy as np
import pandas as pd

from .gosh import chunked
from ..engine.rma import fit_batch, model_data
from ..engine.tau2 import control_options

__all__ = ["PermutestResult", "permutest"]

#: metafor's tolerance for comparing permuted and observed statistics (sqrt of machine eps).
COMPTOL = np.finfo(float).eps ** 0.5
#: Largest exact permutation set we enumerate.
MAX_EXACT = 10 ** 7


@dataclass(frozen=True)
class PermutestResult:
    """Result of a permutation test.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per coefficient: ``coef``, ``estimate``, ``se``, ``statistic`` (observed z or
        t), ``pvalue`` (permutation p-value, two-sided), ``pvalue_model`` (the model's own
        p-value).
    qm, qm_pvalue : float
        Omnibus statistic of the tested coefficients and its permutation p-value.
    n_perm : int
        Number of permutations (including the observed one).
    exact : bool
        True when all permutations were used.
    statistic_perm, beta_perm, qm_perm : numpy.ndarray
        The permutation distributions (shape (n_perm, p) / (n_perm,)).
    """

    frame: pd.DataFrame
    qm: float
    qm_pvalue: float
    n_perm: int
    exact: bool
    method: str
    test: str
    statistic_perm: np.ndarray = field(repr=False)
    beta_perm: np.ndarray = field(repr=False)
    qm_perm: np.ndarray = field(repr=False)

    @property
    def pvalue(self):
        """Permutation p-value of the first coefficient (the pooled effect if intercept-only)."""
        return float(self.frame["pvalue"].iloc[0])

    def to_frame(self):
        return self.frame.assign(qm=self.qm, qm_pvalue=self.qm_pvalue, n_perm=self.n_perm,
                                 exact=self.exact)


def _multiset_permutations(labels):
    """All distinct orderings of ``labels`` (ints), as an int array (n_perm, k)."""
    k = labels.size
    types, counts = np.unique(labels, return_counts=True)
    res = np.full((1, k), -1, dtype=np.int64)
    for t, c in zip(types, counts):
        nfree = int((res[0] == -1).sum())
        combos = np.array(list(combinations(range(nfree), int(c))), dtype=np.int64)
        free = np.nonzero(res == -1)[1].reshape(res.shape[0], nfree)
        chosen = free[:, combos]                         # (rows, ncombo, c)
        new = np.repeat(res[:, None, :], combos.shape[0], axis=1)
        r_idx = np.arange(res.shape[0])[:, None, None]
        c_idx = np.arange(combos.shape[0])[None, :, None]
        new[r_idx, c_idx, chosen] = t
        res = new.reshape(-1, k)
    return res


def _exact_count(X):
    _, inv, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    k = X.shape[0]
    # k! / prod(n_j!) computed without overflow concerns (Python ints)
    return factorial(k) // prod(factorial(int(c)) for c in counts), inv.ravel()


def permutest(yi, vi, mods=None, method="REML", test="z", data=None, exact=False, iter=1000,
              seed=None, btt=None, progress=True, chunk=20000, control=None):
    """Permutation test of the pooled effect or of moderators.

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``).
    mods : array_like, str or list of str, optional
        Moderators (an intercept is added). Without moderators the pooled effect is tested.
    method, test : str
        Model (metafor names, e.g. ``"REML"``, ``"knha"``).
    exact : bool
        Force the exact test. It is also used whenever it needs at most ``iter`` permutations.
    iter : int
        Number of random permutations otherwise (the first is the observed data).
    seed : int or numpy.random.Generator, optional
        Seed of the random permutations.
    btt : sequence of int, optional
        Coefficients tested by QM (default: all but the intercept; the intercept alone without
        moderators).
    progress : bool
        tqdm progress bar for large runs.
    chunk : int
        Fits per vectorised batch.
    control : dict, optional
        Options of iterative estimators.

    Returns
    -------
    PermutestResult

    References
    ----------
    Follmann, D. A., & Proschan, M. A. (1999). Biometrics, 55(3), 732-737.
    Higgins, J. P. T., & Thompson, S. G. (2004). Statistics in Medicine, 23(11), 1663-1682.
    """
    y, v, X, names = model_data("permutest", yi, vi, mods, data)
    k, p = X.shape
    iter = int(round(iter))
    if iter < 2:
        raise ValueError(f"iter must be >= 2, got {iter}")
    options = dict(method=method, test=test, btt=btt, **control_options(control))
    obs = fit_batch(y, v, X=X, **options)
    int_only = p == 1
    if int_only:
        n_exact = 2 ** k
        labels = None
    else:
        n_exact, labels = _exact_count(X)
    use_exact = bool(exact) or n_exact <= iter
    if use_exact and n_exact > MAX_EXACT:
        raise ValueError(f"an exact test needs {n_exact} permutations (more than {MAX_EXACT}); "
                         "use exact=False with iter=")
    rng = np.random.default_rng(seed)
    if use_exact:
        n = int(n_exact)
        if int_only:
            codes = np.arange(n, dtype=np.int64)
            signs = 1 - 2 * ((codes[:, None] >> np.arange(k)) & 1)
        else:
            perms = _multiset_permutations(labels)
            first = {}
            for i, lab in enumerate(labels):
                first.setdefault(lab, i)
            rows = np.array([first[l] for l in range(labels.max() + 1)])
            perm_rows = rows[perms]                           # (n, k) row indices into X
    else:
        n = iter
        if int_only:
            signs = rng.choice(np.array([-1, 1]), size=(n, k))
            signs[0] = 1
        else:
            perm_rows = np.argsort(rng.random((n, k)), axis=1)
            perm_rows[0] = np.arange(k)

    def run(s, e):
        if int_only:
            f = fit_batch(signs[s:e] * y, v, X=X, **options)
        else:
            f = fit_batch(y, v, X=X[perm_rows[s:e]], **options)
        return f.beta_statistic, f.beta, f.qm

    parts = chunked(run, n, chunk, progress and n > 5000, "permutest")
    zp = np.vstack([a for a, _, _ in parts])
    bp = np.vstack([b for _, b, _ in parts])
    qp = np.concatenate([q for _, _, q in parts])
    z_obs, q_obs = obs.beta_statistic[0], obs.qm[0]
    with np.errstate(invalid="ignore"):
        pv = np.nanmean(np.abs(zp) >= np.abs(z_obs)[None, :] - COMPTOL, axis=0)
        qmp = float(np.nanmean(qp >= q_obs - COMPTOL))
    pv = np.minimum(pv, 1.0)
    frame = pd.DataFrame({"coef": names, "estimate": obs.beta[0], "se": obs.beta_se[0],
                          "statistic": z_obs, "pvalue": pv, "pvalue_model": obs.beta_pvalue[0]})
    return PermutestResult(frame=frame, qm=float(q_obs), qm_pvalue=qmp, n_perm=n, exact=use_exact,
                           method=method, test=test, statistic_perm=zp, beta_perm=bp, qm_perm=qp)
