"""The validator: clean data pass, and each kind of broken copy is caught at the right place.

The battery mutates copies of ``tests/data_synthetic`` (a SYNTHETIC fixture, invented values,
clean by construction) and of the committed tables. Each case asserts the exact set of
(file, line, column) the validator reports, so a rule that fires in the wrong place, fires
twice, or stays silent fails the test.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from mscreview import paths
from mscreview.data import schema
from mscreview.data.validate import Violation, main, validate

FIX = Path(__file__).parent / "data_synthetic"

EX, ST, ROB, SCR, LOG, CLA = ("data/extracted.csv", "data/studies.csv", "data/risk_of_bias.csv",
                              "review/screening.csv", "review/search_log.csv", "review/claims.csv")


# ---------------------------------------------------------------------------
# helpers: copy a fixture, edit one cell by the row's key, rewrite
# ---------------------------------------------------------------------------

def _read(root: Path, table: str):
    with (root / table).open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write(root: Path, table: str, rows):
    with (root / table).open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _find(rows, key):
    """Index of the first row whose first field is ``key`` (or whose fields match a tuple prefix)."""
    for i, r in enumerate(rows):
        if i and (r[0] == key if isinstance(key, str) else tuple(r[: len(key)]) == key):
            return i
    raise KeyError(key)


def set_cell(root, table, key, column, value):
    rows = _read(root, table)
    rows[_find(rows, key)][rows[0].index(column)] = value
    _write(root, table, rows)


def where(violations):
    return {(v.file, v.line, v.column) for v in violations}


@pytest.fixture
def synth(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(FIX, root)
    return root


def test_synthetic_fixture_is_clean():
    assert validate(FIX) == []


# ---------------------------------------------------------------------------
# the battery: (id, mutation, expected {(file, line, column)})
# Line numbers: the header is line 1; fixture rows are one line each.
# extracted: RatA2020_01..06 -> lines 2..7, TrialB2019_01..03 -> 8..10, SeriesC2018_01..02 -> 11..12
# studies: RatA2020 2, TrialB2019 3, SeriesC2018 4; screening: S-001..S-008 -> 2..9
# risk_of_bias: RatA2020 SYRCLE lines 2..11, TrialB2019 RoB2 lines 12..17
# ---------------------------------------------------------------------------

def cell(table, key, column, value):
    return lambda root: set_cell(root, table, key, column, value)


def _delete_file(table):
    return lambda root: (root / table).unlink()


def _drop_column(table, column):
    def f(root):
        rows = _read(root, table)
        j = rows[0].index(column)
        _write(root, table, [r[:j] + r[j + 1:] for r in rows])
    return f


def _add_column(table, column):
    def f(root):
        rows = _read(root, table)
        _write(root, table, [rows[0] + [column]] + [r + [""] for r in rows[1:]])
    return f


def _extra_field(table, key):
    def f(root):
        rows = _read(root, table)
        rows[_find(rows, key)].append("surplus")
        _write(root, table, rows)
    return f


def _duplicate_row_id(root):
    rows = _read(root, EX)
    i = _find(rows, "RatA2020_03")
    rows[i][0] = "RatA2020_02"
    _write(root, EX, rows)


def _unknown_study_in_extracted(root):
    set_cell(root, EX, "SeriesC2018_02", "study_id", "Nope2020")
    set_cell(root, EX, "SeriesC2018_02", "row_id", "Nope2020_01")


def _delete_rob_domain(root):
    rows = _read(root, ROB)
    del rows[_find(rows, ("TrialB2019", "RoB2", "measurement"))]
    _write(root, ROB, rows)


def _delete_rob_study(study_id):
    def f(root):
        rows = _read(root, ROB)
        _write(root, ROB, [r for i, r in enumerate(rows) if i == 0 or r[0] != study_id])
    return f


def _add_study_without_screening(root):
    rows = _read(root, ST)
    new = list(rows[_find(rows, "SeriesC2018")])
    new[0] = "SeriesD2017"
    new[rows[0].index("cohort_id")] = "SeriesD2017"
    rows.append(new)
    _write(root, ST, rows)


def _multiline_then_error(root):
    # a quoted newline in row 1 shifts every later row by one line
    set_cell(root, EX, "RatA2020_01", "notes", "first line\nsecond line")
    set_cell(root, EX, "RatA2020_02", "sd1i", "-2")


def _many(*fs):
    def f(root):
        for g in fs:
            g(root)
    return f


OVG = "review/overlap_groups.csv"

CASES = [
    ("missing_file", _delete_file(CLA), {(CLA, 0, "")}),
    ("overlap_unknown_study", cell(OVG, "OV01", "study_ids", "TrialB2019;Nope2020"), {(OVG, 2, "study_ids")}),
    ("overlap_single_report", cell(OVG, "OV01", "study_ids", "TrialB2019"), {(OVG, 2, "study_ids")}),
    ("overlap_validated_boolean", cell(OVG, "OV01", "validated", "maybe"), {(OVG, 2, "validated")}),
    ("missing_column", _drop_column(EX, "notes"), {(EX, 1, "notes")}),
    ("unexpected_column", _add_column(ST, "favourite_colour"), {(ST, 1, "favourite_colour")}),
    ("field_count", _extra_field(EX, "RatA2020_04"), {(EX, 5, "")}),
    ("integer_type", cell(EX, "RatA2020_01", "n1i", "ten"), {(EX, 2, "n1i")}),
    ("integer_not_decimal", cell(EX, "RatA2020_01", "n2i", "10.5"), {(EX, 2, "n2i")}),
    ("number_type", cell(EX, "RatA2020_01", "m1i", "2O"), {(EX, 2, "m1i")}),
    ("boolean_type", cell(EX, "RatA2020_02", "higher_is_better", "no"), {(EX, 3, "higher_is_better")}),
    ("date_type", cell(LOG, "S-S002", "date", "26/11/2026"), {(LOG, 3, "date")}),
    ("required_empty", cell(ST, "TrialB2019", "citation", ""), {(ST, 3, "citation")}),
    ("vocabulary", cell(EX, "RatA2020_02", "mechanism", "apoptosis"), {(EX, 3, "mechanism")}),
    ("vocabulary_case", cell(EX, "RatA2020_01", "dispersion_type", "sd"), {(EX, 2, "dispersion_type")}),
    ("vocabulary_study", cell(ST, "SeriesC2018", "msc_source", "fat"), {(ST, 4, "msc_source")}),
    ("whitespace", cell(EX, "RatA2020_02", "outcome", " TUNEL"), {(EX, 3, "outcome")}),
    ("duplicate_id", _duplicate_row_id, {(EX, 4, "row_id")}),
    ("fk_extracted_study", _unknown_study_in_extracted, {(EX, 12, "study_id")}),
    ("fk_rob_study", cell(ROB, ("RatA2020", "SYRCLE", "other_bias"), "study_id", "Ghost2000"),
     {(ROB, 11, "study_id"), (ROB, 11, "domain"), (ROB, 2, "domain")}),  # Ghost2000 incomplete, RatA2020 lacks other_bias
    ("fk_screening_study", cell(SCR, "S-008", "study_id", "Ghost2000"), {(SCR, 9, "study_id")}),
    ("fk_duplicate_of", cell(SCR, "S-002", "duplicate_of", "S-999"), {(SCR, 3, "duplicate_of")}),
    ("fk_search_id", cell(SCR, "S-003", "search_id", "S-S999"), {(SCR, 4, "search_id")}),
    ("fk_claims_study_ids", cell(CLA, "C1", "study_ids", "TrialB2019;Ghost2000"), {(CLA, 2, "study_ids")}),
    ("n_zero", cell(EX, "RatA2020_01", "n1i", "0"), {(EX, 2, "n1i")}),
    ("sd_negative", cell(EX, "RatA2020_02", "sd1i", "-2"), {(EX, 3, "sd1i")}),
    ("sd_zero", cell(EX, "TrialB2019_03", "sd2i", "0"), {(EX, 10, "sd2i")}),
    ("events_negative", cell(EX, "TrialB2019_02", "x2i", "-1"), {(EX, 9, "x2i")}),
    ("timepoint_negative", cell(EX, "RatA2020_03", "timepoint", "-7"), {(EX, 4, "timepoint")}),
    ("records_seen_negative", cell(LOG, "S-S001", "records_seen", "-1"), {(LOG, 2, "records_seen")}),
    ("numeric_without_numbers", cell(EX, "RatA2020_01", "m2i", ""), {(EX, 2, "data_availability")}),
    ("figure_only_with_numbers", cell(EX, "RatA2020_05", "m1i", "3.2"), {(EX, 6, "m1i")}),
    ("direction_only_with_numbers", cell(EX, "RatA2020_06", "effect", "0.5"), {(EX, 7, "effect"), (EX, 7, "effect_type")}),
    ("direction_only_without_direction", cell(EX, "RatA2020_06", "direction", ""), {(EX, 7, "direction")}),
    ("mean_outside_ci", cell(EX, "RatA2020_03", "m1i", "75"), {(EX, 4, "m1i")}),
    ("bounds_reversed", cell(EX, "RatA2020_04", "lo2i", "9"), {(EX, 5, "hi2i")}),
    ("effect_outside_ci", cell(EX, "TrialB2019_01", "effect", "12"), {(EX, 8, "effect")}),
    ("effect_ci_reversed", cell(EX, "TrialB2019_01", "effect_ci_low", "10"), {(EX, 8, "effect_ci_high")}),
    ("effect_without_type", cell(EX, "TrialB2019_01", "effect_type", ""), {(EX, 8, "effect_type")}),
    ("ci_without_effect", cell(EX, "TrialB2019_01", "effect", ""), {(EX, 8, "effect"), (EX, 8, "data_availability")}),
    ("events_exceed_n", cell(EX, "TrialB2019_02", "x1i", "25"), {(EX, 9, "x1i")}),
    ("sd_without_dispersion_type", cell(EX, "RatA2020_01", "dispersion_type", ""), {(EX, 2, "dispersion_type")}),
    ("sd_with_bounds_type", cell(EX, "RatA2020_04", "sd1i", "1.1"), {(EX, 5, "dispersion_type")}),
    ("bounds_with_sd_type", cell(EX, "RatA2020_02", "lo1i", "4"), {(EX, 3, "dispersion_type")}),
    ("pre_post_n_differ", cell(EX, "SeriesC2018_01", "n2i", "9"), {(EX, 11, "n2i")}),
    ("secondary_without_source", cell(EX, "TrialB2019_03", "secondary_source", ""), {(EX, 10, "secondary_source")}),
    ("primary_with_secondary_source", cell(EX, "TrialB2019_02", "secondary_source", "Xie2020 Table 3"),
     {(EX, 9, "secondary_source")}),
    ("row_id_prefix", cell(EX, "TrialB2019_02", "row_id", "TrialB2020_02"), {(EX, 9, "row_id")}),
    ("control_group_prefix", cell(EX, "RatA2020_01", "control_group_id", "vehicle"), {(EX, 2, "control_group_id")}),
    ("control_group_missing", cell(EX, "TrialB2019_02", "control_group_id", ""), {(EX, 9, "control_group_id")}),
    ("timepoint_without_unit", cell(EX, "RatA2020_02", "timepoint_unit", ""), {(EX, 3, "timepoint_unit")}),
    ("unit_without_timepoint", cell(EX, "RatA2020_02", "timepoint", ""), {(EX, 3, "timepoint")}),
    ("higher_is_better_missing", cell(EX, "SeriesC2018_01", "higher_is_better", ""), {(EX, 11, "higher_is_better")}),
    ("url_source", cell(EX, "RatA2020_01", "source_url", "www.example.org/rata"), {(EX, 2, "source_url")}),
    ("url_separator", cell(ST, "RatA2020", "urls_read", "https://example.org/a; https://example.org/b"),
     {(ST, 2, "urls_read")}),
    ("url_rob", cell(ROB, ("TrialB2019", "RoB2", "overall"), "source_url", "see paper"), {(ROB, 17, "source_url")}),
    ("doi_prefix", cell(ST, "RatA2020", "doi", "https://doi.org/10.1000/synthetic.1"), {(ST, 2, "doi")}),
    ("pmcid_format", cell(ST, "TrialB2019", "pmcid", "1234567"), {(ST, 3, "pmcid")}),
    ("pmid_format", cell(ST, "TrialB2019", "pmid", "PMID:12345678"), {(ST, 3, "pmid")}),
    ("rob_domain_of_other_tool", cell(ROB, ("TrialB2019", "RoB2", "missing_data"), "domain", "random_housing"),
     {(ROB, 12, "domain"), (ROB, 14, "domain")}),
    ("rob_judgement_of_other_tool", cell(ROB, ("RatA2020", "SYRCLE", "random_housing"), "judgement", "some_concerns"),
     {(ROB, 5, "judgement")}),
    ("rob_domain_missing", _delete_rob_domain, {(ROB, 12, "domain")}),
    # RoB 2 overall by the algorithm (protocol 9.8): domains some/low/low/some/low -> some_concerns
    ("rob2_overall_not_derived", cell(ROB, ("TrialB2019", "RoB2", "overall"), "judgement", "low"),
     {(ROB, 17, "judgement")}),
    ("rob2_domain_high_overall_not", cell(ROB, ("TrialB2019", "RoB2", "deviations"), "judgement", "high"),
     {(ROB, 17, "judgement")}),     # any high domain -> overall high
    ("rob2_three_some_concerns", cell(ROB, ("TrialB2019", "RoB2", "missing_data"), "judgement", "some_concerns"),
     {(ROB, 17, "judgement")}),     # three domains with some concerns -> overall high
    ("rob2_no_information_domain", cell(ROB, ("TrialB2019", "RoB2", "randomisation"), "judgement", "no_information"),
     {(ROB, 12, "judgement")}),     # not a RoB 2 domain judgement

    ("rob_tool_does_not_fit_design", cell(ST, "TrialB2019", "design", "nrsi_controlled"),
     {(ROB, 12, "tool"), (ST, 3, "study_id")}),   # RoB2 rows for a study that now needs ROBINS-I
    ("rob_not_assessed", _delete_rob_study("RatA2020"), {(ST, 2, "study_id")}),
    ("study_not_msc_product", cell(ST, "SeriesC2018", "product", "not_msc"), {(ST, 4, "product")}),
    ("study_source_not_applicable", cell(ST, "SeriesC2018", "msc_source", "not_applicable"), {(ST, 4, "msc_source")}),
    ("design_does_not_fit_population", cell(ST, "SeriesC2018", "design", "animal_controlled"), {(ST, 4, "design")}),
    ("single_arm_events_with_arm2", cell(EX, "SeriesC2018_02", "x2i", "1"), {(EX, 12, "x2i")}),
    ("rob_duplicate_domain", cell(ROB, ("RatA2020", "SYRCLE", "other_bias"), "domain", "selective_reporting"),
     {(ROB, 11, "domain"), (ROB, 2, "domain")}),
    ("screening_duplicate_with_decision", cell(SCR, "S-002", "screen_decision", "include"), {(SCR, 3, "screen_decision")}),
    ("screening_duplicate_of_itself", cell(SCR, "S-002", "duplicate_of", "S-002"), {(SCR, 3, "duplicate_of")}),
    ("screening_not_screened", cell(SCR, "S-003", "screen_decision", ""), {(SCR, 4, "screen_decision")}),
    ("screening_exclusion_without_reason", cell(SCR, "S-003", "exclusion_reason", ""), {(SCR, 4, "exclusion_reason")}),
    ("screening_eligibility_exclusion_without_reason", cell(SCR, "S-005", "exclusion_reason", ""),
     {(SCR, 6, "exclusion_reason")}),
    ("screening_included_without_study", cell(SCR, "S-007", "study_id", ""), {(SCR, 8, "study_id"), (ST, 4, "study_id")}),
    ("screening_included_with_reason", cell(SCR, "S-006", "exclusion_reason", "other"), {(SCR, 7, "exclusion_reason")}),
    ("screening_assessed_not_retrieved", cell(SCR, "S-004", "eligibility_decision", "include"),
     {(SCR, 5, "eligibility_decision"), (SCR, 5, "study_id")}),
    ("screening_retrieved_not_assessed", cell(SCR, "S-005", "eligibility_decision", ""),
     {(SCR, 6, "eligibility_decision")}),
    ("screening_excluded_but_retrieved", cell(SCR, "S-003", "retrieval", "full_text"), {(SCR, 4, "retrieval")}),
    ("study_without_screening_record", _add_study_without_screening, {(ST, 5, "study_id")}),
    ("multiline_field_shifts_lines", _multiline_then_error, {(EX, 4, "sd1i")}),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_copy_is_caught_at_the_right_place(synth, mutate, expected):
    mutate(synth)
    assert where(validate(synth)) == expected


def test_battery_has_at_least_25_kinds():
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)


def test_digitised_figure_numbers_are_allowed(synth):
    set_cell(synth, EX, "RatA2020_05", "m1i", "3.2")
    set_cell(synth, EX, "RatA2020_05", "notes", "Digitised from Fig 3 with WebPlotDigitizer")
    assert validate(synth) == []


def test_unstated_dispersion_allowed_with_note(synth):
    set_cell(synth, EX, "RatA2020_01", "dispersion_type", "")
    set_cell(synth, EX, "RatA2020_01", "notes", "dispersion type not stated")
    assert validate(synth) == []


def test_nothing_silently_dropped_when_many_errors(synth):
    """Ten independent errors in four files give exactly ten violations."""
    _many(
        cell(EX, "RatA2020_01", "n1i", "0"),
        cell(EX, "RatA2020_02", "sd2i", "-1"),
        cell(EX, "RatA2020_03", "mechanism", "magic"),
        cell(EX, "TrialB2019_02", "x1i", "21"),
        cell(EX, "SeriesC2018_01", "n2i", "11"),
        cell(ST, "RatA2020", "route", "oral"),
        cell(ST, "SeriesC2018", "year", "2018a"),
        cell(SCR, "S-003", "exclusion_reason", ""),
        cell(LOG, "S-S001", "records_seen", "many"),
        cell(CLA, "C1", "verdict", "true"),
    )(synth)
    got = validate(synth)
    assert len(got) == 10
    assert where(got) == {(EX, 2, "n1i"), (EX, 3, "sd2i"), (EX, 4, "mechanism"), (EX, 9, "x1i"), (EX, 11, "n2i"),
                          (ST, 2, "route"), (ST, 4, "year"), (SCR, 4, "exclusion_reason"), (LOG, 2, "records_seen"),
                          (CLA, 2, "verdict")}


def test_violation_message_format(synth):
    set_cell(synth, EX, "RatA2020_02", "sd1i", "-2")
    (v,) = validate(synth)
    assert v == Violation(EX, 3, "sd1i", "-2", "a number > 0")
    assert str(v) == "data/extracted.csv:3: column 'sd1i': value '-2' expected a number > 0"


def test_main_exit_codes_and_output(synth, capsys):
    assert main(["--root", str(synth)]) == 0
    assert "OK: 0 violations" in capsys.readouterr().out
    set_cell(synth, EX, "RatA2020_01", "n1i", "0")
    assert main(["--root", str(synth)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "data/extracted.csv:2: column 'n1i': value '0' expected an integer > 0"
    assert out[-1] == "1 violation(s): data/extracted.csv 1"


def test_every_vocabulary_column_is_checked(synth):
    """Each column with a vocabulary rejects an unknown value at its own cell (no column skipped)."""
    firsts = {EX: "RatA2020_01", ST: "RatA2020", ROB: ("RatA2020", "SYRCLE", "sequence_generation"),
              SCR: "S-001", LOG: "S-S001", CLA: "C1", "review/published_estimates.csv": "PUB-001"}
    for table, cols in schema.TABLES.items():
        for c in cols:
            if c.vocabulary is None:
                continue
            root = synth.parent / f"v_{table.replace('/', '_')}_{c.name}"
            shutil.copytree(synth, root)
            set_cell(root, table, firsts[table], c.name, "no_such_value")
            got = where(validate(root))
            assert (table, 2, c.name) in got, (table, c.name, got)


# ---------------------------------------------------------------------------
# the committed tables
# ---------------------------------------------------------------------------

def test_every_committed_table_exists():
    """The committed review has every table of the schema (no test below may pass by absence)."""
    missing = [t for t in schema.TABLES if not (paths.ROOT / t).exists()]
    assert missing == []


def test_committed_data_has_zero_violations():
    violations = validate(paths.ROOT)
    assert violations == [], "\n".join(map(str, violations[:30]))


@pytest.fixture
def real(tmp_path):
    root = tmp_path / "real"
    for t in schema.TABLES:
        (root / t).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(paths.ROOT / t, root / t)
    return root


def _first_key(root, table, pred=lambda header, r: True):
    rows = _read(root, table)
    for i, r in enumerate(rows[1:], start=1):
        if pred(rows[0], r):
            return i, r
    pytest.fail(f"no row of {table} fits the mutation")


def _line_of(root, table, index):
    """File line of data row ``index`` (1-based in the csv.reader list), counting quoted newlines."""
    with (root / table).open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        prev = 0
        for i, _ in enumerate(reader):
            if i == index:
                return prev + 1
            prev = reader.line_num
    raise IndexError(index)


def _numeric_row(h, r):
    return r[h.index("data_availability")] == "numeric" and r[h.index("n1i")] != ""


@pytest.mark.parametrize("table,column,value,pred", [
    (EX, "n1i", "0", _numeric_row),
    (EX, "mechanism", "apoptosis", lambda h, r: True),
    (EX, "study_id", "Ghost1999", lambda h, r: True),
    (ST, "population", "mice", lambda h, r: True),
    (SCR, "search_id", "NOPE-S999", lambda h, r: r[h.index("search_id")] != ""),
    (LOG, "date", "yesterday", lambda h, r: True),
])
def test_mutated_real_tables_are_caught(real, table, column, value, pred):
    baseline = where(validate(real))
    i, r = _first_key(real, table, pred)
    rows = _read(real, table)
    rows[i][rows[0].index(column)] = value
    _write(real, table, rows)
    new = where(validate(real)) - baseline
    assert (table, _line_of(real, table, i), column) in new


@pytest.mark.parametrize("note,ok", [
    ("Digitised from Fig 3 with WebPlotDigitizer", True),
    ("means digitized from Fig 2B (WebPlotDigitizer 4.6)", True),
    ("Values only in the figure (not digitised)", False),
    ("not yet digitised", False),
    ("undigitised figure", False),
    ("", False),
])
def test_figure_numbers_need_a_positive_digitisation_note(synth, note, ok):
    set_cell(synth, EX, "RatA2020_05", "m1i", "3.2")
    set_cell(synth, EX, "RatA2020_05", "notes", note)
    assert where(validate(synth)) == (set() if ok else {(EX, 6, "m1i")})


def test_rob2_overall_message_names_study_stored_and_derived(synth):
    set_cell(synth, ROB, ("TrialB2019", "RoB2", "overall"), "judgement", "low")
    v = [x for x in validate(synth) if x.column == "judgement"]
    assert len(v) == 1 and v[0].line == 17 and v[0].value == "low"
    assert "TrialB2019" in v[0].message and "'some_concerns'" in v[0].message and "'low'" in v[0].message


def test_real_rob2_overall_rows_follow_the_algorithm():
    v = [x for x in validate(paths.ROOT) if x.file == ROB]
    assert v == []
