"""Cluster-robust variance estimation with the CR2 small-sample correction.

:func:`coef_test` reproduces R clubSandwich's ``coef_test(fit, vcov = "CR2",
cluster = ...)`` for fits of :func:`mscreview.engine.rma.rma` and
:func:`mscreview.engine.multilevel.rma_mv`: the bias-reduced linearisation (CR2)
sandwich estimator with the working model as target, and t tests with
Satterthwaite degrees of freedom.  Use it when several effect sizes come from
one study (several outcomes, several arms) and their correlation is unknown.

References
----------
Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for
linear regression with multi-stage samples. *Survey Methodology*, 28(2),
169-181.
Tipton, E. (2015). Small sample adjustments for robust variance estimation
with meta-regression. *Psychological Methods*, 20(3), 375-393.
Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for
cluster-robust variance estimation and hypothesis testing in fixed effects
models. *Journal of Business & Economic Statistics*, 36(4), 672-683.
"""
from __future__ import annotations

import numpy as np
from scipy.special import stdtr, stdtrit

from .results import RMAResult, RobustResult

__all__ = ["coef_test", "vcov_cr2"]


def _model_parts(fit):
    """Design X, working covariance Phi, estimates and residuals of a fit."""
    if isinstance(fit, RMAResult):
        X = fit.X if fit.X is not None else np.ones((fit.k, 1))
        Phi = np.diag(fit.vi + fit.tau2)
        y = fit.yi
    else:  # MVResult
        X, Phi, y = fit.X, fit.M, fit.yi
    beta = np.asarray(fit.beta, dtype=float)
    return X, Phi, y, beta


def _inv_sqrt(S):
    """Symmetric inverse square root; eigenvalues <= 1e-12 are treated as zero
    (a generalised inverse, as clubSandwich's ``matrix_power``), which happens
    when a cluster is fully determined by its own coefficients."""
    vals, vecs = np.linalg.eigh((S + S.T) / 2)
    inv = np.where(vals > 1e-12, 1 / np.sqrt(np.where(vals > 1e-12, vals, 1.0)), 0.0)
    return (vecs * inv) @ vecs.T


def vcov_cr2(fit, cluster):
    """CR2 cluster-robust covariance of the coefficients and the parts needed for df.

    Returns ``(vcov, parts)``; ``parts`` holds, per cluster, the index array
    and the matrix ``A_j W_j``.
    """
    X, Phi, y, beta = _model_parts(fit)
    k = len(y)
    cluster = np.asarray(cluster)
    if len(cluster) != k:
        raise ValueError(f"cluster has length {len(cluster)}, the model has {k} effects")
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in cluster.tolist()):
        raise ValueError("cluster has missing values")
    labels, cid = np.unique(cluster.astype(str), return_inverse=True)
    if len(labels) < 2:
        raise ValueError("cluster-robust inference needs at least 2 clusters")
    W = np.linalg.inv(Phi)
    B = np.linalg.inv(X.T @ W @ X)
    e = y - X @ beta
    meat = np.zeros_like(B)
    parts = []
    for j in range(len(labels)):
        idx = np.flatnonzero(cid == j)
        Xj = X[idx]
        Phij = Phi[np.ix_(idx, idx)]
        Wj = np.linalg.inv(Phij)
        D = np.linalg.cholesky(Phij).T           # D'D = Phi_j
        S = Phij - Xj @ B @ Xj.T                 # (I - H)_j Phi (I - H)_j' with inverse-variance weights
        Aj = D.T @ _inv_sqrt(D @ S @ D.T) @ D
        u = Xj.T @ Wj @ Aj @ e[idx]
        meat += np.outer(u, u)
        parts.append((idx, Aj @ Wj))  # (X_j' W_j A_j)' = A_j W_j X_j
    return B @ meat @ B, {"B": B, "W": W, "X": X, "Phi": Phi, "clusters": parts,
                          "n_clusters": len(labels)}


def coef_test(fit, cluster, confidence_level=0.95) -> RobustResult:
    """t tests of the coefficients with CR2 standard errors and Satterthwaite df.

    Parameters
    ----------
    fit : RMAResult or MVResult
        A fitted model (its working covariance is the CR2 target).
    cluster : array_like
        Cluster (study) of each effect size.

    Returns
    -------
    RobustResult

    References
    ----------
    Pustejovsky, J. E., & Tipton, E. (2018). *JBES*, 36(4), 672-683;
    R clubSandwich ``coef_test(vcov = "CR2", test = "Satterthwaite")``.
    """
    vc, parts = vcov_cr2(fit, cluster)
    B, X, Phi = parts["B"], parts["X"], parts["Phi"]
    k, p = X.shape
    beta = np.asarray(fit.beta, dtype=float)
    se = np.sqrt(np.diag(vc))
    stat = beta / se
    IH = np.eye(k) - X @ B @ X.T @ parts["W"]
    df = np.empty(p)
    for c in range(p):
        # p_j = (I - H)_j' (A_j W_j)' X_j B e_c : the contribution of cluster j to the
        # estimate of var(beta_c); Satterthwaite df from their covariances under Phi
        P = []
        for idx, AW in parts["clusters"]:
            g = AW @ X[idx] @ B[:, c]  # (c' B X_j' W_j A_j)'
            P.append(IH[idx].T @ g)
        P = np.array(P)
        Q = P @ Phi @ P.T
        df[c] = np.trace(Q) ** 2 / np.sum(Q * Q)
    pval = 2 * stdtr(df, -np.abs(stat))
    crit = stdtrit(df, 1 - (1 - confidence_level) / 2)
    return RobustResult(coef_names=tuple(fit.coef_names), beta=beta, se=se, statistic=stat, df=df,
                        pvalue=pval, ci_low=beta - crit * se, ci_high=beta + crit * se, vcov=vc,
                        n_clusters=parts["n_clusters"], confidence_level=confidence_level)
