"""Evidence audit: whether the tables are valid, what was extracted, which rows give no effect size and why, PRISMA 2020 counts.

Notebook ``notebooks/01_evidence_audit.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema, validate
from ..data.prisma import SOURCE_LABELS, prisma_counts
from .characteristics import cohort_counts, cohort_of
from .evidence import Evidence, cites, data_root, result_key, spaced


@cites
def validation_report(root=None) -> pd.DataFrame:
    """Every data violation (empty when the tables are clean); cites the count."""
    nums: dict = {}
    v = validate.validate(data_root(root))
    nums["audit.violations"] = len(v)
    return pd.DataFrame([{"file": x.file, "line": x.line, "column": x.column, "value": x.value,
                          "expected": x.expected, "message": x.message} for x in v],
                        columns=["file", "line", "column", "value", "expected", "message"]), nums


@cites
def audit_counts(ev: Evidence) -> pd.DataFrame:
    """Counts of studies and rows by population, product, design and availability (cites numbers)."""
    nums: dict = {}
    st, ex = ev.studies, ev.extracted
    rows = []

    def add(what, level, n):
        rows.append({"what": what, "level": level, "n": int(n)})

    add("studies", "all", len(st))
    nums["audit.studies.total"] = len(st)
    # protocol 9.7: studies are cohorts, reports are counted separately, participants once per cohort
    for r in cohort_counts(ev).to_dict("records"):
        pop = r["population"]
        add("reports (included records)", pop, r["reports"])
        add("studies (cohorts)", pop, r["studies"])
        add("participants or animals, once per cohort (largest n)", pop, r["participants"])
        add("participants or animals, summed over every report", pop, r["participants_all_reports"])
        key = "total" if pop == "all" else pop
        nums[result_key("audit.reports", key)] = r["reports"]
        nums[result_key("audit.cohorts", key)] = r["studies"]
        nums[result_key("audit.participants", key)] = r["participants"]
    for col in ("population", "product", "design", "msc_source", "data_availability"):
        for lvl, n in st[col].fillna("not reported").value_counts().sort_index().items():
            add(f"studies by {col}", lvl, n)
            nums[result_key("audit.studies", col, lvl)] = int(n)
    for pop, g in st.groupby("population"):
        for prod, n in g["product"].value_counts().sort_index().items():
            nums[result_key("audit.studies", pop, prod)] = int(n)
    add("extracted rows", "all", len(ex))
    nums["audit.rows.total"] = len(ex)
    for col in ("data_availability", "mechanism", "comparison_type"):
        for lvl, n in ex[col].fillna("not reported").value_counts().sort_index().items():
            add(f"rows by {col}", lvl, n)
            nums[result_key("audit.rows", col, lvl)] = int(n)
    add("effect sizes (SMD) computable", "all", len(ev.effects))
    nums["audit.effects.total"] = len(ev.effects)
    nums["audit.effects.studies"] = int(ev.effects["study_id"].nunique())
    nums["audit.excluded.total"] = len(ev.excluded)
    return pd.DataFrame(rows), nums


def cohort_table(ev: Evidence) -> pd.DataFrame:
    """Reports, studies (cohorts) and participants counted once per cohort, by population (protocol 9.7;
    :func:`mscreview.review.characteristics.cohort_counts`)."""
    return cohort_counts(ev)


def availability_by_study(ev: Evidence) -> pd.DataFrame:
    """One row per study: population, design, what was read, rows by availability, effect sizes."""
    ex = ev.extracted
    tab = pd.crosstab(ex["study_id"], ex["data_availability"]).reindex(
        columns=list(schema.DATA_AVAILABILITY_ROW), fill_value=0)
    eff = ev.effects.groupby("study_id").size().rename("effect_sizes")
    out = (ev.studies[["study_id", "population", "design", "product", "msc_source", "data_availability"]]
           .rename(columns={"data_availability": "report_read"})
           .merge(tab, left_on="study_id", right_index=True, how="left")
           .merge(eff, left_on="study_id", right_index=True, how="left"))
    for c in list(schema.DATA_AVAILABILITY_ROW) + ["effect_sizes"]:
        out[c] = out[c].fillna(0).astype(int)
    out = out.rename(columns={"numeric": "rows_numeric", "figure_only": "rows_figure_only",
                              "direction_only": "rows_direction_only"})
    return out.sort_values(["population", "study_id"]).reset_index(drop=True)


@cites
def exclusion_summary(ev: Evidence) -> pd.DataFrame:
    """Rows without an effect size, counted by reason (cites numbers)."""
    nums: dict = {}
    s = (ev.excluded.groupby("reason").agg(rows=("row_id", "size"), studies=("study_id", "nunique"))
         .sort_values("rows", ascending=False).reset_index())
    for i, r in s.iterrows():
        nums[f"audit.excluded.reason_{i + 1}.rows"] = int(r["rows"])
    return s, nums


@cites
def prisma(ev: Evidence) -> dict:
    """PRISMA 2020 counts from ``review/screening.csv`` (mscreview.data.prisma), cited,
    in the form :func:`mscreview.output.plotting.prisma_flow` draws."""
    nums: dict = {}
    allc = prisma_counts(ev.screening, cohorts=cohort_of(ev.studies).to_dict())
    c = allc["total"]
    ident = {}
    for stream, label in (("databases_registers", "Databases and registers"), ("other_methods", "Other methods")):
        for k, v in allc[stream].identified.items():
            if v:
                ident[f"{label}: {SOURCE_LABELS.get(k, spaced(k))}"] = v
    counts = {
        "identified": ident,
        "duplicates_removed": c.duplicates_removed, "screened": c.screened,
        "excluded_screening": c.excluded_screening, "sought_retrieval": c.sought,
        "not_retrieved": c.not_retrieved, "assessed_eligibility": c.assessed,
        "excluded_eligibility": {spaced(k): v for k, v in c.excluded_reasons.items() if v},
        "included_studies": c.included_studies, "included_reports": c.included_reports,
    }
    for k in ("records_identified", "duplicates_removed", "screened", "excluded_screening", "sought",
              "not_retrieved", "assessed", "excluded_eligibility", "included_reports", "included_studies",
              "unresolved_screening", "unresolved_retrieval", "unresolved_eligibility"):
        nums[f"prisma.{k}"] = int(getattr(c, k))
    for stream in ("databases_registers", "other_methods"):
        nums[f"prisma.{stream}.records_identified"] = int(allc[stream].records_identified)
        for k, v in allc[stream].identified.items():
            nums[result_key("prisma", stream, "identified", k)] = int(v)
    return counts, nums


def prisma_table(ev: Evidence) -> pd.DataFrame:
    """PRISMA counts in long format, by stream (databases/registers, other methods, total); included
    studies counted by cohort (protocol 9.7), the web-corpus search under other methods (D16)."""
    c = prisma_counts(ev.screening, cohorts=cohort_of(ev.studies).to_dict())
    return pd.concat([x.to_frame() for x in c.values()], ignore_index=True)


def numbers(ev: Evidence) -> dict:
    """Every number notebook 01 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(validation_report.numbers(ev.root))
    out.update(audit_counts.numbers(ev))
    out.update(exclusion_summary.numbers(ev))
    out.update(prisma.numbers(ev))
    return out
