"""The review's analyses as the notebooks call them: one function per table,
figure or statement, each recording the numbers it reports (via
:func:`mscreview.output.report.record`) so that the text cites them from
``review/results.json``.

This module only orchestrates: effect sizes and exclusions come from
:mod:`mscreview.review.rules` (the data steward's protocol code), models from
:mod:`mscreview.engine.rma`, diagnostics from :mod:`mscreview.diagnostics.bias`,
:mod:`mscreview.diagnostics.influence`, :mod:`mscreview.engine.bayes`, plots from
:mod:`mscreview.output.plotting`. Decisions that depend on the data (whether a pooled
estimate, a funnel plot or a meta-regression is possible) are made here, with
the reason written out, so the notebooks stay free of logic.

References
----------
Higgins JPT et al. (eds). Cochrane Handbook for Systematic Reviews of
Interventions, version 6.4 (2023), chapters 10, 12, 13 and 14.
Campbell M et al. (2020). Synthesis without meta-analysis (SWiM). BMJ 368:l6890.
Guyatt GH et al. (2011). GRADE guidelines 1-9. J Clin Epidemiol 64.
Schünemann H et al. (2013). GRADE handbook, section 5 (rating the quality of
evidence).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..output import report
from ..data import schema

#: Minimum number of studies for funnel plots, Egger's test and trim-and-fill
#: (Cochrane Handbook 13.3.5.4; protocol 6.7).
MIN_K_SMALL_STUDY = 10

#: Minimum studies per moderator for a meta-regression (protocol 6.6; Cochrane Handbook 10.11.5.1).
MIN_K_METAREG = 10

#: Minimum studies for leave-one-out, influence and GOSH to be informative.
MIN_K_LEAVE1OUT = 3

#: Optimal information size used by GRADE imprecision for continuous outcomes (total participants).
OIS_CONTINUOUS = 400


MECH_ORDER = list(schema.MECHANISMS)
SOURCE_ORDER = [s for s in schema.MSC_SOURCES if s != "not_applicable"]
PRIMARY = {"method": "REML", "test": "knha"}


def _label(s) -> str:
    return str(s).replace("_", " ")


def _slug(text: str) -> str:
    """File-name form of a family name: ``"clinical / msc / function"`` -> ``clinical_msc_function``."""
    import re

    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _key(*parts) -> str:
    return ".".join(str(p).replace(" ", "_").replace("/", "_").replace("(", "").replace(")", "")
                    .replace(",", "").replace("'", "") for p in parts)


# ---------------------------------------------------------------------------
# The evidence
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """Every table of the review and the derived effect and direction tables."""

    root: Path
    studies: pd.DataFrame
    extracted: pd.DataFrame
    risk_of_bias: pd.DataFrame
    screening: pd.DataFrame
    search_log: pd.DataFrame
    claims: pd.DataFrame
    effects: pd.DataFrame       # rules.effect_table (SMD), yi > 0 favours MSC
    excluded: pd.DataFrame      # rows without an SMD, with the reason
    directions: pd.DataFrame    # rules.direction_table: one direction per between-group row
    study_dirs: pd.DataFrame    # rules.study_directions: one per cohort x family

    def _repr_markdown_(self) -> str:
        return (f"Evidence from `{self.root}`: {len(self.studies)} studies, {len(self.extracted)} extracted rows, "
                f"{len(self.effects)} effect sizes, {len(self.excluded)} rows without an effect size.")


def _load(name: str, root: Path) -> pd.DataFrame:
    from ..data import tables

    table = schema.TABLE_NAMES[name]
    if not (root / table).exists():
        return pd.DataFrame({c: pd.Series(dtype="object") for c in schema.columns(table)})
    return tables.load(name, root)


@lru_cache(maxsize=4)
def _evidence(root: str) -> Evidence:
    from . import rules

    r = Path(root)
    t = {n: _load(n, r) for n in schema.TABLE_NAMES}
    effects, excluded = rules.effect_table(t["extracted"], t["studies"], "SMD")
    directions = rules.direction_table(t["extracted"], t["studies"])
    study_dirs = rules.study_directions(directions)
    return Evidence(r, t["studies"], t["extracted"], t["risk_of_bias"], t["screening"], t["search_log"],
                    t["claims"], effects, excluded, directions, study_dirs)


def data_root(root=None) -> Path:
    """The repository root whose tables are analysed: ``root``, else ``MSCREVIEW_ROOT``
    (set by the build for its kernels), else this checkout."""
    import os

    if root is not None:
        return Path(root)
    env = os.environ.get("MSCREVIEW_ROOT")
    return Path(env) if env else paths.ROOT


def evidence(root=None) -> Evidence:
    """Load the review's tables and derive effect sizes and directions (cached)."""
    return _evidence(str(data_root(root)))


# ---------------------------------------------------------------------------
# 01 Evidence audit
# ---------------------------------------------------------------------------

def validation_report(root=None) -> pd.DataFrame:
    """Every data violation (empty when the tables are clean); records the count."""
    from ..data import validate

    v = validate.validate(data_root(root))
    report.record("audit.violations", len(v))
    return pd.DataFrame([{"file": x.file, "line": x.line, "column": x.column, "value": x.value,
                          "expected": x.expected, "message": x.message} for x in v],
                        columns=["file", "line", "column", "value", "expected", "message"])


def audit_counts(ev: Evidence) -> pd.DataFrame:
    """Counts of studies and rows by population, product, design and availability (recorded)."""
    st, ex = ev.studies, ev.extracted
    rows = []

    def add(what, level, n):
        rows.append({"what": what, "level": level, "n": int(n)})

    add("studies", "all", len(st))
    report.record("audit.studies.total", len(st))
    for col in ("population", "product", "design", "msc_source", "data_availability"):
        for lvl, n in st[col].fillna("not reported").value_counts().sort_index().items():
            add(f"studies by {col}", lvl, n)
            report.record(_key("audit.studies", col, lvl), int(n))
    for pop, g in st.groupby("population"):
        for prod, n in g["product"].value_counts().sort_index().items():
            report.record(_key("audit.studies", pop, prod), int(n))
    add("extracted rows", "all", len(ex))
    report.record("audit.rows.total", len(ex))
    for col in ("data_availability", "mechanism", "comparison_type"):
        for lvl, n in ex[col].fillna("not reported").value_counts().sort_index().items():
            add(f"rows by {col}", lvl, n)
            report.record(_key("audit.rows", col, lvl), int(n))
    add("effect sizes (SMD) computable", "all", len(ev.effects))
    report.record("audit.effects.total", len(ev.effects))
    report.record("audit.effects.studies", int(ev.effects["study_id"].nunique()))
    report.record("audit.excluded.total", len(ev.excluded))
    return pd.DataFrame(rows)


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


def exclusion_summary(ev: Evidence) -> pd.DataFrame:
    """Rows without an effect size, counted by reason (recorded)."""
    s = (ev.excluded.groupby("reason").agg(rows=("row_id", "size"), studies=("study_id", "nunique"))
         .sort_values("rows", ascending=False).reset_index())
    for i, r in s.iterrows():
        report.record(f"audit.excluded.reason_{i + 1}.rows", int(r["rows"]))
    return s


def prisma(ev: Evidence) -> dict:
    """PRISMA 2020 counts from ``review/screening.csv`` (mscreview.data.prisma), recorded,
    in the form :func:`mscreview.output.plotting.prisma_flow` draws."""
    from ..data.prisma import prisma_counts

    c = prisma_counts(ev.screening)["total"]
    counts = {
        "identified": {_label(k): v for k, v in c.identified.items() if v},
        "duplicates_removed": c.duplicates_removed, "screened": c.screened,
        "excluded_screening": c.excluded_screening, "sought_retrieval": c.sought,
        "not_retrieved": c.not_retrieved, "assessed_eligibility": c.assessed,
        "excluded_eligibility": {_label(k): v for k, v in c.excluded_reasons.items() if v},
        "included_studies": c.included_studies, "included_reports": c.included_reports,
    }
    for k in ("records_identified", "duplicates_removed", "screened", "excluded_screening", "sought",
              "not_retrieved", "assessed", "excluded_eligibility", "included_reports", "included_studies",
              "unresolved_screening", "unresolved_retrieval", "unresolved_eligibility"):
        report.record(f"prisma.{k}", int(getattr(c, k)))
    return counts


def prisma_table(ev: Evidence) -> pd.DataFrame:
    """PRISMA counts in long format, by stream (databases/registers, other methods, total)."""
    from ..data.prisma import prisma_counts

    return pd.concat([c.to_frame() for c in prisma_counts(ev.screening).values()], ignore_index=True)


# ---------------------------------------------------------------------------
# 02 Study characteristics
# ---------------------------------------------------------------------------

def _dose(r) -> str:
    if pd.isna(r.get("dose")):
        return "not reported"
    unit = r.get("dose_unit")
    return f"{r['dose']:.3g} {unit if isinstance(unit, str) else ''}".strip()


def table1_clinical(ev: Evidence) -> pd.DataFrame:
    """Table 1: clinical reports (design, n, source, donor, route, dose, comparator, follow-up)."""
    st = ev.studies[ev.studies["population"] == "clinical"].copy()
    st["dose_text"] = [_dose(r) for r in st.to_dict("records")]
    cols = {"study_id": "Study", "design": "Design", "country": "Country", "n_total": "n",
            "msc_source": "MSC source", "donor": "Donor", "product": "Product", "route": "Route",
            "dose_text": "Dose", "n_doses": "Doses", "comparator": "Comparator", "follow_up": "Follow-up",
            "data_availability": "Report read"}
    out = st[list(cols)].rename(columns=cols)
    report.record("characteristics.clinical.studies", len(out))
    report.record("characteristics.clinical.controlled",
                  int(st["design"].isin(["rct", "nrsi_controlled"]).sum()))
    report.record("characteristics.clinical.rct", int((st["design"] == "rct").sum()))
    report.record("characteristics.clinical.participants", int(pd.to_numeric(st["n_total"]).fillna(0).sum()))
    order = {d: i for i, d in enumerate(schema.DESIGNS)}
    return out.sort_values(["Design", "Study"], key=lambda s: s.map(order) if s.name == "Design" else s
                           ).reset_index(drop=True)


def table2_preclinical(ev: Evidence) -> pd.DataFrame:
    """Table 2: preclinical studies (species, model, product, source, dose, route, timing)."""
    st = ev.studies[ev.studies["population"] == "preclinical"].copy()
    st["dose_text"] = [_dose(r) for r in st.to_dict("records")]
    cols = {"study_id": "Study", "species": "Species", "strain": "Strain", "model": "Model",
            "product": "Product", "msc_source": "MSC source", "donor": "Donor", "dose_text": "Dose",
            "route": "Route", "timing": "Timing", "comparator": "Comparator", "n_total": "n",
            "data_availability": "Report read"}
    out = st[list(cols)].rename(columns=cols).sort_values("Study").reset_index(drop=True)
    report.record("characteristics.preclinical.studies", len(out))
    report.record("characteristics.preclinical.animals", int(pd.to_numeric(st["n_total"]).fillna(0).sum()))
    species = st["species"].fillna("not reported").value_counts()
    for sp in sorted(set(species.index) | {"rat", "mouse"}):   # the text cites rats and mice: always present
        report.record(_key("characteristics.preclinical.species", sp), int(species.get(sp, 0)))
    return out


def evidence_map(ev: Evidence, population: str = "preclinical"):
    """Mechanism x MSC source: number of studies with at least one row (counts), and a
    second line with the animals or patients of those studies (``n = ...``).

    Returns ``(counts, annot)`` DataFrames for :func:`mscreview.output.plotting.evidence_map`."""
    st = ev.studies[["study_id", "msc_source", "n_total", "population"]]
    ex = ev.extracted.merge(st, on="study_id", how="left")
    ex = ex[ex["population"] == population]
    pairs = ex.drop_duplicates(["study_id", "mechanism"])
    mech = [m for m in MECH_ORDER if m in set(pairs["mechanism"])]
    src = [s for s in SOURCE_ORDER if s in set(pairs["msc_source"].fillna("unclear"))]
    pairs = pairs.assign(msc_source=pairs["msc_source"].fillna("unclear"))
    counts = pd.crosstab(pairs["mechanism"], pairs["msc_source"]).reindex(index=mech, columns=src, fill_value=0)
    n = pairs.assign(n=pd.to_numeric(pairs["n_total"])).pivot_table(
        index="mechanism", columns="msc_source", values="n", aggfunc="sum").reindex(index=mech, columns=src)
    annot = n.map(lambda v: f"n = {int(v)}" if pd.notna(v) and v > 0 else "")
    for m in mech:
        report.record(_key("characteristics", population, "map", m, "studies"),
                      int(pairs.loc[pairs["mechanism"] == m, "study_id"].nunique()))
    return counts, annot


def dose_values(ev: Evidence, population: str = "preclinical") -> pd.Series:
    """Doses given as a number of cells (per animal for preclinical, per kg for clinical)."""
    st = ev.studies[(ev.studies["population"] == population) & ev.studies["dose"].notna()]
    unit = st["dose_unit"].astype("string").str.lower().fillna("")
    per_kg = unit.str.contains("/kg") | unit.str.contains("per kg")
    cells = unit.str.startswith("cells")
    keep = cells & (per_kg if population == "clinical" else ~per_kg)
    v = pd.to_numeric(st.loc[keep, "dose"]).astype(float)
    report.record(_key("characteristics", population, "dose.n"), int(len(v)))
    report.record(_key("characteristics", population, "dose.median"), float(v.median()) if len(v) else None)
    report.record(_key("characteristics", population, "dose.min"), float(v.min()) if len(v) else None)
    report.record(_key("characteristics", population, "dose.max"), float(v.max()) if len(v) else None)
    return v.reset_index(drop=True)


def timing_table(ev: Evidence) -> pd.DataFrame:
    """Timing of administration as reported (preclinical), with route and species."""
    st = ev.studies[ev.studies["population"] == "preclinical"]
    out = st[["study_id", "species", "model", "timing", "route", "n_doses"]].copy()
    out["timing"] = out["timing"].fillna("not reported")
    report.record("characteristics.preclinical.timing_reported", int((out["timing"] != "not reported").sum()))
    return out.sort_values("study_id").reset_index(drop=True)


# ---------------------------------------------------------------------------
# 03 Effects by mechanism
# ---------------------------------------------------------------------------

def primary_effects(ev: Evidence) -> pd.DataFrame:
    """One SMD per study per (population, product class, mechanism) by the protocol rule."""
    from . import rules

    if ev.effects.empty:
        return ev.effects.copy()
    return rules.primary_effects(ev.effects)


def pooled_by_mechanism(ev: Evidence, method: str = "REML", test: str = "knha") -> pd.DataFrame:
    """Random-effects pooled SMD per family where >= 2 comparable studies (recorded)."""
    from . import rules

    prim = primary_effects(ev)
    if prim.empty:
        return pd.DataFrame()
    pb = rules.pooled_by(prim, method=method, test=test)
    if method == PRIMARY["method"] and test == PRIMARY["test"]:
        for _, r in pb.iterrows():
            base = _key("pooled", r["population"], r["product_class"], r["mechanism"])
            report.record(f"{base}.k", int(r["k"]))
            report.record(f"{base}.pooled", bool(r["pooled"]))
            if r["pooled"]:
                report.record_fit(base, r.to_dict())
        report.record("pooled.n_families", int(len(pb)))
        report.record("pooled.n_pooled", int(pb["pooled"].sum()))
    return pb


def forest_data(ev: Evidence, population: str, product_class: str, mechanism: str) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: the primary effects of one
    family, grouped by MSC source, with the pooled estimate and prediction interval."""
    from ..engine.rma import rma

    prim = primary_effects(ev)
    g = prim[(prim["population"] == population) & (prim["product_class"] == product_class)
             & (prim["mechanism"] == mechanism)].copy()
    if g.empty:
        raise ValueError(f"no effect sizes for {population}/{product_class}/{mechanism}")
    g["label"] = [f"{r.study_id} ({r.outcome}, {_tp(r)})" for r in g.itertuples()]
    g = g.sort_values(["msc_source", "study_id"])
    pooled = []
    for src, sg in g.groupby("msc_source", sort=True):
        if len(sg) >= 2:
            f = rma(sg["yi"].to_numpy(float), sg["vi"].to_numpy(float), **PRIMARY)
            pooled.append({"group": src, "label": f"{_label(src)} subtotal", "estimate": f.estimate,
                           "ci_low": f.ci_low, "ci_high": f.ci_high, "k": f.k, "i2": f.i2})
    if len(g) >= 2:
        f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), **PRIMARY)
        pooled.append({"group": None, "label": "Pooled (REML + HK)",
                       "estimate": f.estimate, "ci_low": f.ci_low, "ci_high": f.ci_high,
                       "pi_low": f.pi_low if f.k >= 3 else None, "pi_high": f.pi_high if f.k >= 3 else None,
                       "k": f.k, "i2": f.i2})
    return {"data": g, "label": "label", "group": "msc_source", "pooled": pooled,
            "xlabel": "Standardised mean difference (Hedges' g); > 0 favours MSC",
            "title": f"{_label(population).capitalize()}, {_label(product_class)}: {_label(mechanism)}"}


def _tp(r) -> str:
    if pd.isna(r.timepoint):
        return "time n.r."
    unit = r.timepoint_unit if isinstance(r.timepoint_unit, str) else ""
    return f"{r.timepoint:g} {unit}".strip()


def all_effects_multilevel(ev: Evidence) -> pd.DataFrame:
    """Every effect of a family, not one per study: three-level model (effects within
    cohorts, REML; :func:`mscreview.engine.multilevel.rma_mv`) with CR2 cluster-robust inference by
    cohort (:func:`mscreview.engine.robust.coef_test`), protocol 6.4. Families with effects from fewer
    than two cohorts are listed with the reason. Recorded."""
    from ..engine.multilevel import rma_mv
    from ..engine.robust import coef_test

    e = ev.effects
    rows = []
    if e.empty:
        return pd.DataFrame()
    for key, g in e.groupby(["population", "product_class", "mechanism"], sort=True):
        cohorts = g["cohort_id"].where(g["cohort_id"].notna(), g["study_id"])
        rec = dict(zip(["population", "product_class", "mechanism"], key))
        rec.update(effects=len(g), cohorts=int(cohorts.nunique()))
        if cohorts.nunique() < 2:
            rec["note"] = "effects from one cohort: no between-study model"
        else:
            f = rma_mv(g["yi"].to_numpy(float), g["vi"].to_numpy(float), study=cohorts.to_numpy(),
                       es_id=g["row_id"].to_numpy(), method="REML")
            r = coef_test(f, cohorts.to_numpy())
            rec.update(estimate=f.estimate, ci_low=f.ci_low, ci_high=f.ci_high, sigma2_between=f.sigma2[0],
                       sigma2_within=f.sigma2[1], cr2_se=float(r.se[0]), cr2_df=float(r.df[0]),
                       cr2_ci_low=float(r.ci_low[0]), cr2_ci_high=float(r.ci_high[0]), cr2_pvalue=float(r.pvalue[0]),
                       note="CR2 with few clusters has few degrees of freedom" if cohorts.nunique() < 5 else "")
            base = _key("multilevel", *key)
            report.record_many(base, {"effects": len(g), "cohorts": int(cohorts.nunique()), "estimate": f.estimate,
                                      "cr2_ci_low": float(r.ci_low[0]), "cr2_ci_high": float(r.ci_high[0]),
                                      "cr2_df": float(r.df[0])})
        rows.append(rec)
    return pd.DataFrame(rows)


def pooled_families(ev: Evidence) -> list[tuple[str, str, str]]:
    """(population, product class, mechanism) of every family with a pooled estimate."""
    pb = pooled_by_mechanism(ev)
    if pb.empty:
        return []
    pb = pb[pb["pooled"]]
    return [tuple(x) for x in pb[["population", "product_class", "mechanism"]].itertuples(index=False)]


def direction_cells(ev: Evidence, population: str = "preclinical", product_class: str = "msc") -> pd.DataFrame:
    """Study x mechanism cells for the effect direction plot: the study-level direction
    (70% rule, :func:`mscreview.review.rules.study_directions`), whether any row in that
    direction was reported significant, and the number of rows."""
    sd = ev.study_dirs[(ev.study_dirs["population"] == population)
                       & (ev.study_dirs["product_class"] == product_class)].copy()
    d = ev.directions[(ev.directions["population"] == population)
                      & (ev.directions["product_class"] == product_class)]
    sig = (d[d["significant"] == "yes"].groupby(["cohort_id", "mechanism"])["direction"]
           .agg(lambda s: set(s)).to_dict())
    sd["significant"] = ["yes" if r.direction in sig.get((r.cohort_id, r.mechanism), set()) else "no"
                         for r in sd.itertuples()]
    sd["study"] = sd["study_ids"].str.replace(";", " / ")
    order = {m: i for i, m in enumerate(MECH_ORDER)}
    sd = sd.sort_values(["study", "mechanism"], key=lambda s: s.map(order) if s.name == "mechanism" else s)
    return sd.reset_index(drop=True)


def sign_tests(ev: Evidence) -> pd.DataFrame:
    """Exact sign test of study-level directions per family (SWiM), recorded."""
    from . import rules

    rows = []
    for key, g in ev.study_dirs.groupby(["population", "product_class", "mechanism"], sort=True):
        r = rules.sign_test(g)
        rec = dict(zip(["population", "product_class", "mechanism"], key))
        rec.update(studies=len(g), favours_msc=r.n_favours_msc, favours_control=r.n_favours_control,
                   mixed=r.n_mixed, proportion=r.proportion, ci_low=r.ci_low, ci_high=r.ci_high,
                   pvalue=r.pvalue)
        rows.append(rec)
        base = _key("direction", *key)
        report.record_many(base, {"studies": len(g), "favours_msc": r.n_favours_msc,
                                  "favours_control": r.n_favours_control, "mixed": r.n_mixed,
                                  "pvalue": r.pvalue})
    out = pd.DataFrame(rows)
    if not out.empty:
        report.record("direction.total_favours_control", int(out["favours_control"].sum()))
        report.record("direction.total_favours_msc", int(out["favours_msc"].sum()))
        report.record("direction.total_mixed", int(out["mixed"].sum()))
        report.record("direction.total_directions", int(out["studies"].sum()))
        report.record("direction.rows_reported_basis", int((ev.directions["basis"] == "reported").sum()))
        report.record("direction.rows_significance_unclear", int((ev.directions["significant"] == "unclear").sum()))
    return out


def family_overview(ev: Evidence) -> pd.DataFrame:
    """Per family: studies with a direction, studies with an SMD, pooled or why not."""
    sd = ev.study_dirs.groupby(["population", "product_class", "mechanism"]).size().rename("studies_with_direction")
    pb = pooled_by_mechanism(ev)
    out = sd.reset_index()
    if not pb.empty:
        out = out.merge(pb[["population", "product_class", "mechanism", "k", "pooled", "reason"]]
                        .rename(columns={"k": "studies_with_smd"}),
                        on=["population", "product_class", "mechanism"], how="left")
    else:
        out["studies_with_smd"] = 0
        out["pooled"] = False
        out["reason"] = "no effect sizes"
    out["studies_with_smd"] = out["studies_with_smd"].fillna(0).astype(int)
    out["pooled"] = out["pooled"].fillna(False).astype(bool)
    out["reason"] = out["reason"].where(out["pooled"] | out["reason"].notna(),
                                        "no study gives group statistics (direction only)")
    out.loc[out["pooled"], "reason"] = ""
    return out


# ---------------------------------------------------------------------------
# 04 Effects by source and other moderators
# ---------------------------------------------------------------------------

def direction_by(ev: Evidence, by: str = "msc_source", population: str = "preclinical",
                 product_class: str = "msc") -> pd.DataFrame:
    """Study-level directions (all mechanisms) cross-tabulated by a study characteristic,
    with a sign test per level (recorded for ``msc_source``)."""
    from . import rules

    sd = ev.study_dirs[(ev.study_dirs["population"] == population)
                       & (ev.study_dirs["product_class"] == product_class)]
    first = ev.studies.drop_duplicates("cohort_id").set_index("cohort_id")
    lvl = sd["cohort_id"].map(first[by] if by in first else pd.Series(dtype=object)).fillna("not reported")
    rows = []
    for v, g in sd.assign(level=lvl).groupby("level", sort=True):
        r = rules.sign_test(g)
        rows.append({by: v, "study_mechanism_pairs": len(g), "cohorts": g["cohort_id"].nunique(),
                     "favours_msc": r.n_favours_msc, "favours_control": r.n_favours_control,
                     "mixed": r.n_mixed, "pvalue": r.pvalue})
        if by == "msc_source":
            report.record(_key("by_source", population, product_class, v, "cohorts"), int(g["cohort_id"].nunique()))
    return pd.DataFrame(rows)


def source_subgroups(ev: Evidence) -> pd.DataFrame:
    """Subgroup analysis by MSC source within each family with effect sizes (one row per source
    and the tests for subgroup differences, :func:`mscreview.engine.rma.subgroup`), or one row saying
    why it cannot be done (fewer than two sources with at least 2 studies each). Recorded."""
    from ..engine.rma import subgroup

    prim = primary_effects(ev)
    fam_cols = ["population", "product_class", "mechanism"]
    keep = ["row", "subgroup", "k", "estimate", "ci_low", "ci_high", "tau2", "i2", "statistic", "df", "pvalue"]
    parts = []
    n_done = 0
    if not prim.empty:
        for key, g in prim.groupby(fam_cols, sort=True):
            per = g["msc_source"].value_counts()
            ok = per[per >= 2]
            head = dict(zip(fam_cols, key))
            if len(ok) >= 2:
                sg = subgroup(g[g["msc_source"].isin(ok.index)], by="msc_source", **PRIMARY)
                sg = sg[[c for c in keep if c in sg]].assign(**head)
                parts.append(sg)
                n_done += 1
            else:
                parts.append(pd.DataFrame([{**head, "row": "not possible", "subgroup": "; ".join(
                    f"{_label(s)} {n}" for s, n in per.sort_index().items()),
                    "k": int(len(g))}]))
    report.record("by_source.subgroup_analyses_possible", n_done)
    if not parts:
        return pd.DataFrame(columns=fam_cols + keep)
    out = pd.concat(parts, ignore_index=True)
    return out[fam_cols + [c for c in keep if c in out]]


MODERATORS = {
    "log10_dose": "log10 dose (cells)",
    "route": "route of administration",
    "timing": "timing after injury",
    "species": "species",
    "msc_source": "MSC source",
}


def meta_regression_feasibility(ev: Evidence) -> pd.DataFrame:
    """For each planned moderator: studies with an effect size and the moderator, whether
    the protocol's minimum (10 per moderator) is met, and the reason (recorded)."""
    prim = primary_effects(ev)
    st = ev.studies.set_index("study_id")
    rows = []
    for mod, text in MODERATORS.items():
        if prim.empty:
            k = 0
        elif mod == "log10_dose":
            d = prim["study_id"].map(st["dose"])
            k = int(d.notna().sum())
        else:
            col = mod if mod in st else None
            vals = prim["study_id"].map(st[col]) if col else pd.Series(dtype=object)
            k = int(vals.notna().sum())
        per_family = (prim.groupby(["population", "product_class", "mechanism"]).size().max()
                      if not prim.empty else 0)
        feasible = min(k, int(per_family)) >= MIN_K_METAREG
        rows.append({"moderator": text, "effects_with_moderator": k,
                     "largest_family": int(per_family), "required": MIN_K_METAREG,
                     "feasible": feasible,
                     "reason": "" if feasible else
                     f"largest outcome family has {int(per_family)} studies with an effect size "
                     f"(< {MIN_K_METAREG}); described, not modelled"})
        report.record(_key("metareg", mod, "feasible"), feasible)
    report.record("metareg.largest_family", int(rows[0]["largest_family"]) if rows else 0)
    return pd.DataFrame(rows)


def bubble_plots(ev: Evidence, notebook: str) -> list:
    """Export a bubble plot for every feasible meta-regression; returns what was done
    (an empty list means none was feasible; the feasibility table says why)."""
    from ..output import figures, plotting
    from ..engine.rma import rma

    out = figures.ExportedFigures()
    feas = meta_regression_feasibility(ev)
    prim = primary_effects(ev)
    if not feas["feasible"].any():
        return out
    st = ev.studies.set_index("study_id")
    fam = prim.groupby(["population", "product_class", "mechanism"]).size().idxmax()
    g = prim[(prim["population"] == fam[0]) & (prim["product_class"] == fam[1]) & (prim["mechanism"] == fam[2])]
    g = g.assign(log10_dose=np.log10(pd.to_numeric(g["study_id"].map(st["dose"]))))
    g = g[g["log10_dose"].notna()]
    if len(g) >= MIN_K_METAREG:
        f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), mods=g[["log10_dose"]], **PRIMARY)
        fig = plotting.bubble(g["log10_dose"], g["yi"], g["vi"], intercept=f.beta[0], slope=f.beta[1],
                              vb=f.vb, xlabel="log10 dose (cells)", ylabel="SMD")
        out.append(figures.export(fig, "bubble_log10_dose", "Meta-regression of the SMD on log10 dose "
                                  "(bubble area: inverse-variance weight).", notebook, data=g[["yi", "vi",
                                                                                              "log10_dose"]]))
    return out


# ---------------------------------------------------------------------------
# 05 Clinical outcomes
# ---------------------------------------------------------------------------

def _months(r) -> float:
    from .rules import timepoint_days

    d = timepoint_days(r["timepoint"], r["timepoint_unit"])
    return round(d / (365.25 / 12), 1) if np.isfinite(d) else np.nan


def gmfm_effects(ev: Evidence) -> pd.DataFrame:
    """Controlled clinical GMFM effects (SMD, > 0 favours MSC) with the timepoint in months."""
    e = ev.effects
    g = e[(e["population"] == "clinical") & (e["product_class"] == "msc")
          & e["outcome"].astype("string").str.upper().str.startswith("GMFM")].copy()
    g["months"] = [_months(r) for r in g.to_dict("records")]
    g["label"] = [f"{r.study_id} ({r.outcome})" for r in g.itertuples()]
    return g.sort_values(["months", "study_id"]).reset_index(drop=True)


def gmfm_by_timepoint(ev: Evidence) -> pd.DataFrame:
    """GMFM pooled per timepoint (months) where >= 2 trials report it; REML + Hartung-Knapp
    (primary) and DL + z (sensitivity). Recorded."""
    from ..engine.rma import rma

    g = gmfm_effects(ev)
    rows = []
    for m, sg in g.groupby("months", sort=True):
        rec = {"months": m, "k": len(sg), "studies": "; ".join(sg["study_id"]),
               "participants": int(pd.to_numeric(sg["n1i"]).sum() + pd.to_numeric(sg["n2i"]).sum())}
        base = _key("clinical.gmfm", f"m{m:g}")
        report.record(f"{base}.k", len(sg))
        report.record(f"{base}.participants", rec["participants"])
        if len(sg) >= 2 and sg["cohort_id"].nunique() == len(sg):
            for label, kw in (("reml_knha", PRIMARY), ("dl_z", {"method": "DL", "test": "z"})):
                f = rma(sg["yi"].to_numpy(float), sg["vi"].to_numpy(float), **kw)
                rec.update({f"{label}_estimate": f.estimate, f"{label}_ci_low": f.ci_low,
                            f"{label}_ci_high": f.ci_high})
                if label == "reml_knha":
                    rec.update(tau2=f.tau2, i2=f.i2, pvalue=f.pvalue)
                report.record_fit(f"{base}.{label}", f)
        else:
            y = sg["yi"].iloc[0]
            se = math.sqrt(sg["vi"].iloc[0])
            rec.update(reml_knha_estimate=np.nan, note="single trial: not pooled",
                       single_estimate=y, single_ci_low=y - 1.959963984540054 * se,
                       single_ci_high=y + 1.959963984540054 * se)
        rows.append(rec)
    out = pd.DataFrame(rows)
    # the latest pooled timepoint, under fixed keys the manuscript can cite whatever the timepoints are
    pooled = out[out["k"] >= 2] if not out.empty else out
    last = pooled.sort_values("months").iloc[-1] if not pooled.empty else None
    latest = {"months": None, "k": 0, "participants": None, "estimate": None, "ci_low": None, "ci_high": None,
              "i2": None, "pvalue": None, "dl_estimate": None, "dl_ci_low": None, "dl_ci_high": None}
    if last is not None:
        latest.update(months=float(last["months"]), k=int(last["k"]), participants=int(last["participants"]),
                      estimate=last["reml_knha_estimate"], ci_low=last["reml_knha_ci_low"],
                      ci_high=last["reml_knha_ci_high"], i2=last["i2"], pvalue=last["pvalue"],
                      dl_estimate=last["dl_z_estimate"], dl_ci_low=last["dl_z_ci_low"], dl_ci_high=last["dl_z_ci_high"])
    report.record_many("clinical.gmfm.latest", latest)
    report.record("clinical.gmfm.trials", int(g["study_id"].nunique()) if not g.empty else 0)
    report.record("clinical.gmfm.timepoints_pooled", int((out["k"] >= 2).sum()) if not out.empty else 0)
    return out


def gmfm_forest_data(ev: Evidence) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: GMFM by timepoint."""
    from ..engine.rma import rma

    g = gmfm_effects(ev)
    g["timepoint_group"] = [f"{m:g} months" for m in g["months"]]
    pooled = []
    for grp, sg in g.groupby("timepoint_group", sort=False):
        if len(sg) >= 2:
            f = rma(sg["yi"].to_numpy(float), sg["vi"].to_numpy(float), **PRIMARY)
            pooled.append({"group": grp, "label": "Pooled (REML + HK)", "estimate": f.estimate,
                           "ci_low": f.ci_low, "ci_high": f.ci_high, "k": f.k, "i2": f.i2})
    return {"data": g, "label": "label", "group": "timepoint_group", "pooled": pooled,
            "xlabel": "SMD (Hedges' g) in GMFM; > 0 favours MSC",
            "title": "GMFM in controlled trials, by timepoint"}


def clinical_other_function(ev: Evidence) -> pd.DataFrame:
    """Other clinical function outcomes with an SMD (not GMFM), per trial and timepoint."""
    e = ev.effects
    g = e[(e["population"] == "clinical") & (e["mechanism"] == "function")
          & ~e["outcome"].astype("string").str.upper().str.startswith("GMFM")].copy()
    g["months"] = [_months(r) for r in g.to_dict("records")]
    g["ci_low"] = g["yi"] - 1.959963984540054 * np.sqrt(g["vi"])
    g["ci_high"] = g["yi"] + 1.959963984540054 * np.sqrt(g["vi"])
    return g[["study_id", "outcome", "months", "n1i", "n2i", "yi", "ci_low", "ci_high", "conversion"]] \
        .rename(columns={"yi": "smd"}).reset_index(drop=True)


def adverse_events(ev: Evidence) -> pd.DataFrame:
    """Risk ratios (MSC vs control) of every adverse-event row with counts in both arms
    (metafor's RR with 0.5 added to zero cells; not estimable when both arms have 0)."""
    from ..engine.effectsize import escalc

    ex = ev.extracted
    a = ex[(ex["mechanism"] == "safety") & (ex["comparison_type"] == "between_groups")
           & ex["x1i"].notna() & ex["x2i"].notna() & ex["n1i"].notna() & ex["n2i"].notna()].copy()
    if a.empty:
        return pd.DataFrame(columns=["study_id", "outcome", "x1i", "n1i", "x2i", "n2i", "rr", "ci_low",
                                     "ci_high", "yi", "vi", "note"])
    for c in ("x1i", "n1i", "x2i", "n2i"):
        a[c] = pd.to_numeric(a[c]).astype(float)
    both0 = (a["x1i"] == 0) & (a["x2i"] == 0)
    est = a[~both0]
    rows = []
    if not est.empty:
        r = escalc("RR", ai=est["x1i"].to_numpy(), n1i=est["n1i"].to_numpy(), ci=est["x2i"].to_numpy(),
                   n2i=est["n2i"].to_numpy())
        yi, vi = np.asarray(r["yi"], float), np.asarray(r["vi"], float)
        for (_, row), y, v in zip(est.iterrows(), yi, vi):
            se = math.sqrt(v)
            rows.append({"study_id": row["study_id"], "outcome": row["outcome"], "x1i": int(row["x1i"]),
                         "n1i": int(row["n1i"]), "x2i": int(row["x2i"]), "n2i": int(row["n2i"]),
                         "rr": math.exp(y), "ci_low": math.exp(y - 1.959963984540054 * se),
                         "ci_high": math.exp(y + 1.959963984540054 * se), "yi": y, "vi": v, "note": ""})
    for _, row in a[both0].iterrows():
        rows.append({"study_id": row["study_id"], "outcome": row["outcome"], "x1i": 0, "n1i": int(row["n1i"]),
                     "x2i": 0, "n2i": int(row["n2i"]), "rr": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                     "yi": np.nan, "vi": np.nan, "note": "no events in either arm: RR not estimable"})
    out = pd.DataFrame(rows)
    report.record("clinical.ae.rows", len(out))
    report.record("clinical.ae.trials", int(out["study_id"].nunique()))
    report.record("clinical.ae.estimable", int(out["rr"].notna().sum()))
    report.record("clinical.ae.significant", int(((out["ci_low"] > 1) | (out["ci_high"] < 1)).sum()))
    sae = out[out["outcome"].astype(str).str.contains("serious", case=False)]
    report.record("clinical.sae.trials", int(sae["study_id"].nunique()))
    report.record("clinical.sae.events_msc", int(sae["x1i"].sum()))
    report.record("clinical.sae.events_control", int(sae["x2i"].sum()))
    report.record("clinical.sae.participants", int(sae["n1i"].sum() + sae["n2i"].sum()))
    return out


def single_arm_summary(ev: Evidence) -> pd.DataFrame:
    """Uncontrolled clinical reports: what they report (direction of pre-post change, events),
    described, never pooled (protocol 6.2)."""
    ex = ev.extracted.merge(ev.studies[["study_id", "population", "design"]], on="study_id", how="left")
    g = ex[(ex["population"] == "clinical") & ex["comparison_type"].isin(["pre_post", "events_single_arm"])]
    rows = []
    for sid, sg in g.groupby("study_id", sort=True):
        rows.append({"study_id": sid, "design": sg["design"].iloc[0], "rows": len(sg),
                     "outcomes": "; ".join(sorted(set(sg["outcome"].astype(str)))[:6]),
                     "improved_reported": int((sg["direction"] == "favours_msc").sum()),
                     "events_rows": int((sg["comparison_type"] == "events_single_arm").sum())})
    out = pd.DataFrame(rows)
    report.record("clinical.uncontrolled.reports", len(out))
    return out


#: Where the published meta-analyses' pooled estimates are read from, first found wins
#: (the merged table, else the extraction batch that read them; each row has a URL and locator).
PUBLISHED_FILES = ("review/published_estimates.csv", "data/published_estimates.csv",
                   "review/published_meta_analyses.csv", "data/staging/PUB/published_estimates.csv")


def published_estimates(ev: Evidence) -> pd.DataFrame:
    """Pooled estimates of published meta-analyses as extracted (with ``source_url`` and
    ``source_locator``); empty when no file exists. The file used is in ``attrs['file']``."""
    for rel in PUBLISHED_FILES:
        p = ev.root / rel
        if p.exists():
            d = pd.read_csv(p)
            d.attrs["file"] = rel
            return d
    return pd.DataFrame()


def _published_group(r) -> str:
    cells = str(r.get("cell_types", "")).lower()
    if cells.startswith("msc only"):
        return "Published, MSC only"
    if "msc a subset" in cells or "mixed" in cells or "all" in cells:
        return "Published, mixed cell types"
    return "Published, no MSC trial" if "no msc" in cells else "Published, other"


def published_comparison(ev: Evidence) -> pd.DataFrame:
    """Clinical outcomes: our estimates next to those of the published meta-analyses.

    The published numbers come from the extracted table (:func:`published_estimates`), never
    typed. ``difference`` says, from the data, why the numbers may differ (cell types pooled,
    number of studies, measure, timepoint).
    """
    pub = published_estimates(ev)
    gm = gmfm_by_timepoint(ev)
    ours_k = int(gm["k"].max()) if not gm.empty else 0
    rows = []
    for _, r in gm.iterrows():
        if r["k"] >= 2:
            rows.append({"group": "This review", "source": "This review", "outcome": "GMFM",
                         "timepoint": f"{r['months']:g} months", "measure": "SMD", "k": int(r["k"]),
                         "n": int(r["participants"]), "estimate": r["reml_knha_estimate"],
                         "ci_low": r["reml_knha_ci_low"], "ci_high": r["reml_knha_ci_high"],
                         "cell_types": "MSC only", "locator": "review/results.json", "difference": ""})
    ae = adverse_events(ev)
    for _, r in ae[ae["rr"].notna()].iterrows():
        rows.append({"group": "This review", "source": "This review", "outcome": str(r["outcome"]),
                     "timepoint": "", "measure": "RR", "k": 1, "n": int(r["n1i"] + r["n2i"]),
                     "estimate": r["rr"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "cell_types": f"MSC only ({r['study_id']})", "locator": "review/tables/adverse_events.csv",
                     "difference": ""})
    if not pub.empty:
        cl = pub[pub["population"] == "clinical"]
        for _, r in cl.iterrows():
            r = r.to_dict()
            diff = []
            grp = _published_group(r)
            if grp != "Published, MSC only":
                diff.append("pools non-MSC cell products")
            if pd.notna(r.get("k_studies")) and str(r.get("measure")) == "SMD" and "GMFM" in str(r["outcome"]).upper():
                diff.append(f"{int(r['k_studies'])} studies vs {ours_k} here")
            if pd.isna(r.get("measure")):
                diff.append("effect measure not stated on the page read")
            if pd.isna(r.get("k_studies")):
                diff.append("number of studies not seen")
            rows.append({"group": grp, "source": r["review_id"], "outcome": r["outcome"],
                         "timepoint": "" if pd.isna(r.get("timepoint")) else str(r["timepoint"]),
                         "measure": "" if pd.isna(r.get("measure")) else r["measure"],
                         "k": None if pd.isna(r.get("k_studies")) else int(r["k_studies"]),
                         "n": None if pd.isna(r.get("n_participants")) else int(r["n_participants"]),
                         "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "cell_types": r.get("cell_types"),
                         "locator": f"{r.get('source_locator')} ({r.get('source_url')})",
                         "difference": "; ".join(diff)})
    out = pd.DataFrame(rows)
    report.record("published.file", pub.attrs.get("file") if not pub.empty else None)
    report.record("published.rows", int(len(pub)))
    if not pub.empty:
        msc = pub[(pub["population"] == "clinical") & pub["cell_types"].astype(str).str.lower().str.startswith("msc only")
                  & pub["outcome"].astype(str).str.upper().str.startswith("GMFM")]
        report.record("published.gmfm_msc_only.rows", len(msc))
        report.record("published.gmfm_msc_only.min", float(msc["estimate"].min()) if len(msc) else None)
        report.record("published.gmfm_msc_only.max", float(msc["estimate"].max()) if len(msc) else None)
        report.record("published.gmfm_msc_only.max_k", float(msc["k_studies"].max()) if msc["k_studies"].notna().any()
                      else None)
    return out


def published_gmfm_forest_data(ev: Evidence) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: GMFM, this review vs published."""
    c = published_comparison(ev)
    # standardised effects only (an MD of another scale would not be comparable); the measure is
    # missing on some pages read (kept, flagged in the label)
    g = c[c["outcome"].astype(str).str.upper().str.contains("GMFM|GROSS MOTOR") & c["estimate"].notna()
          & c["measure"].fillna("").isin(["SMD", ""])].copy()
    g["label"] = [f"{r.source}: {r.outcome if r.source != 'This review' else 'GMFM'}"
                  + (f", {r.timepoint}" if r.timepoint else "") + (f" (k = {int(r.k)})" if pd.notna(r.k) else "")
                  + (" [measure not stated]" if not r.measure else "")
                  for r in g.itertuples()]
    g["label"] = [t if len(t) <= 72 else t[:69] + "..." for t in g["label"]]
    g["yi"] = g["estimate"]
    return {"data": g, "label": "label", "group": "group", "ci_low": "ci_low", "ci_high": "ci_high",
            "xlabel": "Pooled GMFM effect (SMD unless stated; > 0 favours cells)",
            "favours": ("favours control", "favours cell therapy"),
            "title": "GMFM: this review and published meta-analyses"}


def published_preclinical(ev: Evidence) -> pd.DataFrame:
    """Preclinical published pooled estimates next to this review's direction counts in the same family."""
    pub = published_estimates(ev)
    if pub.empty:
        return pd.DataFrame()
    pre = pub[pub["population"] == "preclinical"].copy()
    sd = ev.study_dirs[(ev.study_dirs["population"] == "preclinical") & (ev.study_dirs["product_class"] == "msc")]

    def family(outcome):
        o = str(outcome).lower()
        if any(w in o for w in ("motor", "cognitive", "cylinder", "rotarod", "maze", "recognition")):
            return "function"
        if any(w in o for w in ("infarct", "neuron", "oligodendro", "lesion")):
            return "neuroregeneration"
        if "apoptosis" in o:
            return "anti_apoptosis"
        if any(w in o for w in ("glia", "inflamm", "tnf", "astro")):
            return "immunomodulation"
        return ""

    pre["family"] = pre["outcome"].map(family)
    counts = sd.groupby("mechanism")["direction"].agg(
        lambda s: f"{(s == 'favours_msc').sum()} of {len(s)} studies favour MSC (direction only)")
    pre["this_review"] = pre["family"].map(counts).fillna("")
    pre["group"] = [_published_group(r) for r in pre.to_dict("records")]
    return pre[["review_id", "group", "subgroup", "outcome", "measure", "k_studies", "estimate", "ci_low", "ci_high",
                "family", "this_review", "source_locator", "source_url"]].reset_index(drop=True)


def published_note(ev: Evidence) -> str:
    """Where the published meta-analyses' numbers come from, and what they are."""
    pub = published_estimates(ev)
    if pub.empty:
        return ("No table of published pooled estimates exists yet (looked for "
                + ", ".join(f"`{p}`" for p in PUBLISHED_FILES) + "): the comparison is not shown. Published numbers "
                "are never typed into a notebook.")
    by = pub.groupby("review_id").size()
    msc_only = pub["cell_types"].astype(str).str.lower().str.startswith("msc only")
    only = sorted(set(pub.loc[msc_only, "review_id"]))
    mixed = sorted(set(pub.loc[~msc_only, "review_id"]) - set(only))
    return (f"{len(pub)} published pooled estimates from {len(by)} reviews ("
            + ", ".join(f"{k} {v}" for k, v in by.items())
            + f") are read from `{pub.attrs['file']}`, each with the URL and locator of the page it was read on. "
            f"MSC products only: {', '.join(only) or 'none'}. Other cell products pooled as well (a different "
            f"question): {', '.join(mixed) or 'none'}.")


# ---------------------------------------------------------------------------
# 06 Robustness
# ---------------------------------------------------------------------------

def families_for_robustness(ev: Evidence) -> dict[str, pd.DataFrame]:
    """Every set of independent effects that was pooled: the mechanism families with >= 2
    studies and the GMFM timepoints with >= 2 trials."""
    out = {}
    prim = primary_effects(ev)
    for fam in pooled_families(ev):
        g = prim[(prim["population"] == fam[0]) & (prim["product_class"] == fam[1]) & (prim["mechanism"] == fam[2])]
        out[" / ".join(fam)] = g.reset_index(drop=True)
    gm = gmfm_effects(ev)
    for m, sg in gm.groupby("months", sort=True):
        if len(sg) >= 2:
            out[f"clinical GMFM at {m:g} months"] = sg.reset_index(drop=True)
    return out


def small_study_assessment(ev: Evidence) -> pd.DataFrame:
    """Egger's test and trim-and-fill per pooled family where k >= 10, else why not (recorded)."""
    from ..diagnostics import bias

    rows = []
    for name, g in families_for_robustness(ev).items():
        k = len(g)
        rec = {"family": name, "k": k}
        if k >= MIN_K_SMALL_STUDY:
            eg = bias.regtest(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
            tf = bias.trimfill(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
            rec.update(egger_z=eg.statistic, egger_pvalue=eg.pvalue, trimfill_k0=tf.k0,
                       trimfill_estimate=tf.estimate, assessed=True, reason="")
        else:
            rec.update(assessed=False, reason=f"k = {k} < {MIN_K_SMALL_STUDY}: funnel plot, Egger's test and "
                       "trim-and-fill have too little power to mean anything (Cochrane Handbook 13.3.5.4)")
        rows.append(rec)
    out = pd.DataFrame(rows, columns=["family", "k", "assessed", "reason", "egger_z", "egger_pvalue",
                                      "trimfill_k0", "trimfill_estimate"])
    report.record("robustness.small_study.families", len(out))
    report.record("robustness.small_study.assessed", int(out["assessed"].sum()) if not out.empty else 0)
    report.record("robustness.small_study.max_k", int(out["k"].max()) if not out.empty else 0)
    return out


def estimator_comparison(ev: Evidence) -> pd.DataFrame:
    """Each pooled family under REML/DL/PM x z/Hartung-Knapp (recorded for REML+knha, DL+z)."""
    from ..engine.rma import rma

    rows = []
    for name, g in families_for_robustness(ev).items():
        for method in ("REML", "DL", "PM"):
            for test in ("knha", "z"):
                f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), method=method, test=test)
                rows.append({"family": name, "method": method, "test": test, "k": f.k, "estimate": f.estimate,
                             "ci_low": f.ci_low, "ci_high": f.ci_high, "pvalue": f.pvalue, "tau2": f.tau2,
                             "i2": f.i2})
    out = pd.DataFrame(rows)
    if not out.empty:
        sig = out.assign(sig=(out["ci_low"] > 0) | (out["ci_high"] < 0))
        report.record("robustness.estimators.fits", len(out))
        report.record("robustness.estimators.significant_z", int(sig[sig["test"] == "z"]["sig"].sum()))
        report.record("robustness.estimators.significant_knha", int(sig[sig["test"] == "knha"]["sig"].sum()))
        report.record("robustness.estimators.families", int(out["family"].nunique()))
    return out


def leave_one_out(ev: Evidence) -> pd.DataFrame:
    """Leave-one-out per pooled family with k >= 3; else a row saying why not."""
    from ..diagnostics import influence

    rows = []
    for name, g in families_for_robustness(ev).items():
        if len(g) >= MIN_K_LEAVE1OUT:
            l1 = influence.leave1out(g["yi"].to_numpy(float), g["vi"].to_numpy(float), slab=list(g["study_id"]),
                                       **PRIMARY)
            l1 = l1.assign(family=name)
            rows.append(l1)
        else:
            rows.append(pd.DataFrame([{"family": name, "note": f"k = {len(g)}: leaving one out leaves "
                                       f"{len(g) - 1} study, not a meta-analysis"}]))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    report.record("robustness.leave1out.families_assessed",
                  int(sum(len(g) >= MIN_K_LEAVE1OUT for g in families_for_robustness(ev).values())))
    return out


def bayesian(ev: Evidence) -> pd.DataFrame:
    """Bayesian random-effects model (half-normal(0.5) prior on tau, protocol 6.3) for every
    pooled family: posterior median and 95% interval of mu, P(mu > 0) (recorded)."""
    from ..engine import bayes

    rows = []
    for name, g in families_for_robustness(ev).items():
        b = bayes.bayesmeta(g["yi"].to_numpy(float), g["vi"].to_numpy(float), tau_prior="halfnormal", tau_scale=0.5)
        s = b.summary.set_index(b.summary.columns[0]) if "mu" not in b.summary.index else b.summary
        mu, tau = s.loc["mu"], s.loc["tau"]
        p_pos = 1.0 - float(b.cdf(0.0)) if hasattr(b, "cdf") else np.nan
        rows.append({"family": name, "k": len(g), "mu_median": mu["median"], "mu_ci_low": mu["ci_low"],
                     "mu_ci_high": mu["ci_high"], "tau_median": tau["median"], "p_mu_gt_0": p_pos})
        base = _key("bayes", name.replace(" / ", "_"))
        report.record_many(base, {"mu_median": mu["median"], "mu_ci_low": mu["ci_low"], "mu_ci_high": mu["ci_high"],
                                  "p_mu_gt_0": p_pos})
    out = pd.DataFrame(rows)
    report.record("bayes.families", len(out))
    report.record("bayes.min_p_mu_gt_0", float(out["p_mu_gt_0"].min()) if len(out) else None)
    report.record("bayes.max_p_mu_gt_0", float(out["p_mu_gt_0"].max()) if len(out) else None)
    return out


def prior_sensitivity(ev: Evidence) -> pd.DataFrame:
    """Posterior of mu under six heterogeneity priors, per pooled family."""
    from ..engine import bayes

    rows = []
    for name, g in families_for_robustness(ev).items():
        t = bayes.prior_sensitivity(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
        rows.append(t.assign(family=name))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def posterior_curves(ev: Evidence, family: str | None = None) -> dict:
    """Posterior densities of mu (half-normal 0.5 and half-Cauchy 0.5 priors) for
    :func:`mscreview.output.plotting.posterior`; default: the first pooled family."""
    from ..engine import bayes

    fams = families_for_robustness(ev)
    if not fams:
        return {}
    name = family or next(iter(fams))
    g = fams[name]
    curves = {}
    for prior in ("halfnormal", "halfcauchy"):
        b = bayes.bayesmeta(g["yi"].to_numpy(float), g["vi"].to_numpy(float), tau_prior=prior, tau_scale=0.5)
        lo, hi = float(b.quantile(0.001)), float(b.quantile(0.999))
        x = np.linspace(lo, hi, 400)
        curves[f"{prior}(0.5) prior on tau"] = (x, np.asarray(b.pdf(x), float))
    return curves


def shared_controls(ev: Evidence) -> pd.DataFrame:
    """Effects whose control arm is shared with another comparison (n split, protocol 6.5)."""
    e = ev.effects
    cols = [c for c in ("row_id", "study_id", "outcome", "control_group_id", "n_arms_sharing", "n2i")
            if c in e]
    out = e[e["shared_control"].astype(bool)][cols] if "shared_control" in e else e.iloc[0:0][cols]
    report.record("robustness.shared_control_effects", len(out))
    return out.reset_index(drop=True)


def overlapping_cohorts(ev: Evidence) -> pd.DataFrame:
    """Cohorts reported in more than one study (counted once in every analysis)."""
    st = ev.studies
    g = st.groupby("cohort_id")["study_id"].agg(list)
    g = g[g.map(len) > 1]
    out = pd.DataFrame({"cohort_id": g.index, "studies": g.map(lambda s: "; ".join(sorted(s))).values,
                        "reports": g.map(len).values})
    report.record("robustness.overlapping_cohorts", len(out))
    return out


def sensitivity_variants(ev: Evidence) -> pd.DataFrame:
    """Pooled estimates per family under the protocol's sensitivity analyses (6.7): unstated
    dispersions read as SD or SEM, excluding studies at high overall risk of bias, excluding
    secondary-source rows, MSC-derived cells pooled with MSC. Recorded (count of families whose
    conclusion, CI excluding 0 or not, changes)."""
    from . import rules

    def pooled(effects):
        if effects.empty:
            return pd.DataFrame()
        return rules.pooled_by(rules.primary_effects(effects), **PRIMARY)

    rb = ev.risk_of_bias
    high = set(rb.loc[(rb["domain"] == "overall") & rb["judgement"].isin(["high", "serious", "critical"]),
                      "study_id"]) if not rb.empty else set()
    variants = {"primary": ev.effects}
    for how in ("SD", "SEM"):
        e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", unstated_dispersion=how)
        variants[f"unstated dispersion read as {how}"] = e
    variants["excluding high overall risk of bias"] = ev.effects[~ev.effects["study_id"].isin(high)]
    if "source_kind" in ev.effects:
        variants["excluding secondary-source rows"] = ev.effects[ev.effects["source_kind"] != "secondary"]
    if "product_class" in ev.effects:
        variants["MSC-derived cells pooled with MSC"] = ev.effects.assign(
            product_class=ev.effects["product_class"].replace({"msc_derived_cells": "msc"}))
    rows = []
    for name, e in variants.items():
        pb = pooled(e)
        for _, r in pb.iterrows() if not pb.empty else []:
            rows.append({"variant": name, "population": r["population"], "product_class": r["product_class"],
                         "mechanism": r["mechanism"], "k": int(r["k"]), "pooled": bool(r["pooled"]),
                         "estimate": r.get("estimate"), "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high")})
    out = pd.DataFrame(rows)
    if not out.empty:
        sig = out.assign(sig=(out["ci_low"] > 0) | (out["ci_high"] < 0))
        base = sig[sig["variant"] == "primary"].set_index(["population", "product_class", "mechanism"])["sig"]
        other = sig[sig["variant"] != "primary"].set_index(["population", "product_class", "mechanism"])
        changed = sum(1 for idx, r in other.iterrows() if idx in base.index and bool(base.loc[idx]) != bool(r["sig"]))
        report.record("robustness.variants.count", int(out["variant"].nunique()))
        report.record("robustness.variants.conclusion_changes", int(changed))
    return out


def dispersion_sensitivity(ev: Evidence) -> pd.DataFrame:
    """Effect sizes gained when rows with an unstated dispersion are read as SD or as SEM."""
    from . import rules

    rows = []
    for how in ("exclude", "SD", "SEM"):
        e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", unstated_dispersion=how)
        rows.append({"unstated_dispersion": how, "effect_sizes": len(e), "studies": e["study_id"].nunique(),
                     "mean_smd": float(e["yi"].mean()) if len(e) else np.nan})
    out = pd.DataFrame(rows)
    report.record("robustness.dispersion.extra_effects_if_sd",
                  int(out.loc[1, "effect_sizes"] - out.loc[0, "effect_sizes"]))
    return out


# ---------------------------------------------------------------------------
# 07 Risk of bias and certainty
# ---------------------------------------------------------------------------

def rob_tools(ev: Evidence) -> list[str]:
    """Tools used in data/risk_of_bias.csv, in schema order."""
    present = set(ev.risk_of_bias["tool"].dropna())
    return [t for t in schema.ROB_TOOLS if t in present]


def rob_summary_table(ev: Evidence) -> pd.DataFrame:
    """Per tool and domain, the number of studies at each judgement (recorded)."""
    rb = ev.risk_of_bias
    for tool in schema.ROB_TOOLS:   # cited by the text even when a tool was not used
        report.record(_key("rob", tool, "studies"), int(rb.loc[rb["tool"] == tool, "study_id"].nunique())
                      if not rb.empty else 0)
    if rb.empty:
        report.record("rob.SYRCLE.share_unclear", None)
        return pd.DataFrame()
    t = pd.crosstab([rb["tool"], rb["domain"]], rb["judgement"]).reset_index()
    avail = ev.studies.set_index("study_id")["data_availability"] if not ev.studies.empty else pd.Series(dtype=object)
    for tool, g in rb.groupby("tool"):
        report.record(_key("rob", tool, "studies"), int(g["study_id"].nunique()))
        report.record(_key("rob", tool, "abstract_only"),
                      int((g.drop_duplicates("study_id")["study_id"].map(avail) == "abstract_only").sum()))
        for j, n in g["judgement"].value_counts().items():
            report.record(_key("rob", tool, "judgements", j), int(n))
        if tool == "SYRCLE":
            share_unclear = float((g["judgement"] == "unclear").mean())
            report.record("rob.SYRCLE.share_unclear", share_unclear)
    overall = rb[rb["domain"] == "overall"]
    for j, n in overall.groupby("tool")["judgement"].value_counts().items():
        report.record(_key("rob", j[0], "overall", j[1]), int(n))
    return t


def _overall_rob(ev: Evidence, study_ids) -> str:
    rb = ev.risk_of_bias
    o = rb[(rb["domain"] == "overall") & rb["study_id"].isin(list(study_ids))]["judgement"]
    if o.empty:
        return "not assessed"
    if (o.isin(["high", "serious", "critical"])).any():
        return "high"
    if (o.isin(["some_concerns", "moderate", "no_information"])).any():
        return "some_concerns"
    return "low"


def grade_sof(ev: Evidence) -> pd.DataFrame:
    """GRADE summary of findings for the main clinical outcomes (GMFM, serious adverse events).

    The rules, applied mechanically and stated in each row (GRADE handbook section 5):

    - start: high for randomised trials;
    - risk of bias: -1 if any trial's RoB 2 overall judgement is some concerns, -2 if high;
    - inconsistency: -1 if I2 > 50% (not assessable with one trial);
    - indirectness: 0 (population, intervention and outcome match the question);
    - imprecision: -1 if the 95% CI includes no effect, another -1 if fewer than 400
      participants (optimal information size) or no events;
    - publication bias: not assessable with fewer than 10 trials (not downgraded, noted).
    """
    rows = []
    gm = gmfm_by_timepoint(ev)
    pooled = gm[gm["k"] >= 2] if not gm.empty else gm
    if not pooled.empty:
        r = pooled.sort_values("months").iloc[-1]
        sids = r["studies"].split("; ")
        rob = _overall_rob(ev, sids)
        d_rob = {"low": 0, "some_concerns": -1, "high": -2}.get(rob, -1)
        d_inc = -1 if (pd.notna(r.get("i2")) and r["i2"] > 50) else 0
        crosses = r["reml_knha_ci_low"] <= 0 <= r["reml_knha_ci_high"]
        d_imp = -(int(crosses) + int(r["participants"] < OIS_CONTINUOUS))
        total = 4 + d_rob + d_inc + max(d_imp, -2)
        rows.append({
            "outcome": f"GMFM (SMD) at {r['months']:g} months", "trials": int(r["k"]),
            "participants": int(r["participants"]),
            "effect": f"SMD {report.fmt(r['reml_knha_estimate'])} ({report.fmt(r['reml_knha_ci_low'])} to "
                      f"{report.fmt(r['reml_knha_ci_high'])})",
            "risk_of_bias": f"{d_rob} ({_label(rob)})", "inconsistency": f"{d_inc} (I2 {report.fmt(r['i2'], '.0f')}%)",
            "indirectness": "0", "imprecision": f"{max(d_imp, -2)} (CI {'includes' if crosses else 'excludes'} 0; "
                                                f"n = {int(r['participants'])})",
            "publication_bias": f"not assessable (k = {int(r['k'])} < 10)",
            "certainty": _certainty(total)})
        report.record("grade.gmfm.certainty", _certainty(total))
    ae = adverse_events(ev)
    sae = ae[ae["outcome"].astype(str).str.contains("serious", case=False)] if not ae.empty else ae
    if not sae.empty:
        sids = sorted(set(sae["study_id"]))
        rob = _overall_rob(ev, sids)
        d_rob = {"low": 0, "some_concerns": -1, "high": -2}.get(rob, -1)
        n = int(sae["n1i"].sum() + sae["n2i"].sum())
        events = int(sae["x1i"].sum() + sae["x2i"].sum())
        d_imp = -2 if events == 0 or n < OIS_CONTINUOUS else -1
        total = 4 + d_rob + d_imp
        rows.append({
            "outcome": "Serious adverse events (RR)", "trials": len(sids), "participants": n,
            "effect": f"{int(sae['x1i'].sum())}/{int(sae['n1i'].sum())} vs {int(sae['x2i'].sum())}/"
                      f"{int(sae['n2i'].sum())} events; RR not estimable" if events == 0 else "see RR table",
            "risk_of_bias": f"{d_rob} ({_label(rob)})", "inconsistency": "not assessable (one trial)"
            if len(sids) == 1 else "0", "indirectness": "0",
            "imprecision": f"{d_imp} ({events} events in {n} participants)",
            "publication_bias": f"not assessable (k = {len(sids)} < 10)", "certainty": _certainty(total)})
        report.record("grade.sae.certainty", _certainty(total))
    return pd.DataFrame(rows)


def _certainty(score: int) -> str:
    return {4: "high", 3: "moderate", 2: "low"}.get(max(score, 1), "very low")


# ---------------------------------------------------------------------------
# 08 Claims
# ---------------------------------------------------------------------------

def claims_table(ev: Evidence) -> pd.DataFrame:
    """The source article's claims C1-C6 with verdict, evidence and reason (recorded)."""
    c = ev.claims.copy()
    if c.empty:
        return c
    order = {v: i for i, v in enumerate(schema.VERDICTS)}
    for v in schema.VERDICTS:
        report.record(f"claims.{v}", int((c["verdict"] == v).sum()))
    for i in range(1, 7):   # C1-C6 are cited by the text
        report.record(f"claims.C{i}.verdict", "not assessed")
    for _, r in c.iterrows():
        report.record(f"claims.{r['claim_id']}.verdict", _label(r["verdict"]))
    report.record("claims.total", len(c))
    c["verdict"] = c["verdict"].map(lambda v: schema.VERDICTS.get(v, v))
    return c.sort_values("claim_id").reset_index(drop=True)[["claim_id", "claim", "verdict", "evidence",
                                                             "study_ids", "why"]]


# ---------------------------------------------------------------------------
# Narrative helpers (numbers -> sentences, never typed in notebooks)
# ---------------------------------------------------------------------------

def direction_sentence(ev: Evidence) -> str:
    """What the direction-only evidence can and cannot say, from recorded numbers."""
    st = sign_tests(ev)
    if st.empty:
        return "No study-level directions could be determined."
    pre = st[(st["population"] == "preclinical") & (st["product_class"] == "msc")]
    n_ctrl = int(st["favours_control"].sum())
    n_msc = int(st["favours_msc"].sum())
    n_mixed = int(st["mixed"].sum())
    unclear = int((ev.directions["significant"] == "unclear").sum())
    big = pre[pre["studies"] >= 6]
    text = (f"Across all families, {n_msc} study-level directions favour MSC, {n_ctrl} favour the control and "
            f"{n_mixed} are mixed. {unclear} of {len(ev.directions)} between-group rows give no usable statement of "
            "significance. ")
    if len(big):
        text += (f"Among the {len(big)} preclinical MSC families with at least six studies, the largest sign-test "
                 f"p value is {report.fmt(big['pvalue'].max(), '.3g')}. ")
    text += "A sign test counts directions, not effect sizes: it cannot say how large the benefit is. "
    if n_ctrl == 0:
        text += ("No study reports a result favouring the control, which is also what selective reporting and "
                 "publication bias would produce.")
    else:
        text += ("With so few results favouring the control, selective reporting and publication bias remain a "
                 "plausible part of the explanation.")
    return text


# ---------------------------------------------------------------------------
# Figures whose number depends on the data (one per family, tool, ...)
# ---------------------------------------------------------------------------

def export_forests(ev: Evidence, notebook: str) -> list:
    """A forest plot (sources as subgroups, pooled diamond, PI when k >= 3) for every
    family with a pooled estimate; returns the exported figures."""
    from ..output import figures, plotting

    out = figures.ExportedFigures()
    for fam in pooled_families(ev):
        kw = forest_data(ev, *fam)
        fig = plotting.forest(**kw)
        name = "forest_" + "_".join(fam)
        out.append(figures.export(fig, name, f"Forest plot, {kw['title']}: one effect per study (protocol rule), "
                                  "grouped by MSC source; diamond: random-effects estimate (REML + Hartung-Knapp); "
                                  "dashed line: 95% prediction interval where k >= 3.", notebook,
                                  data=kw["data"][["study_id", "yi", "vi"]]))
    return out


def ae_forest_data(ev: Evidence) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: estimable adverse-event RRs."""
    a = adverse_events(ev)
    a = a[a["yi"].notna()].copy()
    a["label"] = [f"{r.study_id}: {str(r.outcome).replace('adverse event: ', '')} ({r.x1i}/{r.n1i} vs {r.x2i}/{r.n2i})"
                  for r in a.itertuples()]
    return {"data": a, "label": "label", "transf": np.exp, "xscale": "log", "null": 0.0,
            "xlabel": "Risk ratio (MSC vs control), log scale",
            "favours": ("fewer events with MSC", "more events with MSC"),
            "title": "Adverse events in controlled trials"}


def export_funnels(ev: Evidence, notebook: str) -> list:
    """Contour-enhanced funnel plots (with trim-and-fill) for families with k >= 10."""
    from ..diagnostics import bias
    from ..output import figures, plotting

    out = figures.ExportedFigures()
    for name, g in families_for_robustness(ev).items():
        if len(g) < MIN_K_SMALL_STUDY:
            continue
        tf = bias.trimfill(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
        fill = np.asarray(tf.fill, bool)
        filled = {"yi": np.asarray(tf.yi)[fill], "vi": np.asarray(tf.vi)[fill]} if fill.any() else None
        fig = plotting.funnel(g["yi"], g["vi"], estimate=tf.estimate, filled=filled, xlabel="SMD", title=name)
        out.append(figures.export(fig, "funnel_" + _slug(name),
                                  f"Contour-enhanced funnel plot, {name}.", notebook, data=g[["yi", "vi"]]))
    return out


def influence_table(ev: Evidence) -> pd.DataFrame:
    """Influence diagnostics (metafor's influence.rma.uni) for families with k >= 3."""
    from ..diagnostics import influence

    rows = []
    for name, g in families_for_robustness(ev).items():
        if len(g) >= MIN_K_LEAVE1OUT:
            t = influence.influence(g["yi"].to_numpy(float), g["vi"].to_numpy(float), slab=list(g["study_id"]),
                                      **PRIMARY)
            rows.append(t.assign(family=name))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        [{"family": n, "note": f"k = {len(g)} < {MIN_K_LEAVE1OUT}: influence diagnostics not informative"}
         for n, g in families_for_robustness(ev).items()])
    return out


def export_leave1out(ev: Evidence, notebook: str) -> list:
    """Leave-one-out plots for families with k >= 3."""
    from ..output import figures, plotting
    from ..diagnostics import influence
    from ..engine.rma import rma

    out = figures.ExportedFigures()
    for name, g in families_for_robustness(ev).items():
        if len(g) < MIN_K_LEAVE1OUT:
            continue
        l1 = influence.leave1out(g["yi"].to_numpy(float), g["vi"].to_numpy(float), slab=list(g["study_id"]),
                                   **PRIMARY)
        full = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), **PRIMARY)
        fig = plotting.leave1out(l1, full=full, label="study", title=name)
        out.append(figures.export(fig, "leave1out_" + _slug(name),
                                  f"Leave-one-out, {name}.", notebook, data=g[["yi", "vi"]]))
    return out


def export_gosh(ev: Evidence, notebook: str, min_k: int = 6) -> list:
    """GOSH plots for families with at least ``min_k`` studies (fewer subsets show nothing)."""
    from ..output import figures, plotting
    from ..diagnostics.gosh import gosh

    out = figures.ExportedFigures()
    for name, g in families_for_robustness(ev).items():
        if len(g) < min_k:
            continue
        res = gosh(g["yi"].to_numpy(float), g["vi"].to_numpy(float), progress=False, seed=1)
        frame = res.frame
        fig = plotting.gosh(frame, title=name)
        out.append(figures.export(fig, "gosh_" + _slug(name), f"GOSH plot, {name}.", notebook,
                                  data=g[["yi", "vi"]]))
    return out


def export_rob(ev: Evidence, notebook: str) -> list:
    """Traffic-light and summary plots for every risk-of-bias tool used."""
    from ..output import figures, plotting

    out = figures.ExportedFigures()
    names = {"SYRCLE": "syrcle", "RoB2": "rob2", "ROBINS-I": "robins_i"}
    for tool in rob_tools(ev):
        rb = ev.risk_of_bias[ev.risk_of_bias["tool"] == tool]
        fig = plotting.rob_traffic_light(rb, tool=tool)
        out.append(figures.export(fig, f"rob_traffic_light_{names[tool]}",
                                  f"Risk of bias ({tool}), one row per study: + low, - some concerns/moderate, "
                                  "? unclear/no information, x high/serious.", notebook, data=rb))
        fig = plotting.rob_summary(rb, tool=tool)
        out.append(figures.export(fig, f"rob_summary_{names[tool]}",
                                  f"Risk of bias ({tool}): share of studies at each judgement per domain.",
                                  notebook, data=rb))
    return out


def robustness_note(ev: Evidence) -> str:
    """Which diagnostics the data allow, from the family sizes."""
    fams = families_for_robustness(ev)
    if not fams:
        return "No outcome family has two or more studies with effect sizes: no diagnostic applies."
    ks = {n: len(g) for n, g in fams.items()}
    kmax = max(ks.values())
    parts = [f"The largest pooled family has k = {kmax} studies ({', '.join(f'{n}: k = {k}' for n, k in ks.items())})."]
    if kmax < MIN_K_SMALL_STUDY:
        parts.append(f"Funnel plots, Egger's test and trim-and-fill need k >= {MIN_K_SMALL_STUDY} and are not shown.")
    if kmax < MIN_K_LEAVE1OUT:
        parts.append("Leave-one-out, influence and GOSH need at least three studies: with two, leaving one out "
                     "returns the other study's own estimate, which the forest plot already shows.")
    return " ".join(parts)
