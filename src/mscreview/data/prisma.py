"""PRISMA 2020 flow counts computed from ``review/screening.csv`` (never typed by hand).

Each record is one row of the screening log. Stages, as in the PRISMA 2020 flow diagram:

identified (by ``source_type``) -> duplicates removed (``duplicate_of`` set) -> screened (the
rest) -> excluded at screening (``screen_decision = exclude``) -> sought for retrieval
(``screen_decision = include``) -> not retrieved (``retrieval = not_retrieved``) -> assessed for
eligibility (retrieved: full text, tables or abstract) -> excluded with reasons
(``eligibility_decision = exclude``, by ``exclusion_reason``) -> included (reports =
records with ``eligibility_decision = include``; studies = their distinct ``study_id``).

The diagram's two columns are kept apart: "databases and registers" (``database``,
``register``) and "other methods" (``reading_list``, ``review_reference``, ``citation_search``).
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

__all__ = ["PrismaCounts", "prisma_counts", "STREAMS"]

STREAMS = {
    "databases_registers": ("database", "register"),
    "other_methods": ("reading_list", "review_reference", "citation_search"),
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


def _counts(df: pd.DataFrame, stream: str, sources) -> PrismaCounts:
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
        included_studies=int(incl["study_id"].dropna().astype("string").str.strip().replace("", pd.NA).dropna().nunique()),
        unresolved_screening=int(len(rest) - len(screened_out) - len(sought)),
        unresolved_retrieval=int(len(sought) - len(not_ret) - len(assessed)),
        unresolved_eligibility=int(len(assessed) - len(excl) - len(incl)),
    )


def prisma_counts(screening: pd.DataFrame, by_stream: bool = True) -> dict[str, PrismaCounts]:
    """PRISMA 2020 counts from the screening log.

    Parameters
    ----------
    screening : DataFrame
        ``review/screening.csv`` as loaded by :func:`mscreview.data.tables.load`.
    by_stream : bool
        Also count the two PRISMA columns separately (``databases_registers``,
        ``other_methods``) besides ``total``.

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
    out = {"total": _counts(screening, "total", list(schema.RECORD_SOURCES))}
    if by_stream:
        for name, sources in STREAMS.items():
            out[name] = _counts(screening[screening["source_type"].isin(sources)], name, sources)
    return out
