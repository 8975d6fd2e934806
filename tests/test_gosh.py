"""GOSH against R metafor 3.8-1's gosh() on all subsets (tests/reference/diag_reference.json),
plus checks of the batched fitter and the random-subset mode. random_* data are synthetic."""
import json
from pathlib import Path

import numpy as np
import pytest

from mscreview.diagnostics.gosh import gosh
from mscreview.engine.rma import fit_batch as _fit_batch

REF = json.loads((Path(__file__).parent / "reference" / "diag_reference.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}
CONTROL = {"threshold": 1e-12, "tol": 1e-12}
CLOSED = {"FE", "EE", "DL", "HE", "HS", "SJ"}


def ids():
    return sorted(i for i, c in CASES.items() if c["fn"] == "gosh")


def test_reference_grid_is_complete():
    assert len(ids()) >= 14


@pytest.mark.parametrize("cid", ids())
def test_gosh_matches_metafor(cid):
    c = CASES[cid]
    d, r = c["data"], c["result"]
    g = gosh(d["yi"], d["vi"], method=d["method"], progress=False, control=CONTROL)
    k = len(d["yi"])
    assert g.exact and g.n_subsets == 2 ** k - 1
    # same subsets in the same order as metafor (expand.grid order, stable-sorted by size)
    assert ["".join(str(int(b)) for b in row) for row in g.incl] == r["incl"]
    t = 1e-10 if d["method"] in CLOSED else 1e-6
    np.testing.assert_array_equal(g.frame["k"], r["k"])
    for col in ["estimate", "q"]:
        np.testing.assert_allclose(g.frame[col], r[col], rtol=t, atol=1e-12)
    # tau2 on the zero boundary: metafor stops at ~1e-12 (its threshold), the engine at 0
    np.testing.assert_allclose(g.frame["tau2"], r["tau2"], rtol=t, atol=1e-9)
    np.testing.assert_allclose(g.frame["i2"], r["i2"], rtol=t, atol=1e-7)
    np.testing.assert_allclose(g.frame["h2"], r["h2"], rtol=t, atol=1e-9)


def test_random_subsets_are_seeded_and_sized():
    rng = np.random.default_rng(5)
    yi, vi = rng.normal(size=25), rng.uniform(0.02, 0.2, 25)
    a = gosh(yi, vi, method="DL", seed=3, progress=False)
    b = gosh(yi, vi, method="DL", seed=3, progress=False)
    assert not a.exact and a.n_subsets == 10 ** 6
    np.testing.assert_array_equal(a.incl, b.incl)
    sizes = a.incl.sum(1)
    assert sizes.min() >= 1 and abs(sizes.mean() - 12.5) < 0.05   # Binomial(25, 1/2)
    np.testing.assert_array_equal(a.frame["k"], sizes)
    # spot-check rows against direct single fits
    for i in (0, 500_000, 999_999):
        m = a.incl[i]
        f = _fit_batch(yi[m], vi[m], method="DL")
        assert a.frame["estimate"][i] == pytest.approx(f["beta"][0, 0], rel=1e-12)
        assert a.frame["tau2"][i] == pytest.approx(f["tau2"][0], rel=1e-12, abs=1e-15)


def test_subsets_argument_and_to_frame():
    yi, vi = [0.1, 0.3, 0.5, 0.2], [0.05, 0.1, 0.08, 0.2]
    g = gosh(yi, vi, subsets=100, progress=False)
    assert g.exact and g.n_subsets == 15
    df = g.to_frame(labels=list("ABCD"))
    assert list(df.columns[-4:]) == list("ABCD")
    assert (df[list("ABCD")].sum(axis=1) == df["k"]).all()


def test_fit_batch_equals_weighted_least_squares_oracle():
    # estimate = sum(w y)/sum(w) with w = 1/(vi + tau2), and hand-computed Q
    rng = np.random.default_rng(11)
    yi, vi = rng.normal(size=9), rng.uniform(0.05, 0.3, 9)
    f = _fit_batch(yi, vi, method="REML")
    w = 1 / (vi + f["tau2"][0])
    assert f["beta"][0, 0] == pytest.approx((w * yi).sum() / w.sum(), rel=1e-12)
    wf = 1 / vi
    q = (wf * (yi - (wf * yi).sum() / wf.sum()) ** 2).sum()
    assert f["q"][0] == pytest.approx(q, rel=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 studies"):
        gosh([0.1], [0.1])
    with pytest.raises(ValueError, match="subsets must be >= 2"):
        gosh([0.1, 0.2], [0.1, 0.1], subsets=1)
    with pytest.raises(ValueError, match="unknown method"):
        gosh([0.1, 0.2], [0.1, 0.1], method="ZZ")
