"""Double extraction: draw the sample, measure agreement per field, list disagreements.

Protocol section 4: a second extractor, blind to the first, re-extracts at least 20% of the
rows with numbers (random, seed recorded) plus every row of the controlled clinical trials
(design ``rct`` or ``nrsi_controlled``). Agreement per field goes to
``review/extraction_agreement.csv``.

References
----------
Cohen J (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas 20:37-46.
Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and weighted kappa.
Psychol Bull 72:323-327. (the standard error, as ``statsmodels.stats.inter_rater.cohens_kappa``)
Buscemi N et al. (2006). Single data extraction generated more errors than double data
extraction in systematic reviews. J Clin Epidemiol 59:697-703.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from . import schema

__all__ = ["DEFAULT_SEED", "draw_sample", "draw_nonnumeric_sample", "frozen_sample", "agreement", "cohen_kappa", "kappa_ci", "KappaCI", "disagreements", "write_agreement"]

DEFAULT_SEED = 20261126
CONTROLLED_DESIGNS = ("rct", "nrsi_controlled")
AGREEMENT_FILE = "review/extraction_agreement.csv"

#: fields compared by default: everything the second extractor re-extracts from the page
DEFAULT_FIELDS = [c.name for c in schema.EXTRACTED
                  if c.name not in ("row_id", "study_id", "source_url", "extractor", "notes", "source_locator",
                                    "secondary_source", "control_group_id", "arm1_label", "arm2_label",
                                    "outcome_detail", "p_text")]


def draw_sample(extracted: pd.DataFrame, studies: pd.DataFrame, seed: int = DEFAULT_SEED,
                fraction: float = 0.2) -> pd.DataFrame:
    """Rows for the second, blind extraction.

    ``ceil(fraction * n)`` of the ``n`` rows with ``data_availability = numeric`` are drawn at
    random (``numpy.random.default_rng(seed)``, without replacement, from the rows sorted by
    ``row_id`` so the draw does not depend on file order); every row of a study whose design
    is ``rct`` or ``nrsi_controlled`` is added.

    Returns
    -------
    DataFrame
        The sampled rows of ``extracted`` (sorted by row_id) with ``sample_reason``
        (``random``, ``controlled_trial`` or ``random+controlled_trial``) and ``seed``.
    """
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    ex = extracted.sort_values("row_id", kind="stable").reset_index(drop=True)
    numeric = ex.index[(ex["data_availability"] == "numeric").fillna(False).to_numpy(bool)]
    k = math.ceil(fraction * len(numeric))
    rng = np.random.default_rng(seed)
    random_rows = set(rng.choice(numeric.to_numpy(), size=k, replace=False).tolist()) if k else set()
    controlled = set(studies.loc[studies["design"].isin(CONTROLLED_DESIGNS), "study_id"])
    trial_rows = set(ex.index[ex["study_id"].isin(controlled).to_numpy(bool)])
    chosen = sorted(random_rows | trial_rows)
    out = ex.loc[chosen].copy()
    out["sample_reason"] = ["+".join(r for r, s in (("random", random_rows), ("controlled_trial", trial_rows))
                                     if i in s) for i in chosen]
    out["seed"] = seed
    return out.reset_index(drop=True)


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two raters' labels (missing values are a category of their own).

    ``kappa = (p_o - p_e) / (1 - p_e)``; NaN when ``p_e = 1`` (both raters used one category).
    """
    a = pd.Series(a, dtype="object").where(pd.notna(a), "(empty)").astype(str).to_numpy()
    b = pd.Series(b, dtype="object").where(pd.notna(b), "(empty)").astype(str).to_numpy()
    if len(a) != len(b):
        raise ValueError("the two ratings differ in length")
    if len(a) == 0:
        return float("nan")
    po = float(np.mean(a == b))
    cats = sorted(set(a) | set(b))
    pe = float(sum(np.mean(a == c) * np.mean(b == c) for c in cats))
    return float("nan") if math.isclose(pe, 1.0) else (po - pe) / (1 - pe)


@dataclass(frozen=True)
class KappaCI:
    """Cohen's kappa with its large-sample standard error and confidence interval."""

    kappa: float
    se: float
    ci_low: float
    ci_high: float
    confidence_level: float = 0.95


def kappa_ci(a, b, confidence_level: float = 0.95) -> KappaCI:
    """Cohen's kappa of two raters' labels with its SE and Wald CI, by statsmodels.

    The two rating vectors are cross-tabulated over the union of their categories (missing values
    are a category of their own, as in :func:`cohen_kappa`) and passed to
    ``statsmodels.stats.inter_rater.cohens_kappa``; ``se`` is its ``std_kappa``, the asymptotic SE
    without the null hypothesis (Fleiss, Cohen & Everitt 1969), and the CI is
    ``kappa +- z_{(1+level)/2} * se``, clipped to [-1, 1]. All NaN when kappa is undefined (both
    raters used a single category) or there is nothing to compare.
    """
    from scipy import stats
    from statsmodels.stats.inter_rater import cohens_kappa

    a = pd.Series(a, dtype="object").where(pd.notna(a), "(empty)").astype(str).to_numpy()
    b = pd.Series(b, dtype="object").where(pd.notna(b), "(empty)").astype(str).to_numpy()
    if len(a) != len(b):
        raise ValueError("the two ratings differ in length")
    nan = KappaCI(math.nan, math.nan, math.nan, math.nan, confidence_level)
    if len(a) == 0:
        return nan
    cats = sorted(set(a) | set(b))
    idx = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    for x, y in zip(a, b):
        table[idx[x], idx[y]] += 1
    pe = float((table.sum(axis=1) @ table.sum(axis=0)) / table.sum() ** 2)
    if math.isclose(pe, 1.0):
        return nan
    with np.errstate(invalid="ignore"):     # statsmodels takes the root of var_kappa itself
        res = cohens_kappa(table, return_results=True)
    # var_kappa is -1e-17 rather than 0 for perfect agreement (rounding): clip before the root
    k, se = float(res.kappa), math.sqrt(max(float(res.var_kappa), 0.0))
    z = float(stats.norm.isf((1 - confidence_level) / 2))
    return KappaCI(k, se, max(-1.0, k - z * se), min(1.0, k + z * se), confidence_level)


def _equal(x, y, type_: str) -> bool:
    xm, ym = pd.isna(x), pd.isna(y)
    if xm or ym:
        return bool(xm and ym)
    if type_ in ("number", "integer"):
        return math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12)
    return str(x).strip() == str(y).strip()


def _pairs(first: pd.DataFrame, second: pd.DataFrame, key: str):
    if first[key].duplicated().any() or second[key].duplicated().any():
        raise ValueError(f"{key} must be unique in both extractions")
    return first.merge(second, on=key, how="inner", suffixes=("_1", "_2"))


def agreement(first: pd.DataFrame, second: pd.DataFrame, fields=None, key: str = "row_id") -> pd.DataFrame:
    """Agreement between two extractions, per field.

    Rows are matched by ``key``; rows present in only one extraction are not compared (their
    count is in ``n_unmatched``). Two empty values agree; numbers agree when equal to 1e-9
    relative tolerance; text after stripping whitespace.

    Returns
    -------
    DataFrame
        ``field, type, n_compared, n_agree, percent, kappa, kappa_se, kappa_ci_low, kappa_ci_high,
        n_unmatched``; ``kappa`` (Cohen) with its SE and 95% CI (:func:`kappa_ci`) only for
        categorical fields (a vocabulary or boolean), NaN otherwise.
    """
    fields = list(DEFAULT_FIELDS if fields is None else fields)
    cols = {c.name: c for c in schema.EXTRACTED}
    both = _pairs(first, second, key)
    n_unmatched = int(len(set(first[key]) ^ set(second[key])))
    rows = []
    for f in fields:
        if f not in first.columns or f not in second.columns:
            raise ValueError(f"field {f!r} missing from one extraction")
        c = cols.get(f)
        type_ = c.type if c else "string"
        categorical = c is not None and (c.vocabulary is not None or c.type == "boolean")
        a, b = both[f + "_1"], both[f + "_2"]
        agree = [_equal(x, y, type_) for x, y in zip(a, b)]
        n = len(agree)
        kc = kappa_ci(a, b) if categorical else KappaCI(np.nan, np.nan, np.nan, np.nan)
        rows.append({"field": f, "type": "categorical" if categorical else type_, "n_compared": n,
                     "n_agree": int(sum(agree)), "percent": 100.0 * sum(agree) / n if n else np.nan,
                     "kappa": kc.kappa, "kappa_se": kc.se, "kappa_ci_low": kc.ci_low,
                     "kappa_ci_high": kc.ci_high, "n_unmatched": n_unmatched})
    return pd.DataFrame(rows, columns=["field", "type", "n_compared", "n_agree", "percent", "kappa", "kappa_se",
                                       "kappa_ci_low", "kappa_ci_high", "n_unmatched"])


def disagreements(first: pd.DataFrame, second: pd.DataFrame, fields=None, key: str = "row_id") -> pd.DataFrame:
    """Every (row, field) where the two extractions differ: ``row_id, field, first, second``."""
    fields = list(DEFAULT_FIELDS if fields is None else fields)
    cols = {c.name: c for c in schema.EXTRACTED}
    both = _pairs(first, second, key)
    rows = []
    for _, r in both.iterrows():
        for f in fields:
            type_ = cols[f].type if f in cols else "string"
            if not _equal(r[f + "_1"], r[f + "_2"], type_):
                rows.append({key: r[key], "field": f, "first": r[f + "_1"], "second": r[f + "_2"]})
    return pd.DataFrame(rows, columns=[key, "field", "first", "second"])


def write_agreement(table: pd.DataFrame, seed: int, fraction: float, root: Path | str | None = None) -> Path:
    """Write the per-field agreement to ``review/extraction_agreement.csv`` with the seed and fraction."""
    root = Path(root) if root is not None else paths.ROOT
    out = table.copy()
    out.insert(0, "seed", seed)
    out.insert(1, "fraction", fraction)
    path = root / AGREEMENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, lineterminator="\n", float_format="%.4f")
    return path


SAMPLE_FILE = "review/double_extraction_sample.csv"
NONNUMERIC_SAMPLE_FILE = "review/double_extraction_sample_nonnumeric.csv"


def draw_nonnumeric_sample(extracted: pd.DataFrame, seed: int = DEFAULT_SEED + 1,
                           fraction: float = 0.1) -> pd.DataFrame:
    """A random ``fraction`` of the rows without numbers (direction_only, figure_only).

    Beyond the protocol's minimum: the preclinical synthesis rests on direction and significance
    coded from abstracts, so their coding is double-checked too. Drawn as :func:`draw_sample`
    (rows sorted by row_id, ``numpy.random.default_rng(seed)``, without replacement).
    """
    ex = extracted.sort_values("row_id", kind="stable").reset_index(drop=True)
    cand = ex.index[ex["data_availability"].isin(["direction_only", "figure_only"]).fillna(False).to_numpy(bool)]
    k = math.ceil(fraction * len(cand))
    pick = sorted(np.random.default_rng(seed).choice(cand.to_numpy(), size=k, replace=False).tolist()) if k else []
    out = ex.loc[pick, ["row_id", "study_id"]].copy()
    out["sample_reason"] = "random_non_numeric"
    out["seed"] = seed
    return out.reset_index(drop=True)


def frozen_sample(root: Path | str | None = None) -> pd.DataFrame:
    """The committed sample files (the draw is frozen once the second extraction starts).

    The samples were drawn from the merged table of commit 3151cd1 (403 rows); rows added later
    are outside the sampling frame, so ``compare`` reads these files instead of drawing again.
    """
    root = Path(root) if root is not None else paths.ROOT
    parts = [pd.read_csv(root / f, dtype=str) for f in (SAMPLE_FILE, NONNUMERIC_SAMPLE_FILE) if (root / f).exists()]
    if not parts:
        raise FileNotFoundError(f"no sample file: run 'python -m mscreview.data.agreement sample' first ({SAMPLE_FILE})")
    return pd.concat(parts, ignore_index=True).drop_duplicates("row_id")
DISAGREEMENT_FILE = "review/extraction_disagreements.csv"


def main(argv: list[str] | None = None) -> int:
    """``python -m mscreview.data.agreement sample|compare``.

    ``sample [--seed S] [--fraction F]`` writes ``review/double_extraction_sample.csv`` (row_id,
    study_id, sample_reason, seed) for the second extractor. ``compare SECOND.csv [--seed S]
    [--fraction F]`` compares the second extraction (same columns as data/extracted.csv) with
    ``data/extracted.csv`` and writes ``review/extraction_agreement.csv`` and
    ``review/extraction_disagreements.csv``.
    """
    import argparse

    from . import tables

    parser = argparse.ArgumentParser(prog="mscreview.data.agreement")
    parser.add_argument("command", choices=["sample", "compare"])
    parser.add_argument("second", nargs="?", help="the second extraction (compare)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--root", default=None)
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else paths.ROOT
    ex, st = tables.load("extracted", root), tables.load("studies", root)
    if args.command == "sample":
        s = draw_sample(ex, st, seed=args.seed, fraction=args.fraction)
        p = root / SAMPLE_FILE
        s[["row_id", "study_id", "sample_reason", "seed"]].to_csv(p, index=False, lineterminator="\n")
        print(f"{len(s)} rows ({(s.sample_reason != 'controlled_trial').sum()} random, seed {args.seed}) -> {p}")
        n = draw_nonnumeric_sample(ex, seed=args.seed + 1)
        n.to_csv(root / NONNUMERIC_SAMPLE_FILE, index=False, lineterminator="\n")
        print(f"{len(n)} rows without numbers (seed {args.seed + 1}) -> {root / NONNUMERIC_SAMPLE_FILE}")
        return 0
    if not args.second:
        parser.error("compare needs the second extraction's CSV")
    second = tables.read_table(args.second, "extracted")
    sample = frozen_sample(root)
    missing = sorted(set(sample["row_id"]) - set(ex["row_id"]))
    if missing:
        print(f"sampled rows no longer in data/extracted.csv (superseded): {', '.join(missing)}")
    first = ex[ex["row_id"].isin(sample["row_id"])]
    table = agreement(first, second)
    p = write_agreement(table, args.seed, args.fraction, root)
    disagreements(first, second).to_csv(root / DISAGREEMENT_FILE, index=False, lineterminator="\n")
    print(table.to_string(index=False))
    print(f"-> {p} and {root / DISAGREEMENT_FILE}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
