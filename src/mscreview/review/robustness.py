"""Robustness: small-study effects, estimators and tests, leave-one-out, influence, GOSH, the Bayesian model and the protocol's sensitivity analyses.

Notebook ``notebooks/06_robustness.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.labels import study_labels
from ..diagnostics import bias, influence
from ..diagnostics.gosh import gosh
from ..engine import bayes
from ..engine.rma import rma
from . import rules
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


@cites
def estimator_comparison(ev: Evidence) -> pd.DataFrame:
    """Each pooled family under REML/DL/PM x z/Hartung-Knapp (cites the counts of significant fits)."""
    nums: dict = {}
    rows = []
    for name, g in families_for_robustness(ev).items():
        for method in ("REML", "DL", "PM"):
            for test in ("knha", "z"):
                f = rma(g["yi"].to_numpy(float), g["vi"].to_numpy(float), method=method, test=test)
                rows.append({"family": name, "method": method, "test": test, "k": f.k, "estimate": f.estimate,
                             "ci_low": f.ci_low, "ci_high": f.ci_high, "pvalue": f.pvalue, "tau2": f.tau2,
                             "i2": f.i2})
    out = pd.DataFrame(rows)
    if not out.empty:
        sig = out.assign(sig=(out["ci_low"] > 0) | (out["ci_high"] < 0))
        nums["robustness.estimators.fits"] = len(out)
        nums["robustness.estimators.significant_z"] = int(sig[sig["test"] == "z"]["sig"].sum())
        nums["robustness.estimators.significant_knha"] = int(sig[sig["test"] == "knha"]["sig"].sum())
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


@cites
def bayesian(ev: Evidence) -> pd.DataFrame:
    """Bayesian random-effects model (half-normal(0.5) prior on tau, protocol 6.3) for every
    pooled family: posterior median and 95% interval of mu, P(mu > 0) (cites numbers)."""
    nums: dict = {}
    rows = []
    for name, g in families_for_robustness(ev).items():
        b = bayes.bayesmeta(g["yi"].to_numpy(float), g["vi"].to_numpy(float), tau_prior="halfnormal", tau_scale=0.5)
        s = b.summary.set_index(b.summary.columns[0]) if "mu" not in b.summary.index else b.summary
        mu, tau = s.loc["mu"], s.loc["tau"]
        p_pos = 1.0 - float(b.cdf(0.0)) if hasattr(b, "cdf") else np.nan
        rows.append({"family": name, "k": len(g), "mu_median": mu["median"], "mu_ci_low": mu["ci_low"],
                     "mu_ci_high": mu["ci_high"], "tau_median": tau["median"], "p_mu_gt_0": p_pos})
        base = result_key("bayes", name.replace(" / ", "_"))
        nums.update(prefixed(base, {"mu_median": mu["median"], "mu_ci_low": mu["ci_low"], "mu_ci_high": mu["ci_high"],
                                  "p_mu_gt_0": p_pos}))
    out = pd.DataFrame(rows)
    nums["bayes.families"] = len(out)
    nums["bayes.min_p_mu_gt_0"] = float(out["p_mu_gt_0"].min()) if len(out) else None
    nums["bayes.max_p_mu_gt_0"] = float(out["p_mu_gt_0"].max()) if len(out) else None
    return out, nums


def prior_sensitivity(ev: Evidence) -> pd.DataFrame:
    """Posterior of mu under six heterogeneity priors, per pooled family."""
    rows = []
    for name, g in families_for_robustness(ev).items():
        t = bayes.prior_sensitivity(g["yi"].to_numpy(float), g["vi"].to_numpy(float))
        rows.append(t.assign(family=name))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


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


@cites
def overlapping_cohorts(ev: Evidence) -> pd.DataFrame:
    """Cohorts reported in more than one study (counted once in every analysis)."""
    nums: dict = {}
    st = ev.studies
    g = st.groupby("cohort_id")["study_id"].agg(list)
    g = g[g.map(len) > 1]
    out = pd.DataFrame({"cohort_id": g.index, "studies": g.map(lambda s: "; ".join(sorted(s))).values,
                        "reports": g.map(len).values})
    nums["robustness.overlapping_cohorts"] = len(out)
    return out, nums


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
        e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", unstated_dispersion=how)
        variants[f"unstated dispersion read as {how}"] = e
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


@cites
def dispersion_sensitivity(ev: Evidence) -> pd.DataFrame:
    """Effect sizes gained when rows with an unstated dispersion are read as SD or as SEM."""
    nums: dict = {}
    rows = []
    for how in ("exclude", "SD", "SEM"):
        e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", unstated_dispersion=how)
        rows.append({"unstated_dispersion": how, "effect_sizes": len(e), "studies": e["study_id"].nunique(),
                     "mean_smd": float(e["yi"].mean()) if len(e) else np.nan})
    out = pd.DataFrame(rows)
    nums["robustness.dispersion.extra_effects_if_sd"] = int(out.loc[1, "effect_sizes"] - out.loc[0, "effect_sizes"])
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
    out.update(shared_controls.numbers(ev))
    out.update(overlapping_cohorts.numbers(ev))
    out.update(sensitivity_variants.numbers(ev))
    out.update(dispersion_sensitivity.numbers(ev))
    return out
