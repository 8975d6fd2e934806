"""Study characteristics: Tables 1 and 2, the evidence maps, doses, routes and timing.

Notebook ``notebooks/02_study_characteristics.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema
from .evidence import Evidence, MECH_ORDER, SOURCE_ORDER, cites, result_key



#: Instruments of motor function or activity: a controlled trial reporting one of these between MSC
#: and control is an efficacy trial (drooling, QoL and imaging are other outcomes).
MOTOR_OUTCOME = r"GMFM|PEDI|MAS|ADL|CFA|FMFM"


def cohort_of(st: pd.DataFrame) -> pd.Series:
    """study_id -> cohort_id (the study_id itself where no cohort is given), protocol 9.7."""
    cid = st["cohort_id"].where(st["cohort_id"].notna() & (st["cohort_id"].astype("string").str.strip() != ""),
                                st["study_id"]) if "cohort_id" in st.columns else st["study_id"]
    return pd.Series(cid.to_numpy(), index=st["study_id"].to_numpy())


def cohort_counts(ev: Evidence) -> pd.DataFrame:
    """Per population: reports, studies (cohorts) and participants counted once per cohort.

    Reports are the included records of ``review/screening.csv`` (a conference abstract and the
    article of one study are two reports), falling back to the rows of ``data/studies.csv`` for a
    study without an included record; studies are distinct ``cohort_id``; participants (animals for
    preclinical) are the sum over cohorts of the cohort's largest reported ``n_total`` (protocol
    9.7), with the number of cohorts that report no n.
    """
    st = ev.studies.copy()
    st["cohort"] = cohort_of(st).to_numpy()
    sc = ev.screening if ev.screening is not None else pd.DataFrame(columns=["eligibility_decision", "study_id"])
    inc = sc[sc["eligibility_decision"] == "include"]["study_id"].value_counts()
    st["reports"] = st["study_id"].map(inc).fillna(1).clip(lower=1).astype(int)
    st["n"] = pd.to_numeric(st["n_total"], errors="coerce")
    rows = []
    for pop, g in [("all", st)] + list(st.groupby("population")):
        per = g.groupby("cohort")["n"].max()
        rows.append({"population": pop, "reports": int(g["reports"].sum()), "study_records": len(g),
                     "studies": int(g["cohort"].nunique()), "participants": int(per.fillna(0).sum()),
                     "participants_all_reports": int(g["n"].fillna(0).sum()),
                     "studies_without_n": int(per.isna().sum())})
    return pd.DataFrame(rows)


def efficacy_trials(ev: Evidence) -> list[str]:
    """Controlled trials of MSC versus a non-cell control that report a motor-function outcome
    between groups (protocol 2 and 9.1): MSC-derived cells (Chen2013) and trials whose only
    outcome is drooling (Peng2017) are not counted."""
    st = ev.studies
    ctl = st[(st["population"] == "clinical") & st["design"].isin(["rct", "nrsi_controlled"])
             & (st["product"] == "msc")]["study_id"]
    ex = ev.extracted
    col = "instrument" if "instrument" in ex.columns else "outcome"
    hit = ex[ex["study_id"].isin(ctl) & (ex["comparison_type"] == "between_groups")
             & (ex["mechanism"] == "function")
             & ex[col].astype("string").str.contains(MOTOR_OUTCOME, case=False, regex=True).fillna(False)]
    return sorted(set(hit["study_id"]))


#: Short labels for the characteristics tables (the registries in schema hold the definitions).
_SHORT = {"rct": "RCT", "nrsi_controlled": "non-randomised, controlled", "single_arm": "single arm",
          "retrospective": "retrospective series", "case_report": "case report", "animal_controlled": "controlled",
          "msc": "MSC", "msc_ev": "MSC EVs", "msc_secretome": "MSC secretome", "msc_derived_cells": "MSC-derived cells",
          "msc_modified": "modified MSC", "cord_blood": "cord blood", "umbilical_cord": "umbilical cord",
          "bone_marrow": "bone marrow", "intra_arterial": "intra-arterial", "mixed": "more than one",
          "abstract_only": "abstract", "tables_only": "tables", "full_text": "full text", "figure_only": "figures",
          "secondary_only": "secondary table", "not_reached": "not reached"}


def _display(df: pd.DataFrame, cols) -> pd.DataFrame:
    """Vocabulary slugs as short labels and empty cells as "not reported" (journal tables)."""
    out = df.copy()
    for c in cols:
        out[c] = out[c].map(lambda v: "not reported" if (v is None or (not isinstance(v, str) and pd.isna(v)))
                            else _SHORT.get(v, str(v).replace("_", " ")) if isinstance(v, str) else v)
    return out


def _dose(r) -> str:
    if pd.isna(r.get("dose")):
        return "not reported"
    unit = r.get("dose_unit")
    return f"{r['dose']:.3g} {unit if isinstance(unit, str) else ''}".strip()


@cites
def table1_clinical(ev: Evidence) -> pd.DataFrame:
    """Table 1: clinical reports (design, n, source, donor, route, dose, comparator, follow-up)."""
    nums: dict = {}
    st = ev.studies[ev.studies["population"] == "clinical"].copy()
    st["dose_text"] = [_dose(r) for r in st.to_dict("records")]
    st["cohort"] = cohort_of(st).to_numpy()
    cols = {"study_id": "Study", "cohort": "Cohort", "design": "Design", "country": "Country",
            "n_total": "n",
            "msc_source": "MSC source", "donor": "Donor", "product": "Product", "route": "Route",
            "dose_text": "Dose", "n_doses": "Doses", "comparator": "Comparator", "follow_up": "Follow-up",
            "data_availability": "Report read"}
    out = st[list(cols)].rename(columns=cols)
    cc = cohort_counts(ev).set_index("population")
    c = cc.loc["clinical"] if "clinical" in cc.index else pd.Series(0, index=cc.columns)
    nums["characteristics.clinical.reports"] = int(c["reports"])
    nums["characteristics.clinical.studies"] = int(c["studies"])      # cohorts (protocol 9.7)
    nums["characteristics.clinical.participants"] = int(c["participants"])   # once per cohort
    nums["characteristics.clinical.participants_all_reports"] = int(c["participants_all_reports"])
    ctl = st[st["design"].isin(["rct", "nrsi_controlled"])]
    nums["characteristics.clinical.controlled"] = int(ctl["cohort"].nunique())
    nums["characteristics.clinical.rct"] = int(ctl.loc[ctl["design"] == "rct", "cohort"].nunique())
    eff = efficacy_trials(ev)
    nums["characteristics.clinical.efficacy_trials"] = len(eff)
    nums["characteristics.clinical.efficacy_trials_ids"] = "; ".join(eff)
    nums["characteristics.clinical.efficacy_participants"] = int(
        pd.to_numeric(st.loc[st["study_id"].isin(eff), "n_total"], errors="coerce").fillna(0).sum())
    order = {d: i for i, d in enumerate(schema.DESIGNS)}
    out = out.sort_values(["Design", "Study"], key=lambda s: s.map(order) if s.name == "Design" else s
                          ).reset_index(drop=True)
    return _display(out, ["Design", "Country", "MSC source", "Donor", "Product", "Route", "Doses", "Follow-up",
                          "Report read"]), nums


@cites
def table2_preclinical(ev: Evidence) -> pd.DataFrame:
    """Table 2: preclinical studies (species, model, product, source, dose, route, timing)."""
    nums: dict = {}
    st = ev.studies[ev.studies["population"] == "preclinical"].copy()
    st["dose_text"] = [_dose(r) for r in st.to_dict("records")]
    st["cohort"] = cohort_of(st).to_numpy()
    cols = {"study_id": "Study", "cohort": "Cohort", "species": "Species", "strain": "Strain",
            "model": "Model",
            "product": "Product", "msc_source": "MSC source", "donor": "Donor", "dose_text": "Dose",
            "route": "Route", "timing": "Timing", "comparator": "Comparator", "n_total": "n",
            "data_availability": "Report read"}
    out = _display(st[list(cols)].rename(columns=cols).sort_values("Study").reset_index(drop=True),
                   ["Species", "Strain", "Model", "Product", "MSC source", "Donor", "Route", "Timing", "Comparator",
                    "Report read", "n"])
    cc = cohort_counts(ev).set_index("population")
    c = cc.loc["preclinical"] if "preclinical" in cc.index else pd.Series(0, index=cc.columns)
    nums["characteristics.preclinical.reports"] = int(c["reports"])
    nums["characteristics.preclinical.studies"] = int(c["studies"])   # cohorts (protocol 9.7)
    nums["characteristics.preclinical.animals"] = int(c["participants"])   # once per cohort
    nums["characteristics.preclinical.studies_without_n"] = int(c["studies_without_n"])
    # studies (cohorts) per species, protocol 9.7
    species = st.drop_duplicates("cohort")["species"].fillna("not reported").value_counts()
    for sp in sorted(set(species.index) | {"rat", "mouse"}):   # the text cites rats and mice: always present
        nums[result_key("characteristics.preclinical.species", sp)] = int(species.get(sp, 0))
    return out, nums


@cites
def evidence_map(ev: Evidence, population: str = "preclinical"):
    """Mechanism x MSC source: number of studies with at least one row (counts), and a
    second line with the animals or patients of those studies (``n = ...``).

    Returns ``(counts, annot)`` DataFrames for :func:`mscreview.output.plotting.evidence_map`."""
    nums: dict = {}
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
        nums[result_key("characteristics", population, "map", m, "studies")] = int(pairs.loc[pairs["mechanism"] == m, "study_id"].nunique())
    return (counts, annot), nums


@cites
def dose_values(ev: Evidence, population: str = "preclinical") -> pd.Series:
    """Doses given as a number of cells (per animal for preclinical, per kg for clinical)."""
    nums: dict = {}
    st = ev.studies[(ev.studies["population"] == population) & ev.studies["dose"].notna()]
    unit = st["dose_unit"].astype("string").str.lower().fillna("")
    per_kg = unit.str.contains("/kg") | unit.str.contains("per kg")
    cells = unit.str.startswith("cells")
    keep = cells & (per_kg if population == "clinical" else ~per_kg)
    v = pd.to_numeric(st.loc[keep, "dose"]).astype(float)
    nums[result_key("characteristics", population, "dose.n")] = int(len(v))
    nums[result_key("characteristics", population, "dose.median")] = float(v.median()) if len(v) else None
    nums[result_key("characteristics", population, "dose.min")] = float(v.min()) if len(v) else None
    nums[result_key("characteristics", population, "dose.max")] = float(v.max()) if len(v) else None
    return v.reset_index(drop=True), nums


@cites
def timing_table(ev: Evidence) -> pd.DataFrame:
    """Timing of administration as reported (preclinical), with route and species."""
    nums: dict = {}
    st = ev.studies[ev.studies["population"] == "preclinical"]
    out = st[["study_id", "species", "model", "timing", "route", "n_doses"]].copy()
    out["timing"] = out["timing"].fillna("not reported")
    nums["characteristics.preclinical.timing_reported"] = int((out["timing"] != "not reported").sum())
    return out.sort_values("study_id").reset_index(drop=True), nums


def numbers(ev: Evidence) -> dict:
    """Every number notebook 02 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(table1_clinical.numbers(ev))
    out.update(table2_preclinical.numbers(ev))
    out.update(evidence_map.numbers(ev, "preclinical"))
    out.update(evidence_map.numbers(ev, "clinical"))
    out.update(dose_values.numbers(ev, "preclinical"))
    out.update(dose_values.numbers(ev, "clinical"))
    out.update(timing_table.numbers(ev))
    return out
