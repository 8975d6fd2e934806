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
