"""Effects by mechanism: outcome families, pooled effects where comparable studies exist, the three-level model, effect directions and sign tests (SWiM).

Notebook ``notebooks/03_effects_by_mechanism.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.labels import study_labels
from ..engine.format import fmt
from ..engine.multilevel import rma_mv
from ..engine.rma import rma
from ..engine.robust import coef_test
from . import rules
from .evidence import (Evidence, FigureSpec, MECH_ORDER, PRIMARY, cites, pooled_by_mechanism,
                       pooled_families, prefixed, primary_effects, result_key, spaced)


def forest_data(ev: Evidence, population: str, product_class: str, mechanism: str) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: the primary effects of one
    family, grouped by MSC source, with the pooled estimate and prediction interval."""
    prim = primary_effects(ev)
    g = prim[(prim["population"] == population) & (prim["product_class"] == product_class)
             & (prim["mechanism"] == mechanism)].copy()
    if g.empty:
        raise ValueError(f"no effect sizes for {population}/{product_class}/{mechanism}")
    names = study_labels(ev.studies)
    g["label"] = [f"{names.get(r.study_id, r.study_id)} ({r.outcome}, {timepoint_text(r)})" for r in g.itertuples()]
    g = g.sort_values(["msc_source", "study_id"])
    pooled = []
    for src, sg in g.groupby("msc_source", sort=True):
        if len(sg) >= 2:
            f = rma(sg["yi"].to_numpy(float), sg["vi"].to_numpy(float), **PRIMARY)
            pooled.append({"group": src, "label": f"{spaced(src)} subtotal", "estimate": f.estimate,
                           "ci_low": f.ci_low, "ci_high": f.ci_high, "k": f.k, "i2": f.i2})
    if len(g) >= 2:
        f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), **PRIMARY)
        pooled.append({"group": None, "label": "Pooled (REML + HK)",
                       "estimate": f.estimate, "ci_low": f.ci_low, "ci_high": f.ci_high,
                       "pi_low": f.pi_low if f.k >= 3 else None, "pi_high": f.pi_high if f.k >= 3 else None,
                       "k": f.k, "i2": f.i2})
    return {"data": g, "label": "label", "group": "msc_source", "pooled": pooled,
            "xlabel": "Standardised mean difference (Hedges' g); > 0 favours MSC",
            "title": f"{spaced(population).capitalize()}, {spaced(product_class)}: {spaced(mechanism)}"}


def timepoint_text(r) -> str:
    if pd.isna(r.timepoint):
        return "time n.r."
    unit = r.timepoint_unit if isinstance(r.timepoint_unit, str) else ""
    return f"{r.timepoint:g} {unit}".strip()


@cites
def all_effects_multilevel(ev: Evidence) -> pd.DataFrame:
    """Every effect of a family, not one per study: three-level model (effects within
    cohorts, REML; :func:`mscreview.engine.multilevel.rma_mv`) with CR2 cluster-robust inference by
    cohort (:func:`mscreview.engine.robust.coef_test`), protocol 6.4. Families with effects from fewer
    than two cohorts are listed with the reason."""
    nums: dict = {}
    e = ev.effects
    rows = []
    if e.empty:
        return pd.DataFrame(), nums
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
            base = result_key("multilevel", *key)
            nums.update(prefixed(base, {"effects": len(g), "cohorts": int(cohorts.nunique()), "estimate": f.estimate,
                                      "cr2_ci_low": float(r.ci_low[0]), "cr2_ci_high": float(r.ci_high[0]),
                                      "cr2_df": float(r.df[0])}))
        rows.append(rec)
    return pd.DataFrame(rows), nums


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
    names = study_labels(ev.studies)
    sd["study"] = [" / ".join(names.get(s, s) for s in ids.split(";")) for ids in sd["study_ids"]]
    order = {m: i for i, m in enumerate(MECH_ORDER)}
    sd = sd.sort_values(["study", "mechanism"], key=lambda s: s.map(order) if s.name == "mechanism" else s)
    return sd.reset_index(drop=True)


@cites
def sign_tests(ev: Evidence) -> pd.DataFrame:
    """Exact sign test of study-level directions per family (SWiM)."""
    nums: dict = {}
    rows = []
    for key, g in ev.study_dirs.groupby(["population", "product_class", "mechanism"], sort=True):
        r = rules.sign_test(g)
        rec = dict(zip(["population", "product_class", "mechanism"], key))
        rec.update(studies=len(g), favours_msc=r.n_favours_msc, favours_control=r.n_favours_control,
                   mixed=r.n_mixed, proportion=r.proportion, ci_low=r.ci_low, ci_high=r.ci_high,
                   pvalue=r.pvalue)
        rows.append(rec)
        base = result_key("direction", *key)
        nums.update(prefixed(base, {"studies": len(g), "favours_msc": r.n_favours_msc,
                                  "favours_control": r.n_favours_control, "mixed": r.n_mixed,
                                  "pvalue": r.pvalue}))
    out = pd.DataFrame(rows)
    if not out.empty:
        nums["direction.total_favours_control"] = int(out["favours_control"].sum())
        nums["direction.total_favours_msc"] = int(out["favours_msc"].sum())
        nums["direction.total_mixed"] = int(out["mixed"].sum())
        nums["direction.total_directions"] = int(out["studies"].sum())
        nums["direction.rows_reported_basis"] = int((ev.directions["basis"] == "reported").sum())
        nums["direction.rows_significance_unclear"] = int((ev.directions["significant"] == "unclear").sum())
    return out, nums


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
                 f"p value is {fmt(big['pvalue'].max(), '.3g')}. ")
    text += "A sign test counts directions, not effect sizes: it cannot say how large the benefit is. "
    if n_ctrl == 0:
        text += ("No study reports a result favouring the control, which is also what selective reporting and "
                 "publication bias would produce.")
    else:
        text += ("With so few results favouring the control, selective reporting and publication bias remain a "
                 "plausible part of the explanation.")
    return text


def forest_figures(ev: Evidence) -> list[FigureSpec]:
    """A forest plot (sources as subgroups, pooled diamond, PI when k >= 3) for every
    family with a pooled estimate."""
    out = []
    for fam in pooled_families(ev):
        kw = forest_data(ev, *fam)
        name = "forest_" + "_".join(fam)
        out.append(FigureSpec(name, f"Forest plot, {kw['title']}: one effect per study (protocol rule), "
                              "grouped by MSC source; diamond: random-effects estimate (REML + Hartung-Knapp); "
                              "dashed line: 95% prediction interval where k >= 3.", "forest", kw,
                              data=kw["data"][["study_id", "yi", "vi"]]))
    return out


def numbers(ev: Evidence) -> dict:
    """Every number notebook 03 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(pooled_by_mechanism.numbers(ev))
    out.update(all_effects_multilevel.numbers(ev))
    out.update(sign_tests.numbers(ev))
    return out
