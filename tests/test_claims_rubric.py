"""C6's verdict by the written rubric of protocol 9.9, on small synthetic inputs (values chosen by hand)."""
from __future__ import annotations

import math

import pytest

from mscreview.review.claims import efficacy_verdict


@pytest.mark.parametrize("certainty,lo,hi,expected", [
    ("high", 0.2, 0.9, "supported"),
    ("moderate", 0.1, 1.2, "supported"),
    ("low", 0.1, 1.2, "partly_supported"),
    ("very low", 0.1, 1.2, "not_supported"),          # very low certainty, whatever the CI
    ("very_low", 0.1, 1.2, "not_supported"),
    ("moderate", -0.3, 1.2, "not_supported"),         # CI includes 0
    ("high", -9.08, 12.07, "not_supported"),          # the first build's k = 2 Hartung-Knapp interval
    ("low", 0.0, 1.0, "not_supported"),               # bound exactly at no effect: includes it
    (None, None, None, "not_supported"),              # nothing pooled: not shown
    ("moderate", math.nan, 1.0, "not_supported"),
])
def test_efficacy_rubric(certainty, lo, hi, expected):
    assert efficacy_verdict(certainty, lo, hi) == expected


def test_rubric_rejects_an_unknown_certainty():
    with pytest.raises(ValueError, match="GRADE certainty"):
        efficacy_verdict("medium", 0.1, 0.5)
