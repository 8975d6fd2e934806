"""Claims C1-C6 of the source article against the evidence.

Notebook ``notebooks/08_claims.ipynb``. Every function computes and returns; none records or writes.
The numbers the text cites are gathered once by :func:`numbers`; figures are returned as
:class:`~mscreview.review.evidence.FigureSpec` lists for the notebook to export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema
from .evidence import Evidence, cites, spaced



@cites
def claims_table(ev: Evidence) -> pd.DataFrame:
    """The source article's claims C1-C6 with verdict, evidence and reason (cites numbers)."""
    nums: dict = {}
    c = ev.claims.copy()
    if c.empty:
        return c, nums
    order = {v: i for i, v in enumerate(schema.VERDICTS)}
    for v in schema.VERDICTS:
        nums[f"claims.{v}"] = int((c["verdict"] == v).sum())
    for i in range(1, 7):   # C1-C6 are cited by the text
        nums[f"claims.C{i}.verdict"] = "not assessed"
    for _, r in c.iterrows():
        nums[f"claims.{r['claim_id']}.verdict"] = spaced(r["verdict"])
    nums["claims.total"] = len(c)
    c["verdict"] = c["verdict"].map(lambda v: schema.VERDICTS.get(v, v))
    return c.sort_values("claim_id").reset_index(drop=True)[["claim_id", "claim", "verdict", "evidence",
                                                             "study_ids", "why"]], nums


def numbers(ev: Evidence) -> dict:
    """Every number notebook 08 cites, by dotted key (computed, not saved)."""
    out: dict = {}
    out.update(claims_table.numbers(ev))
    return out
