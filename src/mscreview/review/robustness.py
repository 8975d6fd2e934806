"""Robustness: small-study effects, estimators and tests, leave-one-out, influence, GOSH, the Bayesian model and the protocol's sensitivity analyses.

Notebook ``notebooks/06_robustness.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..data.labels import study_labels
from ..diagnostics import bias, influence
from ..diagnostics.gosh import gosh
from ..data import schema
from ..engine import bayes
from ..engine.rma import rma
from . import clinical, imputation, rules
from .evidence import (FAMILY, Evidence, FigureSpec, MIN_K_LEAVE1OUT, MIN_K_SMALL_STUDY, PRIMARY, cites,
                       families_for_robustness, prefixed, result_key, slug)


@cites
def small_study_assessment(ev: Evidence) -> pd.DataFrame:
    """Egger's test and trim-and-fill per pooled family where k >= 10, else why not (cites numbers)."""
    nums: dict = {}
    rows = []
    for name, g in families_for_robustness(ev).items():
        k = len(g)
        rec = {"family": name, "k": k}
        if k >= MIN_K_SMALL_STUDY:
            eg = bias.regtest(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
            tf = bias.trimfill(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
            rec.update(egger_z=eg.statistic, egger_pvalue=eg.pvalue, trimfill_k0=tf.k0,
                       trimfill_estimate=tf.estimate, assessed=True, reason="")
        else:
            rec.update(assessed=False, reason=f"k = {k} < {MIN_K_SMALL_STUDY}: funnel plot, Egger's test and "
                       "trim-and-fill have too little power to mean anything (Cochrane Handbook 13.3.5.4)")
        rows.append(rec)
    out = pd.DataFrame(rows, columns=["family", "k", "assessed", "reason", "egger_z", "egger_pvalue",
                                      "trimfill_k0", "trimfill_estimate"])
    nums["robustness.small_study.families"] = len(out)
    nums["robustness.small_study.assessed"] = int(out["assessed"].sum()) if not out.empty else 0
    nums["robustness.small_study.max_k"] = int(out["k"].max()) if not out.empty else 0
    return out, nums


#: Estimators compared (metafor's method names); at k = 2 the first three coincide.
ESTIMATORS = ("REML", "DL", "PM")


@cites
def estimator_comparison(ev: Evidence) -> pd.DataFrame:
    """Each pooled family under REML/DL/PM x z/Hartung-Knapp, with fits that coincide said to coincide.

    With k = 2 the three estimators of tau^2 solve the same equation: DL's moment estimator,
    the Paule-Mandel equation Q(tau^2) = k - 1 and the REML score all reduce to
    tau^2 = max(0, ((y1 - y2)^2 - v1 - v2) / 2), because the only information about tau^2 is the
    contrast y1 - y2 ~ N(0, v1 + v2 + 2 tau^2). Their fits are then identical, and the column
    ``same_as`` names the first method whose fit (same test) this row repeats; ``distinct``
    is False for such a repeat. ``note`` says why.
    """
    nums: dict = {}
    rows = []
    for name, g in families_for_robustness(ev).items():
        seen: dict = {}
        for method in ESTIMATORS:
            for test in ("knha", "z"):
                f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), method=method, test=test)
                rec = {"family": name, "method": method, "test": test, "k": f.k, "estimate": f.estimate,
                       "ci_low": f.ci_low, "ci_high": f.ci_high, "pvalue": f.pvalue, "tau2": f.tau2, "i2": f.i2}
                twin = next((m for (m, t), r in seen.items() if t == test and all(
                    np.isclose(r[c], rec[c], rtol=1e-9, atol=1e-12) for c in ("tau2", "estimate", "ci_low", "ci_high"))),
                    None)
                rec["same_as"] = twin or ""
                rec["distinct"] = twin is None
                rec["note"] = ((f"identical at k = 2: REML, DL and PM give the same tau2" if f.k == 2
                                else f"identical to {twin} here (same tau2)") if twin else "")
                seen.setdefault((method, test), rec)
                rows.append(rec)
    out = pd.DataFrame(rows, columns=["family", "method", "test", "k", "estimate", "ci_low", "ci_high", "pvalue",
                                      "tau2", "i2", "distinct", "same_as", "note"])
    if not out.empty:
        sig = out.assign(sig=(out["ci_low"] > 0) | (out["ci_high"] < 0))
        d = sig[sig["distinct"]]
        nums["robustness.estimators.fits"] = len(out)
        nums["robustness.estimators.distinct_fits"] = int(out["distinct"].sum())
        nums["robustness.estimators.families_k2"] = int(out.loc[out["k"] == 2, "family"].nunique())
        nums["robustness.estimators.significant_z"] = int(sig[sig["test"] == "z"]["sig"].sum())
        nums["robustness.estimators.significant_knha"] = int(sig[sig["test"] == "knha"]["sig"].sum())
        nums["robustness.estimators.distinct_significant_z"] = int(d[d["test"] == "z"]["sig"].sum())
        nums["robustness.estimators.distinct_significant_knha"] = int(d[d["test"] == "knha"]["sig"].sum())
        nums["robustness.estimators.families"] = int(out["family"].nunique())
    return out, nums


@cites
def leave_one_out(ev: Evidence) -> pd.DataFrame:
    """Leave-one-out per pooled family with k >= 3; else a row saying why not."""
    nums: dict = {}
    rows = []
    for name, g in families_for_robustness(ev).items():
        if len(g) >= MIN_K_LEAVE1OUT:
            l1 = influence.leave1out(g["yi"].to_numpy(float), g["vi"].to_numpy(float), slab=list(g["study_id"]),
                                       **PRIMARY)
            l1 = l1.assign(family=name)
            rows.append(l1)
        else:
            rows.append(pd.DataFrame([{"family": name, "note": f"k = {len(g)}: leaving one out leaves "
                                       f"{len(g) - 1} study, not a meta-analysis"}]))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    nums["robustness.leave1out.families_assessed"] = int(sum(len(g) >= MIN_K_LEAVE1OUT for g in families_for_robustness(ev).values()))
    return out, nums


#: Primary heterogeneity prior (protocol 6.3 and 9.10): half-normal with scale 0.5 on tau.
PRIMARY_TAU_PRIOR = ("halfnormal", 0.5)


def prior_key(name: str, scale: float) -> str:
    """Key word of a prior in cited numbers: ``("halfnormal", 0.5)`` -> ``halfnormal_0_5``."""
    return f"{name}_{scale:g}".replace(".", "_")


@cites
def prior_sensitivity(ev: Evidence) -> pd.DataFrame:
    """The Bayesian model reported whole under every prior on tau of the sensitivity table (protocol 9.10).

    For every pooled family and each of six priors on tau (half-normal and half-Cauchy with scales
    0.25, 0.5, 1; the primary is half-normal(0.5)): posterior mean and median of the mean effect
    mu, its 95% credible interval (shortest, as bayesmeta), P(mu > 0) (benefit: yi > 0 favours
    MSC), the posterior median of tau, the posterior predictive interval only where k >= 3
    (protocol 6.3), and the prior-data conflict check of
    :func:`mscreview.engine.bayes.prior_data_conflict` (prior predictive tail probability of the
    observed heterogeneity Q; below 0.05 flags a conflict).

    Why half-normal(0.5) for SMDs: empirical predictive distributions of the heterogeneity of
    standardised mean differences in Cochrane meta-analyses (Rhodes, Turner & Higgins 2015)
    expect small to moderate tau; the half-normal(0.5) has median 0.34 and 95th percentile 0.98
    SD units, so it is informative without ruling out large heterogeneity. The scale was first
    proposed for log odds ratios (Friede et al. 2017), hence the wider and heavier-tailed
    alternatives in this table.

    Records ``bayes.<family>.<prior>.{mean,median,cri_low,cri_high,p_benefit}``.

    References
    ----------
    Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for the extent
    of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol 68:52-60.
    Friede T, Röver C, Wandel S, Neuenschwander B (2017). Res Synth Methods 8:79-91.
    Röver C (2020). J Stat Softw 93(6).
    """
    nums: dict = {}
    rows = []
    for name, g in families_for_robustness(ev).items():
        t = bayes.prior_sensitivity(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
        t.insert(0, "k", len(g))
        t.insert(0, "family", name)
        t["primary"] = [(p, s_) == PRIMARY_TAU_PRIOR for p, s_ in zip(t["tau_prior"], t["tau_scale"])]
        rows.append(t)
        base = result_key("bayes", name.replace(" / ", "_"))
        for r in t.itertuples():
            nums.update(prefixed(f"{base}.{prior_key(r.tau_prior, r.tau_scale)}",
                                 {"mean": r.mu_mean, "median": r.mu_median, "cri_low": r.mu_ci_low,
                                  "cri_high": r.mu_ci_high, "p_benefit": r.p_mu_gt_null}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    out = out.rename(columns={"p_mu_gt_null": "p_benefit"})
    if not out.empty:
        nums["bayes.priors"] = int(out.groupby(["tau_prior", "tau_scale"]).ngroups)
        nums["bayes.cri_includes_0"] = int(((out["mu_ci_low"] <= 0) & (out["mu_ci_high"] >= 0)).sum())
        nums["bayes.fits"] = len(out)
    return out, nums


@cites
def bayesian(ev: Evidence) -> pd.DataFrame:
    """Bayesian random-effects model under the primary prior (half-normal(0.5) on tau) for every pooled
    family: posterior mean, median and 95% credible interval of mu, P(mu > 0), the posterior median
    of tau, and the prior-data conflict check (see :func:`prior_sensitivity`; records
    ``bayes.<family>.conflict``, the prior predictive P(Q_rep >= Q_obs))."""
    nums: dict = {}
    ps = prior_sensitivity(ev)
    if ps.empty:
        return pd.DataFrame(), {"bayes.families": 0, "bayes.min_p_mu_gt_0": None, "bayes.max_p_mu_gt_0": None}
    out = ps[ps["primary"]].drop(columns=["primary"]).reset_index(drop=True)
    out["conflict"] = np.where(out["conflict_pvalue"] < 0.05, "prior-data conflict (p < 0.05)", "no conflict flagged")
    for r in out.itertuples():
        base = result_key("bayes", r.family.replace(" / ", "_"))
        nums[f"{base}.conflict"] = r.conflict_pvalue
        nums[f"{base}.conflict_q"] = r.conflict_q
    nums["bayes.families"] = len(out)
    nums["bayes.min_p_mu_gt_0"] = float(out["p_benefit"].min())
    nums["bayes.max_p_mu_gt_0"] = float(out["p_benefit"].max())
    nums["bayes.conflicts"] = int((out["conflict_pvalue"] < 0.05).sum())
    return out, nums


def prior_note() -> str:
    """Why the primary prior on tau, its quantiles (computed from the prior) and the conflict check's rule."""
    from scipy import stats
    name, scale = PRIMARY_TAU_PRIOR
    q50, q95 = stats.halfnorm.ppf([0.5, 0.95], scale=scale)
    return (f"The primary prior on tau is {name.replace('half', 'half-')}({scale:g}): empirical predictive distributions "
            "of heterogeneity among standardised mean differences (Rhodes, Turner & Higgins 2015, J Clin Epidemiol "
            f"68:52-60) expect small to moderate tau, and this prior puts its median at {q50:.2f} and its 95th "
            f"percentile at {q95:.2f} SD units; half-normal and half-Cauchy priors with scales 0.25, 0.5 and 1 are the "
            "alternatives of the sensitivity table. The prior-data conflict check is the prior predictive probability "
            "of heterogeneity at least as large as observed, P(Q_rep >= Q_obs): below 0.05 the data and the prior on "
            "tau conflict.")


def bayes_note(ev: Evidence) -> str:
    """One sentence per pooled family: the primary prior's posterior, how many priors' intervals include 0,
    and the prior-data conflict check."""
    b, ps = bayesian(ev), prior_sensitivity(ev)
    if b.empty:
        return "No pooled family: the Bayesian model is not fitted."
    parts = []
    for r in b.itertuples():
        fam = ps[ps["family"] == r.family]
        inc = int(((fam["mu_ci_low"] <= 0) & (fam["mu_ci_high"] >= 0)).sum())
        parts.append(
            f"{r.family} (k = {r.k}): posterior mean {r.mu_mean:.2f} (median {r.mu_median:.2f}, 95% credible interval "
            f"{r.mu_ci_low:.2f} to {r.mu_ci_high:.2f}), P(effect > 0) = {r.p_benefit:.3f}; the interval includes 0 under "
            f"{inc} of {len(fam)} priors; prior-data conflict check p = {r.conflict_pvalue:.3f}"
            + (" (a conflict: the studies disagree more than the prior on tau expects)." if r.conflict_pvalue < 0.05
               else " (borderline: below 0.10, the studies disagree more than the prior on tau makes likely)."
               if r.conflict_pvalue < 0.10 else "."))
    return " ".join(parts)


def posterior_curves(ev: Evidence, family: str | None = None) -> dict:
    """Posterior densities of mu (half-normal 0.5 and half-Cauchy 0.5 priors) for
    :func:`mscreview.output.plotting.posterior`; default: the first pooled family."""
    fams = families_for_robustness(ev)
    if not fams:
        return {}
    name = family or next(iter(fams))
    g = fams[name]
    curves = {}
    for prior in ("halfnormal", "halfcauchy"):
        b = bayes.bayesmeta(g["yi"].to_numpy(float), g["vi"].to_numpy(float), tau_prior=prior, tau_scale=0.5)
        lo, hi = float(b.quantile(0.001)), float(b.quantile(0.999))
        x = np.linspace(lo, hi, 400)
        shown = {"halfnormal": "Half-normal", "halfcauchy": "Half-Cauchy"}[prior]
        curves[f"{shown}(0.5) prior on \u03c4"] = (x, np.asarray(b.pdf(x), float))
    return curves


@cites
def shared_controls(ev: Evidence) -> pd.DataFrame:
    """Effects whose control arm is shared with another comparison (n split, protocol 6.5)."""
    nums: dict = {}
    e = ev.effects
    cols = [c for c in ("row_id", "study_id", "outcome", "control_group_id", "n_arms_sharing", "n2i")
            if c in e]
    out = e[e["shared_control"].astype(bool)][cols] if "shared_control" in e else e.iloc[0:0][cols]
    nums["robustness.shared_control_effects"] = len(out)
    return out.reset_index(drop=True), nums


#: Table of suspected overlaps between reports (protocol 9.7), relative to the data root.
OVERLAP_FILE = "review/overlap_groups.csv"

_Z975 = 1.959963984540054


def overlap_groups(ev: Evidence) -> pd.DataFrame:
    """The suspected overlaps of ``review/overlap_groups.csv`` (one row per group, ``members`` a list);
    empty when the file does not exist."""
    path = ev.root / OVERLAP_FILE
    cols = schema.columns(OVERLAP_FILE)
    if not path.exists():
        return pd.DataFrame(columns=cols + ["members"])
    g = pd.read_csv(path, dtype=str, keep_default_na=False)
    g["members"] = [[m.strip() for m in str(x).split(schema.ID_SEPARATOR) if m.strip()] for x in g["study_ids"]]
    return g


@cites
def overlapping_cohorts(ev: Evidence) -> pd.DataFrame:
    """Reports of one cohort (shared ``cohort_id``: counted once in every analysis) and reports whose
    patients or animals may overlap (``review/overlap_groups.csv``: analysed by
    :func:`overlap_sensitivity`), protocol 9.7."""
    nums: dict = {}
    st = ev.studies
    g = st.groupby("cohort_id")["study_id"].agg(list)
    g = g[g.map(len) > 1]
    shared = pd.DataFrame({"kind": "same cohort_id: counted once", "id": g.index,
                           "studies": g.map(lambda s: "; ".join(sorted(s))).values, "reports": g.map(len).values,
                           "evidence": "", "validated": ""})
    og = overlap_groups(ev)
    suspected = pd.DataFrame({"kind": "suspected overlap: sensitivity analysis", "id": og["group_id"],
                              "studies": ["; ".join(m) for m in og["members"]],
                              "reports": [len(m) for m in og["members"]], "evidence": og["evidence"],
                              "validated": og["validated"]})
    out = pd.concat([shared, suspected], ignore_index=True)
    nums["robustness.overlapping_cohorts"] = len(shared)
    nums["robustness.overlap.suspected_groups"] = len(suspected)
    nums["robustness.overlap.suspected_reports"] = int(suspected["reports"].sum()) if len(suspected) else 0
    return out, nums


def _ci_excludes_0(lo, hi) -> bool:
    return bool((lo > 0) or (hi < 0))


@cites
def overlap_sensitivity(ev: Evidence) -> pd.DataFrame:
    """Every pooled family re-pooled keeping one report per suspected overlap, each in turn (protocol 9.7).

    For each group of ``review/overlap_groups.csv`` with two or more reports in a pooled family
    (:func:`~mscreview.review.evidence.families_for_robustness`), the family's effects are
    re-pooled (REML + Hartung-Knapp) keeping one of those reports and dropping the others, for each
    report in turn. Where one study remains, its own estimate and 95% (z) interval are shown
    (not pooled). ``conclusion_changes`` is True when the interval's exclusion of 0 differs from the
    primary pooled interval's, or the family can no longer be pooled. Groups that never have two
    reports in one pooled family change nothing and are listed in the ``note`` of one row each.
    """
    nums: dict = {}
    fams = families_for_robustness(ev)
    og = overlap_groups(ev)
    rows, idle = [], []
    for grp in og.itertuples():
        touched = False
        for name, g in fams.items():
            present = [m for m in grp.members if m in set(g["study_id"])]
            if len(present) < 2:
                continue
            touched = True
            full = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), **PRIMARY)
            for keep in present:
                sub = g[~g["study_id"].isin(set(present) - {keep})]
                rec = {"group_id": grp.group_id, "family": name, "kept": keep,
                       "dropped": "; ".join(p for p in present if p != keep), "k": len(sub),
                       "primary_estimate": full.estimate, "primary_ci_low": full.ci_low,
                       "primary_ci_high": full.ci_high}
                if len(sub) >= 2:
                    f = rma(sub["yi"].to_numpy(float), sub["vi"].to_numpy(float), **PRIMARY)
                    rec.update(estimate=f.estimate, ci_low=f.ci_low, ci_high=f.ci_high, pvalue=f.pvalue,
                               note="re-pooled (REML + Hartung-Knapp)")
                else:
                    y, se = float(sub["yi"].iloc[0]), float(np.sqrt(sub["vi"].iloc[0]))
                    rec.update(estimate=y, ci_low=y - _Z975 * se, ci_high=y + _Z975 * se, pvalue=np.nan,
                               note=f"k = 1: not pooled; {keep}'s own estimate and 95% CI")
                rec["conclusion_changes"] = (len(sub) < 2 or _ci_excludes_0(rec["ci_low"], rec["ci_high"])
                                             != _ci_excludes_0(full.ci_low, full.ci_high))
                rows.append(rec)
        if not touched:
            idle.append(grp.group_id)
    cols = ["group_id", "family", "kept", "dropped", "k", "estimate", "ci_low", "ci_high", "pvalue",
            "primary_estimate", "primary_ci_low", "primary_ci_high", "conclusion_changes", "note"]
    out = pd.DataFrame(rows, columns=cols)
    if idle:
        out = pd.concat([out, pd.DataFrame([{"group_id": "; ".join(idle), "family": "(none)", "note":
                                             "no pooled family holds two or more reports of these groups: "
                                             "nothing to re-pool"}])], ignore_index=True)
    out["k"] = out["k"].astype("Int64")
    done = out[out["family"] != "(none)"]
    nums["robustness.overlap.groups_in_pooled_families"] = int(done["group_id"].nunique())
    nums["robustness.overlap.families_affected"] = int(done["family"].nunique())
    nums["robustness.overlap.refits"] = len(done)
    nums["robustness.overlap.conclusion_changes"] = int(done["conclusion_changes"].astype(bool).sum())
    nums["robustness.overlap.families_unpoolable"] = int(done.loc[done["k"] < 2, "family"].nunique())
    return out, nums


def overlap_note(ev: Evidence) -> str:
    """Whether any pooled conclusion depends on counting possibly overlapping reports separately."""
    t = overlap_sensitivity(ev)
    t = t[t["family"] != "(none)"]
    if t.empty:
        return ("No pooled family contains two reports of one suspected overlap group, so keeping one report per "
                "group changes no pooled estimate.")
    parts = []
    for (gid, fam), sg in t.groupby(["group_id", "family"], sort=False):
        prim = sg.iloc[0]
        each = "; ".join(f"keeping {r.kept}: " + (f"{r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})"
                         + (" [single report, not pooled]" if r.k < 2 else "")) for r in sg.itertuples())
        single = sg[sg["k"] < 2]
        excl = sum(_ci_excludes_0(r.ci_low, r.ci_high) for r in sg.itertuples())
        prim_excl = _ci_excludes_0(prim.primary_ci_low, prim.primary_ci_high)
        if len(single):
            verdict = ("with one report kept nothing is left to pool (k = 1): the pooled estimate exists only if "
                       f"the reports are separate cohorts; {excl} of {len(sg)} remaining intervals exclude 0, "
                       f"the primary pooled interval {'does' if prim_excl else 'does not'}")
        elif sg["conclusion_changes"].any():
            verdict = (f"the interval's exclusion of 0 changes in {int(sg['conclusion_changes'].sum())} of {len(sg)} "
                       "refits: the conclusion depends on counting the reports as separate cohorts")
        else:
            verdict = "the conclusion (interval excluding 0 or not) does not change"
        parts.append(f"{fam} (group {gid}; primary {prim.primary_estimate:.2f}, {prim.primary_ci_low:.2f} to "
                     f"{prim.primary_ci_high:.2f}): {each}; {verdict}.")
    n_dep = int(t.groupby("family")["conclusion_changes"].any().sum())
    head = (f"Pooled families holding two or more reports of one suspected overlap: {t['family'].nunique()}; "
            f"whose conclusion depends on counting those reports as separate cohorts: {n_dep}. " if n_dep
            else "No pooled conclusion depends on the suspected overlaps. ")
    return head + " ".join(parts)


@cites
def sensitivity_variants(ev: Evidence) -> pd.DataFrame:
    """Pooled estimates per family under the protocol's sensitivity analyses (6.7): unstated
    dispersions read as SD or SEM, excluding studies at high overall risk of bias, excluding
    secondary-source rows, MSC-derived cells pooled with MSC. Recorded (count of families whose
    conclusion, CI excluding 0 or not, changes)."""
    nums: dict = {}
    def pooled(effects):
        if effects.empty:
            return pd.DataFrame()
        return rules.pooled_by(rules.primary_effects(effects), **PRIMARY)

    rb = ev.risk_of_bias
    high = set(rb.loc[(rb["domain"] == "overall") & rb["judgement"].isin(["high", "serious", "critical"]),
                      "study_id"]) if not rb.empty else set()
    variants = {"primary": ev.effects}
    for how in ("SD", "SEM"):
        variants[f"unstated dispersion read as {how}"] = _unstated_effects(ev, how)[0]
    variants["excluding high overall risk of bias"] = ev.effects[~ev.effects["study_id"].isin(high)]
    if "source_kind" in ev.effects:
        variants["excluding secondary-source rows"] = ev.effects[ev.effects["source_kind"] != "secondary"]
    if "product_class" in ev.effects:
        variants["MSC-derived cells pooled with MSC"] = ev.effects.assign(
            product_class=ev.effects["product_class"].replace({"msc_derived_cells": "msc"}))
    rows = []
    for name, e in variants.items():
        pb = pooled(e)
        for _, r in pb.iterrows() if not pb.empty else []:
            rows.append({"variant": name, **{c: r[c] for c in FAMILY}, "k": int(r["k"]), "pooled": bool(r["pooled"]),
                         "estimate": r.get("estimate"), "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high")})
    out = pd.DataFrame(rows)
    if not out.empty:
        sig = out.assign(sig=(out["ci_low"] > 0) | (out["ci_high"] < 0))
        base = sig[sig["variant"] == "primary"].set_index(FAMILY)["sig"]
        other = sig[sig["variant"] != "primary"].set_index(FAMILY)
        changed = sum(1 for idx, r in other.iterrows() if idx in base.index and bool(base.loc[idx]) != bool(r["sig"]))
        nums["robustness.variants.count"] = int(out["variant"].nunique())
        nums["robustness.variants.conclusion_changes"] = int(changed)
    return out, nums


#: Column of ``data/extracted.csv`` flagging a doubtful dispersion label (protocol 9.3), with its reason.
DOUBT_COLUMN = "dispersion_doubt"
_OTHER_READING = {"SD": "SEM", "SEM": "SD"}


def _with_effects(ev: Evidence, effects: pd.DataFrame) -> Evidence:
    """The same evidence with another effect table (every family builder re-runs on it)."""
    return dataclasses.replace(ev, effects=effects.reset_index(drop=True))


def _pooled_fits(ev: Evidence) -> dict:
    """name -> (k, studies, fit) of every pooled family (REML + Hartung-Knapp)."""
    out = {}
    for name, g in families_for_robustness(ev).items():
        out[name] = (len(g), "; ".join(sorted(g["study_id"])),
                     rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), **PRIMARY))
    return out


def flagged_dispersion_rows(ev: Evidence) -> pd.DataFrame:
    """Rows of ``extracted`` whose dispersion label is flagged as doubtful (``dispersion_doubt`` not
    empty); empty (with ``attrs['note']``) when the column is absent or nothing is flagged."""
    ex = ev.extracted
    if DOUBT_COLUMN not in ex.columns:
        out = ex.iloc[0:0]
        out.attrs["note"] = f"no flagged rows (extracted.{DOUBT_COLUMN} is not in the data)"
        return out
    flag = ex[DOUBT_COLUMN].astype("string").fillna("").str.strip() != ""
    out = ex[flag]
    out.attrs["note"] = "" if len(out) else f"no flagged rows (extracted.{DOUBT_COLUMN} is empty in every row)"
    return out


def other_reading_effects(ev: Evidence) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The effect table with every flagged row read the other way (SD as SEM, SEM as SD; protocol 9.3).

    Only the numbers of the flagged rows change (``sd1i``, ``sd2i``, ``yi``, ``vi``, ``sei``,
    ``yi_raw``; ``conversion`` says so); every other column, and every other row, is the primary
    table's. Returns ``(effects, log)``, the log listing each flagged row, its label, the reading
    used and what happened (a row with another dispersion type has no "other reading").
    """
    flagged = flagged_dispersion_rows(ev)
    log = []
    ex = ev.extracted.copy()
    for i, r in flagged.iterrows():
        lab = r.get("dispersion_type")
        lab = lab if isinstance(lab, str) else ""
        other = _OTHER_READING.get(lab)
        if other is None:
            log.append({"row_id": r["row_id"], "labelled": lab, "read_as": "", "result":
                        f"dispersion type {lab or '(empty)'}: no other reading defined (SD or SEM only)"})
            continue
        ex.loc[i, "dispersion_type"] = other
        log.append({"row_id": r["row_id"], "labelled": lab, "read_as": other, "result": ""})
    effects = ev.effects.copy()
    switched = [d["row_id"] for d in log if d["read_as"]]
    if switched:
        fresh, _ = rules.effect_table(ex, ev.studies, "SMD")
        fresh = fresh.set_index("row_id")
        for d in log:
            if not d["read_as"]:
                continue
            hit = effects.index[effects["row_id"] == d["row_id"]]
            if d["row_id"] not in fresh.index or len(hit) == 0:
                d["result"] = "no effect size under either reading (not in a family)"
                continue
            for c in ("sd1i", "sd2i", "yi", "vi", "sei", "yi_raw"):
                if c in effects.columns:
                    effects.loc[hit, c] = fresh.loc[d["row_id"], c]
            effects.loc[hit, "conversion"] = (effects.loc[hit, "conversion"].astype(str)
                                              + f"; labelled {d['labelled']}, read as {d['read_as']} (sensitivity)")
            d["result"] = f"g {float(ev.effects.loc[hit, 'yi'].iloc[0]):.2f} -> {float(fresh.loc[d['row_id'], 'yi']):.2f}"
    return effects, pd.DataFrame(log, columns=["row_id", "labelled", "read_as", "result"])


def _unstated_effects(ev: Evidence, how: str) -> tuple[pd.DataFrame, int]:
    """The primary effects plus the rows with an unstated dispersion type read as ``how`` (SD or SEM)."""
    e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", unstated_dispersion=how)
    gained = e[~e["row_id"].isin(set(ev.effects["row_id"])) & e["conversion"].astype(str).str.contains("unstated")]
    return pd.concat([ev.effects, gained], ignore_index=True), len(gained)


@cites
def dispersion_sensitivity(ev: Evidence) -> pd.DataFrame:
    """Every pooled family with doubtful or unstated dispersions read the other way (protocol 9.3 and 6.7).

    Variants: rows flagged in ``extracted.dispersion_doubt`` read the other way (SD as SEM or SEM as
    SD; primary: as labelled), and rows whose dispersion type is not stated read as SD or as SEM
    (primary: excluded). Each variant's families are rebuilt by the shared family builders and
    pooled (REML + Hartung-Knapp) beside the primary estimate. A variant identical to the primary
    in every family is dropped and replaced by one row saying so (and why: the rows it changes
    enter no pooled family); "no flagged rows" when nothing is flagged.
    """
    nums: dict = {}
    base = _pooled_fits(ev)
    flagged = flagged_dispersion_rows(ev)
    variants = []
    if len(flagged):
        eff, log = other_reading_effects(ev)
        variants.append(("flagged dispersion read the other way", eff, int((log["read_as"] != "").sum()),
                         "; ".join(f"{r.row_id} ({r.labelled} read as {r.read_as}: {r.result})" if r.read_as
                                   else f"{r.row_id} ({r.result})" for r in log.itertuples())))
    else:
        variants.append(("flagged dispersion read the other way", None, 0, flagged.attrs.get("note", "")))
    for how in ("SD", "SEM"):
        eff, n = _unstated_effects(ev, how)
        variants.append((f"unstated dispersion read as {how}", eff, n,
                         f"{n} row{'s' if n != 1 else ''} gain an effect size" if n else "no row gains an effect size"))
    rows = []
    for label, eff, n_rows, detail in variants:
        if eff is None:
            rows.append({"variant": label, "family": "(none)", "rows_changed": 0, "note": detail})
            continue
        fits = _pooled_fits(_with_effects(ev, eff))
        recs = []
        for name in list(base) + [n for n in fits if n not in base]:
            k0, st0, f0 = base.get(name, (0, "", None))
            k1, st1, f1 = fits.get(name, (0, "", None))
            same = (f0 is not None and f1 is not None and k0 == k1 and st0 == st1
                    and np.allclose([f0.estimate, f0.ci_low, f0.ci_high], [f1.estimate, f1.ci_low, f1.ci_high],
                                    rtol=1e-12, atol=1e-12))
            rec = {"variant": label, "family": name, "rows_changed": n_rows, "k": k1, "studies": st1,
                   "estimate": f1.estimate if f1 else np.nan, "ci_low": f1.ci_low if f1 else np.nan,
                   "ci_high": f1.ci_high if f1 else np.nan, "pvalue": f1.pvalue if f1 else np.nan,
                   "primary_k": k0, "primary_estimate": f0.estimate if f0 else np.nan,
                   "primary_ci_low": f0.ci_low if f0 else np.nan, "primary_ci_high": f0.ci_high if f0 else np.nan,
                   "identical": bool(same)}
            rec["conclusion_changes"] = bool(f0 is None or f1 is None or _ci_excludes_0(f0.ci_low, f0.ci_high)
                                             != _ci_excludes_0(f1.ci_low, f1.ci_high))
            rec["note"] = (detail if f1 else "no longer pooled") if f0 else "family pooled only in this variant"
            recs.append(rec)
        if all(r["identical"] for r in recs):
            rows.append({"variant": label, "family": "(all)", "rows_changed": n_rows,
                         "note": f"identical to the primary analysis in every pooled family ({detail}"
                                 + ("" if not n_rows else "; none enters a pooled family") + "): dropped"})
        else:
            rows.extend(r for r in recs if not r["identical"])
    cols = ["variant", "family", "rows_changed", "k", "studies", "estimate", "ci_low", "ci_high", "pvalue",
            "primary_k", "primary_estimate", "primary_ci_low", "primary_ci_high", "conclusion_changes", "note"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out[["rows_changed", "k", "primary_k"]] = out[["rows_changed", "k", "primary_k"]].astype("Int64")
    real = out[~out["family"].isin(["(none)", "(all)"])]
    nums["robustness.dispersion.flagged_rows"] = int(len(flagged))
    nums["robustness.dispersion.variants"] = len(variants)
    nums["robustness.dispersion.variants_identical"] = int((out["family"] == "(all)").sum())
    nums["robustness.dispersion.conclusion_changes"] = int(real["conclusion_changes"].astype(bool).sum())
    nums["robustness.dispersion.extra_effects_if_sd"] = int(variants[1][2])
    return out, nums


def funnel_figures(ev: Evidence) -> list[FigureSpec]:
    """Contour-enhanced funnel plots (with trim-and-fill) for families with k >= 10."""
    out = []
    for name, g in families_for_robustness(ev).items():
        if len(g) < MIN_K_SMALL_STUDY:
            continue
        tf = bias.trimfill(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
        fill = np.asarray(tf.fill, bool)
        filled = {"yi": np.asarray(tf.yi)[fill], "vi": np.asarray(tf.vi)[fill]} if fill.any() else None
        kw = dict(yi=g["yi"], vi=g["vi"], estimate=tf.estimate, filled=filled, xlabel="SMD", title=name)
        out.append(FigureSpec("funnel_" + slug(name), f"Contour-enhanced funnel plot, {name}.", "funnel", kw,
                              data=g[["yi", "vi"]]))
    return out


def influence_table(ev: Evidence) -> pd.DataFrame:
    """Influence diagnostics (metafor's influence.rma.uni) for families with k >= 3."""
    rows = []
    for name, g in families_for_robustness(ev).items():
        if len(g) >= MIN_K_LEAVE1OUT:
            t = influence.influence(g["yi"].to_numpy(float), g["vi"].to_numpy(float), slab=list(g["study_id"]),
                                      **PRIMARY)
            rows.append(t.assign(family=name))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        [{"family": n, "note": f"k = {len(g)} < {MIN_K_LEAVE1OUT}: influence diagnostics not informative"}
         for n, g in families_for_robustness(ev).items()])
    return out


def leave1out_figures(ev: Evidence) -> list[FigureSpec]:
    """Leave-one-out plots for families with k >= 3."""
    out = []
    for name, g in families_for_robustness(ev).items():
        if len(g) < MIN_K_LEAVE1OUT:
            continue
        l1 = influence.leave1out(g["yi"].to_numpy(float), g["vi"].to_numpy(float),
                                   slab=list(g["study_id"].map(study_labels(ev.studies))),
                                   **PRIMARY)
        full = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), **PRIMARY)
        out.append(FigureSpec("leave1out_" + slug(name), f"Leave-one-out, {name}.", "leave1out",
                              dict(results=l1, full=full, label="study", title=name), data=g[["yi", "vi"]]))
    return out


def gosh_figures(ev: Evidence, min_k: int = 6) -> list[FigureSpec]:
    """GOSH plots for families with at least ``min_k`` studies (fewer subsets show nothing)."""
    out = []
    for name, g in families_for_robustness(ev).items():
        if len(g) < min_k:
            continue
        res = gosh(g["yi"].to_numpy(float), g["vi"].to_numpy(float), progress=False, seed=1)
        out.append(FigureSpec("gosh_" + slug(name), f"GOSH plot, {name}.", "gosh",
                              dict(results=res.frame, title=name), data=g[["yi", "vi"]]))
    return out


def robustness_note(ev: Evidence) -> str:
    """Which diagnostics the data allow, from the family sizes."""
    fams = families_for_robustness(ev)
    if not fams:
        return "No outcome family has two or more studies with effect sizes: no diagnostic applies."
    ks = {n: len(g) for n, g in fams.items()}
    kmax = max(ks.values())
    parts = [f"The largest pooled family has k = {kmax} studies ({', '.join(f'{n}: k = {k}' for n, k in ks.items())})."]
    if kmax < MIN_K_SMALL_STUDY:
        parts.append(f"Funnel plots, Egger's test and trim-and-fill need k >= {MIN_K_SMALL_STUDY} and are not shown.")
    if kmax < MIN_K_LEAVE1OUT:
        parts.append("Leave-one-out, influence and GOSH need at least three studies: with two, leaving one out "
                     "returns the other study's own estimate, which the forest plot already shows.")
    return " ".join(parts)


def numbers(ev: Evidence) -> dict:
    """Every number notebook 06 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(small_study_assessment.numbers(ev))
    out.update(estimator_comparison.numbers(ev))
    out.update(leave_one_out.numbers(ev))
    out.update(bayesian.numbers(ev))
    out.update(prior_sensitivity.numbers(ev))
    out.update(shared_controls.numbers(ev))
    out.update(overlapping_cohorts.numbers(ev))
    out.update(overlap_sensitivity.numbers(ev))
    out.update(sensitivity_variants.numbers(ev))
    out.update(dispersion_sensitivity.numbers(ev))
    out.update(imputation.imputed_sd_table.numbers(ev))
    return out
