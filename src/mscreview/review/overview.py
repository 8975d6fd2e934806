"""Effect sizes by mechanism and MSC source on one page: the long table and the overview figure's data.

For each population, product class, mechanism (order of :data:`mscreview.data.schema.MECHANISMS`) and MSC
source, :func:`effect_overview` lists, one row per item (column ``kind``):

- ``study``: every computable study-level effect (Hedges' g with its 95% Wald CI, n, outcome, timepoint),
  whatever the family size (k = 1 included); ``primary`` marks the effect the protocol rule picks for the
  study in its family (:func:`mscreview.review.rules.primary_effects`), which is the one pooled and plotted.
  Controlled rows with event counts (adverse events) give a risk ratio instead (``measure = "RR"``, MSC vs
  control, natural scale; not pooled here, see notebook 05), "not estimable" where neither arm had an event;
- ``pooled``: the random-effects estimate (REML + Hartung-Knapp, protocol 6.3) of each family with k >= 2
  (``msc_source = "all"``) and of each source within a family that has two or more sources with k >= 2;
- ``directions``: for the cohorts of a family without any effect size, the SWiM counts by source
  (cohorts favouring MSC / control / no clear direction; :func:`mscreview.review.rules.study_directions`);
- ``published``: pooled estimates of published meta-analyses (``review/published_estimates.csv``) in the
  same population and mechanism, at the source they were stratified by (e.g. Archambault 2017's strata by
  cell source) or over all sources. Their mechanism comes from the outcome by :data:`PUBLISHED_MECHANISM`;
  strata by anything other than cell source, and outcomes no mechanism matches, are listed by
  :func:`published_left_out` with the reason (nothing is dropped silently).

Every function computes and returns; none records or writes.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..data import schema
from ..data.labels import study_label, study_labels
from . import rules
from .clinical import GMFM_READINGS, gmfm_both_readings, published_estimates
from .evidence import (Evidence, FigureSpec, MECH_ORDER, PRIMARY, SOURCE_ORDER, cites, pooled_by_mechanism,
                       primary_effects, result_key, spaced)

Z95 = 1.959963984540054

#: Outcome words of a published estimate -> mechanism; the first match wins, so the specific
#: (apoptosis, inflammation) come before the general (white matter, function).
PUBLISHED_MECHANISM = (
    ("safety", ("adverse event", "mortality", "death", "safety")),
    ("anti_apoptosis", ("apoptosis", "tunel", "caspase")),
    ("immunomodulation", ("microglia", "astroglio", "astrocyt", "inflamm", "tnf", "cytokine", "interleukin")),
    ("metabolism", ("oxidative", "superoxide", "malondialdehyde", "metabolism")),
    ("paracrine_trophic", ("bdnf", "vegf", "trophic", "angiogen")),
    ("neuroregeneration", ("infarct", "lesion", "neuron", "oligodendro", "myelin", "tissue loss", "brain volume")),
    ("function", ("motor", "gmfm", "gmpm", "cognitive", "function", "pedi", "weefim", "adl", "cylinder",
                  "rotarod", "maze", "recognition", "behavio")),
)

#: Kinds of row, in the order they are listed within a source.
KINDS = ("study", "pooled", "directions", "published")

#: Product classes in display order (classes are never pooled together, protocol section 2).
CLASS_ORDER = ("msc", "msc_ev", "msc_derived_cells", "mixed", "not_msc")
CLASS_NAMES = {"msc": "MSC", "msc_ev": "MSC-EV / secretome", "msc_derived_cells": "MSC-derived cells",
               "mixed": "Mixed cell products", "not_msc": "not MSC"}

COLUMNS = ["population", "product_class", "mechanism", "family", "msc_source", "kind", "label", "study_id", "row_id",
           "outcome", "timepoint", "measure", "estimate", "ci_low", "ci_high", "n", "k", "i2", "primary",
           "cohorts", "favours_msc", "favours_control", "no_clear_direction", "estimate_id", "cell_types",
           "subgroup", "note"]


def _short(text: str) -> str:
    """A registry meaning up to its first colon, " / ", " (", ";" or " incl."."""
    return re.split(r":| / | \(|;| incl\.", text)[0].strip()


def source_name(source) -> str:
    """Display name of an MSC source key, from the registry (``"all"``: every source)."""
    if source == "all":
        return "All sources"
    if source == "unclear":
        return "Source not reported"
    text = schema.MSC_SOURCES.get(source)
    return _short(text).replace(" MSC", "") if text else spaced(source).capitalize()


def mechanism_name(mechanism) -> str:
    """Display name of a mechanism key, from the registry."""
    text = schema.MECHANISMS.get(mechanism)
    return re.split(r":| incl\.", text)[0].strip() if text else spaced(mechanism).capitalize()


def timepoint_label(timepoint, unit) -> str:
    """``"12 months"``, ``"1 month"``; ``"time not reported"`` when missing."""
    if timepoint is None or pd.isna(timepoint):
        return "time not reported"
    unit = unit if isinstance(unit, str) else ""
    if float(timepoint) == 1 and unit.endswith("s"):
        unit = unit[:-1]
    return f"{float(timepoint):g} {unit}".strip()


def published_mechanism(outcome) -> str | None:
    """Mechanism of a published estimate's outcome by :data:`PUBLISHED_MECHANISM` (None when none matches)."""
    o = str(outcome).lower()
    for mech, words in PUBLISHED_MECHANISM:
        if any(w in o for w in words):
            return mech
    return None


def _published_source(subgroup) -> tuple[str | None, str]:
    """(msc source, why) of a published stratum: its cell source, "all" when not stratified, None when
    stratified by something else."""
    s = str(subgroup) if isinstance(subgroup, str) else ""
    m = re.match(r"\s*(\w[\w ()-]*?)\s*:\s*(.+)$", s)
    if not m:
        return "all", ""
    var, level = m.group(1).lower(), m.group(2).strip().lower()
    if var not in ("source", "cell source", "msc source"):
        return None, f"stratum by {m.group(1).lower()} ({m.group(2).strip()}), not by cell source"
    if level in ("not reported", "unclear", "not stated"):
        return "unclear", ""
    for key in schema.MSC_SOURCES:
        if spaced(key) == level or source_name(key).lower() == level:
            return key, ""
    return None, f"cell source {m.group(2).strip()!r} has no MSC source in the schema"


def _published_class(cell_types) -> str:
    return "msc" if str(cell_types).lower().startswith("msc only") else "mixed"


def _family_columns(ev: Evidence) -> list[str]:
    """The columns that define an outcome family, as the shared pooled table uses them."""
    pb = pooled_by_mechanism(ev)
    if pb.empty or "k" not in pb.columns:
        return ["population", "product_class", "mechanism"]
    return list(pb.columns[:list(pb.columns).index("k")])


def _family_text(rec: dict, fam: list[str]) -> str:
    extra = [str(rec[c]) for c in fam if c not in ("population", "product_class", "mechanism")
             and isinstance(rec.get(c), str) and rec.get(c)]
    return " / ".join(spaced(x) for x in extra)


def _study_rows(ev: Evidence, fam: list[str], labels: dict) -> list[dict]:
    e = ev.effects
    if e.empty:
        return []
    prim = primary_effects(ev)
    chosen = set(prim["row_id"]) if not prim.empty else set()
    rows = []
    for r in e.to_dict("records"):
        se = float(np.sqrt(r["vi"]))
        n = r.get("n1i", np.nan) + r.get("n2i", np.nan)
        tp = timepoint_label(r.get("timepoint"), r.get("timepoint_unit"))
        rows.append({"population": r["population"], "product_class": r["product_class"],
                     "mechanism": r["mechanism"], "family": _family_text(r, fam),
                     "msc_source": r["msc_source"] if isinstance(r["msc_source"], str) else "unclear",
                     "kind": "study", "label": f"{labels.get(r['study_id'], r['study_id'])}: {r['outcome']}, {tp}",
                     "study_id": r["study_id"], "outcome": r["outcome"], "timepoint": tp, "measure": r["measure"],
                     "estimate": float(r["yi"]), "ci_low": float(r["yi"]) - Z95 * se,
                     "ci_high": float(r["yi"]) + Z95 * se, "n": float(n), "k": 1,
                     "primary": r["row_id"] in chosen, "note": r.get("conversion", ""), "row_id": r["row_id"]})
    return rows


def event_effects(ev: Evidence) -> pd.DataFrame:
    """Controlled rows with event counts in both arms (no SMD): the risk ratio, MSC vs control, from the
    shared :func:`mscreview.review.rules.effect_table` (``measure="RR"``); ``estimable`` is False where
    neither arm had an event (protocol 9.8: the RR is then not estimable)."""
    e, _ = rules.effect_table(ev.extracted, ev.studies, "RR")
    if e.empty:
        return e
    e = e[~e["row_id"].isin(ev.effects["row_id"])].copy() if not ev.effects.empty else e.copy()
    e["estimable"] = ~((e["x1i"] == 0) & (e["x2i"] == 0))
    return e.reset_index(drop=True)


def _event_rows(ev: Evidence, labels: dict) -> list[dict]:
    e = event_effects(ev)
    if e.empty:
        return []
    chosen = set(rules.primary_effects(e)["row_id"])
    rows = []
    for r in e.to_dict("records"):
        lr, se = float(r["yi_raw"]), float(np.sqrt(r["vi"]))
        counts = f"{r['x1i']:g}/{r['n1i']:g} vs {r['x2i']:g}/{r['n2i']:g} events"
        est = (np.exp(lr), np.exp(lr - Z95 * se), np.exp(lr + Z95 * se)) if r["estimable"] else (np.nan,) * 3
        tp = timepoint_label(r.get("timepoint"), r.get("timepoint_unit"))
        rows.append({"population": r["population"], "product_class": r["product_class"],
                     "mechanism": r["mechanism"], "family": "",
                     "msc_source": r["msc_source"] if isinstance(r["msc_source"], str) else "unclear",
                     "kind": "study", "label": f"{labels.get(r['study_id'], r['study_id'])}: {r['outcome']}",
                     "study_id": r["study_id"], "row_id": r["row_id"], "outcome": r["outcome"], "timepoint": tp,
                     "measure": "RR", "estimate": est[0], "ci_low": est[1], "ci_high": est[2],
                     "n": float(r["n1i"] + r["n2i"]), "k": 1, "primary": r["row_id"] in chosen,
                     "note": counts + ("" if r["estimable"] else "; RR not estimable (no events in either arm)")
                             + "; RR < 1: fewer events with MSC"})
    return rows


def _pooled_label(r: dict, fam: list[str], source: str = "") -> str:
    head = "Pooled" + (f", {_family_text(r, fam)}" if _family_text(r, fam) else "") + (f", {source}" if source else "")
    i2 = f", I\u00b2 = {r['i2']:.0f}%" if pd.notna(r.get("i2")) else ""
    return f"{head} (k = {int(r['k'])}{i2})"


def _pooled_rows(ev: Evidence, fam: list[str]) -> list[dict]:
    prim = primary_effects(ev)
    if prim.empty:
        return []
    rows = []
    pb = pooled_by_mechanism(ev)
    pb = pb[pb["pooled"]] if not pb.empty else pb
    for r in pb.to_dict("records"):
        rows.append({**{c: r[c] for c in ("population", "product_class", "mechanism")}, "family": _family_text(r, fam),
                     "msc_source": "all", "kind": "pooled", "label": _pooled_label(r, fam), "measure": r["measure"], "estimate": r["estimate"],
                     "ci_low": r["ci_low"], "ci_high": r["ci_high"], "k": int(r["k"]), "i2": r["i2"],
                     "note": f"{r['method']} + {'Hartung-Knapp' if r['test'] == 'knha' else r['test']}; "
                             f"studies {r['study_ids']}"})
    # by source, where a family has two or more sources and a source has k >= 2
    n_src = prim.groupby(fam, dropna=False)["msc_source"].transform("nunique")
    multi = prim[n_src >= 2]
    if not multi.empty:
        ps = rules.pooled_by(multi, by=fam + ["msc_source"], **PRIMARY)
        for r in ps[ps["pooled"]].to_dict("records"):
            rows.append({**{c: r[c] for c in ("population", "product_class", "mechanism")},
                         "family": _family_text(r, fam), "msc_source": r["msc_source"], "kind": "pooled",
                         "label": _pooled_label(r, fam, source_name(r["msc_source"]).lower()),
                         "measure": r["measure"], "estimate": r["estimate"], "ci_low": r["ci_low"],
                         "ci_high": r["ci_high"], "k": int(r["k"]), "i2": r["i2"],
                         "note": f"source subtotal; studies {r['study_ids']}"})
    return rows


def _other_reading_rows(ev: Evidence) -> list[dict]:
    """The pooled GMFM estimate with doubtful dispersions read the other way (protocol 9.3), beside
    the primary pool: the conclusion depends on the reading, so the overview shows both."""
    t = gmfm_both_readings(ev)
    if t.empty:
        return []
    label = GMFM_READINGS["other_reading"][0]
    t = t[(t["analysis"] == label) & t["primary_timepoint"] & (t["k"] >= 2)]
    return [{"population": "clinical", "product_class": "msc", "mechanism": "function", "family": "GMFM",
             "msc_source": "all", "kind": "pooled",
             "label": f"Pooled, GMFM, doubtful SDs read as SEMs (k = {int(r['k'])}, I\u00b2 = {r['i2']:.0f}%)",
             "measure": "SMD", "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
             "k": int(r["k"]), "i2": r["i2"],
             "note": f"sensitivity (protocol 9.3): {label}; studies {r['studies']}"} for r in t.to_dict("records")]


def _direction_rows(ev: Evidence) -> list[dict]:
    sd = ev.study_dirs
    if sd.empty:
        return []
    keys = ["population", "product_class", "mechanism"]
    with_effect = set()
    ev_ = event_effects(ev)
    effects = pd.concat([ev.effects, ev_[ev_["estimable"]]] if not ev_.empty else [ev.effects], ignore_index=True)
    if not effects.empty:
        coh = effects["cohort_id"].where(effects["cohort_id"].notna(), effects["study_id"])
        with_effect = set(zip(*(effects[k] for k in keys), coh))
    first = ev.studies.drop_duplicates("cohort_id").set_index("cohort_id")["msc_source"]
    sd = sd.assign(msc_source=sd["cohort_id"].map(first).fillna("unclear"))
    keep = [tuple(r) not in with_effect for r in sd[keys + ["cohort_id"]].itertuples(index=False)]
    sd = sd[keep]
    rows = []
    for key, g in sd.groupby(keys + ["msc_source"], sort=True):
        up = int((g["direction"] == "favours_msc").sum())
        down = int((g["direction"] == "favours_control").sum())
        other = int(len(g) - up - down)
        n = len(g)
        text = (f"{n} cohort{'s' if n != 1 else ''}: {up} favour{'s' if up == 1 else ''} MSC, {down} control, "
                f"{other} no clear direction")
        rows.append({**dict(zip(keys + ["msc_source"], key)), "family": "", "kind": "directions",
                     "label": text, "cohorts": n, "favours_msc": up, "favours_control": down,
                     "no_clear_direction": other, "study_id": ";".join(sorted(set(";".join(g["study_ids"]).split(";")))),
                     "note": "cohorts without an effect size in this family (SWiM, one vote per cohort)"})
    return rows


def _published(ev: Evidence) -> tuple[list[dict], list[dict]]:
    pub = published_estimates(ev)
    shown, left = [], []
    for r in pub.to_dict("records") if not pub.empty else []:
        mech = published_mechanism(r.get("outcome"))
        src, why = _published_source(r.get("subgroup"))
        if mech is None:
            why = f"outcome {r.get('outcome')!r} matches no mechanism"
        if mech is None or src is None:
            left.append({"estimate_id": r["estimate_id"], "review_id": r["review_id"], "subgroup": r.get("subgroup"),
                         "outcome": r.get("outcome"), "reason": why})
            continue
        k = r.get("k_studies")
        k = int(k) if pd.notna(k) else np.nan
        measure = r.get("measure") if isinstance(r.get("measure"), str) else ""
        tp = r.get("timepoint") if isinstance(r.get("timepoint"), str) else ""
        lab = f"{study_label(r['review_id'])}: {r['outcome']}"
        if tp and len(tp) <= 30:
            lab += f", {tp}"
        if src != "all":
            lab = lab.replace(" (stratified)", "") + " (by cell source)"
        shown.append({"population": r["population"], "product_class": _published_class(r.get("cell_types")),
                      "mechanism": mech, "family": "", "msc_source": src, "kind": "published", "label": lab,
                      "study_id": r["review_id"], "outcome": r.get("outcome"), "timepoint": tp, "measure": measure,
                      "estimate": r["estimate"], "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high"),
                      "n": r.get("n_participants"), "k": k, "i2": r.get("i2"), "estimate_id": r["estimate_id"],
                      "cell_types": r.get("cell_types"), "subgroup": r.get("subgroup"),
                      "note": "published" + ("" if measure else "; effect measure not stated on the page read")})
    return shown, left


def _order(df: pd.DataFrame) -> pd.DataFrame:
    pops = {p: i for i, p in enumerate(schema.POPULATIONS)}
    cls = {c: i for i, c in enumerate(CLASS_ORDER)}
    mech = {m: i for i, m in enumerate(MECH_ORDER)}
    src = {s: i for i, s in enumerate([*SOURCE_ORDER, "all"])}
    kind = {k: i for i, k in enumerate(KINDS)}
    key = pd.DataFrame({
        "a": df["mechanism"].map(mech).fillna(99), "b": df["population"].map(pops).fillna(99),
        "c": df["product_class"].map(cls).fillna(99), "d": df["family"].fillna(""),
        "e": df["msc_source"].map(src).fillna(98), "f": df["kind"].map(kind),
        "g": (~df["primary"].fillna(False).astype(bool)).astype(int), "h": df["label"].fillna("")})
    return df.loc[key.sort_values(list("abcefdgh"), kind="stable").index].reset_index(drop=True)


@cites
def effect_overview(ev: Evidence) -> pd.DataFrame:
    """The long table of effect sizes by mechanism, population, product class and MSC source.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`, one row per item, ``kind`` in :data:`KINDS`; sorted by mechanism (registry
        order), population, product class, family, source (registry order, ``all`` last) and kind.
        ``estimate``/``ci_low``/``ci_high`` are Hedges' g with its 95% Wald CI for studies, the REML +
        Hartung-Knapp estimate and CI for pools, and as printed for published estimates (``measure``).
    """
    nums: dict = {}
    fam = _family_columns(ev)
    labels = study_labels(ev.studies)
    pub, _ = _published(ev)
    rows = (_study_rows(ev, fam, labels) + _event_rows(ev, labels) + _pooled_rows(ev, fam) + _other_reading_rows(ev)
            + _direction_rows(ev) + pub)
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = pd.NA
    df = _order(df[COLUMNS])
    for c in ("estimate", "ci_low", "ci_high", "i2"):
        df[c] = pd.to_numeric(df[c], errors="coerce").round(6)
    for c in ("k", "cohorts", "favours_msc", "favours_control", "no_clear_direction"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    for k in KINDS:
        nums[result_key("overview", "rows", k)] = int((df["kind"] == k).sum())
    nums["overview.studies_with_effect"] = int(df.loc[df["kind"] == "study", "study_id"].nunique())
    return df, nums


def published_left_out(ev: Evidence) -> pd.DataFrame:
    """Published estimates not in the overview, each with the reason (stratum not by source, or an
    outcome no mechanism matches)."""
    return pd.DataFrame(_published(ev)[1], columns=["estimate_id", "review_id", "subgroup", "outcome", "reason"])


def overview_rows(ev: Evidence) -> pd.DataFrame:
    """The rows the overview figure draws: primary study effects (one per study per family, the ones
    pooled), pools, direction counts and published estimates; each with ``band`` (mechanism display
    name), ``subband`` (population display name), ``group`` (product class), ``source`` and ``draw`` (``square``, ``diamond``,
    ``open_diamond``, ``text``)."""
    t = effect_overview(ev)
    t = t[(t["kind"] != "study") | t["primary"].fillna(False).astype(bool)].copy()
    # a published estimate whose effect measure the page does not state is not a comparator (table only)
    t = t[~((t["kind"] == "published") & (t["measure"].fillna("") == ""))]
    t["band"] = t["mechanism"].map(mechanism_name)
    t["subband"] = t["population"].map(lambda p: schema.POPULATIONS.get(p, spaced(p)))
    t["group"] = t["product_class"].map(lambda c: CLASS_NAMES.get(c, spaced(c)))
    t["source"] = t["msc_source"].map(source_name)
    smd = t["measure"].fillna("").isin(["SMD", ""])
    t["draw"] = np.select([(t["kind"] == "study") & smd, (t["kind"] == "pooled"),
                           (t["kind"] == "published") & smd, t["kind"] == "directions"],
                          ["square", "diamond", "open_diamond", "text"], "value_text")
    return t.reset_index(drop=True)


def overview_figure(ev: Evidence) -> list[FigureSpec]:
    """The overview figure (one spec; none when there is nothing to show)."""
    rows = overview_rows(ev)
    if rows.empty:
        return []
    cap = ("Effect sizes by mechanism, population and MSC source. Filled squares: each study's Hedges' g "
           "(the effect the protocol rule picks per study and family) with its 95% CI, sized by the number "
           "of participants or animals; filled diamonds: random-effects estimates (REML + Hartung-Knapp) where "
           "k >= 2; open diamonds: pooled estimates published by other meta-analyses (SMD; some pool other "
           "cell products, as labelled); text: cohorts without an effect size, counted by their direction "
           "(SWiM, one vote per cohort). Risk ratios of adverse events (MSC vs control; not estimable where "
           "neither arm had an event) and published estimates on another scale (RR, MD) are printed, not plotted. "
           "Published estimates whose effect measure is not stated on the page read (Paton 2025) are in the table only. "
           "The GMFM pool is shown with the doubtful dispersions as labelled and read as SEMs (protocol 9.3). "
           "Intervals beyond the axis end in an arrow. Positive SMDs favour MSC.")
    return [FigureSpec("effect_overview", cap, "effect_overview", {"rows": rows},
                       data=rows[["kind", "label", "estimate", "ci_low", "ci_high"]])]


def numbers(ev: Evidence) -> dict:
    """The numbers the overview cites (computed, not saved)."""
    return effect_overview.numbers(ev)
