"""Helpers for tests that build SYNTHETIC evidence (never review data)."""
import pandas as pd

from mscreview.review import evidence


def evidence_from(tmp_path, studies, extracted, effects, excluded):
    """An :class:`~mscreview.review.evidence.Evidence` of synthetic tables, with no risk of bias, claims,
    screening or reported directions (empty frames with the columns the sections read)."""
    empty = pd.DataFrame()
    return evidence.Evidence(tmp_path, studies, extracted,
                             pd.DataFrame(columns=["study_id", "tool", "domain", "judgement"]),
                             empty, empty, empty, effects, excluded,
                             pd.DataFrame(columns=["population", "product_class", "mechanism", "direction",
                                                   "significant", "basis", "cohort_id"]),
                             pd.DataFrame(columns=["population", "product_class", "mechanism", "cohort_id",
                                                   "study_ids", "direction"]))
