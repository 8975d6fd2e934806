"""Bayesian random-effects model (mscreview.engine.bayes) against (1) the worked example published with
R's bayesmeta and (2) a brute-force two-dimensional integration over (mu, tau) on a grid.

Published example: the eight-schools data (Rubin 1981) with mu ~ Normal(0, 50) and
tau ~ half-Cauchy(25), printed in the bayesmeta package vignette "An introduction to
meta-analysis using the bayesmeta package" (C. Röver; CRAN bayesmeta, inst/doc/bayesmeta.html,
sections "A simple example" and the posterior-summary examples), the package described in
Röver C. (2020), J Stat Softw 93(6), doi:10.18637/jss.v093.i06.
(R's bayesmeta is not installed here and Debian has no r-cran-bayesmeta package, so these
published numbers are the bayesmeta reference.)
"""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mscreview.engine.bayes import bayesmeta, prior_data_conflict, prior_sensitivity, weighted_chi2_sf

# Rubin (1981) eight schools, as printed by data("Rubin1981") in the vignette
Y8 = np.array([28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16])
SE8 = np.array([14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6])

# Published output of print(schools.example.1) and the calls that follow it in the vignette
PUB_TAU = {"median": 4.758539, "mean": 5.884511, "sd": 4.869904, "ci_low": 0.0,
           "ci_high": 15.165894, "mode": 0.0}
PUB_MU = {"mode": 7.929503, "median": 7.962961, "mean": 7.985729, "sd": 4.995762,
          "ci_low": -1.823353, "ci_high": 17.824562}
PUB_P_MU_POSITIVE = 0.9487521          # 1 - pposterior(mu=0)
PUB_MU_Q95 = 16.11009                  # qposterior(mu.p=0.95)
PUB_TAU_CENTRAL = (0.2199559, 18.0531718)   # post.interval(tau.level=0.95, method="central")


@pytest.fixture(scope="module")
def schools():
    return bayesmeta(Y8, sei=SE8, tau_prior="halfcauchy", tau_scale=25, mu_prior_mean=0,
                     mu_prior_sd=50)


def test_tau_matches_published_bayesmeta(schools):
    # bayesmeta computes tau's marginal by exact 1-D integration: agree to the printed digits
    sm = schools.summary.loc["tau"]
    for key, val in PUB_TAU.items():
        assert sm[key] == pytest.approx(val, rel=2e-6, abs=1e-6), key
    lo, hi = schools.credible_interval("tau", interval="central")
    assert lo == pytest.approx(PUB_TAU_CENTRAL[0], rel=1e-6)
    assert hi == pytest.approx(PUB_TAU_CENTRAL[1], rel=1e-6)


def test_mu_matches_published_bayesmeta(schools):
    # bayesmeta approximates mu's marginal by a normal mixture on a tau grid chosen by its
    # DIRECT algorithm (accuracy set by delta = 1% divergence); our integration is finer (the
    # brute-force test below agrees with ours to ~1e-6). Hence 5e-4 relative here.
    sm = schools.summary.loc["mu"]
    for key, val in PUB_MU.items():
        assert sm[key] == pytest.approx(val, rel=5e-4, abs=5e-3), key
    assert 1 - schools.cdf(0.0) == pytest.approx(PUB_P_MU_POSITIVE, abs=5e-5)
    assert schools.quantile(0.95) == pytest.approx(PUB_MU_Q95, rel=2e-4)


def brute_force(y, v, log_tau_prior, mu_mean=None, mu_sd=None, mu_lim=(-60, 80), n_mu=2801,
                s_lim=(-20, 8), n_s=2001):
    """Posterior on a dense 2-D grid over (mu, log tau), normalised by summation."""
    mu = np.linspace(*mu_lim, n_mu)
    s = np.linspace(*s_lim, n_s)
    M, T = np.meshgrid(mu, np.exp(s), indexing="ij")
    lp = log_tau_prior(T) + np.log(T)           # Jacobian of tau = exp(s)
    if mu_sd is not None:
        lp = lp + stats.norm.logpdf(M, mu_mean, mu_sd)
    for yi, vi in zip(y, v):
        lp = lp + stats.norm.logpdf(yi, M, np.sqrt(vi + T ** 2))
    p = np.exp(lp - lp.max())
    p /= p.sum()
    pm, ps = p.sum(1), p.sum(0)
    mean = (pm * mu).sum()
    out = {"mu_mean": mean, "mu_sd": np.sqrt((pm * mu ** 2).sum() - mean ** 2),
           "mu_median": np.interp(0.5, np.cumsum(pm) - pm / 2, mu),
           # trapezoid: half the mass of the node at 0 lies above 0
           "p_mu_pos": pm[mu > 0].sum() + 0.5 * pm[mu == 0].sum(),
           "tau_mean": (ps * np.exp(s)).sum(),
           "tau_median": np.exp(np.interp(0.5, np.cumsum(ps) - ps / 2, s))}
    # predictive: theta_new | mu, tau ~ N(mu, tau^2); P(theta_new > 0)
    out["p_new_pos"] = (p * stats.norm.sf(0, M, T)).sum()
    # log evidence: Riemann sum of the unnormalised density over (mu, s)
    out["log_ml"] = np.log(np.exp(lp - lp.max()).sum()) + lp.max() + np.log((mu[1] - mu[0]) * (s[1] - s[0]))
    return out


def test_schools_against_brute_force(schools):
    bf = brute_force(Y8, SE8 ** 2, lambda t: stats.cauchy.logpdf(t, scale=25) + np.log(2),
                     mu_mean=0, mu_sd=50, s_lim=(np.log(25) - 20, np.log(25) + 12))
    sm = schools.summary
    assert sm.loc["mu", "mean"] == pytest.approx(bf["mu_mean"], rel=1e-5)
    assert sm.loc["mu", "sd"] == pytest.approx(bf["mu_sd"], rel=1e-5)
    assert sm.loc["mu", "median"] == pytest.approx(bf["mu_median"], rel=1e-5)
    assert 1 - schools.cdf(0.0) == pytest.approx(bf["p_mu_pos"], abs=1e-5)
    assert sm.loc["tau", "mean"] == pytest.approx(bf["tau_mean"], rel=1e-4)
    assert sm.loc["tau", "median"] == pytest.approx(bf["tau_median"], rel=1e-4)
    assert 1 - schools.cdf(0.0, "theta_new") == pytest.approx(bf["p_new_pos"], abs=1e-5)
    assert schools.log_marginal_likelihood == pytest.approx(bf["log_ml"], abs=1e-5)


# Crins et al. (2014) acute rejection, log odds ratios computed here from the counts in
# bayesmeta's data("CrinsEtAl2014") (metafor escalc "OR" with 0.5 added to the zero cell of Gras)
CRINS = pd.DataFrame({
    "ai": [14, 16, 3, 9, 4, 0], "n1": [61, 28, 18, 54, 36, 50],
    "ci": [15, 19, 8, 29, 11, 3], "n2": [20, 28, 12, 54, 36, 34]})


def crins_yi_vi():
    a, c = CRINS.ai.to_numpy(float), CRINS.ci.to_numpy(float)
    b, d = CRINS.n1 - a, CRINS.n2 - c
    b, d = b.to_numpy(float), d.to_numpy(float)
    z = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    a, b, c, d = (x + 0.5 * z for x in (a, b, c, d))
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


@pytest.mark.parametrize("prior,scale", [("halfnormal", 0.5), ("halfcauchy", 1.0)])
def test_crins_uniform_mu_against_brute_force(prior, scale):
    yi, vi = crins_yi_vi()
    res = bayesmeta(yi, vi, tau_prior=prior, tau_scale=scale)
    logp = {"halfnormal": lambda t: stats.norm.logpdf(t, scale=scale),
            "halfcauchy": lambda t: stats.cauchy.logpdf(t, scale=scale)}[prior]
    # improper uniform mu prior = wide grid without a mu prior term (wide: under a half-Cauchy
    # prior the posterior of mu has heavy tails from large tau)
    bf = brute_force(yi, vi, logp, mu_lim=(-40, 40), n_mu=8001, n_s=1201,
                     s_lim=(np.log(scale) - 16, np.log(scale) + 10))
    sm = res.summary
    assert sm.loc["mu", "mean"] == pytest.approx(bf["mu_mean"], rel=1e-5)
    assert sm.loc["mu", "median"] == pytest.approx(bf["mu_median"], rel=1e-5)
    assert sm.loc["mu", "sd"] == pytest.approx(bf["mu_sd"], rel=1e-5)
    assert sm.loc["tau", "median"] == pytest.approx(bf["tau_median"], rel=1e-4)
    assert 1 - res.cdf(0.0, "theta_new") == pytest.approx(bf["p_new_pos"], abs=1e-5)
    # the prediction interval is wider than the credible interval of mu
    assert sm.loc["theta_new", "ci_low"] < sm.loc["mu", "ci_low"]
    assert sm.loc["theta_new", "ci_high"] > sm.loc["mu", "ci_high"]


def test_single_study_is_proper_with_proper_prior():
    res = bayesmeta([0.3], [0.04], tau_prior="halfnormal", tau_scale=0.5)
    # with k = 1 and uniform mu, the data say nothing about tau: posterior = prior
    assert res.summary.loc["tau", "median"] == pytest.approx(0.5 * stats.norm.ppf(0.75), rel=1e-6)
    assert res.summary.loc["mu", "median"] == pytest.approx(0.3, abs=1e-9)


def test_prior_sensitivity_table():
    yi, vi = crins_yi_vi()
    tab = prior_sensitivity(yi, vi)
    assert list(tab.tau_prior) == ["halfnormal"] * 3 + ["halfcauchy"] * 3
    assert tab.shape[0] == 6
    # heavier / wider heterogeneity priors give wider intervals for mu
    hn = tab[tab.tau_prior == "halfnormal"]
    assert np.all(np.diff(hn.mu_ci_high - hn.mu_ci_low) > 0)
    assert ((tab.p_mu_gt_null >= 0) & (tab.p_mu_gt_null <= 1)).all()


def test_bad_input():
    with pytest.raises(ValueError, match="unknown tau_prior"):
        bayesmeta([0.1, 0.2], [0.1, 0.1], tau_prior="gamma")
    with pytest.raises(ValueError, match="tau_scale must be > 0"):
        bayesmeta([0.1, 0.2], [0.1, 0.1], tau_scale=0)
    with pytest.raises(ValueError, match="both mu_prior_mean and mu_prior_sd"):
        bayesmeta([0.1, 0.2], [0.1, 0.1], mu_prior_mean=0)
    with pytest.raises(ValueError, match="does not decay"):
        bayesmeta([0.1, 0.5], [0.1, 0.1], tau_prior=lambda t: np.ones_like(t))


# ---------------------------------------------------------------------------------------------
# the prior-data conflict check (prior predictive tail probability of Q)
# ---------------------------------------------------------------------------------------------

def test_conflict_reduces_to_cochrans_q_test_when_the_prior_pins_tau_at_zero():
    # by hand: y = (0, 1), v = (0.5, 0.5): Q = (0 - 1)^2 / (0.5 + 0.5) = 1, and with tau = 0
    # Q ~ chi2_1, so P(Q >= 1) = P(|Z| >= 1) = 2 * (1 - Phi(1)) = 0.31731050786
    c = prior_data_conflict([0.0, 1.0], [0.5, 0.5], tau_prior="halfnormal", tau_scale=1e-9)
    assert c.statistic == pytest.approx(1.0, rel=1e-12)
    assert c.tau_dl == 0.0                      # Q <= k - 1
    assert c.pvalue == pytest.approx(0.31731050786291, rel=1e-8)


def test_conflict_k2_against_one_dimensional_integral_by_hand():
    # k = 2: y1 - y2 ~ N(0, v1 + v2 + 2 tau^2), so P(Q >= q | tau) = P(chi2_1 >= q V / (V + 2 tau^2)),
    # V = v1 + v2; integrate over the half-normal(0.5) density with an independent quadrature
    from scipy import integrate
    y, v = np.array([0.75, 2.20]), np.array([0.10, 0.20])
    V = v.sum()
    q = (y[0] - y[1]) ** 2 / V                 # 7.00833...
    ref = integrate.quad(lambda t: stats.chi2.sf(q * V / (V + 2 * t * t), 1) * 2 * stats.norm.pdf(t, scale=0.5),
                         0, np.inf)[0]
    c = prior_data_conflict(y, v, tau_prior="halfnormal", tau_scale=0.5)
    assert c.statistic == pytest.approx(q, rel=1e-12)
    assert c.pvalue == pytest.approx(ref, rel=1e-6)
    # a wider prior expects more heterogeneity: less conflict
    wider = prior_data_conflict(y, v, tau_prior="halfnormal", tau_scale=1.0)
    assert wider.pvalue > c.pvalue


def test_weighted_chi2_sf_exact_cases_and_monte_carlo():
    # equal weights: lam * chi2_m; two equal weights of 1: chi2_2 survival exp(-x/2) (by hand e^-1 at x = 2)
    assert weighted_chi2_sf(2.0, [1.0, 1.0]) == pytest.approx(np.exp(-1.0), rel=1e-12)
    assert weighted_chi2_sf(2.0, [1.0, 1.0 + 1e-7]) == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert weighted_chi2_sf(3.0, [2.0]) == pytest.approx(stats.chi2.sf(1.5, 1), rel=1e-12)
    rng = np.random.default_rng(20261130)
    lam = np.array([0.2, 0.3, 1.0, 2.0, 5.0])
    z = (rng.standard_normal((400_000, lam.size)) ** 2) @ lam
    mc = (z > 6.0).mean()                       # Monte Carlo SE about 8e-4
    assert weighted_chi2_sf(6.0, lam) == pytest.approx(mc, abs=4e-3)


def test_conflict_needs_two_studies():
    with pytest.raises(ValueError, match="k >= 2"):
        prior_data_conflict([0.3], [0.04])


def test_prior_sensitivity_reports_whole_and_no_prediction_interval_at_k2():
    tab = prior_sensitivity([0.75, 2.20], [0.10, 0.20])
    for col in ("mu_mean", "mu_median", "mu_ci_low", "mu_ci_high", "p_mu_gt_null", "conflict_pvalue"):
        assert tab[col].notna().all(), col
    assert tab[["pi_low", "pi_high"]].isna().all().all()        # k = 2 < 3 (protocol 6.3)
    yi, vi = crins_yi_vi()
    assert prior_sensitivity(yi, vi)[["pi_low", "pi_high"]].notna().all().all()


def test_weighted_chi2_sf_two_weights_by_conditioning():
    # two weights (k = 3): P(l1 X1 + l2 X2 > x) against a Monte Carlo estimate (SE about 7e-4) and the limit
    # l2 -> 0, where it is P(chi2_1 > x / l1) (by hand: l1 = 2, x = 3 -> P(chi2_1 > 1.5) = 0.2207)
    rng = np.random.default_rng(11)
    z = (rng.standard_normal((400_000, 2)) ** 2) @ np.array([2.0, 7.0])
    assert weighted_chi2_sf(30.0, [2.0, 7.0]) == pytest.approx((z > 30.0).mean(), abs=3e-3)
    assert weighted_chi2_sf(3.0, [2.0, 1e-9]) == pytest.approx(stats.chi2.sf(1.5, 1), rel=1e-6)
