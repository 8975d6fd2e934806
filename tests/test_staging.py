"""Merging staging batches: concatenation, sorting, logged normalisation, nothing silently dropped.

The batches are made from the SYNTHETIC fixture (tests/data_synthetic), split in two.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from mscreview.data import staging, schema
from mscreview.data.validate import validate

FIX = Path(__file__).parent / "data_synthetic"


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


@pytest.fixture
def staged(tmp_path):
    """Batch B gets the rows of TrialB2019 / SeriesC2018 (and odd search/screening rows); A the rest."""
    root = tmp_path / "repo"
    for table in schema.TABLES:
        rows = _rows(FIX / table)
        header, body = rows[0], rows[1:]
        in_b = [r for i, r in enumerate(body) if ("Trial" in r[0] or "Series" in r[0] or i % 2 == 1)]
        in_a = [r for r in body if r not in in_b]
        name = Path(table).name
        _write(root / "data/staging/A" / name, [header] + in_a[::-1])    # reversed: merge must sort
        _write(root / "data/staging/B" / name, [header] + in_b)
    return root


def test_merge_reproduces_the_fixture(staged):
    res = staging.merge(staged)
    assert res.log == []
    staging.write(res, staged)
    for table in schema.TABLES:
        got, want = _rows(staged / table), _rows(FIX / table)
        assert got[0] == want[0]
        key = schema.PRIMARY_KEYS[table]
        if table == "data/risk_of_bias.csv":
            assert got == want        # sorted by study, tool, then the tool's domain order
        else:
            idx = [got[0].index(k) for k in key]
            assert sorted(got[1:]) == sorted(want[1:])
            ids = [tuple(r[i] for i in idx) for r in got[1:]]
            assert ids == sorted(ids, key=lambda t: [staging._natural(x) for x in t])
    assert validate(staged) == []
    assert _rows(staged / staging.LOG_FILE) == [["batch", "file", "line", "column", "action", "before", "after"]]


def _edit(path, key, column, value):
    rows = _rows(path)
    j = rows[0].index(column)
    for r in rows[1:]:
        if r[0] == key:
            r[j] = value
    _write(path, rows)


def test_mechanical_normalisation_is_logged(staged):
    b = staged / "data/staging/B/extracted.csv"
    _edit(b, "TrialB2019_03", "dispersion_type", "sd")
    _edit(b, "TrialB2019_03", "higher_is_better", "TRUE")
    _edit(b, "TrialB2019_03", "outcome", " GMFM-88 ")
    res = staging.merge(staged)
    norm = {(e.file, e.column, e.before, e.after) for e in res.log if e.action == "normalised"}
    assert norm == {("extracted.csv", "dispersion_type", "sd", "SD"), ("extracted.csv", "higher_is_better", "TRUE", "true"),
                    ("extracted.csv", "outcome", " GMFM-88 ", "GMFM-88")}
    line = [e.line for e in res.log][0]
    assert _rows(b)[line - 1][0] == "TrialB2019_03"     # the log points at the staging line
    row = [r for r in res.tables["data/extracted.csv"] if r["row_id"] == "TrialB2019_03"][0]
    assert (row["dispersion_type"], row["higher_is_better"], row["outcome"]) == ("SD", "true", "GMFM-88")


def test_vocabulary_mismatch_reported_not_changed(staged, capsys):
    b = staged / "data/staging/B/extracted.csv"
    _edit(b, "TrialB2019_03", "mechanism", "motor function")
    res = staging.merge(staged)
    (e,) = res.log
    assert e.action == "reported" and e.column == "mechanism" and "not in vocabulary" in e.before
    row = [r for r in res.tables["data/extracted.csv"] if r["row_id"] == "TrialB2019_03"][0]
    assert row["mechanism"] == "motor function"
    assert staging.main(["--root", str(staged), "--quiet"]) == 1
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if "motor function" in x]
    assert len(lines) == 1 and lines[0].startswith("data/extracted.csv:")
    staging_line = [r[0] for r in _rows(b)].index("TrialB2019_03") + 1
    assert lines[0].endswith(f"<- data/staging/B/extracted.csv:{staging_line}")


def test_duplicates_identical_dropped_conflicting_kept(staged):
    a, b = staged / "data/staging/A/studies.csv", staged / "data/staging/B/studies.csv"
    rows_b = _rows(b)
    trial = [r for r in rows_b if r[0] == "TrialB2019"][0]
    rows_a = _rows(a)
    _write(a, rows_a + [trial])                                       # identical copy in A
    res = staging.merge(staged)
    assert [e.action for e in res.log] == ["dropped_identical_duplicate"]
    assert sum(r["study_id"] == "TrialB2019" for r in res.tables["data/studies.csv"]) == 1
    changed = list(trial)
    changed[rows_b[0].index("country")] = "Atlantis"
    _write(a, rows_a + [changed])                                     # conflicting copy in A
    res = staging.merge(staged)
    (e,) = res.log
    assert e.action == "conflict" and e.column == "country" and "data/staging/A/studies.csv" in e.before
    assert sum(r["study_id"] == "TrialB2019" for r in res.tables["data/studies.csv"]) == 2
    staging.write(res, staged)
    assert ("data/studies.csv", "study_id") in {(v.file, v.column) for v in validate(staged)}


def test_header_problems_reported(staged):
    b = staged / "data/staging/A/claims.csv"
    rows = _rows(b)
    rows[0][rows[0].index("why")] = "reason"
    _write(b, rows)
    res = staging.merge(staged)
    msgs = [e for e in res.log if e.file == "claims.csv"]
    assert msgs[0].line == 1 and "missing ['why']" in msgs[0].before and "unexpected ['reason']" in msgs[0].before
    assert any(e.column == "reason" and "not merged" in e.after for e in msgs)


def test_dry_run_writes_nothing(staged):
    assert staging.main(["--root", str(staged), "--dry-run", "--quiet"]) == 0
    assert not (staged / "data/studies.csv").exists()


def test_unknown_csv_in_a_batch_is_reported(staged):
    _write(staged / "data/staging/A/extra_rows.csv", [["row_id"], ["X_01"]])
    res = staging.merge(staged)
    (e,) = res.log
    assert (e.batch, e.file, e.action) == ("A", "extra_rows.csv", "skipped_file")


def test_update_files_applied_only_when_asked(staged):
    _write(staged / "data/staging/B/studies_updates.csv",
           [["study_id", "column", "new_value", "reason"], ["RatA2020", "country", "Narnia", "read in Methods"],
            ["Ghost2000", "country", "X", "no such study"], ["RatA2020", "colour", "red", "no such column"]])
    _write(staged / "data/staging/B/supersedes.csv",
           [["old_row_id", "new_row_id", "reason"], ["RatA2020_01", "RatA2020_02", "better row"],
            ["RatA2020_99", "RatA2020_02", "missing"]])
    res = staging.merge(staged)
    assert sorted((e.file, e.action) for e in res.log) == [("studies_updates.csv", "skipped_file"),
                                                          ("supersedes.csv", "skipped_file")]
    res = staging.merge(staged, apply_updates=True)
    acts = [(e.file, e.line, e.action, e.column) for e in res.log]
    assert acts == [("studies_updates.csv", 2, "updated", "country"), ("studies_updates.csv", 3, "reported", "country"),
                    ("studies_updates.csv", 4, "reported", "colour"), ("supersedes.csv", 2, "superseded", "row_id"),
                    ("supersedes.csv", 3, "reported", "row_id")]
    assert [r["country"] for r in res.tables["data/studies.csv"] if r["study_id"] == "RatA2020"] == ["Narnia"]
    ids = [r["row_id"] for r in res.tables["data/extracted.csv"]]
    assert "RatA2020_01" not in ids and len(ids) == 10
    assert len(res.origins["data/extracted.csv"]) == 10


def test_refuses_without_batches(tmp_path):
    """Without staging folders the merge would write empty tables over the committed ones: refuse."""
    import pytest
    from mscreview.data import staging
    with pytest.raises(ValueError, match="no batch folders"):
        staging.merge(tmp_path)
    (tmp_path / "data" / "staging").mkdir(parents=True)
    with pytest.raises(ValueError, match="no batch folders"):
        staging.merge(tmp_path)
