"""Effect sizes against metafor's escalc (reference JSON) and property tests.

Tolerance: 1e-10 relative (closed forms computed the same way on both sides).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mscreview.engine.convert import smd_from_t
from mscreview.engine.effectsize import MEASURES, escalc, hedges_correction, nmd

REF = json.loads((Path(__file__).parent / "reference" / "engine_reference.json").read_text())
CLOSED = 1e-10


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float)


ES_CASES = [c for c in REF["escalc"] if "ti" not in c["args"]]


@pytest.mark.parametrize("case", ES_CASES, ids=[c["id"] for c in ES_CASES])
def test_escalc_matches_metafor(case):
    opts = dict(case["options"]) if case["options"] else {}
    if "add" in opts and isinstance(opts["add"], list):
        opts["add"] = opts["add"][0]
    opts = {k: (v[0] if isinstance(v, list) else v) for k, v in opts.items()}
    out = escalc(case["measure"], **{k: np.array(v) for k, v in case["args"].items()}, **opts)
    np.testing.assert_allclose(out.yi, _arr(case["yi"]), rtol=CLOSED, atol=1e-14)
    np.testing.assert_allclose(out.vi, _arr(case["vi"]), rtol=CLOSED, atol=1e-14)


def test_smd_from_t_matches_metafor():
    case = next(c for c in REF["escalc"] if c["id"] == "smd_from_t")
    a = case["args"]
    yi, vi = smd_from_t(a["ti"], a["n1i"], a["n2i"])
    np.testing.assert_allclose(yi, case["yi"], rtol=CLOSED)
    np.testing.assert_allclose(vi, case["vi"], rtol=CLOSED)


def test_escalc_takes_column_names_and_appends():
    d = pd.DataFrame({"study": ["a", "b"], "mt": [10.0, 12.0], "st": [2.0, 3.0], "nt": [10, 12],
                      "mc": [8.0, 9.0], "sc": [2.5, 3.0], "nc": [11, 12]})
    out = escalc("SMD", data=d, m1i="mt", sd1i="st", n1i="nt", m2i="mc", sd2i="sc", n2i="nc")
    assert list(out.columns) == list(d.columns) + ["yi", "vi"]
    assert "yi" not in d.columns  # a copy
    # hand derivation for row 0: sp = sqrt((9*4 + 10*6.25)/19), J exact
    sp = np.sqrt((9 * 4 + 10 * 6.25) / 19)
    from math import gamma, sqrt
    J = gamma(19 / 2) / (sqrt(19 / 2) * gamma(18 / 2))
    assert out.yi[0] == pytest.approx(J * 2 / sp, rel=1e-12)
    assert out.vi[0] == pytest.approx(1 / 10 + 1 / 11 + out.yi[0] ** 2 / (2 * 21), rel=1e-12)


def test_hedges_correction_known_values():
    # J(m) ~ 1 - 3/(4m - 1) (Hedges 1981) and exact value for m = 10
    from math import gamma, sqrt
    assert hedges_correction(10) == pytest.approx(gamma(5) / (sqrt(5) * gamma(4.5)), rel=1e-14)
    assert hedges_correction(200) == pytest.approx(1 - 3 / (4 * 200 - 1), rel=1e-5)
    assert np.isnan(hedges_correction(1))


def test_nmd_hand_derived():
    # Vesterinen et al. (2014): sham 10, vehicle 40, treated 25 -> 50% of the deficit removed
    yi, vi = nmd(m1i=25, sd1i=6, n1i=8, m2i=40, sd2i=9, n2i=10, m0i=10)
    assert yi == pytest.approx(50.0)
    assert vi == pytest.approx((100 * 6 / 30) ** 2 / 8 + (100 * 9 / 30) ** 2 / 10)
    # direction-free: a higher-is-better scale gives the same percentage
    yi2, _ = nmd(m1i=-25, sd1i=6, n1i=8, m2i=-40, sd2i=9, n2i=10, m0i=-10)
    assert yi2 == pytest.approx(50.0)


def test_registry_is_the_single_source():
    assert set(MEASURES) == {"MD", "SMD", "SMDH", "ROM", "NMD", "MC", "SMCC", "SMCR", "OR", "RR", "RD"}
    for code, m in MEASURES.items():
        assert m.code == code and m.description and callable(m.function)


@pytest.mark.parametrize("kwargs, message", [
    (dict(measure="XYZ"), "unknown measure"),
    (dict(measure="SMD", m1i=[1.0], sd1i=[1.0], n1i=[5], m2i=[0.0], sd2i=[1.0]), "missing"),
    (dict(measure="SMD", m1i=[1.0, 2.0], sd1i=[1.0], n1i=[5, 6, 7], m2i=[0.0, 1.0], sd2i=[1.0, 1.0],
          n2i=[5, 5]), "mismatched lengths"),
    (dict(measure="SMD", m1i=[1.0], sd1i=[-1.0], n1i=[5], m2i=[0.0], sd2i=[1.0], n2i=[5]), "sd1i is negative"),
    (dict(measure="MD", m1i=[1.0], sd1i=[1.0], n1i=[0], m2i=[0.0], sd2i=[1.0], n2i=[5]), "n1i is <= 0"),
    (dict(measure="SMCR", m1i=[1.0], sd1i=[1.0], m2i=[0.0], ni=[5], ri=[1.5]), "ri is outside"),
    (dict(measure="OR", ai=[1], bi=[2], ci=[3], di=[-1]), "di is negative"),
    (dict(measure="MD", m1i=[1.0], sd1i=[1.0], n1i=[5], m2i=[0.0], sd2i=[1.0], n2i=[5], ai=[1]), "does not take"),
])
def test_bad_input_names_the_problem(kwargs, message):
    measure = kwargs.pop("measure")
    with pytest.raises(ValueError, match=message):
        escalc(measure, **kwargs)


def test_unknown_column_name():
    with pytest.raises(ValueError, match="'nope'.*not found"):
        escalc("MD", data=pd.DataFrame({"a": [1.0]}), m1i="nope", sd1i="a", n1i="a", m2i="a",
               sd2i="a", n2i="a")


def test_2x2_accepts_group_sizes():
    a = escalc("OR", ai=[4, 0], n1i=[123, 10], ci=[11, 3], n2i=[139, 12])
    b = escalc("OR", ai=[4, 0], bi=[119, 10], ci=[11, 3], di=[128, 9])
    np.testing.assert_allclose(a.yi, b.yi)
    np.testing.assert_allclose(a.vi, b.vi)


means = st.floats(-100, 100, allow_nan=False)
sds = st.floats(0.1, 50, allow_nan=False)
ns = st.integers(3, 500)


@settings(max_examples=200, deadline=None)
@given(means, sds, ns, means, sds, ns)
def test_smd_sign_flips_when_arms_swap(m1, s1, n1, m2, s2, n2):
    y12, v12 = escalc("SMD", m1i=[m1], sd1i=[s1], n1i=[n1], m2i=[m2], sd2i=[s2], n2i=[n2])[["yi", "vi"]].to_numpy().T
    y21, v21 = escalc("SMD", m1i=[m2], sd1i=[s2], n1i=[n2], m2i=[m1], sd2i=[s1], n2i=[n1])[["yi", "vi"]].to_numpy().T
    assert y12[0] == pytest.approx(-y21[0], rel=1e-12, abs=1e-12)
    assert v12[0] == pytest.approx(v21[0], rel=1e-12)
    assert v12[0] > 0


@settings(max_examples=200, deadline=None)
@given(means, sds, ns, means, sds, ns, st.floats(1e-3, 1e3), st.floats(-1e3, 1e3))
def test_smd_is_invariant_to_linear_rescaling(m1, s1, n1, m2, s2, n2, a, b):
    base = escalc("SMD", m1i=[m1], sd1i=[s1], n1i=[n1], m2i=[m2], sd2i=[s2], n2i=[n2])
    scaled = escalc("SMD", m1i=[a * m1 + b], sd1i=[a * s1], n1i=[n1], m2i=[a * m2 + b], sd2i=[a * s2], n2i=[n2])
    assert scaled.yi[0] == pytest.approx(base.yi[0], rel=1e-8, abs=1e-9)
    assert scaled.vi[0] == pytest.approx(base.vi[0], rel=1e-8)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_2x2_measures_swap_and_variance_positive(a, b, c, d):
    # with the zero-cell correction every table gives a finite yi and vi > 0
    for m in ("OR", "RR", "RD"):
        out = escalc(m, ai=[a], bi=[b], ci=[c], di=[d])
        swap = escalc(m, ai=[c], bi=[d], ci=[a], di=[b])
        assert out.yi[0] == pytest.approx(-swap.yi[0], abs=1e-12)
        assert out.vi[0] == pytest.approx(swap.vi[0], rel=1e-12)
        assert np.isfinite(out.yi[0]) and out.vi[0] > 0


@settings(max_examples=100, deadline=None)
@given(means, sds, means, sds, ns, st.floats(-0.95, 0.95))
def test_change_measures_variance_positive(m1, s1, m2, s2, n, r):
    for m in ("MC", "SMCC"):
        out = escalc(m, m1i=[m1], sd1i=[s1], m2i=[m2], sd2i=[s2], ni=[n], ri=[r])
        assert out.vi[0] > 0
    out = escalc("SMCR", m1i=[m1], sd1i=[s1], m2i=[m2], ni=[n], ri=[r])
    assert out.vi[0] > 0
