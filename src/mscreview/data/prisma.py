"""PRISMA 2020 flow counts computed from ``review/screening.csv`` (never typed by hand).

Each record is one row of the screening log. Stages, as in the PRISMA 2020 flow diagram:

identified (by ``source_type``) -> duplicates removed (``duplicate_of`` set) -> screened (the
rest) -> excluded at screening (``screen_decision = exclude``) -> sought for retrieval
(``screen_decision = include``) -> not retrieved (``retrieval = not_retrieved``) -> assessed for
eligibility (retrieved: full text, tables or abstract) -> excluded with reasons
(``eligibility_decision = exclude``, by ``exclusion_reason``) -> included (reports =
records with ``eligibility_decision = include``; studies = their distinct ``study_id``).

The diagram's two columns are kept apart: "databases and registers" (only ``register``: no
bibliographic database was queried directly) and "other methods": the search of the stored web
corpus of article pages (``database`` in the log, shown as websites; deviation D16 in
``review/deviations.csv``), ``reading_list``, ``review_reference`` and ``citation_search``.
Included studies are counted by cohort when a ``cohorts`` map (study_id -> cohort_id) is given
(protocol 9.7: reports of the same patients or animals are one study).
Records whose stage cannot be determined (e.g. screened in but no retrieval recorded) are
counted as ``unresolved`` at the stage where they stop, never silently dropped; the validator
reports them.

References
----------
Page MJ, McKenzie JE, Bossuyt PM, et al. (2021). The PRISMA 2020 statement: an updated guideline
for reporting systematic reviews. BMJ 372:n71.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from . import schema

__all__ = ["PrismaCounts", "prisma_counts", "STREAMS", "SOURCE_LABELS"]

STREAMS = {
    "databases_registers": ("register",),
    "other_methods": ("database", "reading_list", "review_reference", "citation_search"),
}

#: How each record source is labelled in the PRISMA 2020 flow diagram (stream: source).
SOURCE_LABELS = {
    "register": "trial registers",
    "database": "websites (search of a stored web corpus)",
    "reading_list": "project reading list",
    "review_reference": "reference lists of reviews",
    "citation_search": "citation searching",
}


@dataclass(frozen=True)
class PrismaCounts:
    """PRISMA 2020 counts for one stream (or ``total``).

    ``identified`` maps source_type -> records; ``excluded_reasons`` maps exclusion_reason ->
    reports excluded at eligibility. ``unresolved_*`` count records whose log stops without a
    decision at that stage (should be 0 once the data validate).
    """

    stream: str
    identified: dict = field(default_factory=dict)
    records_identified: int = 0
    duplicates_removed: int = 0
    screened: int = 0
    excluded_screening: int = 0
    sought: int = 0
    not_retrieved: int = 0
    assessed: int = 0
    excluded_eligibility: int = 0
    excluded_reasons: dict = field(default_factory=dict)
    included_reports: int = 0
    included_studies: int = 0
    unresolved_screening: int = 0
    unresolved_retrieval: int = 0
    unresolved_eligibility: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """Long format: ``stream, stage, detail, n`` (detail = source type or exclusion reason)."""
        rows = [(self.stream, "identified", k, v) for k, v in self.identified.items()]
        for stage in ("records_identified", "duplicates_removed", "screened", "excluded_screening", "sought",
                      "not_retrieved", "assessed", "excluded_eligibility", "included_reports", "included_studies",
                      "unresolved_screening", "unresolved_retrieval", "unresolved_eligibility"):
            rows.append((self.stream, stage, "", getattr(self, stage)))
        rows += [(self.stream, "excluded_reason", k, v) for k, v in self.excluded_reasons.items()]
        return pd.DataFrame(rows, columns=["stream", "stage", "detail", "n"])


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype("string").str.strip() == "")


def _counts(df: pd.DataFrame, stream: str, sources, cohorts: dict | None = None) -> PrismaCounts:
    identified = {s: int((df["source_type"] == s).sum()) for s in sources}
    dup = ~_blank(df["duplicate_of"])
    rest = df[~dup]
    sd = rest["screen_decision"]
    screened_out = rest[sd == "exclude"]
    sought = rest[sd == "include"]
    ret = sought["retrieval"]
    not_ret = sought[ret == "not_retrieved"]
    assessed = sought[ret.isin(["full_text", "tables_only", "abstract_only"])]
    ed = assessed["eligibility_decision"]
    excl = assessed[ed == "exclude"]
    incl = assessed[ed == "include"]
    reasons = excl["exclusion_reason"].astype("string").fillna("(no reason)")
    reason_counts = {r: int(n) for r, n in reasons.value_counts().items()}
    ordered = {r: reason_counts.pop(r) for r in list(schema.EXCLUSION_REASONS) if r in reason_counts}
    ordered.update(sorted(reason_counts.items()))
    return PrismaCounts(
        stream=stream, identified=identified, records_identified=int(len(df)), duplicates_removed=int(dup.sum()),
        screened=int(len(rest)), excluded_screening=int(len(screened_out)), sought=int(len(sought)),
        not_retrieved=int(len(not_ret)), assessed=int(len(assessed)), excluded_eligibility=int(len(excl)),
        excluded_reasons=ordered, included_reports=int(len(incl)),
        included_studies=int(_studies(incl["study_id"], cohorts)),
        unresolved_screening=int(len(rest) - len(screened_out) - len(sought)),
        unresolved_retrieval=int(len(sought) - len(not_ret) - len(assessed)),
        unresolved_eligibility=int(len(assessed) - len(excl) - len(incl)),
    )


def _studies(study_ids: pd.Series, cohorts: dict | None) -> int:
    """Distinct studies among included records: by cohort when ``cohorts`` maps study_id -> cohort_id."""
    sid = study_ids.dropna().astype("string").str.strip().replace("", pd.NA).dropna()
    if cohorts:
        sid = sid.map(lambda x: cohorts.get(x) or x)
    return sid.nunique()


def prisma_counts(screening: pd.DataFrame, by_stream: bool = True,
                  cohorts: dict | None = None) -> dict[str, PrismaCounts]:
    """PRISMA 2020 counts from the screening log.

    Parameters
    ----------
    screening : DataFrame
        ``review/screening.csv`` as loaded by :func:`mscreview.data.tables.load`.
    by_stream : bool
        Also count the two PRISMA columns separately (``databases_registers``,
        ``other_methods``) besides ``total``.
    cohorts : dict, optional
        study_id -> cohort_id (``data/studies.csv``): included studies are then counted once per
        cohort (protocol 9.7); without it, by distinct study_id.

    Returns
    -------
    dict of str -> PrismaCounts
        Keys ``total`` (and the stream names). Included studies are counted per stream by the
        records of that stream, so a study found both ways counts in both streams and once in
        ``total``. Records with an unknown ``source_type`` appear only in ``total``.
    """
    need = {"source_type", "duplicate_of", "screen_decision", "retrieval", "eligibility_decision",
            "exclusion_reason", "study_id"}
    missing = need - set(screening.columns)
    if missing:
        raise ValueError(f"screening table lacks column(s) {sorted(missing)}")
    out = {"total": _counts(screening, "total", list(schema.RECORD_SOURCES), cohorts)}
    if by_stream:
        for name, sources in STREAMS.items():
            out[name] = _counts(screening[screening["source_type"].isin(sources)], name, sources, cohorts)
    return out
