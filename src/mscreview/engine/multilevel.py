"""Three-level meta-analysis: effect sizes nested in studies.

:func:`rma_mv` fits ``yi = X beta + u_study + u_effect + e`` with
``u_study ~ N(0, sigma2_1)`` shared by the effects of one study,
``u_effect ~ N(0, sigma2_2)`` per effect and ``e ~ N(0, V)`` (``V`` diagonal
``vi``, or a full matrix for effects that share a control group, see
:func:`vcov_shared_control`).  This is metafor's
``rma.mv(yi, V, random = ~ 1 | study/es_id)``.

The variance components are estimated by (restricted) maximum likelihood with
Fisher scoring on the components, kept at or above zero by an active set,
with step halving whenever the log-likelihood would decrease.

References
----------
Konstantopoulos, S. (2011). Fixed effects and variance components estimation
in three-level meta-analysis. *Research Synthesis Methods*, 2(1), 61-76.
Van den Noortgate, W., Lopez-Lopez, J. A., Marin-Martinez, F., & Sanchez-Meca,
J. (2013). Three-level meta-analysis of dependent effect sizes. *Behavior
Research Methods*, 45(2), 576-594.
Gleser, L. J., & Olkin, I. (2009). Stochastically dependent effect sizes. In
H. Cooper, L. V. Hedges, & J. C. Valentine (Eds.), *The Handbook of Research
Synthesis and Meta-Analysis* (2nd ed., pp. 357-376). Russell Sage Foundation.
"""
from __future__ import annotations

import math

import numpy as np

from . import core
from .rma import column_array, design_matrix
from .results import MVResult
from .tau2 import ConvergenceError

__all__ = ["rma_mv", "vcov_shared_control"]


def vcov_shared_control(vi, cluster, grp1, grp2, w1, w2):
    """Sampling covariance matrix of effects that share a group (metafor ``vcalc``).

    Within a cluster (study), two effects that compare groups ``grp1`` vs
    ``grp2`` are correlated when they share a group, e.g. several treatment
    arms against one control arm.  As metafor's ``vcalc(vi, cluster, grp1=,
    grp2=, w1=, w2=)``, the correlation is computed from the group weights
    (sample sizes) ``w1``, ``w2``; for a shared control group ``c``,
    ``r = (1/n_c) / sqrt((1/n_1i + 1/n_c)(1/n_1j + 1/n_c))``, the large-sample
    correlation of Gleser & Olkin (2009) for mean differences.  The
    covariance is ``r sqrt(vi vj)``.

    Parameters
    ----------
    vi : array_like
        Sampling variances.
    cluster, grp1, grp2 : array_like
        Study identifier and the identifiers of the two groups compared.
    w1, w2 : array_like
        Sizes of the two groups.

    Returns
    -------
    ndarray, shape (k, k)
    """
    vi = np.asarray(vi, dtype=float)
    k = len(vi)
    cluster, grp1, grp2 = (np.asarray(a, dtype=object) for a in (cluster, grp1, grp2))
    w1, w2 = np.asarray(w1, dtype=float), np.asarray(w2, dtype=float)
    for name, a in (("cluster", cluster), ("grp1", grp1), ("grp2", grp2), ("w1", w1), ("w2", w2)):
        if len(a) != k:
            raise ValueError(f"{name} has length {len(a)}, vi has {k}")
    if np.any(vi <= 0) or not np.all(np.isfinite(vi)):
        raise ValueError("vi must be finite and > 0")
    if np.any(w1 <= 0) or np.any(w2 <= 0):
        raise ValueError("group sizes w1, w2 must be > 0")
    same = (grp1 == grp2).astype(float)
    denom = np.sqrt(1 / w1 + 1 / w2 - 2 * same / np.sqrt(w1 * w2))
    R = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            if cluster[i] != cluster[j]:
                continue
            num = ((grp1[i] == grp1[j]) / math.sqrt(w1[i] * w1[j])
                   - (grp1[i] == grp2[j]) / math.sqrt(w1[i] * w2[j])
                   - (grp2[i] == grp1[j]) / math.sqrt(w2[i] * w1[j])
                   + (grp2[i] == grp2[j]) / math.sqrt(w2[i] * w2[j]))
            R[i, j] = R[j, i] = num / (denom[i] * denom[j])
    s = np.sqrt(vi)
    return R * np.outer(s, s)


def _codes(x):
    _, inv = np.unique(np.asarray(x).astype(str), return_inverse=True)
    return inv


def rma_mv(yi, V, study, es_id=None, mods=None, method="REML", test="z", data=None,
           confidence_level=0.95, *, tol=1e-10, maxiter=1000) -> MVResult:
    """Three-level random-effects model (metafor ``rma.mv(yi, V, random = ~ 1 | study/es_id)``).

    Parameters
    ----------
    yi : array_like or str
        Effect sizes.
    V : array_like or str
        Sampling variances ``vi`` (1-D) or a full sampling covariance matrix
        (k x k, e.g. from :func:`vcov_shared_control`).
    study : array_like or str
        Study (cluster) of each effect.
    es_id : array_like or str, optional
        Effect identifier within study (default: one level per row).
    mods, data, confidence_level : see :func:`mscreview.engine.rma.rma`.
    method : {"REML", "ML"}
    test : {"z", "t"}
        ``"t"`` uses ``k - p`` degrees of freedom, as metafor's default.

    Returns
    -------
    MVResult
        ``sigma2 = (between-study, within-study)`` variance components.

    Raises
    ------
    ValueError
        Bad input (lengths, NaN, non-positive variances, a non-positive-
        definite V, too few studies), unknown method or test.
    ConvergenceError
        The Fisher scoring iterations did not converge.
    """
    if method not in ("REML", "ML"):
        raise ValueError(f"unknown method {method!r} for rma_mv; use 'REML' or 'ML'")
    if test not in ("z", "t"):
        raise ValueError(f"unknown test {test!r} for rma_mv; use 'z' or 't'")
    y = column_array("yi", yi, data)
    k = len(y)
    if isinstance(V, str):
        Vs = np.diag(column_array("vi", V, data))
    else:
        Va = np.asarray(V, dtype=float)
        Vs = np.diag(Va) if Va.ndim == 1 else Va
    if Vs.shape != (k, k):
        raise ValueError(f"V must have length {k} or shape ({k}, {k}); got {np.shape(V)}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(Vs))):
        raise ValueError("NaN or infinite values in yi or V")
    if np.any(np.diag(Vs) <= 0):
        raise ValueError(f"sampling variances must be > 0; rows {np.flatnonzero(np.diag(Vs) <= 0).tolist()}")
    if not np.allclose(Vs, Vs.T):
        raise ValueError("V is not symmetric")
    st = study if not isinstance(study, str) else data[study].to_numpy()
    st = np.asarray(st)
    if len(st) != k:
        raise ValueError(f"study has length {len(st)}, yi has {k}")
    sid = _codes(st)
    if es_id is not None:
        es = es_id if not isinstance(es_id, str) else data[es_id].to_numpy()
        pairs = list(zip(sid, np.asarray(es).astype(str)))
        if len(set(pairs)) != len(pairs):
            raise ValueError("es_id is not unique within study")
    n_studies = int(sid.max()) + 1
    if mods is None:
        X, names = np.ones((k, 1)), ("intrcpt",)
    else:
        X, names = design_matrix(mods, data, k)
    p = X.shape[1]
    if n_studies < 2 or k <= p + 1:
        raise ValueError(f"too few data for a three-level model: {k} effects in {n_studies} studies, "
                         f"{p} coefficient(s)")
    Z1 = (sid[:, None] == sid[None, :]).astype(float)
    Zs = (Z1, np.eye(k))
    reml = method == "REML"

    def parts(theta):
        M = Vs + theta[0] * Z1 + theta[1] * np.eye(k)
        try:
            L = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise ValueError("the marginal variance matrix is not positive definite") from None
        Minv = np.linalg.inv(M)
        MX = Minv @ X
        XtMX = X.T @ MX
        XtMX_inv = np.linalg.inv(XtMX)
        beta = XtMX_inv @ (MX.T @ y)
        r = y - X @ beta
        logdet = 2 * np.sum(np.log(np.diag(L)))
        ll = -0.5 * logdet - 0.5 * r @ Minv @ r
        if reml:
            ll += -0.5 * np.linalg.slogdet(XtMX)[1]
            P = Minv - MX @ XtMX_inv @ MX.T
        else:
            P = Minv
        return M, Minv, P, beta, r, XtMX_inv, ll

    def score_info(Minv, P, r):
        Pr = Minv @ r  # = P y
        g = np.array([-0.5 * np.sum(P * Z.T) + 0.5 * Pr @ Z @ Pr for Z in Zs])
        PZ = [P @ Z for Z in Zs]
        info = np.array([[0.5 * np.sum(a * b.T) for b in PZ] for a in PZ])
        return g, info

    # start: half of a crude total heterogeneity to each level
    from .rma import rma
    t0 = rma(y, np.diag(Vs), method="DL").tau2 if k > 1 else 0.0
    theta = np.array([t0 / 2 + 1e-3 * np.mean(np.diag(Vs)), t0 / 2 + 1e-3 * np.mean(np.diag(Vs))])
    scale = float(np.mean(np.diag(Vs)))
    M, Minv, P, beta, r, XtMX_inv, ll = parts(theta)
    for _ in range(maxiter):
        g, info = score_info(Minv, P, r)
        free = (theta > 0) | (g > 0)
        step = np.zeros(2)
        if free.any():
            idx = np.flatnonzero(free)
            try:
                step[idx] = np.linalg.solve(info[np.ix_(idx, idx)], g[idx])
            except np.linalg.LinAlgError:
                step[idx] = g[idx] / np.diag(info)[idx]
        accepted = False
        for _h in range(60):
            new = np.maximum(theta + step, 0.0)
            res = parts(new)
            if res[-1] >= ll - 1e-12 * abs(ll):
                accepted = True
                break
            step /= 2
        if not accepted:
            new, res = theta, (M, Minv, P, beta, r, XtMX_inv, ll)
        change = np.max(np.abs(new - theta))
        theta = new
        M, Minv, P, beta, r, XtMX_inv, ll = res
        if change <= tol * (np.max(theta) + scale):
            break
    else:
        raise ConvergenceError(f"rma_mv: Fisher scoring did not converge in {maxiter} iterations")

    vb = XtMX_inv
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    df = float(k - p) if test == "t" else math.nan
    crit, pval = core.crit_and_p(stat, df, confidence_level, test == "z")
    ci_low, ci_high = beta - crit * se, beta + crit * se
    pi_low, pi_high = core.prediction_interval(beta[0], vb[0, 0], theta.sum(), crit)
    if p > 1:  # as rma: the PI of a meta-regression depends on the moderators
        pi_low = pi_high = math.nan
    # heterogeneity test with the sampling covariance only
    Vinv = np.linalg.inv(Vs)
    VX = Vinv @ X
    P0 = Vinv - VX @ np.linalg.solve(X.T @ VX, VX.T)
    q = max(0.0, float(y @ P0 @ y))
    q_p = core.q_pvalue(q, k - p)
    qm, qm_p = core.qm_test(beta, vb, None, test == "z", df)
    m = len(core.coefficients_tested(None, p))
    qm_df = (m, math.nan) if test == "z" else (m, int(df))
    n_const = -0.5 * (k - p if reml else k) * math.log(2 * math.pi)
    loglik = ll + n_const + (0.5 * np.linalg.slogdet(X.T @ X)[1] if reml else 0.0)
    return MVResult(
        k=k, n_studies=n_studies, method=method, test=test, confidence_level=confidence_level,
        estimate=float(beta[0]), se=float(se[0]), statistic=float(stat[0]), df=df,
        pvalue=float(pval[0]), ci_low=float(ci_low[0]), ci_high=float(ci_high[0]),
        pi_low=float(pi_low), pi_high=float(pi_high), sigma2=(float(theta[0]), float(theta[1])),
        q=q, q_df=k - p, q_pvalue=q_p, qm=qm, qm_df=qm_df, qm_pvalue=qm_p, loglik=float(loglik), beta=beta, beta_se=se,
        beta_statistic=stat, beta_pvalue=np.asarray(pval), beta_ci_low=ci_low,
        beta_ci_high=ci_high, coef_names=names, vb=vb, yi=y, V=Vs, X=X, study=sid, M=M)

