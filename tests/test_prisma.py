"""PRISMA 2020 counts from a SYNTHETIC screening log (tests/data_synthetic), counted by hand."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mscreview.data import tables as tbl, prisma

FIX = Path(__file__).parent / "data_synthetic"


@pytest.fixture
def screening():
    return tbl.load("screening", FIX)


def test_total_counts_by_hand(screening):
    # S-001 reading_list included (RatA2020); S-002 database duplicate of S-001; S-003 database
    # excluded at screening (review); S-004 database sought, not retrieved; S-005 review_reference
    # assessed, excluded not_msc; S-006 review_reference included (TrialB2019); S-007 citation_search
    # included (SeriesC2018); S-008 database included, 2nd report of TrialB2019.
    c = prisma.prisma_counts(screening)["total"]
    assert c.identified == {"database": 4, "register": 0, "reading_list": 1, "review_reference": 2,
                            "citation_search": 1}
    assert c.records_identified == 8
    assert c.duplicates_removed == 1
    assert c.screened == 7
    assert c.excluded_screening == 1
    assert c.sought == 6
    assert c.not_retrieved == 1
    assert c.assessed == 5
    assert c.excluded_eligibility == 1
    assert c.excluded_reasons == {"not_msc": 1}
    assert c.included_reports == 4
    assert c.included_studies == 3
    assert (c.unresolved_screening, c.unresolved_retrieval, c.unresolved_eligibility) == (0, 0, 0)


def test_streams_by_hand(screening):
    c = prisma.prisma_counts(screening)
    db, other = c["databases_registers"], c["other_methods"]
    # databases: S-002 (dup), S-003 (excluded), S-004 (not retrieved), S-008 (included report of TrialB2019)
    assert (db.records_identified, db.duplicates_removed, db.screened, db.excluded_screening, db.sought,
            db.not_retrieved, db.assessed, db.included_reports, db.included_studies) == (4, 1, 3, 1, 2, 1, 1, 1, 1)
    # other methods: S-001, S-005, S-006, S-007
    assert (other.records_identified, other.screened, other.sought, other.assessed, other.excluded_eligibility,
            other.included_reports, other.included_studies) == (4, 4, 4, 4, 1, 3, 3)


def test_unresolved_records_are_counted_not_dropped(screening):
    s = screening.copy()
    s.loc[s.record_id == "S-005", "eligibility_decision"] = pd.NA
    s.loc[s.record_id == "S-003", "screen_decision"] = pd.NA
    c = prisma.prisma_counts(s)["total"]
    assert c.unresolved_eligibility == 1 and c.assessed == 5 and c.excluded_eligibility == 0
    assert c.unresolved_screening == 1 and c.excluded_screening == 0 and c.screened == 7


def test_to_frame_long_format(screening):
    f = prisma.prisma_counts(screening)["total"].to_frame()
    assert list(f.columns) == ["stream", "stage", "detail", "n"]
    row = f[(f.stage == "excluded_reason") & (f.detail == "not_msc")]
    assert row["n"].tolist() == [1]
    assert f.loc[f.stage == "included_studies", "n"].tolist() == [3]


def test_missing_column_is_a_clear_error(screening):
    with pytest.raises(ValueError, match="retrieval"):
        prisma.prisma_counts(screening.drop(columns=["retrieval"]))
