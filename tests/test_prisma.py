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
    # D16: the stored-web-corpus search ("database" in the log) is "other methods"; only registers
    # stay in the left column. The synthetic log has no register record.
    c = prisma.prisma_counts(screening)
    reg, other = c["databases_registers"], c["other_methods"]
    assert reg.records_identified == 0 and reg.included_studies == 0
    # other methods: all 8 records; as the total
    assert (other.records_identified, other.duplicates_removed, other.screened, other.excluded_screening,
            other.sought, other.not_retrieved, other.assessed, other.excluded_eligibility,
            other.included_reports, other.included_studies) == (8, 1, 7, 1, 6, 1, 5, 1, 4, 3)
    assert "database" in prisma.STREAMS["other_methods"] and prisma.STREAMS["databases_registers"] == ("register",)


def test_register_record_stays_in_the_left_column(screening):
    s = screening.copy()
    s.loc[s.record_id == "S-004", "source_type"] = "register"
    c = prisma.prisma_counts(s)
    assert (c["databases_registers"].records_identified, c["databases_registers"].not_retrieved) == (1, 1)
    assert c["other_methods"].records_identified == 7


def test_included_studies_counted_by_cohort(screening):
    # synthetic: say RatA2020 and SeriesC2018 report one cohort -> 3 study ids, 2 cohorts; reports stay 4
    cohorts = {"RatA2020": "cohortX", "SeriesC2018": "cohortX", "TrialB2019": "TrialB2019"}
    c = prisma.prisma_counts(screening, cohorts=cohorts)["total"]
    assert (c.included_reports, c.included_studies) == (4, 2)
    assert prisma.prisma_counts(screening)["total"].included_studies == 3


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
