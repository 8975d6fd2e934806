"""Bayesian random-effects meta-analysis for few studies, by numerical integration.

The normal-normal hierarchical model

    yi | mu, tau ~ Normal(mu, vi + tau^2),    mu ~ uniform (improper) or Normal(m0, s0^2),
    tau ~ half-normal(scale) or half-Cauchy(scale) or any proper density,

is solved without MCMC, as R's bayesmeta does: given tau, mu is normal with closed-form mean and
variance, so the marginal posterior of tau is known up to a constant, and the posterior of mu
(and of the effect in a new study, theta_new) is a normal mixture over tau. We integrate over
tau on a fine grid in log(tau) with Simpson's rule (where the integrand is smooth and decays
exponentially at both ends for proper priors), and find quantiles by root finding.

References
----------
Röver, C. (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
Journal of Statistical Software, 93(6), 1-51. doi:10.18637/jss.v093.i06
Friede, T., Röver, C., Wandel, S., & Neuenschwander, B. (2017). Meta-analysis of few small
studies in orphan diseases. Research Synthesis Methods, 8(1), 79-91.
Spiegelhalter, D. J., Abrams, K. R., & Myles, J. P. (2004). Bayesian approaches to clinical
trials and health-care evaluation. Wiley.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats

from .rma import effect_arrays

__all__ = ["BayesMetaResult", "bayesmeta", "prior_sensitivity", "TAU_PRIORS", "PriorDataConflict",
           "prior_data_conflict", "weighted_chi2_sf", "MIN_K_PREDICTION"]

#: Fewest studies for which a prediction interval (frequentist or the posterior predictive
#: interval of theta_new) is reported (protocol 6.3): with k = 2 the between-study variance is
#: barely identified and the interval reflects the prior or the t quantile, not the data.
MIN_K_PREDICTION = 3


def _halfnormal_logpdf(t, scale):
    return np.log(2.0) + stats.norm.logpdf(t, scale=scale)


def _halfcauchy_logpdf(t, scale):
    return np.log(2.0) + stats.cauchy.logpdf(t, scale=scale)


#: Heterogeneity priors by name: log-density of tau given a scale (tau >= 0).
TAU_PRIORS = {
    "halfnormal": _halfnormal_logpdf,
    "halfcauchy": _halfcauchy_logpdf,
}


@dataclass(frozen=True)
class BayesMetaResult:
    """Posterior of the normal-normal random-effects model.

    ``summary`` has one row per parameter: ``mu`` (mean effect), ``tau`` (heterogeneity, SD
    scale) and ``theta_new`` (effect in a new study: the posterior predictive distribution),
    with columns ``mode``, ``median``, ``mean``, ``sd``, ``ci_low``, ``ci_high`` (the
    ``interval`` type, "shortest" as bayesmeta's default, or "central"). Use
    :meth:`cdf`, :meth:`quantile`, :meth:`pdf`, :meth:`credible_interval` for other posterior
    quantities (parameter "mu", "tau" or "theta_new"). ``log_marginal_likelihood`` is the log
    evidence p(y) under the priors (with a uniform mu prior: up to its improper constant).
    """

    k: int
    tau_prior: str
    tau_scale: float
    mu_prior_mean: float
    mu_prior_sd: float
    confidence_level: float
    interval: str
    summary: pd.DataFrame
    log_marginal_likelihood: float
    _tau: np.ndarray = field(repr=False)          # tau nodes
    _w: np.ndarray = field(repr=False)            # posterior weight of each node (sums to 1)
    _m: np.ndarray = field(repr=False)            # E[mu | tau, y]
    _s2: np.ndarray = field(repr=False)           # Var[mu | tau, y]
    _tau_cdf: np.ndarray = field(repr=False)      # CDF of tau at fine nodes
    _tau_fine: np.ndarray = field(repr=False)
    _tau_logpost: object = field(repr=False)      # normalised log density of tau

    # -- mixtures ---------------------------------------------------------------------------
    def _mix(self, parameter):
        if parameter == "mu":
            return self._m, np.sqrt(self._s2)
        if parameter == "theta_new":
            return self._m, np.sqrt(self._s2 + self._tau ** 2)
        raise ValueError(f"parameter must be 'mu', 'tau' or 'theta_new', got {parameter!r}")

    def cdf(self, x, parameter="mu"):
        """Posterior CDF P(parameter <= x)."""
        x = np.asarray(x, dtype=float)
        if parameter == "tau":
            return np.interp(x, self._tau_fine, self._tau_cdf, left=0.0, right=1.0)
        m, s = self._mix(parameter)
        return np.sum(self._w * special.ndtr((x[..., None] - m) / s), axis=-1)

    def pdf(self, x, parameter="mu"):
        """Posterior density of the parameter."""
        x = np.asarray(x, dtype=float)
        if parameter == "tau":
            return np.where(x >= 0, np.exp(self._tau_logpost(np.maximum(x, 0.0))), 0.0)
        m, s = self._mix(parameter)
        return np.sum(self._w * stats.norm.pdf((x[..., None] - m) / s) / s, axis=-1)

    def quantile(self, p, parameter="mu"):
        """Posterior quantile(s)."""
        ps = np.atleast_1d(np.asarray(p, dtype=float))
        out = np.array([self._q1(pi, parameter) for pi in ps])
        return out if np.ndim(p) else float(out[0])

    def _q1(self, p, parameter, exact=True):
        if not 0 <= p <= 1:
            raise ValueError(f"probability must be in [0, 1], got {p}")
        if parameter == "tau":
            if p <= 0.0:
                return 0.0
            if p >= 1.0:
                return np.inf
            if not exact:
                return float(np.interp(p, self._tau_cdf, self._tau_fine))
            # bracket on the grid, then solve exactly: F(t) = F(t_j) + int_{t_j}^t density
            j = int(np.searchsorted(self._tau_cdf, p, side="right")) - 1
            j = min(max(j, 0), self._tau_fine.size - 2)
            a, b = self._tau_fine[j], self._tau_fine[j + 1]
            fa = self._tau_cdf[j]
            dens = lambda t: float(np.exp(self._tau_logpost(t)))  # noqa: E731
            g = lambda t: fa + integrate.quad(dens, a, t, epsabs=0, epsrel=1e-12)[0] - p  # noqa: E731
            ga, gb = g(a), g(b)
            if ga >= 0:
                return float(a)
            if gb <= 0:
                return float(b)
            return optimize.brentq(g, a, b, xtol=1e-14, rtol=1e-13)
        if p in (0.0, 1.0):
            return -np.inf if p == 0 else np.inf
        m, s = self._mix(parameter)
        lo, hi = float(np.min(m - 40 * s)), float(np.max(m + 40 * s))
        return optimize.brentq(lambda x: float(self.cdf(x, parameter)) - p, lo, hi, xtol=1e-12,
                               rtol=1e-13, maxiter=200)

    def credible_interval(self, parameter="mu", confidence_level=None, interval=None):
        """Credible (or prediction) interval: "shortest" or "central"."""
        level = self.confidence_level if confidence_level is None else confidence_level
        kind = self.interval if interval is None else interval
        if kind == "central":
            return (self._q1((1 - level) / 2, parameter), self._q1((1 + level) / 2, parameter))
        if kind != "shortest":
            raise ValueError(f"interval must be 'shortest' or 'central', got {kind!r}")
        # search on the interpolated quantile function, then solve the end points exactly
        width = lambda a: (self._q1(a + level, parameter, exact=False)  # noqa: E731
                           - self._q1(a, parameter, exact=False))
        if parameter == "tau":
            # the shortest interval may start at tau = 0
            a0 = 0.0
            res = optimize.minimize_scalar(width, bounds=(0.0, 1 - level), method="bounded",
                                           options={"xatol": 1e-10})
            a = a0 if width(a0) <= res.fun else res.x
        else:
            eps = 1e-9
            res = optimize.minimize_scalar(width, bounds=(eps, 1 - level - eps), method="bounded",
                                           options={"xatol": 1e-10})
            a = res.x
        return (self._q1(a, parameter), self._q1(a + level, parameter))

    def to_frame(self):
        return self.summary.reset_index()


def _prepare(y, v, logprior, mu_mean, mu_sd):
    w0 = 0.0 if mu_sd is None else 1.0 / mu_sd ** 2
    m0 = 0.0 if mu_mean is None else float(mu_mean)

    def cond(tau):
        tau = np.asarray(tau, dtype=float)
        w = 1.0 / (v + tau[..., None] ** 2)
        P = w.sum(-1) + w0
        m = ((w * y).sum(-1) + w0 * m0) / P
        Q = (w * (y - m[..., None]) ** 2).sum(-1) + w0 * (m0 - m) ** 2
        loglik = -0.5 * np.log(v + tau[..., None] ** 2).sum(-1) - 0.5 * np.log(P) - 0.5 * Q
        return m, 1.0 / P, loglik

    def logpost(tau):
        return logprior(tau) + cond(tau)[2]

    return cond, logpost


def bayesmeta(yi, vi=None, *, sei=None, data=None, tau_prior="halfnormal", tau_scale=0.5,
              mu_prior_mean=None, mu_prior_sd=None, confidence_level=0.95, interval="shortest",
              n_grid=20001):
    """Bayesian random-effects meta-analysis (normal-normal hierarchical model).

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``); ``sei`` may replace
        ``vi``.
    tau_prior : {"halfnormal", "halfcauchy"} or callable
        Prior of the heterogeneity tau (between-study SD): a name from :data:`TAU_PRIORS` with
        ``tau_scale``, or a function returning the (proper) prior density of tau.
    tau_scale : float
        Scale of the named prior (e.g. 0.5 for a half-normal(0.5) on log odds ratios, as
        suggested by Friede et al. 2017 and Röver 2020).
    mu_prior_mean, mu_prior_sd : float, optional
        Normal prior of mu; default an (improper) uniform prior, as bayesmeta.
    confidence_level : float
        Level of the credible and prediction intervals.
    interval : {"shortest", "central"}
        Interval type; bayesmeta's default is "shortest".
    n_grid : int
        Nodes of the integration grid in log(tau) (odd).

    Returns
    -------
    BayesMetaResult

    References
    ----------
    Röver, C. (2020). Journal of Statistical Software, 93(6), 1-51.
    """
    y, v, _ = effect_arrays(data, yi, vi, sei)
    k = y.size
    if k < 1:
        raise ValueError("no studies (k = 0)")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level}")
    if (mu_prior_mean is None) != (mu_prior_sd is None):
        raise ValueError("give both mu_prior_mean and mu_prior_sd, or neither (uniform prior)")
    if mu_prior_sd is not None and mu_prior_sd <= 0:
        raise ValueError(f"mu_prior_sd must be > 0, got {mu_prior_sd}")
    if callable(tau_prior):
        name = getattr(tau_prior, "__name__", "custom")

        def logprior(t):
            with np.errstate(divide="ignore"):
                return np.log(np.asarray(tau_prior(t), dtype=float))

        scale_ref = float(tau_scale) if tau_scale else 1.0
    else:
        if tau_prior not in TAU_PRIORS:
            raise ValueError(f"unknown tau_prior {tau_prior!r}; choose one of {list(TAU_PRIORS)} "
                             "or pass a density function")
        if not tau_scale or tau_scale <= 0:
            raise ValueError(f"tau_scale must be > 0, got {tau_scale}")
        name = tau_prior
        f = TAU_PRIORS[tau_prior]
        logprior = lambda t: f(t, tau_scale)  # noqa: E731
        scale_ref = float(tau_scale)
    cond, logpost = _prepare(y, v, logprior, mu_prior_mean, mu_prior_sd)

    # grid in s = log(tau): wide enough that both tails are negligible
    ref = max(scale_ref, float(np.sqrt(np.mean(v))), float(np.std(y)) if k > 1 else 0.0)
    n_grid = int(n_grid) | 1
    s = np.linspace(np.log(ref) - 30.0, np.log(ref) + 30.0, n_grid)
    tau = np.exp(s)
    lp = logpost(tau) + s                          # density in s: p(tau) * tau
    top = np.max(lp)
    if not np.isfinite(top):
        raise ValueError("the posterior of tau is not finite anywhere; check the prior")
    dens = np.exp(lp - top)
    if dens[-1] > 1e-10 * dens.max():
        raise ValueError("the posterior of tau does not decay: the prior is too flat for these "
                         "data (improper posterior?); use a proper, lighter-tailed prior")
    Z = integrate.simpson(dens, x=s)
    log_ml = float(np.log(Z) + top - 0.5 * (k - (0 if mu_prior_sd is not None else 1)) * np.log(2 * np.pi)
                   + (np.log(1 / mu_prior_sd) if mu_prior_sd is not None else 0.0))
    cdf_fine = np.concatenate([[0.0], integrate.cumulative_simpson(dens, x=s)]) / Z
    cdf_fine = np.maximum.accumulate(np.clip(cdf_fine, 0.0, 1.0))
    # mixture nodes: every 10th node with composite Simpson weights on the coarser grid
    idx = np.arange(0, n_grid, 10)
    if (idx.size % 2) == 0:
        idx = idx[:-1]
    hs = s[idx[1]] - s[idx[0]]
    sw = np.ones(idx.size)
    sw[1:-1:2], sw[2:-1:2] = 4.0, 2.0
    w = sw * hs / 3 * dens[idx]
    w = w / w.sum()
    keep = w > 1e-16
    tnode = tau[idx][keep]
    m, s2, _ = cond(tnode)
    wk = w[keep] / w[keep].sum()
    logZ = np.log(Z) + top

    def tau_logpost(t):
        t = np.asarray(t, dtype=float)
        return logpost(t) - logZ

    tmp = BayesMetaResult(k=k, tau_prior=name, tau_scale=float(tau_scale) if tau_scale else np.nan,
                          mu_prior_mean=np.nan if mu_prior_mean is None else float(mu_prior_mean),
                          mu_prior_sd=np.nan if mu_prior_sd is None else float(mu_prior_sd),
                          confidence_level=confidence_level, interval=interval,
                          summary=pd.DataFrame(), log_marginal_likelihood=log_ml, _tau=tnode,
                          _w=wk, _m=m, _s2=s2, _tau_cdf=cdf_fine, _tau_fine=tau,
                          _tau_logpost=tau_logpost)
    # the CDF grid starts at tau = exp(s[0]) ~ 0; prepend tau = 0 for interpolation
    tmp = _replace(tmp, _tau_fine=np.r_[0.0, tau], _tau_cdf=np.r_[0.0, cdf_fine])
    rows = {}
    for par in ("mu", "tau", "theta_new"):
        rows[par] = _summary(tmp, par, tau, lp)
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "parameter"
    return _replace(tmp, summary=summary)


def _replace(obj, **kw):
    from dataclasses import replace
    return replace(obj, **kw)


def _summary(res, par, tau_grid, lp):
    if par == "tau":
        mean = float(np.sum(res._w * res._tau))
        sd = float(np.sqrt(max(0.0, np.sum(res._w * res._tau ** 2) - mean ** 2)))
        # mode: maximise the density of tau (not of log tau); may be at 0
        ld = lp - np.log(tau_grid)
        j = int(np.argmax(ld))
        if j == 0 or res._tau_logpost(0.0) >= res._tau_logpost(tau_grid[j]) - 1e-10:
            mode = 0.0
        else:
            lo, hi = tau_grid[max(j - 1, 0)], tau_grid[min(j + 1, tau_grid.size - 1)]
            mode = float(optimize.minimize_scalar(lambda t: -float(res._tau_logpost(t)),
                                                  bounds=(lo, hi), method="bounded",
                                                  options={"xatol": 1e-12 * hi}).x)
            if res._tau_logpost(0.0) >= res._tau_logpost(mode) - 1e-10:
                mode = 0.0
    else:
        m, s = res._mix(par)
        mean = float(np.sum(res._w * m))
        sd = float(np.sqrt(np.sum(res._w * (s ** 2 + m ** 2)) - mean ** 2))
        med = res._q1(0.5, par)
        mode = float(optimize.minimize_scalar(lambda x: -float(res.pdf(x, par)),
                                              bounds=(med - 3 * sd, med + 3 * sd), method="bounded",
                                              options={"xatol": 1e-10 * max(1.0, sd)}).x)
    lo, hi = res.credible_interval(par)
    return {"mode": mode, "median": res._q1(0.5, par), "mean": mean, "sd": sd, "ci_low": lo,
            "ci_high": hi}


def prior_sensitivity(yi, vi=None, *, sei=None, data=None,
                      priors=(("halfnormal", 0.25), ("halfnormal", 0.5), ("halfnormal", 1.0),
                              ("halfcauchy", 0.25), ("halfcauchy", 0.5), ("halfcauchy", 1.0)),
                      mu_prior_mean=None, mu_prior_sd=None, confidence_level=0.95,
                      interval="shortest", null=0.0):
    """How the posterior depends on the heterogeneity prior: one row per prior, reported whole.

    Parameters
    ----------
    yi, vi, sei, data
        As in :func:`bayesmeta`.
    priors : sequence of (name, scale)
        Heterogeneity priors to compare.
    mu_prior_mean, mu_prior_sd, confidence_level, interval
        As in :func:`bayesmeta`.
    null : float
        Value for the posterior probability ``p_mu_gt_null`` = P(mu > null | y).

    Returns
    -------
    pandas.DataFrame
        Columns ``tau_prior``, ``tau_scale``, ``mu_mean``, ``mu_median``, ``mu_ci_low``,
        ``mu_ci_high`` (credible interval of the mean effect), ``p_mu_gt_null``,
        ``tau_median``, ``tau_ci_low``, ``tau_ci_high``, ``pi_low``, ``pi_high`` (interval for
        theta_new; NaN when k < :data:`MIN_K_PREDICTION`), ``conflict_q``, ``conflict_pvalue``
        (the prior-data conflict check of :func:`prior_data_conflict`).

    References
    ----------
    Röver, C. (2020). Journal of Statistical Software, 93(6), 1-51.
    """
    rows = []
    for name, scale in priors:
        r = bayesmeta(yi, vi, sei=sei, data=data, tau_prior=name, tau_scale=scale,
                      mu_prior_mean=mu_prior_mean, mu_prior_sd=mu_prior_sd,
                      confidence_level=confidence_level, interval=interval)
        c = prior_data_conflict(yi, vi, sei=sei, data=data, tau_prior=name, tau_scale=scale)
        sm = r.summary
        pi_ok = r.k >= MIN_K_PREDICTION
        rows.append({"tau_prior": name, "tau_scale": scale, "mu_mean": sm.loc["mu", "mean"],
                     "mu_median": sm.loc["mu", "median"], "mu_ci_low": sm.loc["mu", "ci_low"],
                     "mu_ci_high": sm.loc["mu", "ci_high"],
                     "p_mu_gt_null": 1.0 - float(r.cdf(null, "mu")),
                     "tau_median": sm.loc["tau", "median"],
                     "tau_ci_low": sm.loc["tau", "ci_low"], "tau_ci_high": sm.loc["tau", "ci_high"],
                     "pi_low": sm.loc["theta_new", "ci_low"] if pi_ok else np.nan,
                     "pi_high": sm.loc["theta_new", "ci_high"] if pi_ok else np.nan,
                     "conflict_q": c.statistic, "conflict_pvalue": c.pvalue})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# prior-data conflict
# ---------------------------------------------------------------------------------------------

def weighted_chi2_sf(x, weights):
    """P(sum_j weights_j * chi2_1 > x) for positive weights, by Imhof's (1961) inversion formula.

    One weight (or all equal) is solved exactly with the chi-square distribution.

    References
    ----------
    Imhof, J. P. (1961). Computing the distribution of quadratic forms in normal variables.
    Biometrika, 48(3/4), 419-426.
    """
    lam = np.asarray(weights, dtype=float)
    lam = lam[lam > 1e-12 * max(1.0, float(np.max(lam, initial=0.0)))]
    if lam.size == 0:
        return float(x < 0)
    if x <= 0:
        return 1.0
    if np.allclose(lam, lam[0], rtol=1e-12):
        return float(stats.chi2.sf(x / lam[0], df=lam.size))
    if lam.size == 2:
        # condition on the second term, X2 = s^2 with s half-normal: P = int_0^inf 2 phi(s) P(l1 X1 > x - l2 s^2) ds,
        # and the inner probability is 1 beyond s0 = sqrt(x / l2) (a smooth one-dimensional integral)
        l1, l2 = float(lam[0]), float(lam[1])
        s0 = np.sqrt(x / l2)
        inner = lambda t: 2 * stats.norm.pdf(t) * 2 * stats.norm.sf(np.sqrt(max(x - l2 * t * t, 0.0) / l1))  # noqa: E731
        head = integrate.quad(inner, 0.0, min(s0, 40.0), limit=200, epsabs=1e-13, epsrel=1e-11)[0]
        return float(min(1.0, max(0.0, head + 2 * stats.norm.sf(s0))))

    m = lam.size
    phi = lambda u: 0.5 * np.sum(np.arctan(lam * u))  # noqa: E731
    rho = lambda u: np.prod((1.0 + (lam * u) ** 2) ** 0.25)  # noqa: E731
    f = lambda u: np.sin(phi(u) - 0.5 * x * u) / (u * rho(u))  # noqa: E731
    # |f(u)| <= C u^(-1 - m/2), C = prod(lam^(-1/2)): beyond U the tail is below 1e-12
    log_c = -0.5 * float(np.sum(np.log(lam)))
    upper = float(np.exp((log_c + np.log(2.0 / m) - np.log(1e-12)) * 2.0 / m))
    cycles = upper * x / (4 * np.pi)
    if cycles <= 5000:
        # finite range, cut into pieces of about 20 oscillations each
        edges = np.linspace(0.0, upper, int(np.ceil(cycles / 20)) + 2)
        val = sum(integrate.quad(f, a, b, limit=200, epsabs=1e-13, epsrel=1e-10)[0]
                  for a, b in zip(edges[:-1], edges[1:]))
    else:
        # few, small weights (slow decay): ordinary quadrature near 0, then Fourier-weighted
        # quadrature (QUADPACK's QAWF) on the tail, with sin(theta) = sin(phi) cos(xu/2) - cos(phi) sin(xu/2)
        a = 1.0 / float(np.max(lam))
        val = integrate.quad(f, 0.0, a, limit=200, epsabs=1e-12, epsrel=1e-10)[0]
        val += integrate.quad(lambda u: np.sin(phi(u)) / (u * rho(u)), a, np.inf, weight="cos",
                              wvar=0.5 * x, limlst=100)[0]
        val -= integrate.quad(lambda u: np.cos(phi(u)) / (u * rho(u)), a, np.inf, weight="sin",
                              wvar=0.5 * x, limlst=100)[0]
    return float(min(1.0, max(0.0, 0.5 + val / np.pi)))


@dataclass(frozen=True)
class PriorDataConflict:
    """Prior-data conflict check for the heterogeneity prior (:func:`prior_data_conflict`).

    ``statistic`` is Cochran's Q of the data, ``tau_dl`` the DerSimonian-Laird estimate of tau
    (a monotone function of Q), ``pvalue`` the prior predictive tail probability
    P(Q_rep >= Q_obs); small values (< 0.05) mean the data are more heterogeneous than the
    prior on tau expects: a prior-data conflict.
    """

    k: int
    tau_prior: str
    tau_scale: float
    statistic: float
    tau_dl: float
    pvalue: float


def prior_data_conflict(yi, vi=None, *, sei=None, data=None, tau_prior="halfnormal", tau_scale=0.5):
    """Prior-data conflict check: the prior predictive tail probability of the observed heterogeneity.

    Definition. Under the normal-normal model with tau drawn from its prior, the replicated
    heterogeneity statistic Q_rep = sum_i w_i (y_i - ybar_w)^2 (w_i = 1/v_i, Cochran's Q) has, given
    tau, the distribution of sum_j lambda_j chi2_1, where lambda_j are the non-zero eigenvalues of
    A Sigma (A = W - w w' / sum w, Sigma = diag(v_i + tau^2)); A annihilates the mean, so mu plays no
    part and its improper prior is no obstacle. The check is

        p = P(Q_rep >= Q_obs) = integral P(Q_rep >= Q_obs | tau) p(tau) dtau,

    the prior predictive tail probability of the observed Q (Box 1980), i.e. of the observed
    DerSimonian-Laird estimate of tau, which is a non-decreasing function of Q (when the
    estimate is 0, p is large and no conflict is flagged). A small p (below 0.05) says the
    studies disagree more than the prior on tau lets them expect: the prior and the data
    conflict (Evans & Moshonov 2006), and the posterior then leans on the prior's tail.
    With k = 2, Q = (y1 - y2)^2 / (v1 + v2) and lambda = 1 + 2 tau^2 / (v1 + v2), so
    P(Q >= q | tau) = P(chi2_1 >= q / lambda): with a prior concentrated at tau = 0 the check
    reduces to the p-value of Cochran's Q test.

    Parameters
    ----------
    yi, vi, sei, data
        As in :func:`bayesmeta` (k >= 2).
    tau_prior, tau_scale
        The heterogeneity prior, as in :func:`bayesmeta`.

    Returns
    -------
    PriorDataConflict

    References
    ----------
    Box, G. E. P. (1980). Sampling and Bayes' inference in scientific modelling and robustness.
    Journal of the Royal Statistical Society A, 143(4), 383-430.
    Evans, M., & Moshonov, H. (2006). Checking for prior-data conflict. Bayesian Analysis, 1(4),
    893-914.
    Imhof, J. P. (1961). Biometrika, 48(3/4), 419-426.
    """
    col = lambda x: np.asarray(data[x] if isinstance(x, str) else x, dtype=float).ravel()  # noqa: E731
    if vi is None and sei is None:
        raise ValueError("give vi or sei")
    y, v = col(yi), (col(vi) if vi is not None else col(sei) ** 2)
    if y.shape != v.shape or not (np.all(np.isfinite(y)) and np.all(v > 0)):
        raise ValueError("yi and vi must be finite, of one length, with vi > 0")
    k = y.size
    if k < 2:
        raise ValueError(f"a heterogeneity check needs k >= 2 studies, got k = {k}")
    if callable(tau_prior):
        name = getattr(tau_prior, "__name__", "custom")
        dens = lambda t: float(tau_prior(t))  # noqa: E731
    else:
        if tau_prior not in TAU_PRIORS:
            raise ValueError(f"unknown tau_prior {tau_prior!r}; choose one of {list(TAU_PRIORS)}")
        if not tau_scale or tau_scale <= 0:
            raise ValueError(f"tau_scale must be > 0, got {tau_scale}")
        name, f = tau_prior, TAU_PRIORS[tau_prior]
        dens = lambda t: float(np.exp(f(t, tau_scale)))  # noqa: E731
    w = 1.0 / v
    ybar = np.sum(w * y) / np.sum(w)
    q = float(np.sum(w * (y - ybar) ** 2))
    c = np.sum(w) - np.sum(w ** 2) / np.sum(w)
    tau_dl = float(np.sqrt(max(0.0, (q - (k - 1)) / c)))
    A = np.diag(w) - np.outer(w, w) / np.sum(w)

    def sf_given(tau):
        sq = np.sqrt(v + tau ** 2)
        lam = np.linalg.eigvalsh(sq[:, None] * A * sq[None, :])
        return weighted_chi2_sf(q, lam)

    scale = float(tau_scale) if tau_scale else 1.0
    # split the range where the prior has its mass, so quad sees the shape; beyond 1000 scales
    # P(Q >= q | tau) is within a hair of 1 and increasing in tau, so the prior's remaining
    # mass (heavy for a half-Cauchy) enters at its value at the cut
    pieces = [0.0, scale, 3 * scale, 10 * scale, 100 * scale, 1000 * scale]
    p = sum(integrate.quad(lambda t: sf_given(t) * dens(t), a, b, limit=200, epsabs=1e-10,
                           epsrel=1e-8)[0] for a, b in zip(pieces[:-1], pieces[1:]))
    rest = integrate.quad(dens, pieces[-1], np.inf)[0]
    p += rest * sf_given(pieces[-1])
    return PriorDataConflict(k=k, tau_prior=name, tau_scale=float(tau_scale) if tau_scale else np.nan,
                             statistic=q, tau_dl=tau_dl, pvalue=float(min(1.0, max(0.0, p))))
