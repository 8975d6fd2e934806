"""Plausibility checks of extracted rows: things that are valid but probably wrong.

The validator (:mod:`mscreview.data.validate`) rejects what breaks the rules; these checks flag rows
a reviewer should look at again against the source page. Each flag is one row of a DataFrame
``row_id, study_id, check, detail``. Checks:

``sd_sem_confusion``
    A dispersion read as SD that gives ``|g| > G_MAX[population]`` (5 preclinical, 2 clinical:
    an implausibly large standardised effect, the usual sign of an SEM reported as "SD"), or an
    SD smaller than ``CV_MIN`` times
    the mean (same suspicion), or a dispersion whose type is not stated (g shown both ways).
``n_exceeds_total``
    Arm sizes larger than the study's ``n_total`` (``n1i + n2i`` for a between-group row with
    its own control, ``n1i`` otherwise).
``n_missing``
    A numeric row without arm sizes (effect not computable).
``change_without_baseline``
    A change score with no baseline mean (``m1i_pre``/``m2i_pre``) recorded.
``cohort_counted_twice``
    Two included studies with the same ``cohort_id`` both giving rows to the same analysis
    (population x product class x mechanism; MSC-vs-MSC rows enter no analysis).
``secondary_duplicates_primary``
    A secondary-source row for the same study, outcome (and outcome detail) and timepoint as a
    primary row.
``direction_contradicts_numbers``
    A stated ``direction`` (favours MSC / control) opposite to the direction of the row's own
    numbers (group means, a reported effect against its null, or event proportions, each read
    with ``higher_is_better``).

Every finding is either resolved in the data or recorded with the reviewer's decision in
``review/plausibility.csv`` (``check, row_id, decision, reason, date``; protocol 9.3). The
checks run in ``python -m mscreview validate`` and in every build (:func:`main`,
:func:`findings`); each prints as ``data/extracted.csv:LINE: row_id R: <check>: <values>:
<what looks wrong>``, followed by ``accepted (reason)`` when a decision exists.

References
----------
Vesterinen HM et al. (2014). Meta-analysis of data from animal studies: a practical guide.
J Neurosci Methods 221:92-102 (SEM/SD confusion in animal studies).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import rules
from .. import paths
from ..data import tables as tbl
from ..data.validate import Violation
from ..engine import convert
from ..engine.effectsize import escalc

__all__ = ["plausibility_checks", "findings", "read_decisions", "format_finding", "findings_table", "summary_table",
           "numbers",
           "main", "G_MAX", "CV_MIN", "CHECKS", "DECISIONS", "DECISIONS_FILE", "DECISION_COLUMNS"]

#: |g| above which an SD reading is suspicious, by population: animal experiments often give
#: large standardised effects (small, homogeneous groups), clinical trials of function rarely
#: exceed 1, so 2 is already extraordinary there.
G_MAX = {"preclinical": 5.0, "clinical": 2.0}
CV_MIN = 0.01

CHECKS = ("sd_sem_confusion", "n_exceeds_total", "n_missing", "change_without_baseline",
          "cohort_counted_twice", "secondary_duplicates_primary", "direction_contradicts_numbers")

EXTRACTED_FILE = "data/extracted.csv"
DECISIONS_FILE = "review/plausibility.csv"
DECISION_COLUMNS = ["check", "row_id", "decision", "reason", "date"]
#: The reviewer's decision on a finding that stays in the data (a finding fixed in the data disappears).
DECISIONS = {"accepted": "Checked against the source; the row stays as extracted, for the reason given"}

#: Effect types whose sign gives a direction (against 0, or 1 for ratios).
_SIGNED = {"MD": 0.0, "SMD": 0.0, "beta": 0.0, "t": 0.0, "RR": 1.0, "OR": 1.0, "HR": 1.0}


def _g(m1, s1, n1, m2, s2, n2) -> float:
    r = escalc("SMD", m1i=[m1], sd1i=[s1], n1i=[n1], m2i=[m2], sd2i=[s2], n2i=[n2])
    return float(r["yi"].iloc[0])


def _missing(v) -> bool:
    return v is None or (np.ndim(v) == 0 and bool(pd.isna(v)))


def _f(x) -> float:
    return np.nan if x is None or pd.isna(x) else float(x)


def _numeric_sign(r: dict) -> float:
    """+1 if the row's own numbers favour arm 1 (MSC), -1 if arm 2, 0/NaN if they give no direction."""
    hib = r.get("higher_is_better")
    if hib is None or pd.isna(hib):
        return np.nan
    k = 1.0 if bool(hib) else -1.0
    m1, m2 = _f(r.get("m1i")), _f(r.get("m2i"))
    if not (np.isnan(m1) or np.isnan(m2)):
        return k * np.sign(m1 - m2)
    e, et = _f(r.get("effect")), r.get("effect_type")
    if et in _SIGNED and not np.isnan(e):
        return k * np.sign(e - _SIGNED[et])
    x1, n1, x2, n2 = (_f(r.get(c)) for c in ("x1i", "n1i", "x2i", "n2i"))
    if r.get("comparison_type") != "events_single_arm" and not any(np.isnan([x1, n1, x2, n2])) and n1 > 0 and n2 > 0:
        return k * np.sign(x1 / n1 - x2 / n2)
    return np.nan


def _numbers_text(r: dict) -> str:
    parts = [f"{c} = {_f(r.get(c)):g}" for c in ("m1i", "m2i", "effect", "x1i", "n1i", "x2i", "n2i")
             if not np.isnan(_f(r.get(c)))]
    if r.get("effect_type") and not np.isnan(_f(r.get("effect"))):
        parts.append(f"effect_type = {r.get('effect_type')}")
    parts.append(f"higher_is_better = {str(bool(r.get('higher_is_better'))).lower()}")
    return ", ".join(parts)


def plausibility_checks(extracted: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Flag suspicious rows of ``extracted`` (see the module docstring for the checks).

    Parameters
    ----------
    extracted, studies : DataFrame
        As loaded by :func:`mscreview.data.tables.load`.

    Returns
    -------
    DataFrame
        ``row_id, study_id, check, values, problem, detail`` (``detail`` = ``values: problem``),
        sorted by row_id then check; empty when nothing is suspicious.
    """
    flags = []

    def flag(r, check, values, problem):
        flags.append({"row_id": r["row_id"], "study_id": r["study_id"], "check": check, "values": values,
                      "problem": problem, "detail": f"{values}: {problem}"})

    st = studies.drop_duplicates("study_id").set_index("study_id")
    for _, r in extracted.iterrows():
        r = {k: (None if _missing(v) else v) for k, v in r.items()}
        n1, n2 = _f(r.get("n1i")), _f(r.get("n2i"))
        m1, m2 = _f(r.get("m1i")), _f(r.get("m2i"))
        s1, s2 = _f(r.get("sd1i")), _f(r.get("sd2i"))
        disp = r.get("dispersion_type") if isinstance(r.get("dispersion_type"), str) else ""
        ctype = r.get("comparison_type")
        two_arms = ctype in ("between_groups", "msc_vs_msc")
        arms = f"m1i = {m1:g}, sd1i = {s1:g}, n1i = {n1:g}; m2i = {m2:g}, sd2i = {s2:g}, n2i = {n2:g}"
        # --- SD / SEM confusion
        if two_arms and not any(np.isnan([n1, n2, m1, m2, s1, s2])) and n1 > 0 and n2 > 0 \
                and s1 > 0 and s2 > 0:
            if disp == "SD":
                g = _g(m1, s1, n1, m2, s2, n2)
                pop = st.loc[r["study_id"], "population"] if r["study_id"] in st.index else None
                g_max = G_MAX.get(pop, max(G_MAX.values())) if isinstance(pop, str) else max(G_MAX.values())
                if abs(g) > g_max:
                    flag(r, "sd_sem_confusion", f"{arms} (SD)",
                         f"|g| = {abs(g):.2f} > {g_max:g} reading the dispersion as SD"
                         f"{' in a clinical trial' if pop == 'clinical' else ''}; is it an SEM?")
            elif disp == "":
                g_sd = _g(m1, s1, n1, m2, s2, n2)
                g_sem = _g(m1, float(convert.sd_from_sem(s1, n1)), n1, m2, float(convert.sd_from_sem(s2, n2)), n2)
                flag(r, "sd_sem_confusion", f"g = {g_sd:.2f} if SD, {g_sem:.2f} if SEM",
                     "dispersion type not stated")
        if disp == "SD":
            for arm, m, sd in (("1", m1, s1), ("2", m2, s2)):
                if not (np.isnan(m) or np.isnan(sd)) and m != 0 and sd < CV_MIN * abs(m):
                    flag(r, "sd_sem_confusion", f"sd{arm}i = {sd:g}, m{arm}i = {m:g}",
                         f"SD is < {CV_MIN:.0%} of the mean; SEM or a typo?")
        # --- n against the study
        sid = r["study_id"]
        n_total = _f(st.loc[sid, "n_total"]) if sid in st.index and "n_total" in st.columns else np.nan
        if not np.isnan(n_total):
            used = n1 + n2 if two_arms and not np.isnan(n2) else n1
            if not np.isnan(used) and used > n_total:
                what = "n1i + n2i" if two_arms and not np.isnan(n2) else "n1i"
                flag(r, "n_exceeds_total", f"{what} = {used:g}, studies.n_total = {n_total:g}",
                     "arm sizes exceed the study's total n")
        if r.get("data_availability") == "numeric" and (np.isnan(n1) or (two_arms and np.isnan(n2))):
            flag(r, "n_missing", f"n1i = {n1:g}, n2i = {n2:g}", "numeric row without arm sizes (effect size "
                                                                "not computable)")
        # --- change score without baseline
        if r.get("score_type") == "change" and r.get("data_availability") == "numeric" \
                and r.get("m1i_pre") is None and r.get("m2i_pre") is None:
            flag(r, "change_without_baseline", "score_type = change, m1i_pre and m2i_pre empty",
                 "change score without baseline means")
        # --- stated direction against the row's own numbers
        stated = r.get("direction")
        if stated in ("favours_msc", "favours_control"):
            sign = _numeric_sign(r)
            if not np.isnan(sign) and sign != 0 and (sign > 0) != (stated == "favours_msc"):
                flag(r, "direction_contradicts_numbers", f"direction = {stated}; {_numbers_text(r)}",
                     f"the row's own numbers favour {'MSC (arm 1)' if sign > 0 else 'the comparator (arm 2)'}")

    # --- the same cohort in two studies of one analysis
    if "cohort_id" in studies.columns:
        s = studies.drop_duplicates("study_id")[["study_id", "cohort_id", "population", "product"]].copy()
        s["product_class"] = s["product"].map(rules.product_class)
        ex = extracted[extracted["comparison_type"] != "msc_vs_msc"].merge(s, on="study_id", how="left")
        for (cohort, pop, pc, mech), g in ex.groupby(["cohort_id", "population", "product_class", "mechanism"],
                                                     dropna=True):
            ids = sorted(set(g["study_id"]))
            if len(ids) > 1:
                for _, r in g.iterrows():
                    others = [i for i in ids if i != r["study_id"]]
                    flag(r, "cohort_counted_twice", f"cohort_id = {cohort}, also {', '.join(others)} ({mech})",
                         "one cohort reported twice in the same analysis; count it once")

    # --- secondary duplicating primary
    ex = extracted.copy()
    ex["_o"] = ex["outcome"].astype("string").str.lower().str.strip()
    ex["_t"] = ex["timepoint"].astype("string").fillna("") + " " + ex["timepoint_unit"].astype("string").fillna("")
    ex["_d"] = ex["outcome_detail"].astype("string").fillna("").str.lower().str.strip()   # a dimension is not the total
    for _, g in ex.groupby(["study_id", "_o", "_d", "_t"], dropna=False):
        prim = g[g["source_kind"] == "primary"]
        sec = g[g["source_kind"] == "secondary"]
        if len(prim) and len(sec):
            for _, r in sec.iterrows():
                flag(r, "secondary_duplicates_primary", f"primary row(s) {', '.join(prim['row_id'])}",
                     "secondary-source row for the same study, outcome and timepoint as a primary row; keep one")
    out = pd.DataFrame(flags, columns=["row_id", "study_id", "check", "values", "problem", "detail"])
    return out.sort_values(["row_id", "check"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------
# decisions, findings and the command line
# ---------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_decisions(root=None, row_ids=None) -> tuple[pd.DataFrame, list]:
    """The reviewer's decisions (``review/plausibility.csv``), validated.

    Returns ``(decisions, violations)``: decisions with their file ``line``; a violation (file,
    line, column, what was expected) for a wrong header, a check not in :data:`CHECKS`, a
    row_id not in ``row_ids``, a decision not in :data:`DECISIONS`, an empty reason, a date
    not ``YYYY-MM-DD`` or a repeated (check, row_id). A missing file means no decisions."""
    root = Path(root) if root is not None else paths.ROOT
    path = root / DECISIONS_FILE
    cols = ["line"] + DECISION_COLUMNS
    if not path.exists():
        return pd.DataFrame(columns=cols), []
    header, raw = tbl.read_raw(path)
    out, bad, seen = [], [], {}
    if header != DECISION_COLUMNS:
        return pd.DataFrame(columns=cols), [Violation(DECISIONS_FILE, 1, "", ",".join(header),
                                                      "the header " + ",".join(DECISION_COLUMNS))]
    known = set(row_ids) if row_ids is not None else None
    for line, fields in raw:
        r = dict(zip(header, fields + [""] * (len(header) - len(fields))))
        if len(fields) != len(header):
            bad.append(Violation(DECISIONS_FILE, line, "", ",".join(fields), f"{len(header)} fields"))
            continue
        checks = [("check", r["check"] in CHECKS, "one of " + ", ".join(CHECKS)),
                  ("row_id", known is None or r["row_id"] in known, f"a row_id of {EXTRACTED_FILE}"),
                  ("decision", r["decision"] in DECISIONS, "one of " + ", ".join(DECISIONS)),
                  ("reason", r["reason"].strip() != "", "the reviewer's reason"),
                  ("date", bool(_DATE.match(r["date"])), "a date YYYY-MM-DD")]
        for col, ok, expected in checks:
            if not ok:
                bad.append(Violation(DECISIONS_FILE, line, col, r[col], expected))
        key = (r["check"], r["row_id"])
        if key in seen:
            bad.append(Violation(DECISIONS_FILE, line, "row_id", r["row_id"], "one decision per (check, row_id)",
                                 f"first at line {seen[key]}"))
        seen.setdefault(key, line)
        out.append({"line": line, **r})
    return pd.DataFrame(out, columns=cols), bad


def findings(root=None, extracted: pd.DataFrame | None = None, studies: pd.DataFrame | None = None):
    """Every plausibility finding with its file line and the reviewer's decision.

    Returns ``(findings, stale, violations)``: ``findings`` has ``file, line, row_id, study_id,
    check, values, problem, status`` (``accepted`` or ``open``), ``reason``, ``date``;
    ``stale`` lists decisions that match no current finding (resolved in the data: remove
    them); ``violations`` are errors in ``review/plausibility.csv``."""
    root = Path(root) if root is not None else paths.ROOT
    ex = extracted if extracted is not None else tbl.load("extracted", root)
    st = studies if studies is not None else tbl.load("studies", root)
    f = plausibility_checks(ex, st)
    lines = {}
    if (root / EXTRACTED_FILE).exists():
        header, raw = tbl.read_raw(root / EXTRACTED_FILE)
        i = header.index("row_id") if "row_id" in header else 0
        lines = {fields[i]: line for line, fields in raw if len(fields) > i}
    dec, bad = read_decisions(root, ex["row_id"].astype(str))
    key = {(d["check"], d["row_id"]): d for d in dec.to_dict("records")}
    f.insert(0, "line", [lines.get(r, 0) for r in f["row_id"]])
    f.insert(0, "file", EXTRACTED_FILE)
    got = [key.get((c, r)) for c, r in zip(f["check"], f["row_id"])]
    f["status"] = ["open" if d is None else d["decision"] for d in got]
    f["reason"] = ["" if d is None else d["reason"] for d in got]
    f["date"] = ["" if d is None else d["date"] for d in got]
    found = set(zip(f["check"], f["row_id"]))
    stale = dec[[(c, r) not in found for c, r in zip(dec["check"], dec["row_id"])]].reset_index(drop=True)
    return f, stale, bad


def format_finding(r) -> str:
    """``data/extracted.csv:LINE: row_id R: <check>: <values>: <what looks wrong>`` (+ the decision)."""
    text = f"{r['file']}:{r['line']}: row_id {r['row_id']}: {r['check']}: {r['values']}: {r['problem']}"
    return text + (f" -- {r['status']} ({r['reason']})" if r["status"] != "open" else " -- OPEN")


def findings_table(ev) -> pd.DataFrame:
    """Plausibility findings of the review's tables with the reviewer's decisions (notebook 01)."""
    f, _, _ = findings(ev.root, ev.extracted, ev.studies)
    return f[["line", "row_id", "check", "values", "problem", "status", "reason"]]


def summary_table(ev) -> pd.DataFrame:
    """Findings per check: how many, how many accepted with a reason, how many open (notebook 01)."""
    f, _, _ = findings(ev.root, ev.extracted, ev.studies)
    rows = [{"check": c, "findings": int((f["check"] == c).sum()), "accepted": int(((f["check"] == c)
             & (f["status"] == "accepted")).sum()), "open": int(((f["check"] == c) & (f["status"] == "open")).sum()),
             "rows": int(f.loc[f["check"] == c, "row_id"].nunique())} for c in CHECKS]
    return pd.DataFrame(rows, columns=["check", "findings", "rows", "accepted", "open"])


def numbers(ev) -> dict:
    """Counts of plausibility findings (cited by notebook 01 and the manuscript)."""
    f, stale, _ = findings(ev.root, ev.extracted, ev.studies)
    return {"plausibility.findings": int(len(f)), "plausibility.open": int((f["status"] == "open").sum()),
            "plausibility.accepted": int((f["status"] == "accepted").sum()), "plausibility.stale": int(len(stale))}


def main(argv: list[str] | None = None, log=print) -> int:
    """``python -m mscreview validate`` (after the schema checks): print every finding, the stale
    decisions and ``N plausibility findings open``; returns 1 only when ``review/plausibility.csv``
    itself is malformed (findings never fail validation)."""
    ap = argparse.ArgumentParser(prog="mscreview validate")
    ap.add_argument("--root", default=None)
    args, _ = ap.parse_known_args(argv)
    root = Path(args.root) if args.root else paths.ROOT
    try:
        f, stale, bad = findings(root)
    except (tbl.TableError, OSError, ValueError) as exc:
        log(f"Plausibility checks not run: the tables do not load ({exc}); fix the schema violations first.")
        return 1
    for r in f.to_dict("records"):
        log(format_finding(r))
    for r in stale.to_dict("records"):
        log(f"{DECISIONS_FILE}:{r['line']}: decision for {r['check']} on {r['row_id']} matches no current finding "
            "(resolved in the data?): remove it")
    for v in bad:
        log(str(v))
    n_open = int((f["status"] == "open").sum())
    log(f"{n_open} plausibility findings open ({len(f) - n_open} accepted with a reason in {DECISIONS_FILE}"
        + (f"; {len(bad)} errors in {DECISIONS_FILE}" if bad else "") + ")")
    return 1 if bad else 0
