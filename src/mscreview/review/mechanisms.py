"""Effects by mechanism: outcome families, pooled effects where comparable studies exist, the three-level model, effect directions and sign tests (SWiM).

Notebook ``notebooks/03_effects_by_mechanism.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema
from ..data.labels import study_labels
from ..engine.format import fmt
from ..engine.multilevel import rma_mv
from ..engine.rma import rma
from ..engine.robust import coef_test
from . import rules
from ..data.schema import display_name
from .evidence import (FAMILY, Evidence, FigureSpec, MECH_ORDER, PRIMARY, cites, family_parts, pooled_by_mechanism, slug,
                       pooled_families, prefixed, primary_effects, result_key, spaced)


def forest_data(ev: Evidence, population: str, product_class: str, mechanism: str,
                instrument_family: str = "") -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: the primary effects of one
    family, grouped by MSC source, with the pooled estimate and prediction interval."""
    prim = primary_effects(ev)
    g = prim[(prim["population"] == population) & (prim["product_class"] == product_class)
             & (prim["mechanism"] == mechanism) & (prim["instrument_family"] == instrument_family)].copy()
    if g.empty:
        raise ValueError(f"no effect sizes for {population}/{product_class}/{mechanism}/{instrument_family}")
    names = study_labels(ev.studies)
    g["label"] = [f"{names.get(r.study_id, r.study_id)} ({r.outcome}, {timepoint_text(r)})" for r in g.itertuples()]
    g = g.sort_values(["msc_source", "study_id"])
    pooled = []
    for src, sg in g.groupby("msc_source", sort=True):
        if len(sg) >= 2:
            f = rma(sg["yi"].to_numpy(float), sg["vi"].to_numpy(float), **PRIMARY)
            pooled.append({"group": src, "label": "Subtotal", "estimate": f.estimate,
                           "ci_low": f.ci_low, "ci_high": f.ci_high, "k": f.k, "i2": f.i2})
    if len(g) >= 2:
        f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), **PRIMARY)
        pooled.append({"group": None, "label": "Pooled (REML + HK)",
                       "estimate": f.estimate, "ci_low": f.ci_low, "ci_high": f.ci_high,
                       "pi_low": f.pi_low if f.k >= 3 else None, "pi_high": f.pi_high if f.k >= 3 else None,
                       "k": f.k, "i2": f.i2})
    return {"data": g, "label": "label", "group": "msc_source", "pooled": pooled,
            "xlabel": "Standardised mean difference (Hedges' g); > 0 favours MSC",
            "title": f"{display_name(population, 'population')}, {display_name(product_class, 'product')}: "
                     f"{display_name(mechanism, 'mechanism').lower()}"
                     + (f" ({instrument_family})" if instrument_family else "")}


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
    for key, g in e.groupby(FAMILY, sort=True):
        cohorts = g["cohort_id"].where(g["cohort_id"].notna(), g["study_id"])
        rec = dict(zip(FAMILY, key))
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
            base = result_key("multilevel", *family_parts(key))
            nums.update(prefixed(base, {"effects": len(g), "cohorts": int(cohorts.nunique()), "estimate": f.estimate,
                                      "cr2_ci_low": float(r.ci_low[0]), "cr2_ci_high": float(r.ci_high[0]),
                                      "cr2_df": float(r.df[0])}))
        rows.append(rec)
    return pd.DataFrame(rows), nums


#: Overall risk-of-bias labels for the effect direction plot, worst first (RoB 2, ROBINS-I, SYRCLE).
ROB_ORDER = ("critical", "serious", "high", "some_concerns", "moderate", "unclear", "no_information", "low")


def study_rob(ev: Evidence) -> dict:
    """Overall risk of bias of each study, for display beside its row: the tool's own overall
    judgement (RoB 2, ROBINS-I); for SYRCLE, which has none, the worst domain judgement
    (high if any domain is high, unclear if any is unclear, low only if every domain is low)."""
    rb = ev.risk_of_bias
    out = {}
    for sid, g in rb.groupby("study_id"):
        o = g[g["domain"] == "overall"]["judgement"]
        j = list(o) if len(o) else list(g["judgement"])
        ranked = [x for x in ROB_ORDER if x in set(j)]
        out[sid] = ranked[0] if ranked else "not assessed"
    return out


def study_n(ev: Evidence) -> dict:
    """Sample size of each study (animals or participants): ``studies.n_total``, else the largest
    ``n1i + n2i`` of its between-group rows, else <NA>."""
    st = ev.studies.drop_duplicates("study_id").set_index("study_id")
    ex = ev.extracted[ev.extracted["comparison_type"] == "between_groups"]
    arms = (pd.to_numeric(ex["n1i"], errors="coerce") + pd.to_numeric(ex["n2i"], errors="coerce")).groupby(
        ex["study_id"]).max()
    out = {}
    for sid in st.index:
        n = pd.to_numeric(st.loc[sid, "n_total"], errors="coerce") if "n_total" in st else np.nan
        if pd.isna(n):
            n = arms.get(sid, np.nan)
        out[sid] = int(n) if pd.notna(n) else pd.NA
    return out


def direction_cells(ev: Evidence, population: str = "preclinical", product_class: str = "msc") -> pd.DataFrame:
    """Cohort x mechanism cells for the effect direction plot (Boon & Thomson 2021): the cohort's
    direction in the family (70% rule, :func:`mscreview.review.rules.study_directions`), the
    number of rows behind it, and beside each study its sample size ``n`` (animals or
    participants) and overall risk of bias ``rob``. MSC-vs-MSC rows never enter (protocol 9.4);
    significance is not shown (protocol 9.6)."""
    sd = ev.study_dirs[(ev.study_dirs["population"] == population)
                       & (ev.study_dirs["product_class"] == product_class)].copy()
    # one row per cohort: label it by every report of the cohort in these families, not per family
    reports = sd.groupby("cohort_id")["study_ids"].agg(lambda s: ";".join(sorted(set(";".join(s).split(";")))))
    sd["study_ids"] = sd["cohort_id"].map(reports)
    names = study_labels(ev.studies)
    sd["study"] = [" / ".join(names.get(s, s) for s in ids.split(";")) for ids in sd["study_ids"]]
    ns, rob = study_n(ev), study_rob(ev)
    worst = {j: i for i, j in enumerate(ROB_ORDER)}

    def cohort_n(ids):
        vals = [ns.get(i) for i in ids.split(";") if pd.notna(ns.get(i, pd.NA))]
        return max(vals) if vals else pd.NA

    def cohort_rob(ids):
        js = [rob.get(i, "not assessed") for i in ids.split(";")]
        return min(js, key=lambda j: worst.get(j, len(worst)))

    sd["n"] = sd["study_ids"].map(cohort_n).astype("Int64")
    sd["rob"] = sd["study_ids"].map(cohort_rob)
    order = {m: i for i, m in enumerate(MECH_ORDER)}
    sd = sd.sort_values(["study", "mechanism"], key=lambda s: s.map(order) if s.name == "mechanism" else s)
    return sd.reset_index(drop=True)


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p values (:func:`statsmodels.stats.multitest.multipletests`, ``method="holm"``);
    NaN entries (no test) stay NaN and are not counted among the tests."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


@cites
def sign_tests(ev: Evidence) -> pd.DataFrame:
    """Exact sign test of cohort-level directions per family (SWiM, protocol 9.6).

    One vote per cohort per family; the primary test is on the cohorts with a clear direction
    (``k_favours_msc`` of ``n_tested``), the worst-case test counts every cohort without a clear
    direction as favouring control (``k_favours_msc`` of ``n_worst_case``); ``pvalue_holm`` is
    the Holm-adjusted primary p across the families tested (:func:`holm`). No count is pooled
    across families. MSC-vs-MSC rows are not in any family (protocol 9.4)."""
    nums: dict = {}
    rows = []
    for key, g in ev.study_dirs.groupby(["population", "product_class", "mechanism"], sort=True):
        r = rules.sign_test(g)
        rec = dict(zip(["population", "product_class", "mechanism"], key))
        rec.update(cohorts=len(g), k_favours_msc=r.k_favours_msc, k_favours_control=r.k_favours_control,
                   k_no_clear=r.k_no_clear, n_tested=r.n_tested, proportion=r.proportion, ci_low=r.ci_low,
                   ci_high=r.ci_high, pvalue=r.pvalue, pvalue_holm=np.nan, n_worst_case=r.n_worst_case,
                   pvalue_worst_case=r.pvalue_worst_case)
        rows.append(rec)
    out = pd.DataFrame(rows)
    if out.empty:
        return out, nums
    out["pvalue_holm"] = holm(out["pvalue"])
    for rec in out.to_dict("records"):
        base = result_key("direction", rec["population"], rec["product_class"], rec["mechanism"])
        nums.update(prefixed(base, {
            "cohorts": int(rec["cohorts"]), "favours_msc": int(rec["k_favours_msc"]),
            "favours_control": int(rec["k_favours_control"]), "no_clear": int(rec["k_no_clear"]),
            "n_tested": int(rec["n_tested"]), "pvalue": _num(rec["pvalue"]), "pvalue_holm": _num(rec["pvalue_holm"]),
            "n_worst_case": int(rec["n_worst_case"]), "pvalue_worst_case": _num(rec["pvalue_worst_case"])}))
    nums["direction.families_tested"] = int((out["n_tested"] > 0).sum())
    nums["direction.rows_reported_basis"] = int((ev.directions["basis"] == "reported").sum())
    nums["direction.rows_no_clear_direction"] = int((ev.directions["direction"] == rules.NO_CLEAR).sum())
    nums["direction.rows_between_groups"] = int(len(ev.directions))
    return out, nums


def _num(x):
    return None if x is None or pd.isna(x) else float(x)


@cites
def head_to_head(ev: Evidence) -> pd.DataFrame:
    """What preconditioning, repeated dosing or modification adds over plain MSC (protocol 9.4):
    every ``msc_vs_msc`` row, arm 1 (the preconditioned, modified or repeated arm) versus arm 2
    (plain MSC). Direction as stated (arm 1 better, arm 2 better, or no clear direction), with
    the reported significance. These rows never enter an MSC-vs-control analysis."""
    ex = ev.extracted[ev.extracted["comparison_type"] == "msc_vs_msc"]
    words = {"favours_msc": "favours arm 1", "favours_control": "favours arm 2 (plain MSC)",
             rules.NO_CLEAR: "no clear direction"}
    rows = []
    for r in ex.to_dict("records"):
        sig = r.get("significant") if isinstance(r.get("significant"), str) else "unclear"
        d = rules.swim_direction(r.get("direction"), sig)
        rows.append({"study_id": r["study_id"],
                     "comparison": f"{r.get('arm1_label')} (arm 1) vs {r.get('arm2_label')} (arm 2)",
                     "mechanism": spaced(r["mechanism"]), "outcome": r["outcome"],
                     "direction": words.get(d, "not reported"),
                     "significance": schema.SIGNIFICANCE.get(sig, sig), "locator": r.get("source_locator")})
    out = pd.DataFrame(rows, columns=["study_id", "comparison", "mechanism", "outcome", "direction", "significance",
                                      "locator"])
    nums = {"head_to_head.rows": int(len(out)), "head_to_head.studies": int(out["study_id"].nunique())}
    return out, nums


def family_overview(ev: Evidence) -> pd.DataFrame:
    """Per family: studies with a direction, studies with an SMD, pooled or why not."""
    sd = ev.study_dirs.groupby(["population", "product_class", "mechanism"]).size().rename("studies_with_direction")
    pb = pooled_by_mechanism(ev)
    out = sd.reset_index()
    if not pb.empty:
        # direction families are not split by instrument: count the instrument families' studies together
        pbm = (pb.groupby(["population", "product_class", "mechanism"])
               .agg(k=("study_ids", lambda s: len(set(";".join(s).split(";")))), pooled=("pooled", "any"),
                    reason=("reason", lambda s: "; ".join(sorted(set(x for x in s if x)))))
               .reset_index())
        out = out.merge(pbm.rename(columns={"k": "studies_with_smd"}),
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


CLASS_NAMES = {"msc": "MSC", "msc_ev": "MSC-EV / secretome", "msc_derived_cells": "MSC-derived cells"}
#: A two-sided exact sign test cannot reach p < 0.05 with fewer cohorts than this (5 of 5: p = 0.0625).
MIN_COHORTS_SIGN_TEST = 6


def family_name(population, product_class, mechanism) -> str:
    """``preclinical MSC, anti-apoptosis``: a family as the text names it."""
    mech = str(mechanism).replace("paracrine_trophic", "paracrine/trophic").replace("_", "-")
    return f"{population} {CLASS_NAMES.get(product_class, spaced(product_class))}, {mech}"


def direction_sentence(ev: Evidence) -> str:
    """What the direction-only evidence can and cannot say, family by family, from recorded numbers
    (no count is pooled across families; each p is computed on the counts quoted beside it)."""
    st = sign_tests(ev)
    if st.empty:
        return "No cohort-level directions could be determined."
    big = st[st["n_tested"] >= MIN_COHORTS_SIGN_TEST]
    parts = [f"{family_name(r['population'], r['product_class'], r['mechanism'])}: {r['k_favours_msc']} of "
             f"{r['n_tested']} cohorts with a clear direction favour MSC (sign test p = {fmt(r['pvalue'], '.2g')}, "
             f"Holm-adjusted {fmt(r['pvalue_holm'], '.2g')}) and {r['k_no_clear']} {'has' if r['k_no_clear'] == 1 else 'have'} "
             f"no clear direction; counting "
             f"those against MSC, {r['k_favours_msc']} of {r['n_worst_case']} (p = {fmt(r['pvalue_worst_case'], '.2g')})"
             for r in big.to_dict("records")]
    text = ("Per family, one vote per cohort: " + "; ".join(parts) + ". ") if parts else ""
    small = st[st["n_tested"] < MIN_COHORTS_SIGN_TEST]
    if len(small):
        text += (f"In the other {len(small)} families fewer than {MIN_COHORTS_SIGN_TEST} cohorts have a clear "
                 "direction, too few for a two-sided sign test to reach p < 0.05 (5 of 5 gives p = 0.0625); their "
                 "counts are in the sign-test table. ")
    n_ctrl = st[st["k_favours_control"] > 0]
    text += ("A sign test counts directions, not effect sizes: it cannot say how large the benefit is. "
             + (f"No cohort favours the control in any family, " if n_ctrl.empty else
                f"Cohorts favouring the control appear in {len(n_ctrl)} families only, ")
             + "which is also what selective reporting and publication bias would produce.")
    return text


def forest_figures(ev: Evidence) -> list[FigureSpec]:
    """A forest plot (sources as subgroups, pooled diamond, PI when k >= 3) for every
    family with a pooled estimate."""
    out = []
    for fam in pooled_families(ev):
        kw = forest_data(ev, *fam)
        name = "forest_" + "_".join(slug(p) for p in family_parts(fam))
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
    out.update(head_to_head.numbers(ev))
    return out
