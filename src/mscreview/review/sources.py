"""Effects by MSC source and the other planned moderators: directions by level, subgroup analyses and whether a meta-regression is possible.

Notebook ``notebooks/04_effects_by_source.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..engine.rma import rma, subgroup
from . import rules
from .evidence import FAMILY, Evidence, FigureSpec, MIN_K_METAREG, PRIMARY, cites, primary_effects, result_key, spaced


@cites
def direction_by(ev: Evidence, by: str = "msc_source", population: str = "preclinical",
                 product_class: str = "msc") -> pd.DataFrame:
    """Cohort-level directions cross-tabulated by a study characteristic, family by family, with
    the SWiM sign test per level and family (protocol 9.6: one vote per cohort per family, the
    counts each test was computed on, a worst-case test counting cohorts without a clear
    direction against MSC; no count pooled across mechanisms). Cohorts per level are recorded
    for ``msc_source``."""
    nums: dict = {}
    sd = ev.study_dirs[(ev.study_dirs["population"] == population)
                       & (ev.study_dirs["product_class"] == product_class)]
    first = ev.studies.drop_duplicates("cohort_id").set_index("cohort_id")
    lvl = sd["cohort_id"].map(first[by] if by in first else pd.Series(dtype=object)).fillna("not reported")
    rows = []
    sd = sd.assign(level=lvl)
    for (v, mech), g in sd.groupby(["level", "mechanism"], sort=True):
        r = rules.sign_test(g)
        rows.append({by: v, "mechanism": mech, "cohorts": int(g["cohort_id"].nunique()),
                     "k_favours_msc": r.k_favours_msc, "k_favours_control": r.k_favours_control,
                     "k_no_clear": r.k_no_clear, "n_tested": r.n_tested, "pvalue": r.pvalue,
                     "n_worst_case": r.n_worst_case, "pvalue_worst_case": r.pvalue_worst_case})
    if by == "msc_source":
        for v, g in sd.groupby("level", sort=True):
            nums[result_key("by_source", population, product_class, v, "cohorts")] = int(g["cohort_id"].nunique())
    return pd.DataFrame(rows, columns=[by, "mechanism", "cohorts", "k_favours_msc", "k_favours_control", "k_no_clear",
                                       "n_tested", "pvalue", "n_worst_case", "pvalue_worst_case"]), nums


@cites
def source_subgroups(ev: Evidence) -> pd.DataFrame:
    """Subgroup analysis by MSC source within each family with effect sizes (one row per source
    and the tests for subgroup differences, :func:`mscreview.engine.rma.subgroup`), or one row saying
    why it cannot be done (fewer than two sources with at least 2 studies each)."""
    nums: dict = {}
    prim = primary_effects(ev)
    fam_cols = FAMILY
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
                    f"{spaced(s)} {n}" for s, n in per.sort_index().items()),
                    "k": int(len(g))}]))
    nums["by_source.subgroup_analyses_possible"] = n_done
    if not parts:
        return pd.DataFrame(columns=fam_cols + keep), nums
    out = pd.concat(parts, ignore_index=True)
    return out[fam_cols + [c for c in keep if c in out]], nums


MODERATORS = {
    "log10_dose": "log10 dose (cells)",
    "route": "route of administration",
    "timing": "timing after injury",
    "species": "species",
    "msc_source": "MSC source",
}


@cites
def meta_regression_feasibility(ev: Evidence) -> pd.DataFrame:
    """For each planned moderator: studies with an effect size and the moderator, whether
    the protocol's minimum (10 per moderator) is met, and the reason (cites numbers)."""
    nums: dict = {}
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
        per_family = (prim.groupby(FAMILY).size().max()
                      if not prim.empty else 0)
        feasible = min(k, int(per_family)) >= MIN_K_METAREG
        rows.append({"moderator": text, "effects_with_moderator": k,
                     "largest_family": int(per_family), "required": MIN_K_METAREG,
                     "feasible": feasible,
                     "reason": "" if feasible else
                     f"largest outcome family has {int(per_family)} studies with an effect size "
                     f"(< {MIN_K_METAREG}); described, not modelled"})
        nums[result_key("metareg", mod, "feasible")] = feasible
    nums["metareg.largest_family"] = int(rows[0]["largest_family"]) if rows else 0
    return pd.DataFrame(rows), nums


def bubble_figures(ev: Evidence) -> list[FigureSpec]:
    """A bubble plot for every feasible meta-regression (an empty list means none was feasible;
    the feasibility table says why)."""
    out = []
    feas = meta_regression_feasibility(ev)
    prim = primary_effects(ev)
    if not feas["feasible"].any():
        return out
    st = ev.studies.set_index("study_id")
    fam = prim.groupby(FAMILY).size().idxmax()
    g = prim[(prim[FAMILY] == pd.Series(fam, index=FAMILY)).all(axis=1)]
    g = g.assign(log10_dose=np.log10(pd.to_numeric(g["study_id"].map(st["dose"]))))
    g = g[g["log10_dose"].notna()]
    if len(g) >= MIN_K_METAREG:
        f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), mods=g[["log10_dose"]], **PRIMARY)
        kw = dict(x=g["log10_dose"], yi=g["yi"], vi=g["vi"], intercept=f.beta[0], slope=f.beta[1],
                  vb=f.vb, xlabel="log10 dose (cells)", ylabel="SMD")
        out.append(FigureSpec("bubble_log10_dose", "Meta-regression of the SMD on log10 dose "
                              "(bubble area: inverse-variance weight).", "bubble", kw,
                              data=g[["yi", "vi", "log10_dose"]]))
    return out


def numbers(ev: Evidence) -> dict:
    """Every number notebook 04 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(direction_by.numbers(ev, "msc_source", "preclinical", "msc"))
    out.update(direction_by.numbers(ev, "msc_source", "preclinical", "msc_ev"))
    out.update(source_subgroups.numbers(ev))
    out.update(meta_regression_feasibility.numbers(ev))
    return out
