"""Plausibility checks of extracted rows: things that are valid but probably wrong.

The validator (:mod:`mscreview.data.validate`) rejects what breaks the rules; these checks flag rows
a reviewer should look at again against the source page. Each flag is one row of a DataFrame
``row_id, study_id, check, detail``. Checks:

``sd_sem_confusion``
    A dispersion read as SD that gives ``|g| > G_MAX[population]`` (5 preclinical, 2 clinical:
    an implausibly large standardised effect, the usual sign of an SEM reported as "SD"), or an
    SD smaller than ``CV_MIN`` times
    the mean (same suspicion), or a dispersion whose type is not stated (g shown both ways).
``n_exceeds_total``
    Arm sizes larger than the study's ``n_total`` (``n1i + n2i`` for a between-group row with
    its own control, ``n1i`` otherwise).
``n_missing``
    A numeric row without arm sizes (effect not computable).
``change_without_baseline``
    A change score with no baseline mean (``m1i_pre``/``m2i_pre``) recorded.
``cohort_counted_twice``
    Two included studies with the same ``cohort_id`` both giving rows to the same analysis
    (population x product class x mechanism).
``secondary_duplicates_primary``
    A secondary-source row for the same study, outcome and timepoint as a primary row.

References
----------
Vesterinen HM et al. (2014). Meta-analysis of data from animal studies: a practical guide.
J Neurosci Methods 221:92-102 (SEM/SD confusion in animal studies).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import rules
from ..engine import convert
from ..engine.effectsize import escalc

__all__ = ["plausibility_checks", "G_MAX", "CV_MIN", "CHECKS"]

#: |g| above which an SD reading is suspicious, by population: animal experiments often give
#: large standardised effects (small, homogeneous groups), clinical trials of function rarely
#: exceed 1, so 2 is already extraordinary there.
G_MAX = {"preclinical": 5.0, "clinical": 2.0}
CV_MIN = 0.01

CHECKS = ("sd_sem_confusion", "n_exceeds_total", "n_missing", "change_without_baseline",
          "cohort_counted_twice", "secondary_duplicates_primary")


def _g(m1, s1, n1, m2, s2, n2) -> float:
    r = escalc("SMD", m1i=[m1], sd1i=[s1], n1i=[n1], m2i=[m2], sd2i=[s2], n2i=[n2])
    return float(r["yi"].iloc[0])


def _missing(v) -> bool:
    return v is None or (np.ndim(v) == 0 and bool(pd.isna(v)))


def _f(x) -> float:
    return np.nan if x is None or pd.isna(x) else float(x)


def plausibility_checks(extracted: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Flag suspicious rows of ``extracted`` (see the module docstring for the checks).

    Parameters
    ----------
    extracted, studies : DataFrame
        As loaded by :func:`mscreview.data.tables.load`.

    Returns
    -------
    DataFrame
        ``row_id, study_id, check, detail``, sorted by row_id then check; empty when nothing
        is suspicious.
    """
    flags = []

    def flag(r, check, detail):
        flags.append({"row_id": r["row_id"], "study_id": r["study_id"], "check": check, "detail": detail})

    st = studies.drop_duplicates("study_id").set_index("study_id")
    for _, r in extracted.iterrows():
        r = {k: (None if _missing(v) else v) for k, v in r.items()}
        n1, n2 = _f(r.get("n1i")), _f(r.get("n2i"))
        m1, m2 = _f(r.get("m1i")), _f(r.get("m2i"))
        s1, s2 = _f(r.get("sd1i")), _f(r.get("sd2i"))
        disp = r.get("dispersion_type") if isinstance(r.get("dispersion_type"), str) else ""
        ctype = r.get("comparison_type")
        # --- SD / SEM confusion
        if ctype == "between_groups" and not any(np.isnan([n1, n2, m1, m2, s1, s2])) and n1 > 0 and n2 > 0 \
                and s1 > 0 and s2 > 0:
            if disp == "SD":
                g = _g(m1, s1, n1, m2, s2, n2)
                pop = st.loc[r["study_id"], "population"] if r["study_id"] in st.index else None
                g_max = G_MAX.get(pop, max(G_MAX.values())) if isinstance(pop, str) else max(G_MAX.values())
                if abs(g) > g_max:
                    flag(r, "sd_sem_confusion", f"|g| = {abs(g):.2f} > {g_max:g} reading the dispersion as SD; "
                                                "is it an SEM?")
            elif disp == "":
                g_sd = _g(m1, s1, n1, m2, s2, n2)
                g_sem = _g(m1, float(convert.sd_from_sem(s1, n1)), n1, m2, float(convert.sd_from_sem(s2, n2)), n2)
                flag(r, "sd_sem_confusion", f"dispersion type not stated: g = {g_sd:.2f} if SD, {g_sem:.2f} if SEM")
        if disp == "SD":
            for arm, m, s in (("1", m1, s1), ("2", m2, s2)):
                if not (np.isnan(m) or np.isnan(s)) and m != 0 and s < CV_MIN * abs(m):
                    flag(r, "sd_sem_confusion", f"sd{arm}i = {s:g} is < {CV_MIN:.0%} of m{arm}i = {m:g}; "
                                                "SEM or a typo?")
        # --- n against the study
        sid = r["study_id"]
        n_total = _f(st.loc[sid, "n_total"]) if sid in st.index and "n_total" in st.columns else np.nan
        if not np.isnan(n_total):
            used = n1 + n2 if ctype == "between_groups" and not np.isnan(n2) else n1
            if not np.isnan(used) and used > n_total:
                flag(r, "n_exceeds_total", f"arm sizes {'n1i + n2i' if ctype == 'between_groups' else 'n1i'} = "
                                           f"{used:g} > study n_total = {n_total:g}")
        if r.get("data_availability") == "numeric" and (np.isnan(n1) or (ctype == "between_groups" and np.isnan(n2))):
            flag(r, "n_missing", "numeric row without arm sizes (effect size not computable)")
        # --- change score without baseline
        if r.get("score_type") == "change" and r.get("data_availability") == "numeric" \
                and r.get("m1i_pre") is None and r.get("m2i_pre") is None:
            flag(r, "change_without_baseline", "change score without baseline means (m1i_pre/m2i_pre)")

    # --- the same cohort in two studies of one analysis
    if "cohort_id" in studies.columns:
        s = studies.drop_duplicates("study_id")[["study_id", "cohort_id", "population", "product"]].copy()
        s["product_class"] = s["product"].map(rules.product_class)
        ex = extracted.merge(s, on="study_id", how="left")
        for (cohort, pop, pc, mech), g in ex.groupby(["cohort_id", "population", "product_class", "mechanism"],
                                                     dropna=True):
            ids = sorted(set(g["study_id"]))
            if len(ids) > 1:
                for _, r in g.iterrows():
                    others = [i for i in ids if i != r["study_id"]]
                    flag(r, "cohort_counted_twice", f"cohort {cohort} also reported by {', '.join(others)} "
                                                    f"({mech}); count it once")

    # --- secondary duplicating primary
    ex = extracted.copy()
    ex["_o"] = ex["outcome"].astype("string").str.lower().str.strip()
    ex["_t"] = ex["timepoint"].astype("string").fillna("") + " " + ex["timepoint_unit"].astype("string").fillna("")
    for _, g in ex.groupby(["study_id", "_o", "_t"], dropna=False):
        prim = g[g["source_kind"] == "primary"]
        sec = g[g["source_kind"] == "secondary"]
        if len(prim) and len(sec):
            for _, r in sec.iterrows():
                flag(r, "secondary_duplicates_primary", f"same study/outcome/timepoint as primary row(s) "
                                                        f"{', '.join(prim['row_id'])}; keep one")
    out = pd.DataFrame(flags, columns=["row_id", "study_id", "check", "detail"])
    return out.sort_values(["row_id", "check"], kind="stable").reset_index(drop=True)
