"""Conversions: hand derivations from the cited papers and the Cochrane Handbook.

metafor 3.8-1 has no conv.fivenum / conv.wald (added in metafor 4.0), so the
expected values here are derived by hand from the published formulas, and
checked for the property that motivates them (exact normal quantiles give
back the normal mean and SD).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mscreview.engine.convert import (conv_fivenum, conv_wald, harmonise_direction, sd_from_ci,
                               sd_from_sem, smd_from_p, smd_from_t)
from mscreview.engine.effectsize import escalc


def test_sd_from_sem():
    assert sd_from_sem(2.0, 25) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="n must be > 0"):
        sd_from_sem(1.0, 0)


def test_sd_from_ci_cochrane_handbook_example():
    # Handbook 6.5.2.2: n = 25, 95% CI 3.01 to 8.99 -> t(0.975, 24) = 2.064 -> SD = 5 x 5.98 / 4.128
    assert sd_from_ci(3.01, 8.99, 25) == pytest.approx(5 * 5.98 / (2 * stats.t.ppf(0.975, 24)), rel=1e-12)
    assert sd_from_ci(3.01, 8.99, 25) == pytest.approx(7.24, abs=0.005)
    # large samples: divide by 3.92
    assert sd_from_ci(3.01, 8.99, 100, dist="z") == pytest.approx(10 * 5.98 / 3.919927969, rel=1e-9)
    with pytest.raises(ValueError, match="ci_high < ci_low"):
        sd_from_ci(2, 1, 10)
    with pytest.raises(ValueError, match="dist"):
        sd_from_ci(1, 2, 10, dist="chi")


def test_conv_fivenum_hand_derived():
    n = 40
    out = conv_fivenum(min=[2.0], median=[10.0], max=[20.0], n=[n], test=False)
    w = 4 / (4 + n**0.75)                                   # Luo et al. (2018) eq. 7
    assert out["mean"][0] == pytest.approx(w * 11 + (1 - w) * 10, rel=1e-12)
    xi = 2 * stats.norm.ppf((n - 0.375) / (n + 0.25))       # Wan et al. (2014) eq. 9
    assert out["sd"][0] == pytest.approx(18 / xi, rel=1e-12)
    assert out["case"][0] == 1
    out = conv_fivenum(q1=[8.0], median=[10.0], q3=[13.0], n=[n], test=False)
    w = 0.7 + 0.39 / n                                      # Luo eq. 11
    eta = 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))  # Wan eq. 16
    assert out["mean"][0] == pytest.approx(w * 10.5 + (1 - w) * 10, rel=1e-12)
    assert out["sd"][0] == pytest.approx(5 / eta, rel=1e-12)
    out = conv_fivenum(min=[1.0], q1=[8.0], median=[10.0], q3=[13.0], max=[22.0], n=[n], test=False)
    w1, w2 = 2.2 / (2.2 + n**0.75), 0.7 - 0.72 / n**0.55   # Luo eq. 15
    assert out["mean"][0] == pytest.approx(w1 * 11.5 + w2 * 10.5 + (1 - w1 - w2) * 10, rel=1e-12)
    ws = 1 / (1 + 0.07 * n**0.6)                             # Shi et al. (2020) eq. 10
    assert out["sd"][0] == pytest.approx(ws * 21 / xi + (1 - ws) * 5 / eta, rel=1e-12)
    out = conv_fivenum(min=[2.0], median=[10.0], max=[20.0], n=[20], method="hozo2005", test=False)
    assert out["mean"][0] == pytest.approx((2 + 20 + 20) / 4)
    assert out["sd"][0] == pytest.approx((20 - 2) / 4)


def test_conv_fivenum_recovers_normal_parameters():
    mu, sd, n = 50.0, 8.0, 10000  # the formulas use expected order statistics: exact as n grows
    q1, q3 = mu + sd * stats.norm.ppf([0.25, 0.75])
    out = conv_fivenum(q1=[q1], median=[mu], q3=[q3], n=[n])
    assert out["mean"][0] == pytest.approx(mu, rel=1e-12)
    assert out["sd"][0] == pytest.approx(sd, rel=5e-4)
    assert not out["skewed"][0]


def test_conv_fivenum_skewness_test_and_bad_order():
    out = conv_fivenum(q1=[1.0], median=[2.0], q3=[30.0], n=[50])
    assert out["skewed"][0] and np.isnan(out["mean"][0])
    with pytest.raises(ValueError, match="row 0"):
        conv_fivenum(q1=[5.0], median=[2.0], q3=[30.0], n=[50])
    assert np.isnan(conv_fivenum(q1=[1.0], median=[2.0], q3=[3.0], n=[4])["mean"][0])  # n < 5
    with pytest.raises(ValueError, match="unknown mean method"):
        conv_fivenum(q1=[1.0], median=[2.0], q3=[3.0], n=[40], method="xx")


def test_conv_wald_ratio_with_ci_and_p():
    # OR 2.0 (95% CI 1.2 to 3.333): yi = log 2, se = (log 3.333 - log 1.2) / 3.92
    yi, vi = conv_wald(2.0, 1.2, 10 / 3, transf=np.log)
    assert yi[0] == pytest.approx(math.log(2))
    assert vi[0] == pytest.approx(((math.log(10 / 3) - math.log(1.2)) / (2 * stats.norm.ppf(0.975))) ** 2)
    yi, vi = conv_wald([0.5], pvalue=[0.05])
    assert vi[0] == pytest.approx((0.5 / stats.norm.ppf(0.975)) ** 2)
    with pytest.raises(ValueError, match="pvalue"):
        conv_wald([0.5], pvalue=[0.0])


def test_smd_from_t_and_p_agree_with_escalc():
    n1, n2, m1, m2, s1, s2 = 12, 15, 10.0, 8.0, 2.5, 3.0
    es = escalc("SMD", m1i=[m1], sd1i=[s1], n1i=[n1], m2i=[m2], sd2i=[s2], n2i=[n2])
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    t = (m1 - m2) / (sp * math.sqrt(1 / n1 + 1 / n2))
    yi, vi = smd_from_t(t, n1, n2)
    assert yi == pytest.approx(es.yi[0], rel=1e-12) and vi == pytest.approx(es.vi[0], rel=1e-12)
    p = 2 * stats.t.sf(abs(t), n1 + n2 - 2)
    yi2, _ = smd_from_p(p, n1, n2, sign=1)
    assert yi2 == pytest.approx(es.yi[0], rel=1e-9)
    yi3, _ = smd_from_p(p, n1, n2, sign=-1)
    assert yi3 == pytest.approx(-es.yi[0], rel=1e-9)


def test_harmonise_direction():
    np.testing.assert_array_equal(harmonise_direction([1.0, 2.0, -0.5], [True, False, "false"]),
                                  [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(harmonise_direction([1.0, 2.0], False), [-1.0, -2.0])
    np.testing.assert_array_equal(harmonise_direction([30.0], False, measure="NMD"), [30.0])
    with pytest.raises(ValueError, match="missing in row"):
        harmonise_direction([1.0, 2.0], [True, None])
    with pytest.raises(ValueError, match="true/false"):
        harmonise_direction([1.0], ["maybe"])


def test_conv_fivenum_walter2007_expected_range():
    # expected range of 2 standard normal draws is 2/sqrt(pi) (E|X1 - X2| = 2/sqrt(pi))
    out = conv_fivenum(min=[0.0], median=[1.0], max=[2.0], n=[5], method="walter2007", test=False)
    from mscreview.engine.convert import _expected_range
    assert _expected_range(2)[0] == pytest.approx(2 / math.sqrt(math.pi), rel=1e-9)
    # known value: expected range of 5 normal draws = 2.325929 (tables of d2 in quality control)
    assert _expected_range(5)[0] == pytest.approx(2.325929, abs=1e-6)
    assert out["sd"][0] == pytest.approx(2 / 2.325929, rel=1e-6)
    assert out["mean"][0] == 1.0
