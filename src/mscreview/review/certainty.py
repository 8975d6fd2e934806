"""Risk of bias and certainty: judgements per tool and domain, robvis-style plots and the GRADE summary of findings (GRADE handbook section 5).

Notebook ``notebooks/07_risk_of_bias_certainty.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema
from ..data.labels import study_labels
from ..data.validate import ROB2_DOMAINS, rob2_algorithm
from ..engine.format import fmt
from .clinical import gmfm_both_readings, gmfm_reading_effects, sae_risk_difference
from .evidence import Evidence, FigureSpec, OIS_CONTINUOUS, cites, result_key, spaced


def rob_tools(ev: Evidence) -> list[str]:
    """Tools used in data/risk_of_bias.csv, in schema order."""
    present = set(ev.risk_of_bias["tool"].dropna())
    return [t for t in schema.ROB_TOOLS if t in present]


#: The RoB 2 overall rule as printed beside the derived judgements (protocol 9.8).
ROB2_RULE = ("RoB 2 algorithm: low if all five domains are low; high if any domain is high or three or more "
             "have some concerns; otherwise some concerns")


def rob2_overall(domain_judgements) -> str:
    """RoB 2 overall judgement derived from the domain judgements (protocol 9.8).

    Parameters
    ----------
    domain_judgements : iterable of str or dict
        The five domain judgements (``low``, ``some_concerns``, ``high``), or a mapping
        domain -> judgement (the ``overall`` key, if present, is ignored).

    Returns
    -------
    str
        ``low`` if every domain is low; ``high`` if any domain is high or three or more domains
        have some concerns; otherwise ``some_concerns``.

    References
    ----------
    Sterne JAC, Savovic J, Page MJ, et al. (2019). RoB 2: a revised tool for assessing risk of bias
    in randomised trials. BMJ 366:l4898 (Table 2, overall risk-of-bias judgement).
    """
    if isinstance(domain_judgements, dict):
        domain_judgements = [v for k, v in domain_judgements.items() if k != "overall"]
    return rob2_algorithm(domain_judgements)


def rob_derived(ev: Evidence) -> pd.DataFrame:
    """``data/risk_of_bias.csv`` with each RoB 2 ``overall`` row set to the algorithm's result
    (:func:`rob2_overall`); ``validate`` reports any stored overall that differs."""
    rb = ev.risk_of_bias.copy()
    if rb.empty:
        return rb
    is2 = rb["tool"] == "RoB2"
    for sid, g in rb[is2].groupby("study_id"):
        dom = dict(zip(g["domain"], g["judgement"]))
        if all(d in dom for d in ROB2_DOMAINS) and "overall" in dom:
            rb.loc[is2 & (rb["study_id"] == sid) & (rb["domain"] == "overall"), "judgement"] = \
                rob2_overall([dom[d] for d in ROB2_DOMAINS])
    return rb


def rob2_overall_table(ev: Evidence) -> pd.DataFrame:
    """One row per randomised trial: its five RoB 2 domain judgements, the overall judgement stored in
    ``data/risk_of_bias.csv`` and the one derived by :func:`rob2_overall` (they agree when the data
    validate), with the rule."""
    rb = ev.risk_of_bias
    rb = rb[rb["tool"] == "RoB2"] if not rb.empty else rb
    rows = []
    for sid, g in rb.groupby("study_id", sort=True):
        dom = dict(zip(g["domain"], g["judgement"]))
        js = [dom.get(d) for d in ROB2_DOMAINS]
        rec = {"study_id": sid, **{d: spaced(dom.get(d, "")) for d in ROB2_DOMAINS}}
        rec["some_concerns_domains"] = sum(j == "some_concerns" for j in js)
        rec["high_domains"] = sum(j == "high" for j in js)
        rec["overall_stored"] = spaced(dom.get("overall", ""))
        rec["overall_derived"] = spaced(rob2_overall(js)) if all(isinstance(j, str) for j in js) else "domains missing"
        rec["rule"] = ROB2_RULE
        rows.append(rec)
    return pd.DataFrame(rows)


@cites
def rob_summary_table(ev: Evidence) -> pd.DataFrame:
    """Per tool and domain, the number of studies at each judgement; the RoB 2 overall row is
    derived by :func:`rob2_overall` and says so (cites numbers)."""
    nums: dict = {}
    rb = rob_derived(ev)
    for tool in schema.ROB_TOOLS:   # cited by the text even when a tool was not used
        nums[result_key("rob", tool, "studies")] = (int(rb.loc[rb["tool"] == tool, "study_id"].nunique())
                      if not rb.empty else 0)
    if rb.empty:
        nums["rob.SYRCLE.share_unclear"] = None
        return pd.DataFrame(), nums
    t = pd.crosstab([rb["tool"], rb["domain"]], rb["judgement"]).reset_index()
    t.columns.name = None
    t["rule"] = np.where((t["tool"] == "RoB2") & (t["domain"] == "overall"), "derived: " + ROB2_RULE,
                         np.where(t["domain"] == "overall", "as judged by the assessor", ""))
    avail = ev.studies.set_index("study_id")["data_availability"] if not ev.studies.empty else pd.Series(dtype=object)
    for tool, g in rb.groupby("tool"):
        nums[result_key("rob", tool, "studies")] = int(g["study_id"].nunique())
        nums[result_key("rob", tool, "abstract_only")] = int((g.drop_duplicates("study_id")["study_id"].map(avail) == "abstract_only").sum())
        for j, n in g["judgement"].value_counts().items():
            nums[result_key("rob", tool, "judgements", j)] = int(n)
        if tool == "SYRCLE":
            share_unclear = float((g["judgement"] == "unclear").mean())
            nums["rob.SYRCLE.share_unclear"] = share_unclear
    overall = rb[rb["domain"] == "overall"]
    for j, n in overall.groupby("tool")["judgement"].value_counts().items():
        nums[result_key("rob", j[0], "overall", j[1])] = int(n)
    return t, nums


def overall_rob(ev: Evidence, study_ids) -> str:
    """The worst overall judgement among ``study_ids`` (RoB 2 overall derived by the algorithm)."""
    rb = rob_derived(ev)
    o = rb[(rb["domain"] == "overall") & rb["study_id"].isin(list(study_ids))]["judgement"]
    if o.empty:
        return "not assessed"
    if (o.isin(["high", "serious", "critical"])).any():
        return "high"
    if (o.isin(["some_concerns", "moderate", "no_information"])).any():
        return "some_concerns"
    return "low"


#: GRADE domains of the summary-of-findings table, in the GRADE handbook's order (section 5)
GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
_LEVEL = {0: "not serious", -1: "serious", -2: "very serious"}


def _judge(points: int, reason: str) -> dict:
    return {"points": points, "judgement": f"{_LEVEL[points]} ({points})" if points else "not serious (0)",
            "reason": reason}


def registered_without_results(ev: Evidence) -> list[str]:
    """Registry records of MSC trials in CP found by the search with no results posted (screening notes)."""
    sc = ev.screening
    if sc.empty or "source_type" not in sc:
        return []
    reg = sc[sc["source_type"] == "register"]
    text = reg.fillna("").astype(str).apply(lambda r: " ".join(r), axis=1).str.lower()
    hit = reg[text.str.contains("no results|results pending", regex=True)]
    return [str(c).split(":")[0] for c in hit["citation"]]


def _rob_domain(ev: Evidence, sids) -> dict:
    rb = ev.risk_of_bias
    o = rb[(rb["domain"] == "overall") & rb["study_id"].isin(list(sids))].set_index("study_id")["judgement"]
    high = sorted(o[o.isin(["high", "serious", "critical"])].index)
    text = ", ".join(f"{k} {spaced(v)}" for k, v in o.sort_index().items()) or "not assessed"
    if len(high) * 2 > len(sids):
        return _judge(-2, f"RoB 2 overall (by algorithm): {text}; most of the evidence at high risk (abstracts only)")
    if high or overall_rob(ev, sids) == "some_concerns":
        return _judge(-1, f"RoB 2 overall (by algorithm): {text}")
    return _judge(0, f"RoB 2 overall: {text}")


def _pubbias_domain(ev: Evidence, sids, extra: str = "") -> dict:
    reg = registered_without_results(ev)
    n = len(sids)
    why = [f"only {n} small trial{'s' if n != 1 else ''}"]
    if reg:
        why.append(f"{len(reg)} registered MSC trials without results ({', '.join(reg[:4])}{' ...' if len(reg) > 4 else ''})")
    if extra:
        why.append(extra)
    return _judge(-1, "suspected: " + "; ".join(why) + " (too few trials for a funnel plot)")


@cites
def grade_sof(ev: Evidence) -> pd.DataFrame:
    """GRADE summary of findings for the main clinical outcomes (GMFM under both readings of a doubtful
    dispersion, serious adverse events), every domain with a judgement and a one-line reason
    (GRADE handbook section 5; protocol 9.8).

    - start: high (randomised trials);
    - risk of bias: RoB 2 overall judgements (derived by algorithm): -2 if most trials are at high
      risk, -1 if any is at high risk or some concerns;
    - inconsistency: -1 if I² > 50% or the trials' 95% CIs do not all overlap;
    - indirectness: judged on population, intervention, comparator and outcome (reasons listed);
    - imprecision: -1 if the 95% CI includes no effect, -1 if the optimal information size
      (400 participants for a continuous outcome; for events, any events at all) is not met;
    - publication bias: always judged: small single-centre trials, registered trials without
      results and selective outcome reporting make it suspected (-1);
    - dispersion reading (protocol 9.3): -1 more where whether the CI excludes 0 changes with the
      reading of a doubtful dispersion (counted with risk of bias: unreliable outcome data).
    """
    nums: dict = {}
    rows = []
    both = gmfm_both_readings(ev)
    both_nums = gmfm_both_readings.numbers(ev)
    depends = both_nums.get("clinical.gmfm.depends_on_reading") == "yes"
    doubtful = both_nums.get("clinical.gmfm.doubtful_studies") or "none"
    prim = both[both["primary_timepoint"]] if not both.empty else both
    for reading, label in (("as_labelled", "as labelled"), ("other_reading", "other reading")):
        sel = prim[prim["analysis"].str.startswith("as labelled" if reading == "as_labelled" else "doubtful")]
        if sel.empty:
            continue
        r = sel.iloc[0]
        sids = r["studies"].split("; ")
        eff = gmfm_reading_effects(ev, reading)
        eff = eff[eff["months"] == r["months"]]
        lo = eff["yi"] - 1.959963984540054 * np.sqrt(eff["vi"])
        hi = eff["yi"] + 1.959963984540054 * np.sqrt(eff["vi"])
        overlap = bool(lo.max() <= hi.min())
        d = {"risk_of_bias": _rob_domain(ev, sids)}
        inc = (pd.notna(r["i2"]) and r["i2"] > 50) or not overlap
        d["inconsistency"] = _judge(-1 if inc else 0, f"I² {fmt(r['i2'], '.0f')}%; trial CIs "
                                    f"{'overlap' if overlap else 'do not all overlap'}")
        insts = sorted(set(eff["instrument"].replace({"GMFM-unstated": "GMFM of unstated version"})))
        d["indirectness"] = _judge(0, f"children with CP, MSC vs placebo/sham; GMFM versions mixed as SMD "
                                      f"({', '.join(insts)}); rehabilitation co-intervention in both arms of some "
                                      "trials; cord blood and cord tissue MSC, IV and intrathecal")
        crosses = r["ci_low"] <= 0 <= r["ci_high"]
        d_imp = -(int(crosses) + int(r["participants"] < OIS_CONTINUOUS))
        d["imprecision"] = _judge(d_imp, f"95% CI {fmt(r['ci_low'])} to {fmt(r['ci_high'])} "
                                         f"{'includes' if crosses else 'excludes'} 0; {int(r['participants'])} "
                                         f"participants < OIS {OIS_CONTINUOUS}" if r["participants"] < OIS_CONTINUOUS
                                  else f"{int(r['participants'])} participants")
        d["publication_bias"] = _pubbias_domain(ev, sids, "registered outcomes and timepoints not all reported")
        read_pts = -1 if depends else 0
        read_reason = (f"whether the CI excludes 0 changes with the reading of {doubtful}'s dispersion (SD vs SEM)"
                       if depends else "conclusion does not change with the reading of doubtful dispersions")
        total = 4 + max(sum(v["points"] for v in d.values()) + read_pts, -3)
        row = {"outcome": f"GMFM (SMD) at {r['months']:g} months, {label}", "trials": int(r["k"]),
               "participants": int(r["participants"]),
               "effect": f"SMD {fmt(r['estimate'])} ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})"}
        for k, v in d.items():
            row[k], row[f"{k}_reason"] = v["judgement"], v["reason"]
        row["dispersion_reading"] = f"serious ({read_pts})" if read_pts else "not serious (0)"
        row["dispersion_reading_reason"] = read_reason
        row["certainty"] = _certainty(total)
        rows.append(row)
        base = "grade.gmfm" if reading == "as_labelled" else "grade.gmfm.other_reading"
        nums[f"{base}.certainty"] = _certainty(total)
        nums.update({f"{base}.{k}": v["judgement"] for k, v in d.items()})
        nums[f"{base}.dispersion_reading"] = row["dispersion_reading"]
    nums["grade.gmfm.depends_on_reading"] = "yes" if depends else "no"
    sae = sae_risk_difference(ev)
    prim_sae = sae[sae["analysis"] == "primary"]
    if not prim_sae.empty:
        sids = list(prim_sae["study_id"])
        pooled = sae[sae["analysis"].str.startswith("pooled, MSC")].iloc[0]
        n = int(pooled["n1i"] + pooled["n2i"])
        events = int(pooled["x1i"] + pooled["x2i"])
        d = {"risk_of_bias": _rob_domain(ev, sids),
             "inconsistency": _judge(0, "one trial: not assessable as heterogeneity, not rated down")
             if len(sids) == 1 else _judge(0, "no events in any trial"),
             "indirectness": _judge(0, "children with CP, MSC vs placebo; definition of 'serious' not seen on the "
                                       "pages read"),
             "imprecision": _judge(-2, f"{events} events in {n} participants; RD 95% CI "
                                       f"{fmt(100 * pooled['rd_ci_low'], '.1f')} to "
                                       f"{fmt(100 * pooled['rd_ci_high'], '.1f')} per 100 (Newcombe)"),
             "publication_bias": _pubbias_domain(ev, sids, "harms reported as abstract statements; other "
                                                 "controlled trials give no serious-event counts by MSC arm")}
        total = 4 + max(sum(v["points"] for v in d.values()), -3)
        row = {"outcome": "Serious adverse events (risk difference)", "trials": len(sids), "participants": n,
               "effect": f"{int(pooled['x1i'])}/{int(pooled['n1i'])} vs {int(pooled['x2i'])}/{int(pooled['n2i'])}; "
                         f"RD {fmt(100 * pooled['rd'], '.1f')} per 100 ({fmt(100 * pooled['rd_ci_low'], '.1f')} to "
                         f"{fmt(100 * pooled['rd_ci_high'], '.1f')}); RR "
                         + ("not estimable (no events)" if pd.isna(pooled["rr"]) else fmt(pooled["rr"]))}
        for k, v in d.items():
            row[k], row[f"{k}_reason"] = v["judgement"], v["reason"]
        row["dispersion_reading"], row["dispersion_reading_reason"] = "not applicable", "counts, no dispersion"
        row["certainty"] = _certainty(total)
        rows.append(row)
        nums["grade.sae.certainty"] = _certainty(total)
        nums.update({f"grade.sae.{k}": v["judgement"] for k, v in d.items()})
    return pd.DataFrame(rows), nums


def _certainty(score: int) -> str:
    return {4: "high", 3: "moderate", 2: "low"}.get(max(score, 1), "very low")


def rob_figures(ev: Evidence) -> list[FigureSpec]:
    """Traffic-light and summary plots for every risk-of-bias tool used."""
    out = []
    names = {"SYRCLE": "syrcle", "RoB2": "rob2", "ROBINS-I": "robins_i"}
    for tool in rob_tools(ev):
        rb = rob_derived(ev)
        rb = rb[rb["tool"] == tool]
        rb = rb.assign(study_label=rb["study_id"].map(study_labels(ev.studies)).fillna(rb["study_id"]))
        label = {"RoB2": "RoB 2"}.get(tool, tool)
        rule = (" Overall judgement derived from the domains by the RoB 2 algorithm (high if any domain is high "
                "or three or more have some concerns).") if tool == "RoB2" else ""
        out.append(FigureSpec(f"rob_traffic_light_{names[tool]}",
                              f"Risk of bias ({label}), one row per study: + low, - some concerns/moderate, "
                              "? unclear/no information, x high/serious." + rule, "rob_traffic_light",
                              dict(rob=rb, tool=tool, study="study_label", title=f"Risk of bias ({label})"), data=rb))
        out.append(FigureSpec(f"rob_summary_{names[tool]}",
                              f"Risk of bias ({label}): share of studies at each judgement per domain." + rule,
                              "rob_summary", dict(rob=rb, tool=tool, title=f"Risk of bias summary ({label})"), data=rb))
    return out


def numbers(ev: Evidence) -> dict:
    """Every number notebook 07 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(rob_summary_table.numbers(ev))
    out.update(grade_sof.numbers(ev))
    return out
