"""RoB 2 overall by its algorithm (protocol 9.8), checked on hand-made domain judgements."""
from __future__ import annotations

import pytest

from mscreview.review.certainty import rob2_overall

L, S, H = "low", "some_concerns", "high"


@pytest.mark.parametrize("domains,expected", [
    ([L, L, L, L, L], "low"),                  # every domain low
    ([S, L, L, L, L], "some_concerns"),        # one concern
    ([S, S, L, L, L], "some_concerns"),        # two concerns: not yet "multiple domains" by our rule
    ([S, S, S, L, L], "high"),                 # three or more concerns -> high
    ([S, S, S, S, S], "high"),                 # Huang2018's pattern: five concerns
    ([H, L, L, L, L], "high"),                 # any high domain -> high
    ([S, H, L, S, S], "high"),                 # Peng2017's pattern (two high domains)
])
def test_rob2_algorithm(domains, expected):
    assert rob2_overall(domains) == expected


def test_rob2_accepts_a_mapping_and_ignores_the_stored_overall():
    d = {"randomisation": S, "deviations": L, "missing_data": L, "measurement": S,
         "selection_of_result": L, "overall": "high"}
    assert rob2_overall(d) == "some_concerns"


def test_no_information_is_not_a_rob2_domain_judgement():
    with pytest.raises(ValueError, match="no_information"):
        rob2_overall([L, "no_information", L, L, L])
