"""Clinical outcomes: GMFM by timepoint, other functional outcomes, adverse events, uncontrolled reports and the comparison with published meta-analyses.

Notebook ``notebooks/05_clinical_outcomes.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data.labels import study_labels
from ..engine.effectsize import escalc
from ..engine.proportions import newcombe_rd_ci
from ..engine.rma import rma
from . import rules
from .evidence import Evidence, PRIMARY, cites, fit_numbers, gmfm_effects, months_of, prefixed, result_key

Z95 = 1.959963984540054

#: The analyses of the GMFM family (protocol 9.2-9.3): name -> (label, effect_table keywords)
GMFM_READINGS = {
    "as_labelled": ("as labelled", {}),
    "other_reading": ("doubtful dispersion read the other way (SD as SEM)", {"doubtful_dispersion": "other_reading"}),
    "reported_d": ("reported Cohen's d instead of the CI route (sensitivity)", {"between_group_smd": "reported_d"}),
}


def gmfm_reading_effects(ev: Evidence, reading: str = "as_labelled") -> pd.DataFrame:
    """GMFM effects under one analysis of :data:`GMFM_READINGS` (``as_labelled`` is the primary table)."""
    if reading not in GMFM_READINGS:
        raise ValueError(f"reading must be one of {list(GMFM_READINGS)}")
    kw = GMFM_READINGS[reading][1]
    col = {"other_reading": "dispersion_doubt", "reported_d": "effect_std"}.get(reading)
    flagged = col is not None and col in ev.extracted and ev.extracted[col].astype("string").str.strip() \
        .fillna("").ne("").any()
    if not flagged:   # nothing to read otherwise: the analysis is the primary one
        return gmfm_effects(ev)
    e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", **kw)
    return gmfm_effects(ev, e)


def _fit_row(sg: pd.DataFrame) -> dict:
    """Pooled (k >= 2, REML + Hartung-Knapp; PI only where k >= 3) or single-trial summary of one timepoint."""
    rec = {"k": len(sg), "participants": int(pd.to_numeric(sg["n1i"]).sum() + pd.to_numeric(sg["n2i"]).sum()),
           "studies": "; ".join(sg["study_id"])}
    if len(sg) >= 2 and sg["cohort_id"].nunique() == len(sg):
        f = rma(sg["yi"].to_numpy(float), sg["vi"].to_numpy(float), **PRIMARY)
        rec.update(pooled=True, estimate=f.estimate, ci_low=f.ci_low, ci_high=f.ci_high,
                   pi_low=f.pi_low if f.k >= 3 else np.nan, pi_high=f.pi_high if f.k >= 3 else np.nan,
                   i2=f.i2, tau2=f.tau2, pvalue=f.pvalue)
    else:
        y, se = float(sg["yi"].iloc[0]), math.sqrt(float(sg["vi"].iloc[0]))
        from scipy import stats
        rec.update(pooled=False, estimate=y, ci_low=y - Z95 * se, ci_high=y + Z95 * se, pi_low=np.nan,
                   pi_high=np.nan, i2=np.nan, tau2=np.nan, pvalue=float(2 * stats.norm.sf(abs(y) / se)))
    return rec


def gmfm_primary_months(ev: Evidence) -> float:
    """Primary GMFM timepoint (protocol 9.1): the latest reported by at least two controlled trials."""
    g = gmfm_effects(ev)
    per = g.groupby("months")["cohort_id"].nunique()
    per = per[per >= 2]
    return float(per.index.max()) if len(per) else np.nan


@cites
def gmfm_both_readings(ev: Evidence) -> pd.DataFrame:
    """GMFM (SMD, > 0 favours MSC) per timepoint under both readings of doubtful dispersions
    (protocol 9.3: as labelled, primary; the other reading), with k, participants, studies, estimate,
    95% CI, 95% PI (k >= 3 only), I², tau², p (REML + Hartung-Knapp; one trial: its own g with a z
    interval, not pooled). At the primary timepoint a third row gives the sensitivity with the trials'
    reported standardised effects (protocol 9.2)."""
    nums: dict = {}
    primary = gmfm_primary_months(ev)
    rows = []
    for reading, (label, _) in GMFM_READINGS.items():
        g = gmfm_reading_effects(ev, reading)
        for m, sg in g.groupby("months", sort=True):
            if reading == "reported_d" and m != primary:
                continue
            rec = {"analysis": label, "months": m, "primary_timepoint": bool(m == primary), **_fit_row(sg)}
            rows.append(rec)
            if m == primary:
                key = {"as_labelled": "primary"}.get(reading, reading)
                nums.update(prefixed(f"clinical.gmfm.{key}", {
                    "k": rec["k"], "participants": rec["participants"], "months": m, "estimate": rec["estimate"],
                    "ci_low": rec["ci_low"], "ci_high": rec["ci_high"], "i2": rec["i2"], "pvalue": rec["pvalue"],
                    "studies": rec["studies"]}))
    out = pd.DataFrame(rows)
    excl = {}
    for key in ("primary", "other_reading"):
        lo, hi = nums.get(f"clinical.gmfm.{key}.ci_low"), nums.get(f"clinical.gmfm.{key}.ci_high")
        excl[key] = None if lo is None else bool(lo > 0 or hi < 0)
    nums["clinical.gmfm.primary.excludes_zero"] = excl["primary"]
    nums["clinical.gmfm.other_reading.excludes_zero"] = excl["other_reading"]
    nums["clinical.gmfm.depends_on_reading"] = ("yes" if None not in excl.values()
                                                and excl["primary"] != excl["other_reading"] else "no")
    doubt = ev.extracted[ev.extracted["dispersion_doubt"].fillna("").astype(str).str.strip() != ""] \
        if "dispersion_doubt" in ev.extracted else ev.extracted.iloc[0:0]
    who = " and ".join(sorted(set(doubt["study_id"]))) or "no trial"
    nums["clinical.gmfm.doubtful_studies"] = who
    if excl["primary"] is None:
        text = "no pooled estimate"
    elif nums["clinical.gmfm.depends_on_reading"] == "yes":
        text = (f"the 95% CI excludes no effect only if {who}'s SDs are read as SEMs, so this conclusion depends on "
                "an unverified label" if excl["other_reading"] else
                f"the 95% CI excludes no effect only with {who}'s SDs as labelled, so this conclusion depends on "
                "an unverified label")
    else:
        text = ("the 95% CI excludes no effect under both readings" if excl["primary"]
                else "the 95% CI includes no effect under both readings")
    nums["clinical.gmfm.reading_conclusion"] = text
    d = ev.extracted[ev.extracted["effect_std"].notna()] if "effect_std" in ev.extracted else ev.extracted.iloc[0:0]
    gm = d[d["row_id"].isin(gmfm_effects(ev)["row_id"])]
    nums["clinical.gmfm.reported_d.trials"] = "; ".join(sorted(set(gm["study_id"])))
    nums["clinical.gmfm.reported_d.values"] = "; ".join(f"{r.study_id} d = {r.effect_std:g}" for r in gm.itertuples())
    return out, nums


@cites
def gmfm_by_timepoint(ev: Evidence) -> pd.DataFrame:
    """GMFM pooled per timepoint (months) where >= 2 trials report it; REML + Hartung-Knapp
    (primary) and DL + z (sensitivity)."""
    nums: dict = {}
    g = gmfm_effects(ev)
    rows = []
    for m, sg in g.groupby("months", sort=True):
        rec = {"months": m, "k": len(sg), "studies": "; ".join(sg["study_id"]),
               "participants": int(pd.to_numeric(sg["n1i"]).sum() + pd.to_numeric(sg["n2i"]).sum())}
        base = result_key("clinical.gmfm", f"m{m:g}")
        nums[f"{base}.k"] = len(sg)
        nums[f"{base}.participants"] = rec["participants"]
        if len(sg) >= 2 and sg["cohort_id"].nunique() == len(sg):
            for label, kw in (("reml_knha", PRIMARY), ("dl_z", {"method": "DL", "test": "z"})):
                f = rma(sg["yi"].to_numpy(float), sg["vi"].to_numpy(float), **kw)
                rec.update({f"{label}_estimate": f.estimate, f"{label}_ci_low": f.ci_low,
                            f"{label}_ci_high": f.ci_high})
                if label == "reml_knha":
                    rec.update(tau2=f.tau2, i2=f.i2, pvalue=f.pvalue)
                nums.update(fit_numbers(f"{base}.{label}", f))
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
    nums.update(prefixed("clinical.gmfm.latest", latest))
    nums["clinical.gmfm.trials"] = int(g["study_id"].nunique()) if not g.empty else 0
    nums["clinical.gmfm.timepoints_pooled"] = int((out["k"] >= 2).sum()) if not out.empty else 0
    return out, nums


def _months_text(m) -> str:
    return f"{m:g} month" + ("" if m == 1 else "s")


def gmfm_forest_data(ev: Evidence) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: GMFM by timepoint under both
    readings of doubtful dispersions (protocol 9.3). A trial with a doubtful label appears twice in
    its timepoint (as labelled; read the other way), and a timepoint it is in gets two pooled
    diamonds, one per reading; other trials appear once."""
    a = gmfm_reading_effects(ev, "as_labelled")
    o = gmfm_reading_effects(ev, "other_reading")
    doubtful = set(a.loc[a["dispersion_doubt"].astype(str).str.strip() != "", "row_id"])
    a = a.assign(reading="as_labelled")
    a.loc[a["row_id"].isin(doubtful), "label"] = a.loc[a["row_id"].isin(doubtful), "label"] + ", SD as labelled"
    extra = o[o["row_id"].isin(doubtful)].assign(reading="other_reading")
    extra["label"] = extra["label"] + ", SD read as SEM"
    g = pd.concat([a, extra], ignore_index=True).sort_values(["months", "study_id", "reading"]).reset_index(drop=True)
    g["timepoint_group"] = [_months_text(m) for m in g["months"]]
    pooled = []
    for m, sg in a.groupby("months", sort=True):
        grp = _months_text(m)
        two = bool(sg["row_id"].isin(doubtful).any())
        for reading, eff in (("as_labelled", sg), ("other_reading", o[o["months"] == m])):
            if reading == "other_reading" and not two:
                continue
            if len(eff) >= 2:
                f = rma(eff["yi"].to_numpy(float), eff["vi"].to_numpy(float), **PRIMARY)
                # prediction intervals are in gmfm_both_readings (two stacked PI labels would overlap here)
                lab = "Pooled" + ({"as_labelled": ", as labelled", "other_reading": ", other reading"}[reading]
                                  if two else " (REML + HK)")
                pooled.append({"group": grp, "label": lab, "estimate": f.estimate, "ci_low": f.ci_low,
                               "ci_high": f.ci_high, "k": f.k, "i2": f.i2})
    return {"data": g, "label": "label", "group": "timepoint_group", "pooled": pooled,
            "xlabel": "SMD (Hedges' g) in GMFM; > 0 favours MSC",
            "title": "GMFM in controlled trials, both readings"}


def clinical_other_function(ev: Evidence) -> pd.DataFrame:
    """Other clinical function outcomes with an SMD (not GMFM), per trial and timepoint."""
    e = ev.effects
    g = e[(e["population"] == "clinical") & (e["mechanism"] == "function")
          & (e["instrument_family"] != "GMFM")].copy()
    g["months"] = [months_of(r) for r in g.to_dict("records")]
    g["ci_low"] = g["yi"] - 1.959963984540054 * np.sqrt(g["vi"])
    g["ci_high"] = g["yi"] + 1.959963984540054 * np.sqrt(g["vi"])
    return g[["study_id", "instrument", "outcome", "months", "n1i", "n2i", "yi", "ci_low", "ci_high", "conversion"]] \
        .rename(columns={"yi": "smd"}).reset_index(drop=True)


@cites
def adverse_events(ev: Evidence) -> pd.DataFrame:
    """Risk ratios (MSC vs control) of every adverse-event row with counts in both arms
    (metafor's RR with 0.5 added to zero cells; not estimable when both arms have 0)."""
    nums: dict = {}
    ex = ev.extracted
    a = ex[(ex["mechanism"] == "safety") & (ex["comparison_type"] == "between_groups")
           & ex["x1i"].notna() & ex["x2i"].notna() & ex["n1i"].notna() & ex["n2i"].notna()].copy()
    if a.empty:
        return pd.DataFrame(columns=["study_id", "outcome", "x1i", "n1i", "x2i", "n2i", "rr", "ci_low",
                                     "ci_high", "yi", "vi", "note"]), nums
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
    nums["clinical.ae.rows"] = len(out)
    nums["clinical.ae.trials"] = int(out["study_id"].nunique())
    nums["clinical.ae.estimable"] = int(out["rr"].notna().sum())
    nums["clinical.ae.significant"] = int(((out["ci_low"] > 1) | (out["ci_high"] < 1)).sum())
    sae = out[out["outcome"].astype(str).str.contains("serious", case=False)]
    nums["clinical.sae.trials"] = int(sae["study_id"].nunique())
    nums["clinical.sae.events_msc"] = int(sae["x1i"].sum())
    nums["clinical.sae.events_control"] = int(sae["x2i"].sum())
    nums["clinical.sae.participants"] = int(sae["n1i"].sum() + sae["n2i"].sum())
    return out, nums


def _sae_rows(ev: Evidence) -> pd.DataFrame:
    """Between-group serious-adverse-event rows of controlled clinical trials, with product class."""
    cols = [c for c in ("study_id", "population", "product") if c in ev.studies]
    ex = ev.extracted.merge(ev.studies[cols], on="study_id", how="left")
    ex = ex.assign(**{c: "" for c in ("product", "data_availability") if c not in ex})
    return ex[(ex["population"] == "clinical") & (ex["comparison_type"] == "between_groups")
              & ex["outcome"].astype(str).str.contains("serious", case=False)].copy()


def _rr_cc(x1, n1, x2, n2):
    """RR with 0.5 added to every cell only where exactly one arm has zero events (protocol 6.2, 9.8)."""
    if x1 == 0 and x2 == 0:
        return np.nan, np.nan, np.nan, "not estimable (no events in either arm)"
    cc = 0.5 if (x1 == 0) != (x2 == 0) else 0.0
    a, c_, m1, m2 = x1 + cc, x2 + cc, n1 + 2 * cc, n2 + 2 * cc
    y = math.log((a / m1) / (c_ / m2))
    se = math.sqrt(1 / a - 1 / m1 + 1 / c_ - 1 / m2)
    return math.exp(y), math.exp(y - Z95 * se), math.exp(y + Z95 * se), ("0.5 added to each cell" if cc else "")


@cites
def sae_risk_difference(ev: Evidence) -> pd.DataFrame:
    """Serious adverse events in controlled trials: risk difference (MSC minus control) with Newcombe's
    hybrid score interval per trial and pooled, and the RR where estimable (protocol 9.8).

    The pooled row sums the arms of the MSC trials (every such trial randomised 1:1 with equal arms,
    so the crude risk difference equals the Mantel-Haenszel one) and applies the same interval. Rows
    that cannot enter are listed with the reason (MSC-derived cells: sensitivity only; counts that pool
    MSC with non-MSC cell arms; no counts by arm)."""
    nums: dict = {}
    a = _sae_rows(ev)
    rows = []
    for r in a.sort_values("row_id").itertuples():
        x1, n1, x2, n2 = (getattr(r, c) for c in ("x1i", "n1i", "x2i", "n2i"))
        cls = rules.product_class(r.product)
        if r.data_availability == "direction_only" or any(pd.isna(v) for v in (x1, n1, x2, n2)):
            rows.append({"study_id": r.study_id, "row_id": r.row_id, "analysis": "not usable",
                         "note": "no counts of the MSC arm alone (see row notes)"})
            continue
        x1, n1, x2, n2 = int(x1), int(n1), int(x2), int(n2)
        rd, lo, hi = newcombe_rd_ci(x1, n1, x2, n2)
        rr, rlo, rhi, rnote = _rr_cc(x1, n1, x2, n2)
        if cls not in ("msc", "msc_derived_cells"):
            rows.append({"study_id": r.study_id, "row_id": r.row_id, "analysis": "not usable",
                         "note": f"product class {cls}: not MSC vs control"})
            continue
        rows.append({"study_id": r.study_id, "row_id": r.row_id,
                     "analysis": "primary" if cls == "msc" else "sensitivity only (MSC-derived cells)",
                     "x1i": x1, "n1i": n1, "x2i": x2, "n2i": n2, "rd": rd, "rd_ci_low": lo, "rd_ci_high": hi,
                     "rr": rr, "rr_ci_low": rlo, "rr_ci_high": rhi, "note": rnote})
    out = pd.DataFrame(rows, columns=["study_id", "row_id", "analysis", "x1i", "n1i", "x2i", "n2i", "rd", "rd_ci_low",
                                      "rd_ci_high", "rr", "rr_ci_low", "rr_ci_high", "note"])
    for label, keep in (("pooled, MSC trials", ["primary"]), ("pooled incl. MSC-derived cells (sensitivity)",
                                                              ["primary", "sensitivity only (MSC-derived cells)"])):
        u = out[out["analysis"].isin(keep)]
        if u.empty:
            continue
        x1, n1, x2, n2 = (int(u[c].sum()) for c in ("x1i", "n1i", "x2i", "n2i"))
        rd, lo, hi = newcombe_rd_ci(x1, n1, x2, n2)
        rr, rlo, rhi, rnote = _rr_cc(x1, n1, x2, n2)
        trials = "; ".join(u["study_id"])
        out.loc[len(out)] = {"study_id": trials, "row_id": "", "analysis": label, "x1i": x1, "n1i": n1, "x2i": x2, "n2i": n2,
            "rd": rd, "rd_ci_low": lo, "rd_ci_high": hi, "rr": rr, "rr_ci_low": rlo, "rr_ci_high": rhi,
            "note": rnote + ("; " if rnote else "") + "arms summed (1:1 trials)"}
        key = "clinical.sae" if keep == ["primary"] else "clinical.sae.with_derived_cells"
        nums.update(prefixed(key, {"rd_trials": len(u), "rd_studies": trials, "rd_events_msc": x1, "rd_n_msc": n1,
                                   "rd_events_control": x2, "rd_n_control": n2, "rd": rd, "rd_ci_low": lo,
                                   "rd_ci_high": hi, "rr_estimable": "yes" if pd.notna(rr) else "no",
                                   "rr_text": (f"risk ratio {rr:.2f} (95% CI {rlo:.2f} to {rhi:.2f}{', ' + rnote if rnote else ''})"
                                               if pd.notna(rr) else "risk ratio not estimable (no events in either arm)")}))
    nums["clinical.sae.not_usable"] = "; ".join(out.loc[out["analysis"] == "not usable", "study_id"])
    return out, nums


@cites
def single_arm_summary(ev: Evidence) -> pd.DataFrame:
    """Uncontrolled clinical reports: what they report (direction of pre-post change, events),
    described, never pooled (protocol 6.2)."""
    nums: dict = {}
    ex = ev.extracted.merge(ev.studies[["study_id", "population", "design"]], on="study_id", how="left")
    g = ex[(ex["population"] == "clinical") & ex["comparison_type"].isin(["pre_post", "events_single_arm"])]
    rows = []
    for sid, sg in g.groupby("study_id", sort=True):
        rows.append({"study_id": sid, "design": sg["design"].iloc[0], "rows": len(sg),
                     "outcomes": "; ".join(sorted(set(sg["outcome"].astype(str)))[:6]),
                     "improved_reported": int((sg["direction"] == "favours_msc").sum()),
                     "events_rows": int((sg["comparison_type"] == "events_single_arm").sum())})
    out = pd.DataFrame(rows)
    nums["clinical.uncontrolled.reports"] = len(out)
    return out, nums


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


#: Trials a published pool contains where the review does not name them but arithmetic points to them.
#: An analysis note, not extracted evidence: each says "inferred" and why (review/extraction_notes/s2/CL2.md,
#: Task 5). Keyed by (review_id, start of the outcome, lower case).
INFERRED_POOL_TRIALS = {
    ("Xie2020", "gmfm"): ("Gu2020; Huang2018; Liu2017",
                          "inferred by arithmetic, not read: 3 trials and 163 children fit Gu2020 (39) + Huang2018 "
                          "(54) + Liu2017's BMMSC and control arms (about 70); Xie2020's Table 1 is not in the store "
                          "(CL2.md Task 5)"),
    ("Xie2020", "adverse event"): ("Gu2020; Huang2018",
                                   "inferred by arithmetic, not read: 93 children in 2 trials = Gu2020 (19 + 20) + "
                                   "Huang2018 (27 + 27) (CL2.md Task 5)"),
    ("Xie2020", "comprehensive function"): ("", "not named; 96 children in 3 trials fits no obvious combination of "
                                                "the MSC trials seen (CL2.md Task 5)"),
}


def _pool_trials(r: dict) -> str:
    named = r.get("included_study_ids")
    if isinstance(named, str) and named.strip():
        return f"{named.strip()} (named by the review)"
    out = str(r.get("outcome", "")).lower()
    for (rid, start), (ids, why) in INFERRED_POOL_TRIALS.items():
        if r.get("review_id") == rid and out.startswith(start):
            return f"{ids} ({why})" if ids else why
    return "not named on the pages read"


def _months(text) -> float | None:
    """A single timepoint in months from a published row's text ("12 months post-treatment"), else None."""
    import re
    hits = re.findall(r"(\d+(?:\.\d+)?)\s*-?\s*(?:months?|mo)\b", str(text or ""), flags=re.I)
    return float(hits[0]) if len(hits) == 1 and not re.search(r"and/or|pooled|over", str(text), re.I) else None


def _our_estimates(ev: Evidence) -> pd.DataFrame:
    """This review's clinical estimates a published pool may be compared with: GMFM per timepoint (SMD,
    pooled where k >= 2) and adverse-event risk ratios per trial (MSC vs control)."""
    rows = []
    for _, r in gmfm_by_timepoint(ev).iterrows():
        pooled = r["k"] >= 2 and pd.notna(r.get("reml_knha_estimate"))
        rows.append({"family": "gmfm", "outcome": "GMFM", "measure": "SMD", "months": float(r["months"]),
                     "k": int(r["k"]), "trials": r["studies"], "n": int(r["participants"]),
                     "estimate": r["reml_knha_estimate"] if pooled else r.get("single_estimate"),
                     "ci_low": r["reml_knha_ci_low"] if pooled else r.get("single_ci_low"),
                     "ci_high": r["reml_knha_ci_high"] if pooled else r.get("single_ci_high")})
    ae = adverse_events(ev)
    for outcome, sg in ae[ae["rr"].notna()].groupby("outcome", sort=True):
        if len(sg) == 1:
            r = sg.iloc[0]
            rows.append({"family": "ae", "outcome": str(outcome), "measure": "RR", "months": np.nan, "k": 1,
                         "trials": r["study_id"], "n": int(r["n1i"] + r["n2i"]), "estimate": r["rr"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
    return pd.DataFrame(rows, columns=["family", "outcome", "measure", "months", "k", "trials", "n", "estimate",
                                       "ci_low", "ci_high"])


def _match(r: dict, ours: pd.DataFrame):
    """(our matching estimate or None, reasons it cannot be compared)."""
    why = []
    if _published_group(r) != "Published, MSC only":
        why.append("pools other cell products (a different question)")
    measure = r.get("measure") if isinstance(r.get("measure"), str) else ""
    if not measure:
        why.append("effect measure (and the designs pooled) not stated on the pages read: not a comparator")
    out = str(r.get("outcome", "")).lower()
    fam = "gmfm" if ("gmfm" in out or "gross motor" in out) else "ae" if out.startswith("adverse event") else ""
    cand = ours[(ours["family"] == fam) & (ours["measure"] == measure)] if fam and measure else ours.iloc[0:0]
    if not measure:
        pass                          # no like-with-like match is possible without the measure
    elif fam == "gmfm":
        m = _months(r.get("timepoint"))
        if m is None:
            tp = r.get("timepoint") if isinstance(r.get("timepoint"), str) and r.get("timepoint") else "not stated"
            why.append(f"timepoint '{tp}' is not one timepoint; ours are per timepoint")
        else:
            cand = cand[cand["months"] == m]
            if cand.empty:
                why.append(f"no estimate here at {m:g} months")
    elif fam == "ae":
        cand = cand[cand["outcome"].str.lower() == out]
        if cand.empty:
            why.append("no risk ratio for this event here")
    elif not fam:
        why.append("no estimate of this outcome here (not pooled or not extracted)")
    if not why and len(cand) == 1:
        return cand.iloc[0], why
    if not why:
        why.append("more than one estimate here matches")
    return None, why


@cites
def published_comparison(ev: Evidence) -> pd.DataFrame:
    """Clinical outcomes: each published pooled estimate beside our estimate of the same thing, like with like.

    A published pool is compared only with our estimate of the same measure, population (clinical),
    cell type (MSC only) and timepoint (protocol 9; issue 11.6). The trials each pool contains are listed
    beside ours: named by the review where it names them; otherwise inferred by arithmetic (and said so,
    :data:`INFERRED_POOL_TRIALS`) or "not named". ``difference`` is published minus ours for an SMD and the
    ratio published / ours for a risk ratio (``difference_scale``); where no like-with-like estimate
    exists the row stays, with ``compared`` False and the reason in ``not_compared_because``. Our own
    estimates are the rows of group "This review". Published numbers come from the extracted table
    (:func:`published_estimates`), never typed.
    """
    nums: dict = {}
    pub = published_estimates(ev)
    ours = _our_estimates(ev)
    rows = []
    for o in ours.itertuples():
        if o.family == "gmfm" and o.k < 2:
            continue
        rows.append({"group": "This review", "source": "This review", "outcome": o.outcome,
                     "timepoint": f"{o.months:g} months" if pd.notna(o.months) else "over follow-up",
                     "measure": o.measure, "cell_types": "MSC only", "k": o.k, "n": o.n, "estimate": o.estimate,
                     "ci_low": o.ci_low, "ci_high": o.ci_high, "trials_in_pool": o.trials, "compared": True,
                     "locator": "review/results.json" if o.family == "gmfm" else "review/tables/adverse_events.csv"})
    if not pub.empty:
        for _, r in pub[pub["population"] == "clinical"].iterrows():
            r = r.to_dict()
            m, why = _match(r, ours)
            rec = {"group": _published_group(r), "source": r["review_id"], "outcome": r["outcome"],
                   "timepoint": "" if pd.isna(r.get("timepoint")) else str(r["timepoint"]),
                   "measure": "" if pd.isna(r.get("measure")) else r["measure"], "cell_types": r.get("cell_types"),
                   "k": None if pd.isna(r.get("k_studies")) else int(r["k_studies"]),
                   "n": None if pd.isna(r.get("n_participants")) else int(r["n_participants"]),
                   "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                   "trials_in_pool": _pool_trials(r), "compared": m is not None,
                   "not_compared_because": "; ".join(why),
                   "locator": f"{r.get('source_locator')} ({r.get('source_url')})"}
            if m is not None:
                ratio = rec["measure"] in ("RR", "OR")
                rec.update(ours_k=int(m["k"]), ours_trials=m["trials"], ours_estimate=m["estimate"],
                           ours_ci_low=m["ci_low"], ours_ci_high=m["ci_high"],
                           difference=(r["estimate"] / m["estimate"]) if ratio else (r["estimate"] - m["estimate"]),
                           difference_scale="ratio of risk ratios (published / ours)" if ratio
                           else f"{rec['measure']} difference (published - ours)")
                if set(str(m["trials"]).split("; ")) != set(_pool_trials(r).split(" (")[0].split("; ")):
                    rec["difference_scale"] += "; the pools hold different trials"
            rows.append(rec)
    cols = ["group", "source", "outcome", "timepoint", "measure", "cell_types", "k", "n", "estimate", "ci_low",
            "ci_high", "trials_in_pool", "compared", "ours_k", "ours_trials", "ours_estimate", "ours_ci_low",
            "ours_ci_high", "difference", "difference_scale", "not_compared_because", "locator"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out[["k", "n", "ours_k"]] = out[["k", "n", "ours_k"]].astype("Float64").round().astype("Int64")
    publ = out[out["source"] != "This review"]
    nums["published.file"] = pub.attrs.get("file") if not pub.empty else None
    nums["published.rows"] = int(len(pub))
    nums["published.compared"] = int(publ["compared"].astype(bool).sum())
    nums["published.not_compared"] = int((~publ["compared"].astype(bool)).sum())
    if not pub.empty:
        msc = pub[(pub["population"] == "clinical") & pub["cell_types"].astype(str).str.lower().str.startswith("msc only")
                  & pub["outcome"].astype(str).str.upper().str.startswith("GMFM")
                  & (pub["measure"].fillna("").astype(str) == "SMD")]   # a pool whose measure is not stated is no comparator
        nums["published.gmfm_msc_only.rows"] = len(msc)
        nums["published.gmfm_msc_only.min"] = float(msc["estimate"].min()) if len(msc) else None
        nums["published.gmfm_msc_only.max"] = float(msc["estimate"].max()) if len(msc) else None
        nums["published.gmfm_msc_only.max_k"] = (float(msc["k_studies"].max()) if msc["k_studies"].notna().any()
                      else None)
    return out, nums


def published_gmfm_forest_data(ev: Evidence) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: GMFM, this review's pooled SMD by
    timepoint and the published pools that match it like with like (:func:`published_comparison`:
    same measure, population, MSC only and timepoint). Pools with another measure, an unstated measure,
    other cell products or pooled timepoints are listed in the table with the reason, never plotted."""
    c = published_comparison(ev)
    g = c[c["outcome"].astype(str).str.upper().str.contains("GMFM|GROSS MOTOR") & c["estimate"].notna()
          & c["compared"].astype(bool) & (c["measure"] == "SMD")].copy()
    g["label"] = [("" if r.source == "This review" else f"{r.source}: ") + "GMFM" + (f", {r.timepoint}" if r.timepoint else "")
                  + (f" (k = {int(r.k)})" if pd.notna(r.k) else "") for r in g.itertuples()]
    g["yi"] = g["estimate"]
    n_pub = int((g["source"] != "This review").sum())
    return {"data": g, "label": "label", "group": "group", "ci_low": "ci_low", "ci_high": "ci_high",
            "xlabel": "Pooled GMFM effect (SMD, Hedges' g); > 0 favours MSC",
            "favours": ("favours control", "favours MSC"),
            "title": ("GMFM: this review and published MSC-only pools of the same timepoint" if n_pub else
                      "GMFM: this review (no published pool matches measure, cell type and timepoint)")}


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


def ae_forest_data(ev: Evidence) -> dict:
    """Keyword arguments for :func:`mscreview.output.plotting.forest`: estimable adverse-event RRs."""
    a = adverse_events(ev)
    a = a[a["yi"].notna()].copy()
    names = study_labels(ev.studies)
    a["label"] = [f"{names.get(r.study_id, r.study_id)}: {str(r.outcome).replace('adverse event: ', '')} "
                  f"({r.x1i}/{r.n1i} vs {r.x2i}/{r.n2i})" for r in a.itertuples()]
    return {"data": a, "label": "label", "transf": np.exp, "xscale": "log", "null": 0.0,
            "xlabel": "Risk ratio (MSC vs control), log scale",
            "favours": ("fewer events with MSC", "more events with MSC"),
            "title": "Adverse events in controlled trials"}


def numbers(ev: Evidence) -> dict:
    """Every number notebook 05 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(gmfm_by_timepoint.numbers(ev))
    out.update(gmfm_both_readings.numbers(ev))
    out.update(sae_risk_difference.numbers(ev))
    out.update(adverse_events.numbers(ev))
    out.update(single_arm_summary.numbers(ev))
    out.update(published_comparison.numbers(ev))
    return out
