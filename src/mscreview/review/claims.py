"""Claims C1-C6 of the source article against the evidence, judged by the written rubric of
protocol 9.9.

Notebook ``notebooks/08_claims.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.

C1-C5 are judged by the reviewer against the rubric (what was read, and whether it shows what the
claim asserts) and stored in ``review/claims.csv``. C6, the efficacy claim, is **derived** here by
:func:`efficacy_verdict` from the GRADE certainty of the GMFM outcome and the pooled estimate's
95% CI, so it follows the tables whenever they change.
"""
from __future__ import annotations

import math
import re

import pandas as pd

from ..data import schema
from ..engine.format import fmt
from .certainty import grade_sof
from .clinical import gmfm_both_readings
from .evidence import Evidence, cites, spaced

#: The claim whose verdict is derived from the pooled evidence (protocol 9.9).
EFFICACY_CLAIM = "C6"

RUBRIC = ("protocol 9.9: supported needs GRADE certainty moderate or high and a 95% CI excluding no "
          "effect; very low certainty or a CI including no effect -> not supported; low certainty -> "
          "partly supported")


def efficacy_verdict(certainty: str | None, ci_low: float | None, ci_high: float | None) -> str:
    """Verdict on an efficacy claim by the rubric of protocol 9.9.

    Parameters
    ----------
    certainty : str or None
        GRADE certainty of the main efficacy outcome (``high``, ``moderate``, ``low``,
        ``very low``); None when no controlled evidence was pooled.
    ci_low, ci_high : float or None
        95% CI of the pooled effect (benefit > 0).

    Returns
    -------
    str
        ``not_supported`` if there is no pooled estimate, certainty is very low or the CI includes
        0; else ``partly_supported`` for low certainty; ``supported`` for moderate or high.
    """
    def missing(x):
        return x is None or (isinstance(x, float) and math.isnan(x))

    if missing(certainty) or missing(ci_low) or missing(ci_high):
        return "not_supported"
    c = str(certainty).strip().lower().replace("_", " ")
    if c not in ("high", "moderate", "low", "very low"):
        raise ValueError(f"GRADE certainty must be high, moderate, low or very low; got {certainty!r}")
    if c == "very low" or ci_low <= 0 <= ci_high:
        return "not_supported"
    if c == "low":
        return "partly_supported"
    return "supported"


def efficacy_inputs(ev: Evidence) -> dict:
    """The numbers C6's verdict rests on (keys as in ``review/results.json``): GRADE certainty of
    GMFM and the pooled GMFM estimate at the primary timepoint, under both readings of doubtful
    dispersions (protocol 9.3: ``clinical.gmfm.primary.*`` as labelled, ``clinical.gmfm.other_reading.*``)."""
    grade = grade_sof.numbers(ev)
    out = {k: grade.get(k) for k in ("grade.gmfm.certainty", "grade.gmfm.other_reading.certainty")}
    out.update({k: v for k, v in gmfm_both_readings.numbers(ev).items()
                if k.startswith(("clinical.gmfm.primary.", "clinical.gmfm.other_reading."))})
    return out


def efficacy_verdicts(inputs: dict) -> dict:
    """C6's verdict under each reading (protocol 9.3 and 9.9): ``{"as_labelled": v, "other_reading": v}``."""
    return {"as_labelled": efficacy_verdict(inputs.get("grade.gmfm.certainty"),
                                            inputs.get("clinical.gmfm.primary.ci_low"),
                                            inputs.get("clinical.gmfm.primary.ci_high")),
            "other_reading": efficacy_verdict(inputs.get("grade.gmfm.other_reading.certainty")
                                              or inputs.get("grade.gmfm.certainty"),
                                              inputs.get("clinical.gmfm.other_reading.ci_low"),
                                              inputs.get("clinical.gmfm.other_reading.ci_high"))}


_KEY = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*(?::\s*([^}\s]*))?\s*\}\}")


def _fill(text: str, nums: dict) -> str:
    """Fill ``{{ key }}`` / ``{{ key:spec }}`` in a claim's reason from ``nums`` (unknown keys: an error)."""
    def sub(m):
        if m.group(1) not in nums:
            raise KeyError(f"review/claims.csv: the reason cites {{{{ {m.group(1)} }}}}, which the claims "
                           f"section does not compute (known: {', '.join(sorted(nums))})")
        v = nums[m.group(1)]
        if v is None:
            return "NA"
        if isinstance(v, str):
            return v
        return fmt(v, m.group(2) or ".2f")
    return _KEY.sub(sub, text if isinstance(text, str) else "")


@cites
def claims_table(ev: Evidence) -> pd.DataFrame:
    """The source article's claims C1-C6 with verdict, evidence and reason; C6's verdict derived by
    :func:`efficacy_verdict` (cites numbers)."""
    nums: dict = {}
    c = ev.claims.copy()
    if c.empty:
        return c, nums
    inputs = efficacy_inputs(ev)
    c["basis"] = "reviewer, against the rubric of protocol 9.9 (what was read)"
    is_eff = c["claim_id"] == EFFICACY_CLAIM
    if is_eff.any():
        both = efficacy_verdicts(inputs)
        # one verdict when both readings agree; otherwise the as-labelled one, and the basis says so
        derived = both["as_labelled"]
        holds = ("the same under both readings of Huang2018's dispersion" if both["as_labelled"] == both["other_reading"]
                 else f"{spaced(both['other_reading'])} if the doubtful SDs are read as SEMs (the verdict depends on it)")
        c.loc[is_eff, "verdict"] = derived
        c.loc[is_eff, "basis"] = (
            f"derived: as labelled, GRADE {inputs.get('grade.gmfm.certainty') or 'none'} and pooled SMD 95% CI "
            f"{fmt(inputs.get('clinical.gmfm.primary.ci_low'))} to {fmt(inputs.get('clinical.gmfm.primary.ci_high'))}; "
            f"other reading, GRADE {inputs.get('grade.gmfm.other_reading.certainty') or 'none'} and 95% CI "
            f"{fmt(inputs.get('clinical.gmfm.other_reading.ci_low'))} to "
            f"{fmt(inputs.get('clinical.gmfm.other_reading.ci_high'))}; verdict {holds}; {RUBRIC}")
        nums["claims.C6.holds_under_both_readings"] = "yes" if both["as_labelled"] == both["other_reading"] else "no"
    c["why"] = [_fill(w, inputs) for w in c["why"]]
    for v in schema.VERDICTS:
        nums[f"claims.{v}"] = int((c["verdict"] == v).sum())
    for i in range(1, 7):   # C1-C6 are cited by the text
        nums[f"claims.C{i}.verdict"] = "not assessed"
    for _, r in c.iterrows():
        nums[f"claims.{r['claim_id']}.verdict"] = spaced(r["verdict"])
    nums["claims.total"] = len(c)
    c["verdict"] = c["verdict"].map(lambda v: schema.VERDICTS.get(v, v))
    return c.sort_values("claim_id").reset_index(drop=True)[["claim_id", "claim", "verdict", "basis", "evidence",
                                                             "study_ids", "why"]], nums


def numbers(ev: Evidence) -> dict:
    """Every number notebook 08 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(claims_table.numbers(ev))
    return out
