"""Plausibility flags on mutated copies of the SYNTHETIC fixture (clean fixture: one known flag)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mscreview.data import tables as tbl
from mscreview.review import plausibility

FIX = Path(__file__).parent / "data_synthetic"


@pytest.fixture
def tables():
    return tbl.load_all(FIX)


def flags(ex, st):
    f = plausibility.plausibility_checks(ex, st)
    return set(zip(f.row_id, f.check))


def test_fixture_flags_only_its_change_score(tables):
    # TrialB2019_01 is a change score (reported MD) without baseline means
    assert flags(tables["extracted"], tables["studies"]) == {("TrialB2019_01", "change_without_baseline")}


def test_sem_reported_as_sd(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "RatA2020_01", ["sd1i", "sd2i"]] = [1.0, 1.2]   # g ~ -8.2 reading them as SD
    got = plausibility.plausibility_checks(ex, tables["studies"])
    row = got[(got.row_id == "RatA2020_01") & (got.check == "sd_sem_confusion")]
    assert len(row) == 1 and "> 5" in row.detail.iloc[0]


def test_sd_tiny_relative_to_mean(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "TrialB2019_03", "sd1i"] = 0.3   # 0.3 < 1% of 55; g stays moderate
    assert ("TrialB2019_03", "sd_sem_confusion") in flags(ex, tables["studies"])


def test_unstated_dispersion_shows_both_readings(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "RatA2020_01", "dispersion_type"] = pd.NA
    got = plausibility.plausibility_checks(ex, tables["studies"])
    d = got[(got.row_id == "RatA2020_01")].detail.iloc[0]
    # SD reading: -1.73 (R escalc); SEM reading: sd = 5 sqrt(10), 6 sqrt(10)
    assert d.startswith("dispersion type not stated: g = -1.73 if SD, -0.55 if SEM")


def test_n_exceeds_total_and_missing(tables):
    ex, st = tables["extracted"].copy(), tables["studies"].copy()
    ex.loc[ex.row_id == "RatA2020_02", "n1i"] = 15    # 15 + 10 > n_total 20
    ex.loc[ex.row_id == "RatA2020_03", "n2i"] = pd.NA
    got = flags(ex, st)
    assert ("RatA2020_02", "n_exceeds_total") in got
    assert ("RatA2020_03", "n_missing") in got
    assert ("RatA2020_01", "n_exceeds_total") not in got   # 10 + 10 = 20 is fine


def test_cohort_counted_twice(tables):
    ex, st = tables["extracted"].copy(), tables["studies"].copy()
    # a second report of the RatA2020 animals, with its own lesion-volume row
    dup = st[st.study_id == "RatA2020"].copy()
    dup["study_id"] = "RatA2021"
    st = pd.concat([st, dup], ignore_index=True)
    row = ex[ex.row_id == "RatA2020_01"].copy()
    row["study_id"], row["row_id"] = "RatA2021", "RatA2021_01"
    ex = pd.concat([ex, row], ignore_index=True)
    got = flags(ex, st)
    assert ("RatA2020_01", "cohort_counted_twice") in got and ("RatA2021_01", "cohort_counted_twice") in got
    assert ("RatA2020_02", "cohort_counted_twice") not in got   # other mechanism: only one report


def test_secondary_duplicates_primary(tables):
    ex = tables["extracted"].copy()
    prim = ex[ex.row_id == "TrialB2019_03"].copy()
    prim["row_id"], prim["source_kind"], prim["secondary_source"] = "TrialB2019_04", "primary", pd.NA
    ex = pd.concat([ex, prim], ignore_index=True)
    got = plausibility.plausibility_checks(ex, tables["studies"])
    row = got[got.check == "secondary_duplicates_primary"]
    assert row.row_id.tolist() == ["TrialB2019_03"] and "TrialB2019_04" in row.detail.iloc[0]


def test_clinical_threshold_is_stricter(tables):
    ex = tables["extracted"].copy()
    # TrialB2019_03 (clinical): SDs 10, 11 -> 2.5, 2.75 give g = 1.85 (n = 20 + 20): no flag; 2.0, 2.2 give 2.3
    ex.loc[ex.row_id == "TrialB2019_03", ["sd1i", "sd2i"]] = [2.5, 2.75]
    assert ("TrialB2019_03", "sd_sem_confusion") not in flags(ex, tables["studies"])
    ex.loc[ex.row_id == "TrialB2019_03", ["sd1i", "sd2i"]] = [2.0, 2.2]
    got = plausibility.plausibility_checks(ex, tables["studies"])
    d = got[(got.row_id == "TrialB2019_03") & (got.check == "sd_sem_confusion")].detail.tolist()
    assert len(d) == 1 and "> 2 reading" in d[0]
