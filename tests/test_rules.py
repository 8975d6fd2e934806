"""effect_table, directions, sign test, primary_effects, pooled_by on the SYNTHETIC fixture.

Reference values come from R metafor 3.8-1 (``escalc``/``rma``; script in the comments) or from
hand derivations stated next to them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscreview.review import rules, uncontrolled
from mscreview.data import tables as tbl

FIX = Path(__file__).parent / "data_synthetic"
TOL = 1e-9   # closed-form quantities: agree to rounding
TOL_ITER = 1e-6   # iterative (REML) quantities


@pytest.fixture
def tables():
    return tbl.load_all(FIX)


def _by_id(df):
    return df.set_index("row_id")


def test_smd_values_and_conversions(tables):
    eff, excl = rules.effect_table(tables["extracted"], tables["studies"])
    e = _by_id(eff)
    # R: escalc("SMD", m1i=20, sd1i=5, n1i=10, m2i=30, sd2i=6, n2i=10) -> yi -1.7340246743109, vi 0.275171039277975
    # lesion volume: lower is better, so the sign is flipped: +1.734 favours MSC
    assert e.loc["RatA2020_01", "yi"] == pytest.approx(1.7340246743109, abs=TOL)
    assert e.loc["RatA2020_01", "yi_raw"] == pytest.approx(-1.7340246743109, abs=TOL)
    assert e.loc["RatA2020_01", "vi"] == pytest.approx(0.275171039277975, abs=TOL)
    assert e.loc["RatA2020_01", "sei"] == pytest.approx(np.sqrt(0.275171039277975), abs=TOL)
    assert e.loc["RatA2020_01", "conversion"] == "SD"
    # SEM -> SD: sd = sem * sqrt(n) = 1 * sqrt(10), 1.2 * sqrt(10); R: yi -0.822520123463114, vi 0.216913483837544
    assert e.loc["RatA2020_02", "sd1i"] == pytest.approx(np.sqrt(10), abs=TOL)
    assert e.loc["RatA2020_02", "yi"] == pytest.approx(0.822520123463114, abs=TOL)
    assert e.loc["RatA2020_02", "vi"] == pytest.approx(0.216913483837544, abs=TOL)
    assert e.loc["RatA2020_02", "conversion"] == "SEM->SD"
    # CI95 -> SD: sqrt(10) * (70 - 50) / (2 qt(0.975, 9)) = 13.9790360818996; higher is better, no flip
    assert e.loc["RatA2020_03", "sd1i"] == pytest.approx(13.9790360818996, abs=TOL)
    assert e.loc["RatA2020_03", "sd2i"] == pytest.approx(11.1832288655197, abs=TOL)
    assert e.loc["RatA2020_03", "yi"] == pytest.approx(1.51304218340615, abs=TOL)
    assert e.loc["RatA2020_03", "vi"] == pytest.approx(0.257232416219161, abs=TOL)
    # median/IQR -> mean/SD: Luo 2018 mean (0.7 + 0.39/n)(q1+q3)/2 + (0.3 - 0.39/n) median = 3.18475,
    # Wan 2014 SD (q3-q1)/(2 qnorm((0.75n-0.125)/(n+0.25))) = 2.15000866187787; R escalc -> yi -0.93987900631147
    assert e.loc["RatA2020_04", "m1i"] == pytest.approx(3.18475, abs=TOL)
    assert e.loc["RatA2020_04", "sd1i"] == pytest.approx(2.15000866187787, abs=TOL)
    assert e.loc["RatA2020_04", "sd2i"] == pytest.approx(3.4400138590046, abs=TOL)
    assert e.loc["RatA2020_04", "yi"] == pytest.approx(0.93987900631147, abs=TOL)
    assert e.loc["RatA2020_04", "vi"] == pytest.approx(0.222084313662626, abs=TOL)
    # R: escalc("SMD", 55, 10, 20, 50, 11, 20) -> 0.466190977209949, 0.1027166753404
    assert e.loc["TrialB2019_03", "yi"] == pytest.approx(0.466190977209949, abs=TOL)
    assert e.loc["TrialB2019_03", "source_kind"] == "secondary"
    assert set(eff["measure"]) == {"SMD"}
    assert (eff["product_class"] == "msc").all()


def test_every_row_is_accounted_for_with_a_reason(tables):
    ex = tables["extracted"]
    eff, excl = rules.effect_table(ex, tables["studies"])
    assert len(eff) + len(excl) == len(ex)
    assert set(eff["row_id"]) | set(excl["row_id"]) == set(ex["row_id"])
    # a between-group MD with its 95% CI and per-arm n enters through the SD recovered from the CI (protocol 9.2)
    assert eff.set_index("row_id").loc["TrialB2019_01", "conversion"] == "MD/beta with 95% CI -> SD (Cochrane 6.5.2.3)"
    reasons = dict(zip(excl["row_id"], excl["reason"]))
    assert reasons == {
        "RatA2020_05": "figure only (numbers not reported in text or tables)",
        "RatA2020_06": "direction only (no numbers)",
        "SeriesC2018_01": "pre_post: not a controlled comparison (described, not pooled)",
        "SeriesC2018_02": "events_single_arm: not a controlled comparison (described, not pooled)",
        "TrialB2019_02": "event counts: use an event measure (RR, OR, RD), not SMD",
    }


def test_md_uses_reported_effect_with_ci(tables):
    eff, _ = rules.effect_table(tables["extracted"], tables["studies"], measure="MD")
    e = _by_id(eff)
    # conv_wald: yi = 5.2, vi = ((9.3 - 1.1) / (2 qnorm(0.975)))^2 = 4.37594174104997
    assert e.loc["TrialB2019_01", "yi"] == pytest.approx(5.2, abs=TOL)
    assert e.loc["TrialB2019_01", "vi"] == pytest.approx(4.37594174104997, abs=TOL)
    assert e.loc["TrialB2019_01", "conversion"].startswith("reported MD")
    # R: escalc("MD", 55, 10, 20, 50, 11, 20) -> 5, 11.05
    assert e.loc["TrialB2019_03", "yi"] == pytest.approx(5.0, abs=TOL)
    assert e.loc["TrialB2019_03", "vi"] == pytest.approx(11.05, abs=TOL)


def test_risk_ratio_events_and_direction(tables):
    eff, excl = rules.effect_table(tables["extracted"], tables["studies"], measure="RR")
    assert list(eff["row_id"]) == ["TrialB2019_02"]
    # R: escalc("RR", ai=3, n1i=20, ci=2, n2i=20) -> log RR 0.405465108108164, vi 0.733333333333333
    r = eff.iloc[0]
    assert r["yi_raw"] == pytest.approx(0.405465108108164, abs=TOL)
    assert r["yi"] == pytest.approx(-0.405465108108164, abs=TOL)   # more adverse events: favours control
    assert r["vi"] == pytest.approx(0.733333333333333, abs=TOL)
    assert len(excl) == len(tables["extracted"]) - 1


def test_shared_control_is_split(tables):
    ex = tables["extracted"].copy()
    extra = ex[ex.row_id == "RatA2020_01"].copy()
    extra["row_id"] = "RatA2020_07"
    extra["arm1_label"] = "MSC high dose"
    ex = pd.concat([ex, extra], ignore_index=True)
    eff, _ = rules.effect_table(ex, tables["studies"])
    e = _by_id(eff)
    for rid in ("RatA2020_01", "RatA2020_07"):
        assert bool(e.loc[rid, "shared_control"]) and e.loc[rid, "n_arms_sharing"] == 2
        assert e.loc[rid, "n2i"] == 5
        # R: escalc("SMD", 20, 5, 10, 30, 6, 5) -> yi -1.76620058686647, vi 0.403982150434916
        assert e.loc[rid, "yi"] == pytest.approx(1.76620058686647, abs=TOL)
        assert e.loc[rid, "vi"] == pytest.approx(0.403982150434916, abs=TOL)
        assert "split by 2" in e.loc[rid, "conversion"]
    assert not bool(e.loc["RatA2020_02", "shared_control"])   # another outcome: not shared
    eff2, _ = rules.effect_table(ex, tables["studies"], split_shared_controls=False)
    assert _by_id(eff2).loc["RatA2020_07", "yi"] == pytest.approx(1.7340246743109, abs=TOL)


def test_unstated_dispersion_policy(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "RatA2020_02", "dispersion_type"] = pd.NA
    eff, excl = rules.effect_table(ex, tables["studies"])
    assert dict(zip(excl.row_id, excl.reason))["RatA2020_02"] == "dispersion type not stated"
    eff, _ = rules.effect_table(ex, tables["studies"], unstated_dispersion="SEM")
    assert _by_id(eff).loc["RatA2020_02", "yi"] == pytest.approx(0.822520123463114, abs=TOL)
    eff, _ = rules.effect_table(ex, tables["studies"], unstated_dispersion="SD")
    assert _by_id(eff).loc["RatA2020_02", "conversion"] == "unstated dispersion read as SD"


def test_missing_higher_is_better_and_unknown_measure(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "RatA2020_01", "higher_is_better"] = pd.NA
    _, excl = rules.effect_table(ex, tables["studies"])
    assert dict(zip(excl.row_id, excl.reason))["RatA2020_01"] == "higher_is_better missing (direction of benefit unknown)"
    with pytest.raises(ValueError, match="not supported"):
        rules.effect_table(ex, tables["studies"], measure="NOPE")


def test_direction_table_and_sign_test(tables):
    d = rules.direction_table(tables["extracted"], tables["studies"])
    got = d.set_index("row_id")[["direction", "significant", "basis"]].to_dict("index")
    assert got["RatA2020_01"] == {"direction": "favours_msc", "significant": "yes", "basis": "computed"}
    # g = 0.8225, se = sqrt(0.2169) = 0.4657: 0.8225 < 1.96 * 0.4657 = 0.913 -> not significant
    assert got["RatA2020_02"] == {"direction": "favours_msc", "significant": "no", "basis": "computed"}
    assert got["RatA2020_05"] == {"direction": "favours_msc", "significant": "yes", "basis": "reported"}
    # reported MD 5.2 (1.1 to 9.3): CI excludes 0
    assert got["TrialB2019_01"] == {"direction": "favours_msc", "significant": "yes", "basis": "computed"}
    # 3/20 vs 2/20 adverse events: more with MSC -> favours control; Fisher p = 1
    assert got["TrialB2019_02"] == {"direction": "favours_control", "significant": "no", "basis": "computed"}
    assert "SeriesC2018_01" not in got    # pre-post rows are not between-group evidence
    sd = rules.study_directions(d)
    assert len(sd) == 8   # 6 mechanisms in RatA2020 + function and safety in TrialB2019
    res = rules.sign_test(sd)
    assert (res.k_favours_msc, res.k_favours_control, res.k_no_clear, res.n_tested) == (7, 1, 0, 8)
    # exact two-sided binomial: 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256
    assert res.pvalue == pytest.approx(18 / 256, abs=TOL)
    assert res.proportion == pytest.approx(7 / 8)


def test_study_directions_threshold():
    d = pd.DataFrame({"population": "p", "product_class": "msc", "mechanism": "m", "cohort_id": ["A"] * 4 + ["B"] * 3,
                      "study_id": ["A"] * 4 + ["B"] * 3,
                      "direction": ["favours_msc"] * 3 + ["favours_control"] + ["favours_msc"] * 2 + ["favours_control"]})
    sd = rules.study_directions(d).set_index("cohort_id")
    assert sd.loc["A", "direction"] == "favours_msc"     # 3/4 = 75% >= 70%
    assert sd.loc["B", "direction"] == "no_clear_direction"   # 2/3 = 67% < 70%
    assert (sd.loc["B", "n_favours_msc"], sd.loc["B", "n_favours_control"], sd.loc["B", "n_no_clear"]) == (2, 1, 0)


def test_study_directions_seventy_percent_is_enough_and_null_rows_count_for_no_side():
    # SWiM (protocol 9.6): 7 of 10 rows = exactly 70% -> a clear direction (Boon & Thomson: ">= 70%");
    # a cohort whose only row says "no difference" has no clear direction
    d = pd.DataFrame({"population": "p", "product_class": "msc", "mechanism": "m",
                      "cohort_id": ["A"] * 10 + ["B", "C", "C"], "study_id": ["A"] * 10 + ["B", "C", "C"],
                      "direction": ["favours_msc"] * 7 + ["no_clear_direction"] * 3 + ["no_clear_direction"]
                      + ["favours_control", "no_clear_direction"]})
    sd = rules.study_directions(d).set_index("cohort_id")
    assert sd.loc["A", "direction"] == "favours_msc" and sd.loc["A", "n_no_clear"] == 3
    assert sd.loc["B", "direction"] == "no_clear_direction"
    assert sd.loc["C", "direction"] == "no_clear_direction"     # 1 of 2 = 50% favours control


def test_reported_no_difference_is_not_a_direction():
    # rows with words only: "no difference" / "not significant" never count for either side
    assert rules.swim_direction("no_difference", "no") == "no_clear_direction"
    assert rules.swim_direction("mixed", "unclear") == "no_clear_direction"
    assert rules.swim_direction(None, "no") == "no_clear_direction"
    assert pd.isna(rules.swim_direction(None, "unclear"))
    assert rules.swim_direction("favours_msc", "no") == "favours_msc"    # a stated direction stays


def test_direction_table_maps_no_difference_by_rule(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "RatA2020_06", ["direction", "significant"]] = ["no_difference", "no"]
    d = rules.direction_table(ex, tables["studies"]).set_index("row_id")
    assert d.loc["RatA2020_06", "direction"] == "no_clear_direction"
    assert d.loc["RatA2020_06", "direction_reported"] == "no_difference"
    sd = rules.study_directions(d.reset_index())
    res = rules.sign_test(sd)
    # RatA2020's metabolism vote is now unclear: 6 favour MSC, 1 control (TrialB2019 safety), 1 unclear
    assert (res.k_favours_msc, res.k_favours_control, res.k_no_clear, res.n_tested) == (6, 1, 1, 7)


def _cohorts(msc, control, unclear):
    return pd.DataFrame({"direction": ["favours_msc"] * msc + ["favours_control"] * control
                         + ["no_clear_direction"] * unclear})


def test_sign_test_exact_values_by_hand():
    # 7 of 7: two-sided p = 2 * 0.5^7 = 0.015625
    r = rules.sign_test(_cohorts(7, 0, 0))
    assert r.pvalue == pytest.approx(0.015625, abs=1e-12) and r.n_tested == 7
    # 7 of 8: p = 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256 = 0.0703125
    r = rules.sign_test(_cohorts(7, 1, 0))
    assert r.pvalue == pytest.approx(0.0703125, abs=1e-12)
    # 7 of 7 with one unclear cohort: the primary p is on 7 of 7, the worst case on 7 of 8
    r = rules.sign_test(_cohorts(7, 0, 1))
    assert (r.k_favours_msc, r.n_tested, r.k_no_clear, r.n_worst_case) == (7, 7, 1, 8)
    assert r.pvalue == pytest.approx(0.015625, abs=1e-12)
    assert r.pvalue_worst_case == pytest.approx(0.0703125, abs=1e-12)
    # worst case: 10 favour MSC, 0 control, 2 null -> 10 of 12:
    # p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096 = 0.03857421875
    r = rules.sign_test(_cohorts(10, 0, 2))
    assert r.pvalue == pytest.approx(2 * 0.5 ** 10, abs=1e-12)
    assert r.pvalue_worst_case == pytest.approx(0.03857421875, abs=1e-12)


def test_head_to_head_row_not_counted_in_a_sign_test():
    # SYNTHETIC: study A compares MSC with vehicle, study B only thrombin-preconditioned MSC with naive MSC
    st = pd.DataFrame({"study_id": ["A", "B"], "cohort_id": ["A", "B"], "population": "preclinical",
                       "product": "msc", "msc_source": "bone_marrow", "design": "animal_rct"})
    base = dict(mechanism="neuroregeneration", outcome="lesion", higher_is_better=False,
                data_availability="direction_only", direction="favours_msc", significant="yes")
    from mscreview.data import schema
    ex = pd.DataFrame([
        dict(base, row_id="A_01", study_id="A", comparison_type="between_groups", control_group_id="A:vehicle"),
        dict(base, row_id="B_01", study_id="B", comparison_type="msc_vs_msc", control_group_id="B:naive"),
    ]).reindex(columns=schema.columns("data/extracted.csv"))
    st = st.reindex(columns=schema.columns("data/studies.csv"))
    d = rules.direction_table(ex, st)
    assert d.row_id.tolist() == ["A_01"]
    res = rules.sign_test(rules.study_directions(d))
    assert (res.k_favours_msc, res.n_tested, res.k_no_clear) == (1, 1, 0)
    _, excl = rules.effect_table(ex, st)
    reason = excl.set_index("row_id").loc["B_01", "reason"]
    assert reason.startswith("msc_vs_msc: one MSC arm versus another")


def _effects(rows):
    base = dict(population="preclinical", product_class="msc", mechanism="neuroregeneration", measure="SMD",
                vi=0.2, outcome_detail=None)
    return pd.DataFrame([{**base, **r} for r in rows])


def test_primary_effects_rule():
    e = _effects([
        # MBP reported by 3 cohorts, lesion volume by 2: MBP ranks first
        dict(row_id="A_01", study_id="A", cohort_id="A", outcome="lesion volume", timepoint_days=28, yi=1.0),
        dict(row_id="A_02", study_id="A", cohort_id="A", outcome="MBP", timepoint_days=7, yi=2.0),
        dict(row_id="A_03", study_id="A", cohort_id="A", outcome="MBP", timepoint_days=28, yi=3.0),
        dict(row_id="A_04", study_id="A", cohort_id="A", outcome="mbp", timepoint_days=28, yi=4.0),
        dict(row_id="B_01", study_id="B", cohort_id="B", outcome="MBP", timepoint_days=14, yi=5.0),
        dict(row_id="C_01", study_id="C", cohort_id="C", outcome="MBP", timepoint_days=14, yi=6.0),
        dict(row_id="D_01", study_id="D", cohort_id="D", outcome="lesion volume", timepoint_days=14, yi=7.0),
        dict(row_id="D_02", study_id="D", cohort_id="D", outcome="NeuN", timepoint_days=14, yi=8.0),
        # another family: its own ranking
        dict(row_id="A_05", study_id="A", cohort_id="A", outcome="TUNEL", timepoint_days=28, yi=9.0,
             mechanism="anti_apoptosis"),
    ])
    p = rules.primary_effects(e).set_index("row_id")
    # A: MBP (rank 1), latest timepoint 28 days, first-listed of A_03/A_04 -> A_03
    assert sorted(p.index) == ["A_03", "A_05", "B_01", "C_01", "D_01"]
    assert p.loc["A_03", "outcome_rank"] == 1 and p.loc["A_03", "n_candidates"] == 4
    # D has no MBP: lesion volume (2 cohorts) outranks NeuN (1 cohort)
    assert p.loc["D_01", "outcome_rank"] == 2


def test_pooled_by_against_metafor():
    e = _effects([dict(row_id=f"{s}_01", study_id=s, cohort_id=s, outcome="MBP", timepoint_days=28, yi=y, vi=v)
                  for s, y, v in (("A", 1.2, 0.2), ("B", 0.4, 0.1), ("C", 0.9, 0.3))]
                 + [dict(row_id="Z_01", study_id="Z", cohort_id="Z", outcome="TUNEL", timepoint_days=28, yi=1.0,
                         mechanism="anti_apoptosis")])
    out = rules.pooled_by(e).set_index("mechanism")
    r = out.loc["neuroregeneration"]
    # R: rma(yi=c(1.2,0.4,0.9), vi=c(0.2,0.1,0.3), method="REML", test="knha")
    assert bool(r["pooled"]) and r["k"] == 3 and r["study_ids"] == "A;B;C"
    assert r["estimate"] == pytest.approx(REML_KNHA["estimate"], abs=TOL_ITER)
    assert r["ci_low"] == pytest.approx(REML_KNHA["ci_low"], abs=TOL_ITER)
    assert r["ci_high"] == pytest.approx(REML_KNHA["ci_high"], abs=TOL_ITER)
    assert r["tau2"] == pytest.approx(REML_KNHA["tau2"], abs=TOL_ITER)
    z = out.loc["anti_apoptosis"]
    assert not bool(z["pooled"]) and z["k"] == 1 and "fewer than 2" in z["reason"] and np.isnan(z["estimate"])
    dl = rules.pooled_by(e, method="DL", test="z").set_index("mechanism").loc["neuroregeneration"]
    assert dl["estimate"] == pytest.approx(DL_Z["estimate"], abs=TOL_ITER)
    assert dl["tau2"] == pytest.approx(DL_Z["tau2"], abs=TOL_ITER)


def test_pooled_by_refuses_two_effects_of_one_cohort():
    e = _effects([dict(row_id="A_01", study_id="A", cohort_id="A", outcome="MBP", timepoint_days=28, yi=1.0),
                  dict(row_id="A2_01", study_id="A2", cohort_id="A", outcome="MBP", timepoint_days=28, yi=1.1),
                  dict(row_id="B_01", study_id="B", cohort_id="B", outcome="MBP", timepoint_days=28, yi=0.5)])
    with pytest.raises(ValueError, match=r"cohort\(s\) \['A'\]"):
        rules.pooled_by(e)


def test_timepoint_days_and_product_class():
    assert rules.timepoint_days(6, "months") == pytest.approx(6 * 365.25 / 12)
    assert rules.timepoint_days(2, "weeks") == 14
    assert np.isnan(rules.timepoint_days(None, "days"))
    assert rules.product_class("msc_secretome") == "msc_ev"
    assert rules.product_class("msc_modified") == "msc"
    assert rules.product_class(pd.NA) == "unknown"


# R 4 / metafor 3.8-1:
# r <- rma(yi=c(1.2,0.4,0.9), vi=c(0.2,0.1,0.3), method="REML", test="knha"); c(r$b, r$se, r$ci.lb, r$ci.ub, r$tau2)
REML_KNHA = dict(estimate=0.745181584280477, se=0.249880209004546, ci_low=-0.329966179103299,
                 ci_high=1.82032934766425, tau2=0.0561971263327099)
# r <- rma(yi=c(1.2,0.4,0.9), vi=c(0.2,0.1,0.3), method="DL", test="z"); c(r$b, r$ci.lb, r$ci.ub, r$tau2)
DL_Z = dict(estimate=0.728731127654512, ci_low=0.229999928267561, ci_high=1.22746232704146,
            tau2=0.0258333333333333)


def test_prepost_table(tables):
    p = uncontrolled.prepost_table(tables["extracted"], tables["studies"])
    assert p.row_id.tolist() == ["SeriesC2018_01"]
    r = p.iloc[0]
    assert (r["n"], r["m_follow_up"], r["m_baseline"], r["change"]) == (10, 45, 40, 5)   # GMFM-66 45 - 40


def test_event_rates_clopper_pearson(tables):
    e = uncontrolled.event_rates(tables["extracted"], tables["studies"]).set_index("row_id")
    assert sorted(e.index) == ["SeriesC2018_02", "TrialB2019_02"]
    r = e.loc["SeriesC2018_02"]
    assert r["p1"] == pytest.approx(0.2) and np.isnan(r["p2"])
    # Clopper-Pearson 2/10: qbeta(0.025, 2, 9) = 0.0252107263268334, qbeta(0.975, 3, 8) = 0.556095462307641
    from scipy.stats import beta
    assert r["p1_ci_low"] == pytest.approx(beta.ppf(0.025, 2, 9), abs=TOL)
    assert r["p1_ci_high"] == pytest.approx(beta.ppf(0.975, 3, 8), abs=TOL)
    assert e.loc["TrialB2019_02", "p2"] == pytest.approx(0.1)


def test_direction_table_can_include_pre_post(tables):
    d = rules.direction_table(tables["extracted"], tables["studies"], comparison_types=("between_groups", "pre_post"))
    assert "SeriesC2018_01" in set(d.row_id)
    assert d.set_index("row_id").loc["SeriesC2018_01", "comparison_type"] == "pre_post"


def test_reported_effect_types_can_be_widened(tables):
    ex = tables["extracted"].copy()
    ex.loc[ex.row_id == "TrialB2019_01", "effect_type"] = "beta"
    _, excl = rules.effect_table(ex, tables["studies"], measure="MD")
    assert dict(zip(excl.row_id, excl.reason))["TrialB2019_01"] == "m1i missing; reported beta cannot give MD"
    eff, _ = rules.effect_table(ex, tables["studies"], measure="MD", reported_effect_types=("MD", "beta"))
    r = _by_id(eff).loc["TrialB2019_01"]
    assert r["yi"] == pytest.approx(5.2) and r["conversion"] == "reported beta with 95% CI (conv_wald)"


def test_pooled_by_refuses_md_across_units():
    e = _effects([dict(row_id=f"{s}_01", study_id=s, cohort_id=s, outcome="GMFM-88", timepoint_days=180, yi=y,
                       unit=u, measure="MD") for s, y, u in (("A", 5.0, "points"), ("B", 20.0, "%"))])
    r = rules.pooled_by(e).iloc[0]
    assert not bool(r["pooled"]) and "different units" in r["reason"] and np.isnan(r["estimate"])
    e["unit"] = "points"
    assert bool(rules.pooled_by(e).iloc[0]["pooled"])


def test_holm_by_hand():
    from mscreview.review.mechanisms import holm
    # p sorted: 0.01, 0.02, 0.04, 0.30 (m = 4); Holm: 4*0.01 = 0.04, 3*0.02 = 0.06, max(0.06, 2*0.04 = 0.08) = 0.08,
    # max(0.08, 1*0.30) = 0.30; a NaN (no test) is not counted and stays NaN
    got = holm([0.04, 0.01, np.nan, 0.30, 0.02])
    assert got[[1, 4, 0, 3]] == pytest.approx([0.04, 0.06, 0.08, 0.30], abs=1e-12)
    assert np.isnan(got[2])


def test_sign_tests_and_direction_cells_on_the_fixture():
    from mscreview.review import evidence, mechanisms
    ev = evidence.load(FIX)
    st = mechanisms.sign_tests(ev).set_index(["population", "mechanism"])
    # SYNTHETIC fixture: every family has one cohort; TrialB2019 safety: 3/20 vs 2/20 events -> favours control
    r = st.loc[("clinical", "safety")]
    assert (r.k_favours_msc, r.k_favours_control, r.k_no_clear, r.n_tested) == (0, 1, 0, 1)
    assert r.pvalue == pytest.approx(1.0) and r.pvalue_holm == pytest.approx(1.0)
    nums = mechanisms.sign_tests.numbers(ev)
    assert not any(k.startswith("direction.total") for k in nums)     # no count pooled across families
    assert nums["direction.preclinical.msc.function.n_tested"] == 1
    cells = mechanisms.direction_cells(ev, "preclinical", "msc").set_index("mechanism")
    # sample size from studies.n_total (20 animals); SYRCLE has no overall judgement: worst domain (unclear)
    assert cells.loc["function", "n"] == 20 and cells.loc["function", "rob"] == "unclear"
    assert "significant" not in cells.columns
    clin = mechanisms.direction_cells(ev, "clinical", "msc")
    assert set(clin["rob"]) == {"some_concerns"} and set(clin["n"]) == {40}   # RoB 2 overall judgement


def test_direction_by_source_votes_per_family():
    from mscreview.review import evidence, sources
    ev = evidence.load(FIX)
    t = sources.direction_by(ev, "msc_source", "preclinical", "msc")
    # RatA2020 (umbilical cord) has one vote in each of its 6 mechanisms, never one pooled count across them
    assert len(t) == 6 and set(t["cohorts"]) == {1} and set(t["msc_source"]) == {"umbilical_cord"}
    assert {"k_favours_msc", "k_no_clear", "n_tested", "pvalue_worst_case"} <= set(t.columns)
