"""Sensitivity analysis for trials that report arm means without any dispersion (protocol 9.2;
Cochrane Handbook 6.5.2.7): the GMFM pool with an SD borrowed from a similar trial.

Notebook ``notebooks/06_robustness.ipynb``. The borrowed SD is an analysis assumption with its
provenance (:data:`BORROWED_SDS`), never entered in ``data/extracted.csv``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


from .clinical import gmfm_by_timepoint
from .evidence import Evidence, cites, months_of, prefixed, result_key

#: Borrowed SD for trials whose GMFM arms are reported without any dispersion (protocol 9.2; Cochrane
#: Handbook 6.5.2.7, imputing a missing SD from another study). An analysis assumption with its
#: provenance, never entered in data/extracted.csv. Candidates proposed in review/extraction_notes/s2/CL2.md
#: (Task 4). None is an MSC trial: they are control arms (rehabilitation or placebo) of cell-therapy trials
#: with the same instrument (GMFM) and score type (change from baseline), which is what the SD describes.
#: The '± SD' label is Eggenberger's column heading (same caveat as Huang2018).
BORROWED_SDS = (
    {"sd": 5.1, "name": "Min2013 control arm (preferred)",
     "source": "Min2013 control arm (placebo + rehabilitation), change in GMFM at 6 months '+ 7.8 ± 5.1' (n = 32)",
     "locator": "Eggenberger 2019 Table 3, row Min et al. 2013, https://www.wjgnet.com/1948-0210/full/v11/i10/891-T3.htm"},
    {"sd": 3.75, "name": "Kang2015 control arm",
     "source": "Kang2015 control arm, change in GMFM at 6 months '3.85 ± 3.75'",
     "locator": "Eggenberger 2019 Table 3, row Kang et al. 2015, https://www.wjgnet.com/1948-0210/full/v11/i10/891-T3.htm"},
    {"sd": 5.5, "name": "Sun2017 control arm",
     "source": "Sun2017 control arm, change in GMFM at 12 months '+ 6.9 ± 5.5'",
     "locator": "Eggenberger 2019 Table 3, row Sun et al. 2017, https://www.wjgnet.com/1948-0210/full/v11/i10/891-T3.htm"},
)


def sd_missing_rows(ev: Evidence) -> pd.DataFrame:
    """Controlled clinical rows with both arms' means but no dispersion at all (candidates for an imputed SD),
    with ``reason`` saying why a candidate is not used (percent-improvement rows are their own outcome, 9.1)."""
    ex = ev.extracted.merge(ev.studies[["study_id", "population"]], on="study_id", how="left")
    num = lambda c: pd.to_numeric(ex[c], errors="coerce")  # noqa: E731
    mask = ((ex["population"] == "clinical") & (ex["comparison_type"] == "between_groups")
            & (ex["data_availability"] == "numeric") & num("m1i").notna() & num("m2i").notna()
            & num("sd1i").isna() & num("sd2i").isna() & num("lo1i").isna() & num("lo2i").isna()
            & ex["row_id"].isin(set(ev.excluded["row_id"])))
    out = ex.loc[mask, ["row_id", "study_id", "outcome", "timepoint", "timepoint_unit", "n1i", "m1i", "n2i", "m2i"]]
    pct = out["outcome"].astype(str).str.contains("%|percent", case=False)
    out = out.assign(reason=np.where(pct, "percent improvement: its own outcome, never pooled with scores (9.1)", ""))
    return out.reset_index(drop=True)


@cites
def imputed_sd_sensitivity(ev: Evidence, sd: float = BORROWED_SDS[0]["sd"]) -> pd.DataFrame:
    """GMFM pooled per timepoint with the trials that report no SD given a borrowed SD ``sd`` in both arms.

    The rows of :func:`sd_missing_rows` (score rows only) get ``sd1i = sd2i = sd`` in a copy of the
    extracted table, their Hedges' g comes from :func:`mscreview.review.rules.effect_table`, and the GMFM
    synthesis (:func:`gmfm_by_timepoint`) is rerun with them. One row per timepoint: the primary
    (``primary_*``) beside the imputed analysis. The borrowed SD is an assumption, never data.

    References
    ----------
    Higgins JPT et al. (eds). Cochrane Handbook, version 6.4 (2023), 6.5.2.7 (imputing standard deviations).
    """
    from . import rules
    nums: dict = {}
    cand = sd_missing_rows(ev)
    use = cand[cand["reason"] == ""]
    ex = ev.extracted.copy()
    hit = ex["row_id"].isin(set(use["row_id"]))
    ex.loc[hit, "sd1i"] = sd
    ex.loc[hit, "sd2i"] = sd
    ex.loc[hit, "dispersion_type"] = "SD"
    eff, _ = rules.effect_table(ex, ev.studies, "SMD")
    gained = eff[eff["row_id"].isin(set(use["row_id"]))].copy()
    gained["conversion"] = gained["conversion"].astype(str) + f"; imputed SD {sd:g} (sensitivity, not data)"
    import dataclasses
    variant = dataclasses.replace(ev, effects=pd.concat([ev.effects, gained], ignore_index=True))
    prim, imp = gmfm_by_timepoint(ev).set_index("months"), gmfm_by_timepoint(variant)
    rows = []
    for _, r in imp.iterrows():
        p = prim.loc[r["months"]] if r["months"] in prim.index else None
        pooled = pd.notna(r.get("reml_knha_estimate"))
        rec = {"borrowed_sd": sd, "months": r["months"], "k": int(r["k"]), "studies": r["studies"],
               "imputed": "; ".join(sorted(set(gained.loc[[months_of(x) == r["months"] for x in
                                                           gained.to_dict("records")], "study_id"]))),
               "estimate": r["reml_knha_estimate"] if pooled else r.get("single_estimate"),
               "ci_low": r["reml_knha_ci_low"] if pooled else r.get("single_ci_low"),
               "ci_high": r["reml_knha_ci_high"] if pooled else r.get("single_ci_high"),
               "pvalue": r.get("pvalue"),
               "primary_k": int(p["k"]) if p is not None else 0,
               "primary_estimate": p.get("reml_knha_estimate") if p is not None else np.nan,
               "primary_ci_low": p.get("reml_knha_ci_low") if p is not None else np.nan,
               "primary_ci_high": p.get("reml_knha_ci_high") if p is not None else np.nan}
        rows.append(rec)
        if rec["imputed"]:
            key = result_key("sensitivity.imputed_sd", f"sd{sd:g}".replace(".", "_"), f"m{r['months']:g}")
            nums.update(prefixed(key, {k: rec[k] for k in ("k", "estimate", "ci_low", "ci_high", "pvalue")}))
    return pd.DataFrame(rows), nums


@cites
def imputed_sd_table(ev: Evidence) -> pd.DataFrame:
    """:func:`imputed_sd_sensitivity` under each borrowed SD of :data:`BORROWED_SDS` (with its source
    and locator), the timepoints where a trial gained an imputed SD only."""
    nums: dict = {}
    parts = []
    for b in BORROWED_SDS:
        t = imputed_sd_sensitivity(ev, b["sd"])
        nums.update(imputed_sd_sensitivity.numbers(ev, b["sd"]))
        t = t[t["imputed"] != ""].assign(sd_source=f"{b['name']}: {b['source']}; {b['locator']}")
        parts.append(t)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    nums["sensitivity.imputed_sd.rows_imputed"] = int((sd_missing_rows(ev)["reason"] == "").sum())
    nums["sensitivity.imputed_sd.trials"] = int(sd_missing_rows(ev).query("reason == ''")["study_id"].nunique())
    return out, nums


def imputed_sd_note(ev: Evidence) -> str:
    """What the imputed-SD sensitivity shows, from its table."""
    cand = sd_missing_rows(ev)
    use = cand[cand["reason"] == ""]
    if use.empty:
        return "No controlled trial reports GMFM means without a dispersion: no SD is imputed."
    t = imputed_sd_table(ev)
    b0 = BORROWED_SDS[0]
    first = t[t["borrowed_sd"] == b0["sd"]]
    trials = ", ".join(sorted(set(use["study_id"])))
    one = use["study_id"].nunique() == 1
    parts = [f"{trials} {'reports' if one else 'report'} GMFM change scores without any dispersion and "
             f"{'is' if one else 'are'} therefore left out of the primary analysis. "
             f"With a borrowed SD of {b0['sd']:g} ({b0['source']}; {b0['locator']}; not an MSC trial, but the same "
             "instrument and score type, Cochrane Handbook 6.5.2.7):"]
    for r in first.itertuples():
        prim = (f"primary {r.primary_estimate:.2f} ({r.primary_ci_low:.2f} to {r.primary_ci_high:.2f}, k = "
                f"{r.primary_k})" if r.primary_k >= 2 else f"primary k = {r.primary_k}, not pooled")
        parts.append(f"at {r.months:g} months the pooled SMD is {r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f}, "
                     f"k = {r.k}; {prim});")
    rng = t.groupby("months")["estimate"].agg(["min", "max"])
    sds = ", ".join(f"{b['sd']:g}" for b in BORROWED_SDS)
    parts.append(f"under the {len(BORROWED_SDS)} borrowed SDs ({sds}) the pooled SMD ranges " + "; ".join(f"{lo:.2f} to {hi:.2f} at {m:g} months" for m, (lo, hi) in
                                                  rng.iterrows()) + ".")
    inc = int(((t["ci_low"] <= 0) & (t["ci_high"] >= 0)).sum())
    parts.append(f"The 95% interval includes 0 in {inc} of these {len(t)} analyses.")
    return " ".join(parts)
