"""Loading tables with their schema types (mscreview.data.tables), on the SYNTHETIC fixture."""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscreview.data import tables as tbl, schema

FIX = Path(__file__).parent / "data_synthetic"


def test_load_all_types_from_schema():
    tables = tbl.load_all(FIX)
    assert set(tables) == set(schema.TABLE_NAMES)
    ex = tables["extracted"]
    assert list(ex.columns) == schema.columns("data/extracted.csv")
    assert str(ex["n1i"].dtype) == "Int64"
    assert ex["m1i"].dtype == np.float64
    assert str(ex["higher_is_better"].dtype) == "boolean"
    assert str(ex["row_id"].dtype) == "string"
    assert len(ex) == 11
    first = ex.iloc[0]
    assert first["row_id"] == "RatA2020_01" and first["n1i"] == 10 and first["sd2i"] == 6.0
    assert first["higher_is_better"] is np.False_ or first["higher_is_better"] == False  # noqa: E712
    # empty -> NA
    assert pd.isna(ex.loc[ex.row_id == "RatA2020_05", "m1i"]).all()
    assert pd.isna(ex.loc[ex.row_id == "SeriesC2018_02", "n2i"]).all()
    log = tables["search_log"]
    assert log["date"].iloc[0] == pd.Timestamp("2026-11-26")
    assert str(log["records_seen"].dtype) == "Int64"


@pytest.mark.parametrize("text,type,value", [
    ("", "integer", None), ("12", "integer", 12), ("-3", "integer", -3), ("1.5", "number", 1.5),
    ("-2e-3", "number", -0.002), (".5", "number", 0.5), ("true", "boolean", True), ("false", "boolean", False),
    ("2026-11-26", "date", date(2026, 11, 26)), ("abc", "string", "abc"),
])
def test_parse_value(text, type, value):
    assert tbl.parse_value(text, type) == value


@pytest.mark.parametrize("text,type", [
    ("1.0", "integer"), ("ten", "integer"), ("1,5", "number"), ("nan", "number"), ("inf", "number"),
    ("1_000", "number"), (" 1", "number"), ("True", "boolean"), ("yes", "boolean"), ("2026-13-01", "date"),
    ("26/11/2026", "date"),
])
def test_parse_value_rejects(text, type):
    with pytest.raises(ValueError):
        tbl.parse_value(text, type)


def _copy(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(FIX, root)
    return root


def test_bad_value_raises_with_file_line_column(tmp_path):
    root = _copy(tmp_path)
    p = root / "data/extracted.csv"
    lines = p.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("RatA2020_03,RatA2020,function,rotarod,,,s,true", "RatA2020_03,RatA2020,function,rotarod,,,s,yes")
    p.write_text("".join(lines))
    with pytest.raises(tbl.TableError) as err:
        tbl.load("extracted", root)
    e = err.value
    assert (e.file, e.line, e.column, e.value) == ("data/extracted.csv", 4, "higher_is_better", "yes")
    assert str(e) == "data/extracted.csv:4: column 'higher_is_better': value 'yes' expected true or false"


def test_header_mismatch_raises(tmp_path):
    root = _copy(tmp_path)
    p = root / "review/claims.csv"
    p.write_text(p.read_text().replace("claim_id,claim", "claim_id,claim_text", 1))
    with pytest.raises(tbl.TableError, match=r"review/claims.csv:1: .*missing \['claim'\]; unexpected \['claim_text'\]"):
        tbl.load("claims", root)


def test_field_count_raises(tmp_path):
    root = _copy(tmp_path)
    p = root / "review/search_log.csv"
    p.write_text(p.read_text() + "S-S003,2026-11-26,search/pages,q,1,n,surplus\n")
    with pytest.raises(tbl.TableError, match=r"review/search_log.csv:4: value .* expected 6 fields, found 7"):
        tbl.load("search_log", root)


def test_missing_file_and_unknown_table(tmp_path):
    root = _copy(tmp_path)
    (root / "data/studies.csv").unlink()
    with pytest.raises(FileNotFoundError, match="data/studies.csv"):
        tbl.load("studies", root)
    with pytest.raises(KeyError, match="unknown table"):
        tbl.load("nonsense", root)


def test_multiline_field_line_numbers(tmp_path):
    p = tmp_path / "search_log.csv"
    p.write_text('search_id,date,source,query,records_seen,notes\nS1,2026-11-26,s,"two\nlines",1,\nS2,2026-11-26,s,q,many,\n')
    with pytest.raises(tbl.TableError) as err:
        tbl.read_table(p, "search_log")
    assert (err.value.line, err.value.column, err.value.value) == (4, "records_seen", "many")
    header, rows = tbl.read_raw(p)
    assert [line for line, _ in rows] == [2, 4]
