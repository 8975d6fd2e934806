"""From extracted rows to effect sizes, with every exclusion and conversion stated.

The protocol (``review/protocol.md``, section 6) in code:

* :func:`effect_table` turns rows of ``data/extracted.csv`` into ``yi``/``vi`` (Hedges' g by
  default) with the dispersion converted to an SD in code (SEM, 95% CI of a mean, median with
  IQR or range), the sign harmonised so that **positive favours MSC**, shared control groups
  split, and returns the rows that give no effect size with the reason.
* :func:`direction_table` and :func:`sign_test` serve the SWiM effect-direction synthesis of
  rows with and without numbers.
* :func:`primary_effects` picks one effect per study per outcome family by the protocol rule.
* :func:`pooled_by` runs the random-effects model (REML + Hartung-Knapp by default) per group,
  only where at least two studies are comparable.

References
----------
Higgins JPT et al. (eds). Cochrane Handbook for Systematic Reviews of Interventions, version 6.4
(2023): 6.5.2.2 (SD from SE and CI), 23.3.4 (multi-arm trials: splitting a shared group).
Campbell M et al. (2020). Synthesis without meta-analysis (SWiM) in systematic reviews. BMJ
368:l6890.
Boon MH, Thomson H (2021). The effect direction plot revisited. Res Synth Methods 12:29-33.
IntHout J, Ioannidis JPA, Borm GF (2014). The Hartung-Knapp-Sidik-Jonkman method for random
effects meta-analysis is straightforward and considerably outperforms the standard
DerSimonian-Laird method. BMC Med Res Methodol 14:25.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..engine import convert
from ..engine.effectsize import escalc
from ..engine.smdconvert import smd_from_between_group
from ..data import schema
from ..data.validate import says_digitised

__all__ = ["effect_table", "direction_table", "study_directions", "sign_test", "SignTestResult", "swim_direction",
           "SWIM_DIRECTIONS", "NO_CLEAR", "NOT_CONTROLLED",
           "primary_effects", "pooled_by", "product_class", "timepoint_days", "is_missing", "as_float", "higher_is_better_value",
           "CONTINUOUS_MEASURES", "EVENT_MEASURES"]

CONTINUOUS_MEASURES = ("SMD", "MD", "ROM")
EVENT_MEASURES = ("RR", "OR", "RD")

#: product -> product class: classes are never pooled together (protocol section 2)
PRODUCT_CLASSES = {"msc": "msc", "msc_modified": "msc", "msc_ev": "msc_ev", "msc_secretome": "msc_ev",
                   "msc_derived_cells": "msc_derived_cells", "not_msc": "not_msc"}

_DAYS = {"hours": 1 / 24, "days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}

STUDY_COLUMNS = ["cohort_id", "population", "design", "product", "msc_source", "species", "route", "dose",
                 "dose_unit"]


def product_class(product) -> str:
    """Product class of a ``studies.product`` value (msc, msc_ev, msc_derived_cells, not_msc)."""
    return PRODUCT_CLASSES.get(product, "unknown") if isinstance(product, str) else "unknown"


def timepoint_days(timepoint, unit) -> float:
    """A timepoint in days (months = 365.25/12 days) for ordering; NaN when unknown."""
    if timepoint is None or pd.isna(timepoint) or not isinstance(unit, str) or unit not in _DAYS:
        return np.nan
    return float(timepoint) * _DAYS[unit]


def is_missing(v) -> bool:
    """True for None or a scalar NA (an empty CSV cell)."""
    return v is None or (np.ndim(v) == 0 and bool(pd.isna(v)))


def as_float(x) -> float:
    """A cell as float (NaN when empty)."""
    return np.nan if x is None or pd.isna(x) else float(x)


def higher_is_better_value(x):
    """``higher_is_better`` as True / False, or None when unknown."""
    if x is None or (not isinstance(x, str) and pd.isna(x)):
        return None
    if isinstance(x, str):
        return {"true": True, "false": False}.get(x)
    return bool(x)


def _arm_sd(row, arm: str, dispersion: str, unstated: str):
    """(mean, sd, conversion) of one arm, or (nan, nan, reason) when it cannot be had."""
    m, sd = as_float(row.get(f"m{arm}i")), as_float(row.get(f"sd{arm}i"))
    lo, hi = as_float(row.get(f"lo{arm}i")), as_float(row.get(f"hi{arm}i"))
    n = as_float(row.get(f"n{arm}i"))
    center = row.get("center_type")
    center = center if isinstance(center, str) else "mean"
    if np.isnan(m):
        return np.nan, np.nan, f"m{arm}i missing"
    if dispersion in ("SD", "SEM") and center == "median":
        return np.nan, np.nan, f"median with {dispersion} (no conversion)"
    if dispersion == "SD":
        return (m, sd, "SD") if not np.isnan(sd) else (np.nan, np.nan, f"sd{arm}i missing")
    if dispersion == "SEM":
        if np.isnan(sd):
            return np.nan, np.nan, f"sd{arm}i missing"
        return m, float(convert.sd_from_sem(sd, n)), "SEM->SD"
    if dispersion == "CI95":
        if np.isnan(lo) or np.isnan(hi):
            return np.nan, np.nan, f"lo{arm}i/hi{arm}i missing"
        if n < 2:
            return np.nan, np.nan, "n < 2 for CI->SD"
        if center == "median":
            return np.nan, np.nan, "median with CI95 (no conversion)"
        return m, float(convert.sd_from_ci(lo, hi, n)), "CI95->SD (t)"
    if dispersion in ("IQR", "range"):
        if np.isnan(lo) or np.isnan(hi):
            return np.nan, np.nan, f"lo{arm}i/hi{arm}i missing"
        if center != "median":
            return np.nan, np.nan, f"mean with {dispersion} (no conversion)"
        kw = dict(q1=lo, q3=hi) if dispersion == "IQR" else dict(min=lo, max=hi)
        res = convert.conv_fivenum(median=m, n=n, **kw).iloc[0]
        if np.isnan(res["mean"]) or np.isnan(res["sd"]):
            why = "skewed (conv_fivenum skewness test)" if bool(res.get("skewed", False)) else "conv_fivenum gave no value (n < 5?)"
            return np.nan, np.nan, why
        return float(res["mean"]), float(res["sd"]), f"median/{dispersion}->mean/SD"
    if dispersion == "" and not np.isnan(sd):
        if unstated == "exclude":
            return np.nan, np.nan, "dispersion type not stated"
        if unstated == "SD":
            return m, sd, "unstated dispersion read as SD"
        return m, float(convert.sd_from_sem(sd, n)), "unstated dispersion read as SEM->SD"
    if dispersion == "none":
        return np.nan, np.nan, "no dispersion reported"
    return np.nan, np.nan, "no dispersion reported"


def _shared_controls(ex: pd.DataFrame) -> pd.Series:
    """Number of distinct MSC arms compared with the same control group on the same outcome/time."""
    cg = ex["control_group_id"].astype("string")
    key = pd.DataFrame({
        "cg": cg.fillna(""), "outcome": ex["outcome"].astype("string").fillna("").str.lower().str.strip(),
        "detail": ex["outcome_detail"].astype("string").fillna(""),
        "tp": ex["timepoint"].astype("string").fillna(""), "unit": ex["timepoint_unit"].astype("string").fillna(""),
        "arm": ex["arm1_label"].astype("string").fillna(""),
    })
    k = key.groupby(["cg", "outcome", "detail", "tp", "unit"])["arm"].transform("nunique")
    k = k.where(key["cg"] != "", 1)
    return k.astype(int)


_OTHER_READING = {"SD": "SEM", "SEM": "SD"}


def effect_table(extracted: pd.DataFrame, studies: pd.DataFrame, measure: str = "SMD", *,
                 split_shared_controls: bool = True, unstated_dispersion: str = "exclude",
                 reported_effect_types=None, doubtful_dispersion: str = "as_labelled",
                 between_group_smd: str = "ci"):
    """Effect sizes of the extracted rows, and the rows that give none, with reasons.

    Parameters
    ----------
    extracted, studies : DataFrame
        The tables as loaded by :func:`mscreview.data.tables.load`.
    measure : {"SMD", "MD", "ROM", "RR", "OR", "RD"}
        Effect measure. Continuous measures use group statistics (converted to mean/SD in code)
        or, failing that, a reported effect of the same type with its CI (:func:`conv_wald`);
        event measures use ``x1i``/``n1i`` versus ``x2i``/``n2i``.
    split_shared_controls : bool
        Divide the comparator's n evenly among the MSC arms that share it on the same outcome
        and timepoint (Cochrane Handbook 23.3.4), the protocol's primary choice.
    unstated_dispersion : {"exclude", "SD", "SEM"}
        How rows with ``sd*i`` but no ``dispersion_type`` are read: excluded (primary analysis),
        or read as SD / SEM (sensitivity analyses).
    reported_effect_types : sequence of str, optional
        Reported ``effect_type`` values accepted as the measure when group statistics are
        missing (default: only ``measure`` itself). E.g. ``("MD", "beta")`` with
        ``measure="MD"`` accepts a regression-adjusted mean difference; the conversion column
        says so.
    doubtful_dispersion : {"as_labelled", "other_reading"}
        Rows with a ``dispersion_doubt`` read as labelled, or SD as SEM and SEM as SD (protocol 9.3).
    between_group_smd : {"ci", "reported_d"}
        SMD of a between-group MD/beta with a 95% CI and per-arm n: through the SD recovered from the
        CI, or the reported ``effect_std`` (protocol 9.2; :func:`mscreview.engine.smdconvert.smd_from_between_group`).

    Returns
    -------
    effects : DataFrame
        One row per effect: keys (row_id, study_id, cohort_id, population, design, product,
        product_class, msc_source, mechanism, outcome, outcome_detail, timepoint, timepoint_unit,
        timepoint_days, comparison_type, score_type, control_group_id, source_kind), the inputs
        used (n1i, m1i, sd1i, n2i, m2i, sd2i, or x1i, x2i), ``yi``, ``vi``, ``sei``, ``measure``,
        ``conversion`` (how the inputs were obtained), ``yi_raw`` (before direction
        harmonisation), ``higher_is_better``, ``shared_control`` (bool), ``n_arms_sharing``.
        ``yi > 0`` favours MSC.
    excluded : DataFrame
        ``row_id, study_id, mechanism, outcome, reason`` for every row without an effect.
        ``len(effects) + len(excluded) == len(extracted)``.

    References
    ----------
    Cochrane Handbook 6.5.2.2 and 23.3.4; Wan et al. (2014), Luo et al. (2018), Shi et al. (2020)
    for median/IQR/range conversions (via :func:`mscreview.engine.convert.conv_fivenum`).
    """
    if measure not in CONTINUOUS_MEASURES + EVENT_MEASURES:
        raise ValueError(f"measure {measure!r} not supported; use one of {CONTINUOUS_MEASURES + EVENT_MEASURES}")
    if unstated_dispersion not in ("exclude", "SD", "SEM"):
        raise ValueError("unstated_dispersion must be 'exclude', 'SD' or 'SEM'")
    if doubtful_dispersion not in ("as_labelled", "other_reading") or between_group_smd not in ("ci", "reported_d"):
        raise ValueError("doubtful_dispersion: 'as_labelled' or 'other_reading'; between_group_smd: 'ci' or 'reported_d'")
    accepted = (measure,) if reported_effect_types is None else tuple(reported_effect_types)
    ex = extracted.reset_index(drop=True)
    st = studies.drop_duplicates("study_id").set_index("study_id")
    n_sharing = _shared_controls(ex)
    keep, excluded = [], []

    for i, row in ex.iterrows():
        row = {k: (None if is_missing(v) else v) for k, v in row.items()}
        rid, sid = row["row_id"], row["study_id"]

        def skip(reason):
            excluded.append({"row_id": rid, "study_id": sid, "mechanism": row.get("mechanism"),
                             "outcome": row.get("outcome"), "reason": reason})

        avail = row.get("data_availability")
        notes = row.get("notes") if isinstance(row.get("notes"), str) else ""
        if sid not in st.index:
            skip("study_id not in studies.csv")
            continue
        if row.get("comparison_type") in NOT_CONTROLLED:   # before availability: the reason that matters
            skip(NOT_CONTROLLED[row.get("comparison_type")])
            continue
        if avail == "direction_only":
            skip("direction only (no numbers)")
            continue
        if avail == "figure_only" and not says_digitised(notes):
            skip("figure only (numbers not reported in text or tables)")
            continue
        hib = higher_is_better_value(row.get("higher_is_better"))
        if hib is None:
            skip("higher_is_better missing (direction of benefit unknown)")
            continue
        ctype = row.get("comparison_type")
        if ctype != "between_groups":
            skip(f"{ctype}: not a controlled comparison (described, not pooled)")
            continue
        k_share = int(n_sharing.iloc[i])
        n1, n2 = as_float(row.get("n1i")), as_float(row.get("n2i"))
        rec = {"n1i": n1, "n2i": n2, "m1i": np.nan, "sd1i": np.nan, "m2i": np.nan, "sd2i": np.nan,
               "x1i": as_float(row.get("x1i")), "x2i": as_float(row.get("x2i")), "yi_reported": np.nan,
               "vi_reported": np.nan}
        if measure in EVENT_MEASURES:
            if np.isnan(rec["x1i"]) or np.isnan(rec["x2i"]):
                skip("no event counts in both arms")
                continue
            if np.isnan(n1) or np.isnan(n2):
                skip("n missing")
                continue
            conversion = "events"
        else:
            dispersion = row.get("dispersion_type")
            dispersion = dispersion if isinstance(dispersion, str) else ""
            reread = (doubtful_dispersion == "other_reading" and dispersion in _OTHER_READING
                      and bool(str(row.get("dispersion_doubt") or "").strip()))
            dispersion = _OTHER_READING[dispersion] if reread else dispersion
            m1, s1, c1 = _arm_sd(row, "1", dispersion, unstated_dispersion)
            m2, s2, c2 = _arm_sd(row, "2", dispersion, unstated_dispersion)
            have_group = not (np.isnan(m1) or np.isnan(s1) or np.isnan(m2) or np.isnan(s2))
            etype = row.get("effect_type")
            e, lo, hi = as_float(row.get("effect")), as_float(row.get("effect_ci_low")), as_float(row.get("effect_ci_high"))
            if have_group and (np.isnan(n1) or np.isnan(n2)):
                skip("n missing (only total n reported?)")
                continue
            if have_group:
                rec.update(m1i=m1, sd1i=s1, m2i=m2, sd2i=s2)
                conversion = c1 if c1 == c2 else f"{c1}; {c2}"
                if reread:
                    conversion += f"; doubtful label read as {dispersion} (other reading)"
            elif measure == "SMD" and etype in ("MD", "beta") and not np.isnan([e, lo, hi, n1, n2]).any():
                try:
                    yi, vi, conversion = smd_from_between_group(e, lo, hi, n1, n2, as_float(row.get("effect_std")),
                                                                between_group_smd)
                except ValueError as err:
                    skip(f"reported {etype}: {err}")
                    continue
                rec.update(yi_reported=yi, vi_reported=vi)
            elif etype in accepted and not (np.isnan(e) or np.isnan(lo) or np.isnan(hi)):
                yi, vi = convert.conv_wald(e, lo, hi, transf=np.log if measure == "ROM" else None)
                rec.update(yi_reported=float(yi[0]), vi_reported=float(vi[0]))
                conversion = f"reported {etype} with 95% CI (conv_wald)"
            elif np.isnan(m1) and not np.isnan(rec["x1i"]):
                skip(f"event counts: use an event measure (RR, OR, RD), not {measure}")
                continue
            else:
                reason = c1 if np.isnan(m1) or np.isnan(s1) else c2
                if isinstance(etype, str) and not np.isnan(e):
                    reason += f"; reported {etype} cannot give {measure}"
                skip(reason)
                continue
        if avail == "figure_only":
            conversion += "; digitised from figure"
        shared = k_share > 1
        if shared and split_shared_controls:
            rec["n2i"] = n2 / k_share
            if measure in EVENT_MEASURES:
                rec["x2i"] = rec["x2i"] / k_share
            conversion += f"; shared control n split by {k_share}"
        s = st.loc[sid]
        out = {"row_id": rid, "study_id": sid}
        for c in ("cohort_id", "population", "design", "product", "msc_source", "species", "route"):
            out[c] = s.get(c, pd.NA)
        out["product_class"] = product_class(out["product"])
        for c in ("mechanism", "outcome", "outcome_detail", "unit", "timepoint", "timepoint_unit",
                  "comparison_type", "score_type", "control_group_id", "source_kind"):
            out[c] = row.get(c)
        out["instrument"] = row.get("instrument") or ""
        out["instrument_family"] = schema.instrument_family(row.get("instrument"))
        out["dispersion_doubt"] = row.get("dispersion_doubt") or ""
        out["timepoint_days"] = timepoint_days(row.get("timepoint"), row.get("timepoint_unit"))
        out["higher_is_better"] = hib
        out.update(rec)
        out["conversion"] = conversion
        out["shared_control"] = shared
        out["n_arms_sharing"] = k_share
        keep.append(out)

    effects = pd.DataFrame(keep)
    excl = pd.DataFrame(excluded, columns=["row_id", "study_id", "mechanism", "outcome", "reason"])
    if effects.empty:
        cols = ["row_id", "study_id", "yi", "vi", "sei", "measure", "conversion"]
        return pd.DataFrame(columns=cols), excl
    yi = np.full(len(effects), np.nan)
    vi = np.full(len(effects), np.nan)
    if measure in EVENT_MEASURES:
        r = escalc(measure, ai=effects["x1i"], n1i=effects["n1i"], ci=effects["x2i"], n2i=effects["n2i"])
        yi, vi = r["yi"].to_numpy(), r["vi"].to_numpy()
    else:
        grp = effects["m1i"].notna().to_numpy()
        if grp.any():
            g = effects.loc[grp]
            r = escalc(measure, m1i=g["m1i"], sd1i=g["sd1i"], n1i=g["n1i"], m2i=g["m2i"], sd2i=g["sd2i"],
                       n2i=g["n2i"])
            yi[grp], vi[grp] = r["yi"].to_numpy(), r["vi"].to_numpy()
        yi[~grp] = effects.loc[~grp, "yi_reported"].to_numpy()
        vi[~grp] = effects.loc[~grp, "vi_reported"].to_numpy()
    effects = effects.drop(columns=["yi_reported", "vi_reported"])
    bad = ~(np.isfinite(yi) & np.isfinite(vi) & (vi > 0))
    if bad.any():
        for _, r in effects.loc[bad].iterrows():
            excl.loc[len(excl)] = [r["row_id"], r["study_id"], r["mechanism"], r["outcome"],
                                   "effect size not computable (e.g. zero SD or zero events in both arms)"]
        effects, yi, vi = effects.loc[~bad].reset_index(drop=True), yi[~bad], vi[~bad]
    effects["yi_raw"] = yi
    effects["yi"] = convert.harmonise_direction(yi, effects["higher_is_better"].to_numpy(), measure)
    effects["vi"] = vi
    effects["sei"] = np.sqrt(vi)
    effects["measure"] = measure
    excl = excl.sort_values("row_id", kind="stable").reset_index(drop=True)
    return effects, excl


# ---------------------------------------------------------------------------
# SWiM: effect direction
# ---------------------------------------------------------------------------

#: Reason listed for rows that are not MSC-versus-control comparisons (effect_table's excluded rows).
NOT_CONTROLLED = {"msc_vs_msc": "msc_vs_msc: one MSC arm versus another (head-to-head, protocol 9.4); shown in the "
                  "head-to-head table, never in an MSC-vs-control sign test, direction plot or pooled family"}
NO_CLEAR = "no_clear_direction"
SWIM_DIRECTIONS = ("favours_msc", "favours_control", NO_CLEAR)


def swim_direction(direction, significant=None):
    """SWiM direction of a row from its words (protocol 9.6): a stated direction is kept; a statement of
    significance alone (``no_difference``, ``mixed``, or none with ``significant = no``) is
    ``no_clear_direction``; nothing stated gives <NA>."""
    if isinstance(direction, str) and direction in ("favours_msc", "favours_control"):
        return direction
    stated_null = isinstance(direction, str) and direction in ("no_difference", "mixed", NO_CLEAR)
    return NO_CLEAR if stated_null or significant == "no" else pd.NA


def direction_table(extracted: pd.DataFrame, studies: pd.DataFrame, measure: str = "SMD",
                    confidence_level: float = 0.95, comparison_types=("between_groups",)) -> pd.DataFrame:
    """Direction of effect of every extracted between-group row, computed or as reported (SWiM).

    Protocol 9.6 (Campbell et al. 2020; Boon & Thomson 2021): the direction comes from the
    numbers where they exist. For rows that give an effect size (:func:`effect_table`) it is
    the sign of the harmonised ``yi``; rows with a reported effect (any effect type) use its
    sign against the null (0, or 1 for ratios); event rows compare the two proportions. Where
    only words exist, the direction is the one the text states; a statement of significance
    alone ("not significant", "no difference", coded ``no_difference``) is **not** a
    direction: such rows are ``no_clear_direction`` and never count for either side
    (:func:`swim_direction`). ``significant`` (whether the CI excludes the null, Fisher's exact
    test for events, or as reported) is descriptive only and never changes a direction.

    ``comparison_types``: MSC-versus-control rows by default (``msc_vs_msc`` rows are never
    such evidence, protocol 9.4); add ``"pre_post"`` to describe single-arm directions.

    Returns
    -------
    DataFrame
        ``row_id, study_id, cohort_id, population, product_class, msc_source, mechanism, outcome,
        comparison_type, direction, direction_reported, significant, basis`` with direction in
        ``favours_msc``, ``favours_control``, ``no_clear_direction`` or <NA> (nothing reported),
        ``direction_reported`` the extracted value, ``significant`` in yes / no / unclear,
        basis ``computed`` or ``reported``.
    """
    effects, _ = effect_table(extracted, studies, measure)
    z = stats.norm.ppf(1 - (1 - confidence_level) / 2)
    comp = {}
    for _, r in effects.iterrows():
        d = "favours_msc" if r["yi"] > 0 else "favours_control" if r["yi"] < 0 else NO_CLEAR
        sig = "yes" if abs(r["yi"]) > z * r["sei"] else "no"
        comp[r["row_id"]] = (d, sig)
    st = studies.drop_duplicates("study_id").set_index("study_id")
    rows = []
    for _, r in extracted.iterrows():
        r = {k: (None if is_missing(v) else v) for k, v in r.items()}
        if r.get("comparison_type") not in comparison_types:
            continue
        sid = r["study_id"]
        s = st.loc[sid] if sid in st.index else {}
        reported = r.get("direction") if isinstance(r.get("direction"), str) else pd.NA
        if r["row_id"] in comp:
            d, sig, basis = *comp[r["row_id"]], "computed"
        elif (rep := _reported_direction(r, z)) is not None:
            d, sig, basis = *rep, "computed"
        else:
            sig = r.get("significant")
            sig = sig if isinstance(sig, str) else "unclear"
            d = swim_direction(reported, sig)
            basis = "reported"
        cohort = s.get("cohort_id", pd.NA)
        rows.append({"row_id": r["row_id"], "study_id": sid,
                     "cohort_id": cohort if isinstance(cohort, str) and cohort else sid,
                     "population": s.get("population", pd.NA), "product_class": product_class(s.get("product")),
                     "msc_source": s.get("msc_source", pd.NA), "mechanism": r["mechanism"], "outcome": r["outcome"],
                     "comparison_type": r.get("comparison_type"), "direction": d, "direction_reported": reported,
                     "significant": sig, "basis": basis})
    return pd.DataFrame(rows, columns=["row_id", "study_id", "cohort_id", "population", "product_class", "msc_source",
                                       "mechanism", "outcome", "comparison_type", "direction", "direction_reported",
                                       "significant", "basis"])


def _reported_direction(r, z):
    """Direction and significance from a reported effect with CI, or from event proportions."""
    hib = higher_is_better_value(r.get("higher_is_better"))
    if hib is None:
        return None
    e, lo, hi = as_float(r.get("effect")), as_float(r.get("effect_ci_low")), as_float(r.get("effect_ci_high"))
    etype = r.get("effect_type")
    if isinstance(etype, str) and not np.isnan(e):
        null = 1.0 if etype in ("RR", "OR", "HR") else 0.0
        sign = np.sign(e - null) * (1 if hib else -1)
        d = "favours_msc" if sign > 0 else "favours_control" if sign < 0 else NO_CLEAR
        sig = "unclear" if np.isnan(lo) or np.isnan(hi) else ("yes" if (lo > null or hi < null) else "no")
        return d, sig
    x1, n1, x2, n2 = (as_float(r.get(c)) for c in ("x1i", "n1i", "x2i", "n2i"))
    if not any(np.isnan([x1, n1, x2, n2])) and n1 > 0 and n2 > 0:
        sign = np.sign(x1 / n1 - x2 / n2) * (1 if hib else -1)
        d = "favours_msc" if sign > 0 else "favours_control" if sign < 0 else NO_CLEAR
        table = [[int(x1), int(n1 - x1)], [int(x2), int(n2 - x2)]]
        sig = "yes" if stats.fisher_exact(table).pvalue < 2 * stats.norm.sf(z) else "no"
        return d, sig
    return None


def study_directions(directions: pd.DataFrame, by=("population", "product_class", "mechanism"),
                     threshold: float = 0.7) -> pd.DataFrame:
    """One direction per cohort per family, by the effect-direction-plot rule (protocol 9.6).

    Within a cohort and family, every row with a SWiM direction (:func:`direction_table`;
    rows with nothing reported are left out) is one outcome: if at least ``threshold`` (70%,
    Boon & Thomson 2021) of them favour MSC the cohort is ``favours_msc``; if at least 70% favour
    control, ``favours_control``; otherwise ``no_clear_direction`` (rows without a clear
    direction count in the denominator and for neither side). Reports of the same cohort vote
    once (grouped by ``cohort_id``; a missing cohort_id falls back to the study_id).

    Returns
    -------
    DataFrame
        ``*by, cohort_id, study_ids, n_rows, n_favours_msc, n_favours_control, n_no_clear, direction``.
    """
    d = directions.dropna(subset=["direction"]).copy()
    if "cohort_id" not in d:
        d["cohort_id"] = d["study_id"]
    d["cohort_id"] = d["cohort_id"].where(d["cohort_id"].notna(), d["study_id"])
    by = list(by)
    rows = []
    for key, g in d.groupby(by + ["cohort_id"], dropna=False):
        n = len(g)
        up = int((g["direction"] == "favours_msc").sum())
        down = int((g["direction"] == "favours_control").sum())
        direction = ("favours_msc" if up >= threshold * n - 1e-9 else
                     "favours_control" if down >= threshold * n - 1e-9 else NO_CLEAR)
        rec = dict(zip(by + ["cohort_id"], key))
        rec.update(study_ids=";".join(sorted(set(g["study_id"]))), n_rows=n, n_favours_msc=up,
                   n_favours_control=down, n_no_clear=n - up - down, direction=direction)
        rows.append(rec)
    return pd.DataFrame(rows, columns=by + ["cohort_id", "study_ids", "n_rows", "n_favours_msc",
                                            "n_favours_control", "n_no_clear", "direction"])


@dataclass(frozen=True)
class SignTestResult:
    """Two-sided exact sign test of cohort-level directions in one family (SWiM, protocol 9.6).

    Primary test on the ``n_tested = k_favours_msc + k_favours_control`` cohorts with a clear
    direction (``statistic`` = ``k_favours_msc``; Clopper-Pearson ``ci_low``/``ci_high`` of
    ``proportion``); worst case: the ``k_no_clear`` cohorts counted as favouring control
    (``k_favours_msc`` of ``n_worst_case``, ``pvalue_worst_case``).
    """

    k_favours_msc: int
    k_favours_control: int
    k_no_clear: int
    n_tested: int
    statistic: int
    proportion: float
    pvalue: float
    ci_low: float
    ci_high: float
    n_worst_case: int
    pvalue_worst_case: float
    confidence_level: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)])


def sign_test(study_dirs: pd.DataFrame, confidence_level: float = 0.95) -> SignTestResult:
    """Exact binomial sign test (p = 0.5) of cohorts favouring MSC versus control, and its worst case.

    Parameters
    ----------
    study_dirs : DataFrame
        :func:`study_directions` of one family (one row per cohort). Rows other than
        ``favours_msc``/``favours_control`` count in ``k_no_clear`` (against MSC in the worst case).

    References
    ----------
    McKenzie JE, Brennan SE (2023). Cochrane Handbook chapter 12.4.2.2 (sign test).
    Campbell M et al. (2020). BMJ 368:l6890 (SWiM item 4: report the counts behind a vote).
    """
    up = int((study_dirs["direction"] == "favours_msc").sum())
    down = int((study_dirs["direction"] == "favours_control").sum())
    unclear = int(len(study_dirs) - up - down)
    n = up + down
    n_wc = n + unclear
    p_wc = float(stats.binomtest(up, n_wc, 0.5).pvalue) if n_wc else np.nan
    if n == 0:
        return SignTestResult(up, down, unclear, 0, 0, np.nan, np.nan, np.nan, np.nan, n_wc, p_wc, confidence_level)
    res = stats.binomtest(up, n, 0.5)
    ci = res.proportion_ci(confidence_level=confidence_level, method="exact")
    return SignTestResult(up, down, unclear, n, up, up / n, float(res.pvalue), float(ci.low), float(ci.high),
                          n_wc, p_wc, confidence_level)


# ---------------------------------------------------------------------------
# one effect per study per family; pooling
# ---------------------------------------------------------------------------

#: Outcome family (protocol 9.1; instrument family '' without an instrument): every pooled result uses it.
DEFAULT_FAMILY = ("population", "product_class", "mechanism", "instrument_family")


def primary_effects(effects: pd.DataFrame, family=DEFAULT_FAMILY) -> pd.DataFrame:
    """One effect per study (cohort) per outcome family, by the protocol rule (section 6.4).

    1. Within the family, outcomes (an ``instrument`` where given, else the outcome name) are ranked
       by the number of cohorts reporting them; ties by :data:`mscreview.data.schema.INSTRUMENTS`
       order (never alphabetical across instruments, protocol 9.1), else alphabetical.
    2. Within that outcome, the latest timepoint (in days).
    3. Within that timepoint, the first-listed row (lowest ``row_id``).

    Parameters
    ----------
    effects : DataFrame
        Output of :func:`effect_table`.
    family : sequence of str
        Columns defining an outcome family (default population, product class, mechanism).

    Returns
    -------
    DataFrame
        The chosen rows of ``effects`` plus ``outcome_rank`` (1 = most frequent) and
        ``n_candidates`` (effects the cohort had in the family), sorted by family and study.
    """
    family = list(family)
    e = effects.copy()
    e = e.assign(**{c: "" for c in family if c not in e.columns})
    e["_outcome"] = e["outcome"].astype("string").str.lower().str.strip()
    order = {k: i for i, k in enumerate(schema.INSTRUMENTS)}
    inst = e["instrument"].fillna("").astype(str) if "instrument" in e.columns else pd.Series("", index=e.index)
    e["_outcome"] = e["_outcome"].where(inst == "", "instrument:" + inst)
    e["_registry"] = [order.get(i, len(order)) for i in inst]
    e["_cohort"] = e["cohort_id"].where(e["cohort_id"].notna(), e["study_id"])
    freq = (e.drop_duplicates(family + ["_outcome", "_cohort"])
            .groupby(family + ["_outcome"], dropna=False)
            .agg(_freq=("_cohort", "size"), _registry=("_registry", "min")).reset_index())
    freq = freq.sort_values(family + ["_freq", "_registry", "_outcome"],
                            ascending=[True] * len(family) + [False, True, True])
    freq["outcome_rank"] = freq.groupby(family, dropna=False).cumcount() + 1
    e = e.merge(freq[family + ["_outcome", "outcome_rank"]], on=family + ["_outcome"], how="left")
    e["_tp"] = e["timepoint_days"].fillna(-np.inf)
    e["n_candidates"] = e.groupby(family + ["_cohort"], dropna=False)["row_id"].transform("size")
    e = e.sort_values(family + ["_cohort", "outcome_rank", "_tp", "row_id"],
                      ascending=[True] * len(family) + [True, True, False, True])
    out = e.drop_duplicates(family + ["_cohort"], keep="first")
    return out.drop(columns=["_outcome", "_cohort", "_tp", "_registry"]).sort_values(family + ["study_id"]).reset_index(drop=True)


def pooled_by(effects: pd.DataFrame, by=DEFAULT_FAMILY, *, method: str = "REML", test: str = "knha",
              min_studies: int = 2, confidence_level: float = 0.95) -> pd.DataFrame:
    """Random-effects pooled estimate per group, where at least ``min_studies`` studies exist.

    Parameters
    ----------
    effects : DataFrame
        One effect per study per group (e.g. from :func:`primary_effects`); a group with two
        effects of one cohort raises, because they are not independent (use the three-level
        model instead).
    by : sequence of str
        Grouping columns (default population, product class, mechanism).
    method, test : str
        Passed to :func:`mscreview.engine.rma.rma` (protocol: REML + Hartung-Knapp; sensitivity DL + z).
    min_studies : int
        Groups with fewer studies are listed with ``pooled = False`` and a reason (SWiM instead).
        Groups of raw mean differences (MD) in more than one unit are not pooled either.

    Returns
    -------
    DataFrame
        One row per group: ``*by, k, study_ids, pooled, reason, measure, estimate, se, ci_low,
        ci_high, pi_low, pi_high, pvalue, tau2, i2, q, q_pvalue, method, test``.
    """
    from ..engine.rma import rma

    by = list(by)
    effects = effects.assign(**{c: "" for c in by if c not in effects.columns})
    rows = []
    num = ["estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "pvalue", "tau2", "i2", "q", "q_pvalue"]
    for key, g in effects.groupby(by, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(by, key))
        cohorts = g["cohort_id"].where(g["cohort_id"].notna(), g["study_id"])
        if cohorts.duplicated().any():
            dup = sorted(set(cohorts[cohorts.duplicated()]))
            raise ValueError(f"group {rec} has several effects of cohort(s) {dup}; pass one effect per study "
                             "(primary_effects) or use the three-level model")
        measures = sorted(set(g["measure"]))
        if len(measures) > 1:
            raise ValueError(f"group {rec} mixes measures {measures}")
        rec.update(k=len(g), study_ids=";".join(sorted(g["study_id"])), measure=measures[0],
                   method=method, test=test)
        units = sorted(set(g["unit"].dropna().astype(str).str.strip().str.lower())) if "unit" in g.columns else []
        if len(g) < min_studies:
            rec.update(pooled=False, reason=f"fewer than {min_studies} comparable studies (narrative/SWiM)",
                       **{c: np.nan for c in num})
        elif measures[0] == "MD" and len(units) > 1:
            rec.update(pooled=False, reason=f"raw mean differences in different units {units} (use SMD)",
                       **{c: np.nan for c in num})
        else:
            r = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), method=method, test=test,
                    confidence_level=confidence_level)
            pi_ok = len(g) >= 3     # protocol 6.3: a prediction interval only with k >= 3
            rec.update(pooled=True, reason="", estimate=r.estimate, se=r.se, ci_low=r.ci_low, ci_high=r.ci_high,
                       pi_low=r.pi_low if pi_ok else np.nan, pi_high=r.pi_high if pi_ok else np.nan, pvalue=r.pvalue, tau2=r.tau2, i2=r.i2, q=r.q,
                       q_pvalue=r.q_pvalue)
        rows.append(rec)
    cols = by + ["k", "study_ids", "pooled", "reason", "measure"] + num + ["method", "test"]
    return pd.DataFrame(rows, columns=cols)
