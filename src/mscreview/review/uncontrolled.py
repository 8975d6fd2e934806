"""Descriptive tables for uncontrolled data: single-arm before/after rows and event proportions.

Never pooled with controlled comparisons (protocol 6.2): single-arm data describe, they do not
estimate an effect of MSC.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from .rules import as_float, higher_is_better_value, is_missing

__all__ = ["prepost_table", "event_rates"]


# ---------------------------------------------------------------------------
# descriptive tables for uncontrolled data
# ---------------------------------------------------------------------------

def prepost_table(extracted: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Single-arm before/after rows, described (never pooled with controlled comparisons).

    Returns
    -------
    DataFrame
        ``row_id, study_id, population, msc_source, mechanism, outcome, unit, timepoint,
        timepoint_unit, n, m_follow_up, m_baseline, change`` where ``change`` is follow-up minus
        baseline harmonised so that positive = improvement (NaN when a mean is missing), plus
        the reported ``direction`` / ``p_text`` and ``data_availability``.
    """
    st = studies.drop_duplicates("study_id").set_index("study_id")
    rows = []
    for _, r in extracted.iterrows():
        r = {k: (None if is_missing(v) else v) for k, v in r.items()}
        if r.get("comparison_type") != "pre_post":
            continue
        sid = r["study_id"]
        s = st.loc[sid] if sid in st.index else {}
        m1, m0 = as_float(r.get("m1i")), as_float(r.get("m2i"))
        hib = higher_is_better_value(r.get("higher_is_better"))
        change = (m1 - m0) * (1 if hib else -1) if hib is not None else np.nan
        rows.append({"row_id": r["row_id"], "study_id": sid, "population": s.get("population", pd.NA),
                     "msc_source": s.get("msc_source", pd.NA), "mechanism": r.get("mechanism"),
                     "outcome": r.get("outcome"), "unit": r.get("unit"), "timepoint": r.get("timepoint"),
                     "timepoint_unit": r.get("timepoint_unit"), "n": as_float(r.get("n1i")), "m_follow_up": m1,
                     "m_baseline": m0, "change": change, "direction": r.get("direction"),
                     "p_text": r.get("p_text"), "data_availability": r.get("data_availability")})
    return pd.DataFrame(rows, columns=["row_id", "study_id", "population", "msc_source", "mechanism", "outcome",
                                       "unit", "timepoint", "timepoint_unit", "n", "m_follow_up", "m_baseline",
                                       "change", "direction", "p_text", "data_availability"])


def event_rates(extracted: pd.DataFrame, studies: pd.DataFrame, confidence_level: float = 0.95) -> pd.DataFrame:
    """Event proportions per arm (all rows with ``x1i`` and ``n1i``), with Clopper-Pearson CIs.

    The CIs are ``statsmodels.stats.proportion.proportion_confint(method="beta")``: exact
    (Clopper-Pearson 1934), conservative where Wilson's score interval can undercover, and defined at
    0 and n events, which matter most for the rare adverse events of small series.

    Returns
    -------
    DataFrame
        ``row_id, study_id, design, mechanism, outcome, comparison_type, x1i, n1i, p1, p1_ci_low,
        p1_ci_high, x2i, n2i, p2, p2_ci_low, p2_ci_high`` (arm 2 NaN for single-arm rows).
    """
    from statsmodels.stats.proportion import proportion_confint

    st = studies.drop_duplicates("study_id").set_index("study_id")
    rows = []
    for _, r in extracted.iterrows():
        r = {k: (None if is_missing(v) else v) for k, v in r.items()}
        x1, n1 = as_float(r.get("x1i")), as_float(r.get("n1i"))
        if np.isnan(x1) or np.isnan(n1):
            continue
        rec = {"row_id": r["row_id"], "study_id": r["study_id"],
               "design": st.loc[r["study_id"], "design"] if r["study_id"] in st.index else pd.NA,
               "mechanism": r.get("mechanism"), "outcome": r.get("outcome"),
               "comparison_type": r.get("comparison_type")}
        for arm, x, n in (("1", x1, n1), ("2", as_float(r.get("x2i")), as_float(r.get("n2i")))):
            rec[f"x{arm}i"], rec[f"n{arm}i"] = x, n
            if np.isnan(x) or np.isnan(n) or n <= 0:
                rec[f"p{arm}"] = rec[f"p{arm}_ci_low"] = rec[f"p{arm}_ci_high"] = np.nan
                continue
            # Clopper-Pearson ("beta"): exact, never below the nominal coverage, the usual choice for
            # the small single-arm safety series here; equal to scipy's binomtest(...).proportion_ci("exact")
            low, high = proportion_confint(int(x), int(n), alpha=1 - confidence_level, method="beta")
            rec[f"p{arm}"], rec[f"p{arm}_ci_low"], rec[f"p{arm}_ci_high"] = x / n, float(low), float(high)
        rows.append(rec)
    return pd.DataFrame(rows, columns=["row_id", "study_id", "design", "mechanism", "outcome", "comparison_type",
                                       "x1i", "n1i", "p1", "p1_ci_low", "p1_ci_high", "x2i", "n2i", "p2",
                                       "p2_ci_low", "p2_ci_high"])
