"""Cohorts counted once (protocol 9.7) on a SYNTHETIC set of studies, counted by hand; and the
efficacy-trial count on the real tables."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from mscreview.review import characteristics as ch, evidence


def _ev():
    studies = pd.DataFrame({
        "study_id": ["A2019", "A2021", "B2020", "C2018", "R2020"],
        "cohort_id": ["cohA", "cohA", None, "C2018", "cohR"],
        "population": ["clinical", "clinical", "clinical", "preclinical", "preclinical"],
        "n_total": [54, 152, 20, None, 30],
    })
    screening = pd.DataFrame({"eligibility_decision": ["include"] * 6 + ["exclude"],
                              "study_id": ["A2019", "A2021", "B2020", "B2020", "C2018", "R2020", "X"]})
    return SimpleNamespace(studies=studies, screening=screening)


def test_cohort_counts_by_hand():
    t = ch.cohort_counts(_ev()).set_index("population")
    # clinical: reports A2019, A2021, B2020 x2 (conference abstract + article) = 4; cohorts cohA, B2020 = 2;
    # participants max(54, 152) + 20 = 172 (summed over reports it would be 226)
    assert t.loc["clinical", ["reports", "studies", "participants", "participants_all_reports"]].tolist() == [4, 2, 172, 226]
    # preclinical: 2 reports, 2 cohorts, animals 30 (C2018 reports no n)
    assert t.loc["preclinical", ["reports", "studies", "participants", "studies_without_n"]].tolist() == [2, 2, 30, 1]
    assert t.loc["all", ["reports", "studies", "participants"]].tolist() == [6, 4, 202]


def test_efficacy_trials_are_msc_versus_control_on_a_motor_outcome():
    ev = evidence.load()
    ids = ch.efficacy_trials(ev)
    assert "Chen2013" not in ids      # MSC-derived neural stem cell-like cells: sensitivity only
    assert "Peng2017" not in ids      # drooling is its only outcome
    assert {"Amanat2021", "Gu2020", "Huang2018"} <= set(ids)
