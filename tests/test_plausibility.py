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
    assert d == "g = -1.73 if SD, -0.55 if SEM: dispersion type not stated"


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


# ---------------------------------------------------------------------------
# protocol 9.3: the missing checks, decisions and the printed finding
# ---------------------------------------------------------------------------

def test_sem_sized_sd_in_a_clinical_row_names_its_row(tables):
    # SYNTHETIC: TrialB2019_03 (clinical) with SEM-sized values typed as SD. Means 60 vs 55, n 20 + 20;
    # SDs 2.0 and 2.2 give d = 5 / sqrt((4 + 4.84) / 2) = 5 / 2.1024 = 2.378, J = 1 - 3 / (4 * 38 - 1) = 0.98013,
    # g = 2.331 > 2 (clinical threshold)
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "TrialB2019_03", ["m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"]] = [60, 55, 2.0, 2.2, 20, 20]
    got = plausibility.plausibility_checks(ex, tables["studies"])
    row = got[(got.row_id == "TrialB2019_03") & (got.check == "sd_sem_confusion")]
    assert len(row) == 1
    assert "|g| = 2.33 > 2" in row.problem.iloc[0] and "clinical" in row.problem.iloc[0]
    assert "sd1i = 2" in row["values"].iloc[0]
    line = plausibility.format_finding({"file": "data/extracted.csv", "line": 9, "status": "open", "reason": "",
                                        **row.iloc[0].to_dict()})
    assert line.startswith("data/extracted.csv:9: row_id TrialB2019_03: sd_sem_confusion: m1i = 60, sd1i = 2")


def test_direction_contradicting_the_rows_numbers(tables):
    ex = tables["extracted"].copy()
    # RatA2020_01: lesion volume (lower is better), m1i < m2i favours MSC; stating favours_control contradicts it
    r = ex[ex.row_id == "RatA2020_01"].iloc[0]
    assert r.m1i < r.m2i and not r.higher_is_better
    ex.loc[ex.row_id == "RatA2020_01", "direction"] = "favours_control"
    got = plausibility.plausibility_checks(ex, tables["studies"])
    row = got[got.check == "direction_contradicts_numbers"]
    assert row.row_id.tolist() == ["RatA2020_01"] and "favour MSC" in row.problem.iloc[0]
    ex.loc[ex.row_id == "RatA2020_01", "direction"] = "favours_msc"    # agrees: no finding
    assert "direction_contradicts_numbers" not in set(plausibility.plausibility_checks(ex, tables["studies"]).check)


def test_n_per_arm_above_study_total(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "RatA2020_02", "n1i"] = 25      # one arm alone above n_total 20
    got = plausibility.plausibility_checks(ex, tables["studies"])
    row = got[(got.row_id == "RatA2020_02") & (got.check == "n_exceeds_total")]
    assert len(row) == 1 and "n_total = 20" in row["values"].iloc[0]


def _copy_fixture(tmp_path):
    import shutil
    root = tmp_path / "repo"
    shutil.copytree(FIX, root)
    (root / "review").mkdir(exist_ok=True)
    return root


def test_decisions_accept_findings_and_are_validated(tmp_path):
    root = _copy_fixture(tmp_path)
    f, stale, bad = plausibility.findings(root)
    assert list(zip(f.row_id, f.check, f.status)) == [("TrialB2019_01", "change_without_baseline", "open")]
    assert f.line.iloc[0] > 1 and f.file.iloc[0] == "data/extracted.csv"
    (root / "review" / "plausibility.csv").write_text(
        "check,row_id,decision,reason,date\n"
        "change_without_baseline,TrialB2019_01,accepted,reported MD of change with its CI,2026-11-30\n"
        "sd_sem_confusion,RatA2020_01,accepted,stale on purpose,2026-11-30\n")
    f, stale, bad = plausibility.findings(root)
    assert f.status.tolist() == ["accepted"] and bad == []
    assert stale.row_id.tolist() == ["RatA2020_01"]
    assert "accepted (reported MD of change with its CI)" in plausibility.format_finding(f.iloc[0].to_dict())
    out = []
    assert plausibility.main(["--root", str(root)], log=out.append) == 0
    assert out[-1].startswith("0 plausibility findings open")
    (root / "review" / "plausibility.csv").write_text(
        "check,row_id,decision,reason,date\n"
        "not_a_check,NoSuchRow_01,maybe,,30/11/2026\n")
    _, _, bad = plausibility.findings(root)
    assert {(v.line, v.column) for v in bad} == {(2, "check"), (2, "row_id"), (2, "decision"), (2, "reason"),
                                                 (2, "date")}
    assert plausibility.main(["--root", str(root)], log=out.append) == 1


def test_validate_cli_prints_open_count(tmp_path, capsys):
    from mscreview.__main__ import main
    root = _copy_fixture(tmp_path)
    assert main(["validate", "--root", str(root)]) == 0     # findings never fail validation
    out = capsys.readouterr().out
    assert "data/extracted.csv:" in out and "row_id TrialB2019_01: change_without_baseline" in out
    assert "1 plausibility findings open" in out
