"""The evidence every notebook section starts from, and the conventions the sections share.

- :func:`load` reads the review's tables (cached per data root) and derives the effect, direction and
  exclusion tables (:mod:`mscreview.review.rules`) into one frozen :class:`Evidence`.
- The derived sets several sections use: the primary effects, the pooled families, the GMFM effects and
  every set of effects that was pooled (:func:`families_for_robustness`).
- :func:`cites`: a section function computes a value *and* the numbers the text cites from it; calling it
  returns the value, ``f.numbers(...)`` returns the numbers. Nothing here records or writes: each section
  module gathers its numbers in ``numbers(ev)`` and the notebook saves them once
  (:func:`mscreview.output.numbers.save`).
- :class:`FigureSpec`: what a figure is drawn from (a plotting function's name and its arguments) and
  exported as; the notebook draws and exports it (:func:`mscreview.output.plotting.export_all`).

References
----------
Higgins JPT et al. (eds). Cochrane Handbook for Systematic Reviews of Interventions, version 6.4 (2023),
chapters 10, 12, 13 and 14.
"""
from __future__ import annotations

import copy
import functools
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..data import schema, tables
from ..data.labels import study_labels
from . import rules
from .rules import timepoint_days


#: Minimum number of studies for funnel plots, Egger's test and trim-and-fill
#: (Cochrane Handbook 13.3.5.4; protocol 6.7).
MIN_K_SMALL_STUDY = 10

#: Minimum studies per moderator for a meta-regression (protocol 6.6; Cochrane Handbook 10.11.5.1).
MIN_K_METAREG = 10

#: Minimum studies for leave-one-out, influence and GOSH to be informative.
MIN_K_LEAVE1OUT = 3

#: Fewest studies for a prediction interval (protocol 6.3).
MIN_K_PREDICTION = 3

#: Optimal information size used by GRADE imprecision for continuous outcomes (total participants).
OIS_CONTINUOUS = 400

MECH_ORDER = list(schema.MECHANISMS)
SOURCE_ORDER = [s for s in schema.MSC_SOURCES if s != "not_applicable"]
PRIMARY = {"method": "REML", "test": "knha"}

#: Columns of an outcome family (population, product class, mechanism, instrument family; protocol 9.1),
#: from the one place they are defined, :data:`mscreview.review.rules.DEFAULT_FAMILY`.
FAMILY = list(rules.DEFAULT_FAMILY)

#: Fields of a pooled result the text may cite (:func:`fit_numbers`).
FIT_FIELDS = ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "pvalue", "tau2", "i2", "q",
              "q_pvalue", "k", "method", "test")


def cites(compute):
    """Decorate a function that returns ``(value, numbers)``: calling it returns the value,
    ``f.numbers(...)`` the numbers (``{dotted key: value}``) the text cites from it.

    Neither records nor writes. The last few results are kept (keyed by the identity of the
    arguments, which the function must not change), so that a section's :func:`numbers` and the
    notebook's table call compute once; callers receive copies.
    """
    memo: dict = {}

    def both(*args, **kwargs):
        k = (tuple(id(a) for a in args), tuple(sorted((n, id(v)) for n, v in kwargs.items())))
        hit = memo.get(k)
        if hit is None:   # the stored arguments stay alive, so their ids cannot be reused
            if len(memo) >= 32:
                memo.clear()
            hit = memo[k] = (args, kwargs, compute(*args, **kwargs))
        return copy.deepcopy(hit[2])

    @functools.wraps(compute)
    def value(*args, **kwargs):
        return both(*args, **kwargs)[0]

    value.numbers = lambda *args, **kwargs: both(*args, **kwargs)[1]
    return value


def prefixed(prefix: str, values: dict) -> dict:
    """``{prefix.name: value}`` for each ``values[name]``."""
    return {f"{prefix}.{k}": v for k, v in values.items()}


def fit_numbers(prefix: str, fit, fields=FIT_FIELDS) -> dict:
    """The cited fields of a pooled result (``RMAResult`` or mapping) under ``prefix``; the prediction
    interval is always present (null when not estimable)."""
    get = (lambda f: fit.get(f)) if isinstance(fit, dict) else (lambda f: getattr(fit, f, None))
    out = {f: get(f) for f in fields if get(f) is not None or f in ("pi_low", "pi_high")}
    if get("k") is not None and get("k") < MIN_K_PREDICTION:     # protocol 6.3: no prediction interval at k < 3
        out.update(pi_low=None, pi_high=None)
    return prefixed(prefix, out)


@dataclass(frozen=True)
class FigureSpec:
    """A figure to draw and export: ``plot`` names a function of :mod:`mscreview.output.plotting`,
    called with ``kwargs``; ``name``, ``caption`` and ``data`` go to the export."""

    name: str
    caption: str
    plot: str
    kwargs: dict = field(default_factory=dict)
    data: object = None


def spaced(s) -> str:
    """Display form of a slug: ``"bone_marrow"`` -> ``"bone marrow"``."""
    return str(s).replace("_", " ")


def slug(text: str) -> str:
    """File-name form of a family name: ``"clinical / msc / function"`` -> ``clinical_msc_function``."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def family_parts(values) -> list:
    """The non-empty parts of a family key (the instrument family is '' outside clinical function)."""
    return [v for v in values if isinstance(v, str) and v != "" or not isinstance(v, str) and pd.notna(v)]


def family_name(values) -> str:
    """Display name of a family: ``"clinical / msc / function / GMFM"``."""
    return " / ".join(str(v) for v in family_parts(values))


def result_key(*parts) -> str:
    """Dotted key of a cited number from its parts (spaces, slashes and punctuation made safe)."""
    return ".".join(str(p).replace(" ", "_").replace("/", "_").replace("(", "").replace(")", "")
                    .replace(",", "").replace("'", "") for p in parts)


@dataclass(frozen=True)
class Evidence:
    """Every table of the review and the derived effect and direction tables."""
    root: Path
    studies: pd.DataFrame
    extracted: pd.DataFrame
    risk_of_bias: pd.DataFrame
    screening: pd.DataFrame
    search_log: pd.DataFrame
    claims: pd.DataFrame
    effects: pd.DataFrame       # rules.effect_table (SMD), yi > 0 favours MSC
    excluded: pd.DataFrame      # rows without an SMD, with the reason
    directions: pd.DataFrame    # rules.direction_table: one direction per between-group row
    study_dirs: pd.DataFrame    # rules.study_directions: one per cohort x family

    def _repr_markdown_(self) -> str:
        return (f"Evidence from `{self.root}`: {len(self.studies)} studies, {len(self.extracted)} extracted rows, "
                f"{len(self.effects)} effect sizes, {len(self.excluded)} rows without an effect size.")


def _load(name: str, root: Path) -> pd.DataFrame:
    table = schema.TABLE_NAMES[name]
    if not (root / table).exists():
        return pd.DataFrame({c: pd.Series(dtype="object") for c in schema.columns(table)})
    return tables.load(name, root)


@lru_cache(maxsize=4)
def _evidence(root: str) -> Evidence:
    r = Path(root)
    t = {n: _load(n, r) for n in schema.TABLE_NAMES}
    effects, excluded = rules.effect_table(t["extracted"], t["studies"], "SMD")
    directions = rules.direction_table(t["extracted"], t["studies"])
    study_dirs = rules.study_directions(directions)
    return Evidence(r, t["studies"], t["extracted"], t["risk_of_bias"], t["screening"], t["search_log"],
                    t["claims"], effects, excluded, directions, study_dirs)


def data_root(root=None) -> Path:
    """The repository root whose tables are analysed: ``root``, else ``MSCREVIEW_ROOT``
    (set by the build for its kernels), else this checkout."""
    if root is not None:
        return Path(root)
    env = os.environ.get("MSCREVIEW_ROOT")
    return Path(env) if env else paths.ROOT


def load(root=None) -> Evidence:
    """Load the review's tables and derive effect sizes and directions (cached)."""
    return _evidence(str(data_root(root)))


def primary_effects(ev: Evidence) -> pd.DataFrame:
    """One SMD per study per (population, product class, mechanism) by the protocol rule."""
    if ev.effects.empty:
        return ev.effects.copy()
    return rules.primary_effects(ev.effects)


@cites
def pooled_by_mechanism(ev: Evidence, method: str = "REML", test: str = "knha") -> pd.DataFrame:
    """Random-effects pooled SMD per family where >= 2 comparable studies (cites numbers)."""
    nums: dict = {}
    prim = primary_effects(ev)
    if prim.empty:
        return pd.DataFrame(), nums
    pb = rules.pooled_by(prim, method=method, test=test)
    if method == PRIMARY["method"] and test == PRIMARY["test"]:
        for _, r in pb.iterrows():
            base = result_key("pooled", *family_parts([r[c] for c in FAMILY]))
            nums[f"{base}.k"] = int(r["k"])
            nums[f"{base}.pooled"] = bool(r["pooled"])
            if r["pooled"]:
                nums.update(fit_numbers(base, r.to_dict()))
        nums["pooled.n_families"] = int(len(pb))
        nums["pooled.n_pooled"] = int(pb["pooled"].sum())
    return pb, nums


def pooled_families(ev: Evidence) -> list[tuple[str, str, str, str]]:
    """(population, product class, mechanism, instrument family) of every family with a pooled estimate."""
    pb = pooled_by_mechanism(ev)
    if pb.empty:
        return []
    pb = pb[pb["pooled"]]
    return [tuple(x) for x in pb[FAMILY].itertuples(index=False)]


def months_of(r) -> float:
    """Timepoint of an extracted row in months (one decimal; NaN when not reported)."""

    d = timepoint_days(r["timepoint"], r["timepoint_unit"])
    return round(d / (365.25 / 12), 1) if np.isfinite(d) else np.nan


def gmfm_effects(ev: Evidence, effects: pd.DataFrame | None = None) -> pd.DataFrame:
    """Controlled clinical effects of the GMFM instrument family (SMD, > 0 favours MSC; protocol 9.1)
    with the timepoint in months; ``effects`` defaults to the primary effect table."""
    e = ev.effects if effects is None else effects
    if e.empty or "instrument_family" not in e.columns:
        return e.iloc[0:0].assign(months=pd.Series(dtype=float), label=pd.Series(dtype=str))
    g = e[(e["population"] == "clinical") & (e["product_class"] == "msc")
          & (e["instrument_family"] == "GMFM")].copy()
    g["months"] = [months_of(r) for r in g.to_dict("records")]
    names = study_labels(ev.studies)
    g["label"] = [f"{names.get(r.study_id, r.study_id)} ({'GMFM, version not stated' if r.instrument == 'GMFM-unstated' else r.instrument})"
                  for r in g.itertuples()]
    return g.sort_values(["months", "study_id"]).reset_index(drop=True)


def families_for_robustness(ev: Evidence) -> dict[str, pd.DataFrame]:
    """Every set of independent effects that was pooled: the mechanism families with >= 2
    studies and the GMFM timepoints with >= 2 trials."""
    out = {}
    prim = primary_effects(ev)
    for fam in pooled_families(ev):
        g = prim[(prim[FAMILY] == pd.Series(fam, index=FAMILY)).all(axis=1)]
        out[family_name(fam)] = g.reset_index(drop=True)
    gm = gmfm_effects(ev)
    seen = [set(g["row_id"]) for g in out.values()]
    for m, sg in gm.groupby("months", sort=True):
        if len(sg) >= 2 and set(sg["row_id"]) not in seen:   # the GMFM family is often one of the timepoints
            out[f"clinical GMFM at {m:g} months"] = sg.reset_index(drop=True)
    return out
