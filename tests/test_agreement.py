"""Double-extraction sample and agreement (SYNTHETIC fixture; hand-computed values)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscreview.data import agreement, tables as tbl

FIX = Path(__file__).parent / "data_synthetic"


@pytest.fixture
def tables():
    return tbl.load_all(FIX)


def test_draw_sample_fraction_seed_and_controlled_trials(tables):
    ex, st = tables["extracted"], tables["studies"]
    s = agreement.draw_sample(ex, st, seed=1, fraction=0.2)
    numeric = ex[ex.data_availability == "numeric"]
    assert len(numeric) == 9
    random_rows = s[s.sample_reason.str.contains("random")]
    assert len(random_rows) == math.ceil(0.2 * 9) == 2
    assert set(random_rows.row_id) <= set(numeric.row_id)
    # every row of the RCT (TrialB2019) is in, whatever the draw
    assert set(ex.loc[ex.study_id == "TrialB2019", "row_id"]) <= set(s.row_id)
    assert (s.seed == 1).all()
    # same seed, same sample, whatever the row order; another seed can differ
    again = agreement.draw_sample(ex.sample(frac=1, random_state=3), st, seed=1, fraction=0.2)
    assert list(again.row_id) == list(s.row_id)
    # the draw is numpy's default_rng(seed).choice over the numeric rows sorted by row_id
    order = ex.sort_values("row_id").reset_index(drop=True)
    idx = order.index[order.data_availability == "numeric"].to_numpy()
    expected = set(order.loc[np.random.default_rng(1).choice(idx, size=2, replace=False), "row_id"])
    assert set(random_rows.row_id) == expected


def test_draw_sample_rejects_bad_fraction(tables):
    with pytest.raises(ValueError):
        agreement.draw_sample(tables["extracted"], tables["studies"], fraction=0)


def test_cohen_kappa_by_hand():
    # po = 8/10; pe = 0.3*0.3 + 0.7*0.7 = 0.58; kappa = (0.8 - 0.58) / 0.42
    assert agreement.cohen_kappa(list("aaabbbbbbb"), list("aabbbbbbba")) == pytest.approx(0.22 / 0.42)
    assert agreement.cohen_kappa(list("abab"), list("abab")) == 1.0
    assert math.isnan(agreement.cohen_kappa(list("aaa"), list("aaa")))   # pe = 1


def test_agreement_per_field(tables):
    first = tables["extracted"]
    second = first.copy()
    second.loc[second.row_id == "RatA2020_01", "m1i"] = 21.0
    second.loc[second.row_id == "RatA2020_02", "mechanism"] = "immunomodulation"
    second = second[second.row_id != "SeriesC2018_02"]          # not re-extracted
    a = agreement.agreement(first, second).set_index("field")
    assert a.loc["m1i", "n_compared"] == 10 and a.loc["m1i", "n_agree"] == 9
    assert a.loc["m1i", "percent"] == pytest.approx(90.0)
    assert np.isnan(a.loc["m1i", "kappa"])
    assert a.loc["mechanism", "type"] == "categorical" and a.loc["mechanism", "n_agree"] == 9
    assert (a["n_unmatched"] == 1).all()
    # mechanism labels over the 10 matched rows, first vs second:
    # first : neuro, anti_apop, function, immuno, paracrine, metabolism, function, safety, function, function
    # second: neuro, immuno,    function, immuno, paracrine, metabolism, function, safety, function, function
    f = first[first.row_id != "SeriesC2018_02"].sort_values("row_id")["mechanism"].tolist()
    s = second.sort_values("row_id")["mechanism"].tolist()
    assert a.loc["mechanism", "kappa"] == pytest.approx(agreement.cohen_kappa(f, s))
    po = 0.9
    pe = sum(f.count(c) * s.count(c) for c in set(f) | set(s)) / 100
    assert a.loc["mechanism", "kappa"] == pytest.approx((po - pe) / (1 - pe))
    d = agreement.disagreements(first, second)
    assert d[["row_id", "field"]].values.tolist() == [["RatA2020_01", "m1i"], ["RatA2020_02", "mechanism"]]


def test_write_agreement(tmp_path, tables):
    a = agreement.agreement(tables["extracted"], tables["extracted"])
    p = agreement.write_agreement(a, seed=7, fraction=0.2, root=tmp_path)
    back = pd.read_csv(p)
    assert p == tmp_path / "review/extraction_agreement.csv"
    assert list(back.columns[:3]) == ["seed", "fraction", "field"]
    assert (back.seed == 7).all() and (back.percent == 100).all()


def test_cli_sample_and_compare(tmp_path, capsys):
    import shutil
    root = tmp_path / "repo"
    shutil.copytree(FIX, root)
    assert agreement.main(["sample", "--seed", "1", "--root", str(root)]) == 0
    s = pd.read_csv(root / agreement.SAMPLE_FILE)
    assert len(s) == 5 and set(s.seed) == {1}      # 2 random + 3 RCT rows (see the first test)
    nn = pd.read_csv(root / agreement.NONNUMERIC_SAMPLE_FILE)
    ex = tbl.load("extracted", root)
    n_cand = ex.data_availability.isin(["direction_only", "figure_only"]).sum()
    assert len(nn) == -(-n_cand // 10) and set(nn.seed) == {2}   # ceil(10%) of the rows without numbers
    (root / agreement.NONNUMERIC_SAMPLE_FILE).unlink()          # compare the numeric sample only below
    second = tbl.load("extracted", root)
    second.loc[second.row_id == "TrialB2019_03", "m1i"] = 56.0
    path = tmp_path / "second.csv"
    out = second.astype(object).where(second.notna(), "")
    out["higher_is_better"] = out["higher_is_better"].map({True: "true", False: "false", "": ""})
    out.to_csv(path, index=False)
    assert agreement.main(["compare", str(path), "--seed", "1", "--root", str(root)]) == 0
    a = pd.read_csv(root / agreement.AGREEMENT_FILE).set_index("field")
    assert a.loc["m1i", "n_compared"] == 5 and a.loc["m1i", "n_agree"] == 4
    d = pd.read_csv(root / agreement.DISAGREEMENT_FILE)
    assert d[["row_id", "field"]].values.tolist() == [["TrialB2019_03", "m1i"]]


def test_kappa_se_and_ci_by_hand():
    # 2x2 table, rater 1 in rows, rater 2 in columns: [[20, 5], [10, 15]], n = 50
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    # po = 35/50 = 0.7; rows 0.5, 0.5; columns 0.6, 0.4; pe = 0.5*0.6 + 0.5*0.4 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    # Fleiss, Cohen & Everitt (1969) large-sample variance (not under H0), k = 0.4:
    #   A = 0.4*(1 - (0.5+0.6)*0.6)^2 + 0.3*(1 - (0.5+0.4)*0.6)^2 = 0.04624 + 0.06348 = 0.10972
    #   B = 0.6^2 * (0.1*(0.6+0.5)^2 + 0.2*(0.4+0.5)^2) = 0.36 * 0.283 = 0.10188
    #   C = (0.4 - 0.5*0.6)^2 = 0.01
    #   var = (A + B - C) / (n (1 - pe)^2) = 0.2016 / 12.5 = 0.016128
    se = math.sqrt(0.016128)
    k = agreement.kappa_ci(a, b)
    assert k.kappa == pytest.approx(0.4, abs=1e-12)
    assert k.kappa == pytest.approx(agreement.cohen_kappa(a, b), abs=1e-12)
    assert k.se == pytest.approx(se, rel=1e-10)
    assert (k.ci_low, k.ci_high) == pytest.approx((0.4 - 1.959963984540054 * se, 0.4 + 1.959963984540054 * se),
                                                  rel=1e-10)
    # a broken SE (the null-hypothesis SE, std_kappa0) would differ
    assert abs(k.se - 0.13856) > 0.01   # std_kappa0 = sqrt(0.75 - 0.51) / (0.5 * sqrt(50))


def test_kappa_ci_edge_cases():
    nan = agreement.kappa_ci(list("aaa"), list("aaa"))            # pe = 1: undefined
    assert all(math.isnan(v) for v in (nan.kappa, nan.se, nan.ci_low, nan.ci_high))
    perfect = agreement.kappa_ci(list("abab"), list("abab"))
    assert perfect.kappa == 1.0 and perfect.ci_high == 1.0 and perfect.se == pytest.approx(0.0, abs=1e-12)


def test_agreement_table_has_kappa_se_and_ci(tables):
    ex = tables["extracted"]
    second = ex.copy()
    second.loc[second.index[:3], "mechanism"] = "angiogenesis"
    t = agreement.agreement(ex, second, fields=["mechanism", "m1i"]).set_index("field")
    assert list(t.columns) == ["type", "n_compared", "n_agree", "percent", "kappa", "kappa_se", "kappa_ci_low",
                               "kappa_ci_high", "n_unmatched"]
    k = agreement.kappa_ci(ex["mechanism"], second["mechanism"])
    assert t.loc["mechanism", "kappa_se"] == pytest.approx(k.se)
    assert t.loc["mechanism", "kappa_ci_low"] < t.loc["mechanism", "kappa"] <= t.loc["mechanism", "kappa_ci_high"]
    assert np.isnan(t.loc["m1i", "kappa_se"])
