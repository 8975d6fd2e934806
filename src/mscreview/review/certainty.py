"""Risk of bias and certainty: judgements per tool and domain, robvis-style plots and the GRADE summary of findings (GRADE handbook section 5).

Notebook ``notebooks/07_risk_of_bias_certainty.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema
from ..data.validate import ROB2_DOMAINS, rob2_algorithm
from ..engine.format import fmt
from .clinical import adverse_events, gmfm_by_timepoint
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


@cites
def grade_sof(ev: Evidence) -> pd.DataFrame:
    """GRADE summary of findings for the main clinical outcomes (GMFM, serious adverse events).

    The rules, applied mechanically and stated in each row (GRADE handbook section 5):

    - start: high for randomised trials;
    - risk of bias: -1 if any trial's RoB 2 overall judgement is some concerns, -2 if high;
    - inconsistency: -1 if I2 > 50% (not assessable with one trial);
    - indirectness: 0 (population, intervention and outcome match the question);
    - imprecision: -1 if the 95% CI includes no effect, another -1 if fewer than 400
      participants (optimal information size) or no events;
    - publication bias: not assessable with fewer than 10 trials (not downgraded, noted).
    """
    nums: dict = {}
    rows = []
    gm = gmfm_by_timepoint(ev)
    pooled = gm[gm["k"] >= 2] if not gm.empty else gm
    if not pooled.empty:
        r = pooled.sort_values("months").iloc[-1]
        sids = r["studies"].split("; ")
        rob = overall_rob(ev, sids)
        d_rob = {"low": 0, "some_concerns": -1, "high": -2}.get(rob, -1)
        d_inc = -1 if (pd.notna(r.get("i2")) and r["i2"] > 50) else 0
        crosses = r["reml_knha_ci_low"] <= 0 <= r["reml_knha_ci_high"]
        d_imp = -(int(crosses) + int(r["participants"] < OIS_CONTINUOUS))
        total = 4 + d_rob + d_inc + max(d_imp, -2)
        rows.append({
            "outcome": f"GMFM (SMD) at {r['months']:g} months", "trials": int(r["k"]),
            "participants": int(r["participants"]),
            "effect": f"SMD {fmt(r['reml_knha_estimate'])} ({fmt(r['reml_knha_ci_low'])} to "
                      f"{fmt(r['reml_knha_ci_high'])})",
            "risk_of_bias": f"{d_rob} ({spaced(rob)})", "inconsistency": f"{d_inc} (I2 {fmt(r['i2'], '.0f')}%)",
            "indirectness": "0", "imprecision": f"{max(d_imp, -2)} (CI {'includes' if crosses else 'excludes'} 0; "
                                                f"n = {int(r['participants'])})",
            "publication_bias": f"not assessable (k = {int(r['k'])} < 10)",
            "certainty": _certainty(total)})
        nums["grade.gmfm.certainty"] = _certainty(total)
    ae = adverse_events(ev)
    sae = ae[ae["outcome"].astype(str).str.contains("serious", case=False)] if not ae.empty else ae
    if not sae.empty:
        sids = sorted(set(sae["study_id"]))
        rob = overall_rob(ev, sids)
        d_rob = {"low": 0, "some_concerns": -1, "high": -2}.get(rob, -1)
        n = int(sae["n1i"].sum() + sae["n2i"].sum())
        events = int(sae["x1i"].sum() + sae["x2i"].sum())
        d_imp = -2 if events == 0 or n < OIS_CONTINUOUS else -1
        total = 4 + d_rob + d_imp
        rows.append({
            "outcome": "Serious adverse events (RR)", "trials": len(sids), "participants": n,
            "effect": f"{int(sae['x1i'].sum())}/{int(sae['n1i'].sum())} vs {int(sae['x2i'].sum())}/"
                      f"{int(sae['n2i'].sum())} events; RR not estimable" if events == 0 else "see RR table",
            "risk_of_bias": f"{d_rob} ({spaced(rob)})", "inconsistency": "not assessable (one trial)"
            if len(sids) == 1 else "0", "indirectness": "0",
            "imprecision": f"{d_imp} ({events} events in {n} participants)",
            "publication_bias": f"not assessable (k = {len(sids)} < 10)", "certainty": _certainty(total)})
        nums["grade.sae.certainty"] = _certainty(total)
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
        label = {"RoB2": "RoB 2"}.get(tool, tool)
        rule = (" Overall judgement derived from the domains by the RoB 2 algorithm (high if any domain is high "
                "or three or more have some concerns).") if tool == "RoB2" else ""
        out.append(FigureSpec(f"rob_traffic_light_{names[tool]}",
                              f"Risk of bias ({label}), one row per study: + low, - some concerns/moderate, "
                              "? unclear/no information, x high/serious." + rule, "rob_traffic_light",
                              dict(rob=rb, tool=tool, title=f"Risk of bias ({label})"), data=rb))
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
