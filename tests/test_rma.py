"""rma, subgroup and the batch estimators: oracles that need no R, bad input, objects.

Differences from metafor that we keep (cause in brackets); the same table is
in tests/reference/README.md:

======================================  ==================================================
Situation                               What we do / cause
======================================  ==================================================
Fisher scoring oscillates (e.g. one     We converge (Newton/Fisher steps safeguarded by a
dominant study, ``edge_dominant``)       bracket on the score root); metafor 3.8-1 stops with
                                        "did not converge" at its default maxiter = 100 and
                                        reaches the same value only with maxiter >= ~1000.
Convergence threshold                   We stop at a relative change of 1e-10; metafor's
                                        default threshold = 1e-5 (absolute), so at metafor's
                                        defaults ML/REML/EB tau2 differ by up to ~1e-6.
                                        The reference is generated with threshold = 1e-12.
PM root (uniroot)                       metafor's default uniroot tol = eps^0.25 (~1e-4);
                                        we solve to 1e-10 relative; reference uses tol=1e-12.
PM / Q-profile upper search bound       metafor stops at tau2.max (100, resp.
                                        max(100, 10 tau2)) and errors / reports "> bound";
                                        we widen the interval until the root is bracketed.
NaN in yi / vi                          ValueError naming the rows; metafor drops the rows
                                        with a warning (a silently smaller k is a risk in a
                                        review, so we make the caller decide).
k = 1 in rma                            ValueError for random-effects methods (metafor fits
                                        tau2 = 0); EE with k = 1 is allowed.
No-intercept models                     not offered (metafor's tau2 estimators centre yi,
                                        which is only equivalent with an intercept).
PI of an EE model                       equals the CI (tau2 = 0); metafor prints none.
s2w for knha when RSS <= eps            0, as metafor (se = 0, statistic = +-inf).
======================================  ==================================================
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mscreview.engine import tau2 as T
from mscreview.engine.rma import design_matrix, fit_batch, rma, subgroup
from mscreview.engine.results import BatchFit, RMAResult

BCG_YI = np.array([-0.88931133, -1.58538866, -1.34807315, -1.44155119, -0.21754732, -0.78611559,
                   -1.62089822, 0.01195233, -0.46941765, -1.37134480, -0.33935883, 0.44591340,
                   -0.01731395])
BCG_VI = np.array([0.32558476, 0.19458112, 0.41536797, 0.02001003, 0.05121018, 0.00690562,
                   0.22301725, 0.00396158, 0.05643421, 0.07302479, 0.01241221, 0.53242666,
                   0.07140466])


# numpy default_rng(20261126) set 157 of benchmarks/bench_engine.py: metafor 3.8-1 stops with
# "Fisher scoring algorithm did not converge" even with maxiter = 1e5 (the iterates cycle)
OSC_YI = np.array([-0.23539914623568264, 0.05669867110853771, 0.32430543971054165, 0.2675285994900067, -0.3771500401032963, -0.5688541816775472, -0.3309917387214922, -0.2628214015646641, 0.5113486184306604, -0.20115549752051592, -0.6233752115725948, 0.49292386935913557, 0.2590589508062979, -0.15014477974455892, -0.49125094558859533, 0.13976795052280863])
OSC_VI = np.array([0.1430346725343848, 0.17036152984318073, 0.2934232678256387, 0.20794707320857345, 0.16130559370140882, 0.2744684203096276, 0.030355882945774577, 0.1698150194478618, 0.29631819877738264, 0.13972581156729882, 0.22604755226492781, 0.025293065841643952, 0.1721521226801107, 0.13397875596898084, 0.1722880098313938, 0.1756050842586634])


def random_sets(n, k, seed=1):
    rng = np.random.default_rng(seed)
    V = rng.uniform(0.01, 0.4, (n, k))
    Y = rng.normal(0.2, np.sqrt(V + rng.uniform(0, 0.3, (n, 1))))
    return Y, V


# ---------------------------------------------------------------------------
# Oracles without R
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", list(T.METHODS))
def test_estimate_is_wls_with_inverse_total_variance(method):
    res = rma(BCG_YI, BCG_VI, method=method)
    w = 1 / (BCG_VI + res.tau2)
    X = np.ones((len(w), 1))
    beta = np.linalg.lstsq(X * np.sqrt(w)[:, None], BCG_YI * np.sqrt(w), rcond=None)[0][0]
    assert res.estimate == pytest.approx(beta, rel=1e-12)
    assert res.se == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-12)
    assert res.weights.sum() == pytest.approx(100)


def test_q_by_hand():
    w = 1 / BCG_VI
    mu = np.sum(w * BCG_YI) / np.sum(w)
    q = sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, BCG_YI))
    res = rma(BCG_YI, BCG_VI, method="DL")
    assert res.q == pytest.approx(q, rel=1e-12)
    assert res.q_df == 12
    # DerSimonian-Laird by hand
    c = w.sum() - (w**2).sum() / w.sum()
    assert res.tau2 == pytest.approx((q - 12) / c, rel=1e-12)
    # I2 = (Q - df)/Q for DL (Higgins & Thompson 2002)
    assert res.i2 == pytest.approx(100 * (q - 12) / q, rel=1e-10)


def test_knha_by_hand():
    res = rma(BCG_YI, BCG_VI, method="REML", test="knha")
    w = 1 / (BCG_VI + res.tau2)
    mu = np.sum(w * BCG_YI) / w.sum()
    s2 = np.sum(w * (BCG_YI - mu) ** 2) / 12
    assert res.se == pytest.approx(math.sqrt(s2 / w.sum()), rel=1e-12)
    from scipy import stats
    assert res.ci_high - res.estimate == pytest.approx(stats.t.ppf(0.975, 12) * res.se, rel=1e-12)
    assert res.pi_high - res.estimate == pytest.approx(
        stats.t.ppf(0.975, 12) * math.sqrt(res.se**2 + res.tau2), rel=1e-12)


def test_reml_maximises_restricted_likelihood():
    res = rma(BCG_YI, BCG_VI, method="REML")

    def ll(t):
        w = 1 / (BCG_VI + t)
        mu = np.sum(w * BCG_YI) / w.sum()
        return -0.5 * (np.sum(np.log(BCG_VI + t)) + np.log(w.sum()) + np.sum(w * (BCG_YI - mu) ** 2))
    for d in (1e-3, -1e-3):
        assert ll(res.tau2) > ll(res.tau2 + d)


@settings(max_examples=60, deadline=None)
@given(arrays(float, st.integers(2, 12), elements=st.floats(-3, 3)),
       st.floats(1e-3, 1e3), st.sampled_from(["DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS"]))
def test_scale_and_shift_equivariance(y, c, method):
    v = np.linspace(0.05, 0.5, len(y))
    a = rma(y, v, method=method)
    b = rma(c * y + 1.0, c**2 * v, method=method)
    assert b.tau2 == pytest.approx(c**2 * a.tau2, rel=1e-6, abs=1e-9 * c**2)
    assert b.estimate == pytest.approx(c * a.estimate + 1.0, rel=1e-6, abs=1e-7 * c)
    assert b.i2 == pytest.approx(a.i2, abs=1e-5)


# ---------------------------------------------------------------------------
# The batch estimators equal single fits
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", list(T.METHODS))
@pytest.mark.parametrize("test", ["z", "knha"])
def test_batch_equals_single_fits(method, test):
    Y, V = random_sets(40, 9)
    mask = np.random.default_rng(2).random(Y.shape) > 0.25
    mask[:, :2] = True
    tb = T.estimate_batch(Y, V, mask, method=method)
    fb = fit_batch(Y, V, mask, method=method, test=test)
    frame = fb.to_frame()
    assert list(frame.columns) == list(BatchFit.COLUMNS) and len(frame) == 40
    for i in range(len(Y)):
        r = rma(Y[i][mask[i]], V[i][mask[i]], method=method, test=test)
        assert tb[i] == pytest.approx(r.tau2, rel=1e-8, abs=1e-12)
        for f in ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low", "pi_high",
                  "q", "q_pvalue", "i2", "h2"):
            assert getattr(fb, f)[i] == pytest.approx(getattr(r, f), rel=1e-7, abs=1e-10), f


def test_batch_general_design_agrees_with_intercept_path():
    Y, V = random_sets(5, 10, seed=7)
    for method in T.METHODS:
        for i in range(5):
            a = T.estimate(Y[i], V[i], None, method)["tau2"]
            b = T.estimate_single(Y[i], V[i], method)[0]
            assert a == pytest.approx(b, rel=1e-8, abs=1e-13)


def test_batch_single_study_gets_zero_and_shapes_checked():
    Y, V = random_sets(3, 4)
    mask = np.zeros_like(Y, dtype=bool)
    mask[:, 0] = True
    np.testing.assert_array_equal(T.estimate_batch(Y, V, mask), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        T.estimate_batch(Y, V[:, :3])
    with pytest.raises(ValueError, match="mask must have shape"):
        T.estimate_batch(Y, V, mask[:, :2])
    with pytest.raises(ValueError, match="no study"):
        T.estimate_batch(Y, V, np.zeros_like(Y, dtype=bool))
    with pytest.raises(ValueError, match="unknown method"):
        T.estimate_batch(Y, V, method="XX")
    V2 = V.copy()
    V2[0, 1] = -1
    with pytest.raises(ValueError, match="must be > 0"):
        T.estimate_batch(Y, V2)
    # a bad value in a masked-out study is ignored
    m2 = np.ones_like(Y, dtype=bool)
    m2[0, 1] = False
    assert np.all(np.isfinite(T.estimate_batch(Y, V2, m2)))


def test_batch_nonconvergence_gives_nan_and_warns():
    Y, V = random_sets(4, 8)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        t = T.estimate_batch(Y, V, method="REML", maxiter=1)
    assert np.isnan(t).any()


def test_converges_where_metafor_fisher_scoring_cycles():
    res = rma(OSC_YI, OSC_VI, method="REML")

    def ll(t):
        w = 1 / (OSC_VI + t)
        mu = w @ OSC_YI / w.sum()
        return -0.5 * (np.sum(np.log(OSC_VI + t)) + np.log(w.sum()) + w @ (OSC_YI - mu) ** 2)
    grid = np.linspace(0, 1, 100001)
    best = grid[np.argmax([ll(t) for t in grid])]
    assert res.tau2 == pytest.approx(best, abs=1e-5)
    # the REML score is zero there
    w = 1 / (OSC_VI + res.tau2)
    mu = w @ OSC_YI / w.sum()
    score = np.sum(w**2 * (OSC_YI - mu) ** 2) - (w.sum() - (w**2).sum() / w.sum())
    assert abs(score) < 1e-8 * w.sum()


def test_single_nonconvergence_raises():
    with pytest.raises(T.ConvergenceError):
        rma(BCG_YI, BCG_VI, method="REML", maxiter=1)


def test_clip_is_the_only_truncation():
    y = np.array([0.1, 0.1001, 0.0999, 0.1])
    v = np.array([0.1, 0.2, 0.1, 0.3])
    for method in ("DL", "HE", "HS", "REML", "ML", "PM", "EB"):
        assert rma(y, v, method=method).tau2 == 0.0
    assert T.clip(-1.0) == 0.0 and T.clip(2.0) == 2.0


# ---------------------------------------------------------------------------
# Bad input names the problem
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, message", [
    (([0.1, 0.2], [0.1]), {}, "different lengths"),
    (([0.1, np.nan, 0.3], [0.1, 0.1, 0.1]), {}, r"NaN.*yi in rows \[1\]"),
    (([0.1, 0.2, 0.3], [0.1, 0.0, 0.1]), {}, r"vi must be > 0.*\[1\]"),
    (([0.1, 0.2, 0.3], [0.1, -1, 0.1]), {}, r"vi must be > 0"),
    (([0.1], [0.1]), {}, "too few studies"),
    (([0.1, 0.2], [0.1, 0.1]), {"mods": [1.0, 2.0]}, "too few studies"),
    (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"method": "XYZ"}, "unknown method 'XYZ'"),
    (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"test": "wald"}, "unknown test 'wald'"),
    (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"confidence_level": 95}, "confidence_level"),
    (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"mods": [1.0, 2.0]}, "mods has 2 rows"),
    (([0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.1, 0.1]), {"mods": np.c_[[1, 2, 3, 4], [2, 4, 6, 8]]},
     "collinear"),
    (([0.1], [0.1]), {"method": "EE", "test": "t"}, "degrees of freedom"),
])
def test_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rma(*args, **kwargs)


def test_column_names_need_data():
    with pytest.raises(ValueError, match="no data"):
        rma("yi", "vi")
    with pytest.raises(ValueError, match="'zz'.*not found"):
        rma("zz", "vi", data=pd.DataFrame({"yi": [1.0], "vi": [1.0]}))


def test_sei_instead_of_vi():
    a = rma(BCG_YI, sei=np.sqrt(BCG_VI))
    b = rma(BCG_YI, BCG_VI)
    assert a.estimate == b.estimate and a.tau2 == b.tau2


# ---------------------------------------------------------------------------
# Moderators, subgroups, objects
# ---------------------------------------------------------------------------

def test_design_matrix_dummy_codes_like_r_factor():
    d = pd.DataFrame({"g": ["b", "a", "c", "a"], "x": [1.0, 2.0, 3.0, 4.0]})
    X, names = design_matrix(["g", "x"], d)
    assert names == ("intrcpt", "g[b]", "g[c]", "x")
    np.testing.assert_array_equal(X[:, 1], [1, 0, 0, 0])
    np.testing.assert_array_equal(X[:, 2], [0, 0, 1, 0])


def test_subgroup_table():
    d = pd.DataFrame({"yi": BCG_YI, "vi": BCG_VI,
                      "alloc": ["random"] * 4 + ["alternate", "random", "random", "alternate",
                                                 "systematic", "systematic", "alternate",
                                                 "systematic", "systematic"]})
    tab = subgroup(d, "alloc")
    sub = tab[tab.row == "subgroup"]
    assert list(sub.subgroup) == ["alternate", "random", "systematic"]
    for _, r in sub.iterrows():
        g = d[d.alloc == r.subgroup]
        fit = rma(g.yi, g.vi)
        assert r.estimate == pytest.approx(fit.estimate) and r.k == len(g)
    diff = tab[tab.row == "difference"].set_index("subgroup")
    # separate-tau2 test: Q of the subgroup estimates (by hand)
    e, s = sub.estimate.to_numpy(), sub.se.to_numpy()
    w = 1 / s**2
    qb = np.sum(w * (e - np.sum(w * e) / w.sum()) ** 2)
    assert diff.loc["between subgroups (separate tau2)", "statistic"] == pytest.approx(qb)
    # common-tau2 test equals the QM of the meta-regression on the factor
    fit = rma("yi", "vi", mods="alloc", data=d)
    assert diff.loc["moderator test (common tau2)", "statistic"] == pytest.approx(fit.qm)
    assert diff.loc["moderator test (common tau2)", "df"] == 2


def test_result_is_frozen_and_tidy():
    res = rma(BCG_YI, BCG_VI, test="knha")
    assert isinstance(res, RMAResult)
    with pytest.raises(Exception):
        res.tau2 = 1.0
    f = res.to_frame()
    assert f.shape[0] == 1
    for col in ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low", "pi_high",
                "tau2", "i2", "h2", "q", "q_pvalue", "k", "method", "test"):
        assert col in f.columns
    assert f.estimate[0] == res.estimate
    text = repr(res)
    assert "Random-effects model (k = 13" in text and "prediction interval" in text
    assert "<table>" in res._repr_html_()
    ci = res.confint()
    assert ci.tau2_ci_low <= res.tau2 <= ci.tau2_ci_high
    assert res.heterogeneity_ci.tau2_ci_high == ci.tau2_ci_high
    assert "Q-profile" in repr(ci)
    assert res.coef_frame().shape == (1, 8)
    d = res.to_dict()
    assert d["k"] == 13 and isinstance(d["estimate"], float)


def test_meta_regression_objects():
    d = pd.DataFrame({"yi": BCG_YI, "vi": BCG_VI, "x": np.arange(13.0)})
    res = rma("yi", "vi", mods="x", data=d, test="knha")
    assert res.coef_names == ("intrcpt", "x")
    assert math.isnan(res.pi_low)
    pr = res.predict([0.0, 5.0])
    assert pr.pred[0] == pytest.approx(res.beta[0])
    assert "F(1, 11)" in repr(res)


def test_subgroup_with_single_study_uses_equal_effects():
    d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.9], "vi": [0.05, 0.04, 0.06, 0.05],
                      "g": ["a", "a", "a", "b"]})
    tab = subgroup(d, "g")
    single = tab[(tab.row == "subgroup") & (tab.subgroup == "b")].iloc[0]
    assert single.k == 1 and single.method == "EE"
    assert single.estimate == pytest.approx(0.9)
    assert single.se == pytest.approx(math.sqrt(0.05))
    with pytest.raises(ValueError, match="not found"):
        subgroup(d, "zz")


@pytest.mark.parametrize("method", list(T.METHODS))
def test_batch_sets_with_one_or_two_studies_are_quiet(method):
    rng = np.random.default_rng(0)
    Y, V = rng.normal(size=(5, 6)), rng.uniform(0.1, 0.5, (5, 6))
    M = np.ones((5, 6), bool)
    M[0, 1:] = False
    M[1, 2:] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = fit_batch(Y, V, M, method=method, test="z")
    assert f.tau2[0] == 0.0 and f.k[0] == 1
    assert f.estimate[0] == Y[0, 0] and f.se[0] == pytest.approx(math.sqrt(V[0, 0]))
    r = rma(Y[1, :2], V[1, :2], method=method)
    assert f.tau2[1] == pytest.approx(r.tau2, abs=1e-12)


@pytest.mark.parametrize("method", list(T.METHODS))
@pytest.mark.parametrize("test", list(T.TESTS))
def test_batch_with_moderators_equals_single_fits(method, test):
    # rma() with mods on each masked data set: its own inference code (beta, vb, tests, Q, QM)
    Y, V = random_sets(12, 10, seed=4)
    rng = np.random.default_rng(5)
    x = rng.normal(size=Y.shape)
    X = np.stack([np.ones_like(x), x], axis=2)            # one design matrix per set
    mask = rng.random(Y.shape) > 0.2
    mask[:, :4] = True
    f = fit_batch(Y, V, mask, method=method, test=test, X=X)
    for i in range(len(Y)):
        m = mask[i]
        r = rma(Y[i][m], V[i][m], mods=x[i][m], method=method, test=test)
        for ours, theirs in (("tau2", "tau2"), ("beta", "beta"), ("beta_se", "beta_se"),
                             ("beta_pvalue", "beta_pvalue"), ("beta_ci_low", "beta_ci_low"),
                             ("q", "q"), ("qm", "qm"), ("qm_pvalue", "qm_pvalue"), ("i2", "i2"),
                             ("h2", "h2")):
            np.testing.assert_allclose(getattr(f, ours)[i], getattr(r, theirs), rtol=1e-7,
                                       atol=1e-10, err_msg=ours)
