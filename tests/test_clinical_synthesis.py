"""Clinical synthesis rules of protocol 9.1-9.3 and 9.8: instrument families, between-group differences
with a CI, doubtful dispersions read both ways, serious adverse events as a risk difference, GRADE.

Values are computed by hand in the comments (or taken from Newcombe 1998, Table II); the committed data
are used where the rule is about them (Amanat2021, Huang2018), synthetic frames where the rule is generic
(marked SYNTHETIC).
"""
from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from mscreview import paths
from mscreview.data import schema
from mscreview.data.validate import validate
from mscreview.engine import smdconvert
from mscreview.engine.proportions import newcombe_rd_ci, wilson_ci
from mscreview.review import certainty, clinical, evidence, rules

# closed forms: the hand values below carry 6-7 significant digits
TOL_HAND = 2e-6
# metafor's J is the exact gamma-function form; the hand value uses 1 - 3/(4m - 1), which differs from it by
# about 1e-5 (relative) at m = 52 and less at m = 70
TOL_J_APPROX = 2e-5


@pytest.fixture(scope="module")
def ev():
    return evidence.load(paths.ROOT)


@pytest.fixture(scope="module")
def effects(ev):
    return ev.effects.set_index("row_id")


# ---------------------------------------------------------------------------
# 9.2 between-group MD / beta with a 95% CI -> SMD
# ---------------------------------------------------------------------------

def test_amanat_gmfm66_smd_from_ci_by_hand(effects):
    # beta 8.07 (95% CI 1.62, 14.52), n 36 + 36 (Amanat2021 abstract)
    # t_{0.975, 70} = 1.99444; SE = (14.52 - 1.62) / (2 * 1.99444) = 3.233990
    # SD = SE / sqrt(2/36) = 13.720660; d = 8.07 / SD = 0.5881641
    # J = 1 - 3 / (4 * 70 - 1) = 0.9892473; g = J d = 0.5818398
    # vi = 2/36 + g^2 / (2 * 72) = 0.05555556 + 0.00235095 = 0.05790651
    se = (14.52 - 1.62) / (2 * 1.99444)
    sd = se / math.sqrt(2 / 36)
    d = 8.07 / sd
    g = (1 - 3 / (4 * 70 - 1)) * d
    assert se == pytest.approx(3.233990, rel=TOL_HAND)
    assert d == pytest.approx(0.5881641, rel=TOL_HAND)
    r = effects.loc["Amanat2021_01"]
    assert r["yi"] == pytest.approx(g, rel=TOL_J_APPROX)
    assert r["yi"] == pytest.approx(0.5818398, rel=TOL_J_APPROX)
    assert r["vi"] == pytest.approx(2 / 36 + r["yi"] ** 2 / 144, rel=1e-12)
    assert r["vi"] == pytest.approx(0.05790651, rel=TOL_J_APPROX)
    assert r["conversion"] == "MD/beta with 95% CI -> SD (Cochrane 6.5.2.3)"
    assert r["instrument_family"] == "GMFM"


def test_amanat_pedi_and_mas_enter_with_harmonised_sign(effects):
    # PEDI beta 6.87 (1.52, 12.21): SE = 10.69 / 3.98888 = 2.679950; SD = 11.370066; g = 0.9892473 * 0.6042181
    pedi = effects.loc["Amanat2021_03"]
    assert pedi["yi"] == pytest.approx(0.9892473 * 6.87 / (10.69 / 3.98888 / math.sqrt(2 / 36)), rel=TOL_J_APPROX)
    # MAS beta -0.72 (-1.18, -0.26), lower is better: SE = 0.92 / 3.98888 = 0.2306412; SD = 0.9785277;
    # d = -0.7357993; harmonised (lower is better) g = +0.9892473 * 0.7357993 = 0.7278875
    mas = effects.loc["Amanat2021_05"]
    assert mas["yi_raw"] < 0 < mas["yi"]
    assert mas["yi"] == pytest.approx(0.7278875, rel=TOL_J_APPROX)
    assert {pedi["instrument_family"], mas["instrument_family"]} == {"PEDI", "spasticity (MAS)"}


def test_reported_d_sensitivity_uses_same_variance(ev):
    e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", between_group_smd="reported_d")
    r = e.set_index("row_id").loc["Amanat2021_01"]
    # d 0.92 as reported -> g = 0.9892473 * 0.92 = 0.9101075; vi = 2/36 + g^2/144 = 0.06130761
    assert r["yi"] == pytest.approx(0.9101075, rel=TOL_J_APPROX)
    assert r["vi"] == pytest.approx(0.06130761, rel=TOL_J_APPROX)
    mas = e.set_index("row_id").loc["Amanat2021_05"]
    assert mas["yi"] == pytest.approx(0.9892473 * 0.76, rel=TOL_J_APPROX)   # d given as a magnitude; sign from beta


def test_beta_row_without_n_is_not_converted():
    """SYNTHETIC: without per-arm n the CI cannot give an SD; the row is listed with its reason."""
    st = pd.DataFrame([{"study_id": "X2000", "cohort_id": "X2000", "population": "clinical", "design": "rct",
                        "product": "msc", "msc_source": "umbilical_cord"}])
    ex = pd.DataFrame([{"row_id": "X2000_01", "study_id": "X2000", "mechanism": "function", "outcome": "PEDI",
                        "outcome_detail": None, "timepoint": 12, "timepoint_unit": "months", "arm1_label": "MSC",
                        "instrument": "PEDI", "higher_is_better": True, "comparison_type": "between_groups",
                        "control_group_id": "X2000:c", "data_availability": "numeric", "effect_type": "beta",
                        "effect": 2.0, "effect_ci_low": 1.0, "effect_ci_high": 3.0}])
    e, excl = rules.effect_table(ex, st)
    assert e.empty and "cannot give SMD" in excl.loc[0, "reason"]


def test_z_used_when_both_arms_reach_60():
    # n 60 + 60: z = 1.959964; SE = 2 / (2 * 1.959964) = 0.5102135; SD = SE / sqrt(2/60) = 2.794554
    g, vi, sd = smdconvert.smd_from_difference(1.0, 0.0, 2.0, 60, 60)
    assert sd == pytest.approx(2.794554, rel=TOL_HAND)
    # n 59 + 60: t_{0.975, 117} = 1.980448; SE = 2 / (2 * 1.980448) = 0.5049363; SD = SE / sqrt(1/59 + 1/60)
    _, _, sd59 = smdconvert.smd_from_difference(1.0, 0.0, 2.0, 59, 60)
    assert sd59 == pytest.approx(0.5049363 / math.sqrt(1 / 59 + 1 / 60), rel=TOL_HAND)
    assert sd59 < sd


# ---------------------------------------------------------------------------
# 9.3 doubtful dispersions both ways
# ---------------------------------------------------------------------------

def test_huang_other_reading_by_hand(ev):
    e, _ = rules.effect_table(ev.extracted, ev.studies, "SMD", doubtful_dispersion="other_reading")
    r = e.set_index("row_id").loc["Huang2018_02"]
    # 12 months: MSC 10.27 +- 2.96, control 4.75 +- 1.45, n 27 + 27, read as SEM:
    # SD1 = 2.96 sqrt(27) = 15.38061, SD2 = 1.45 sqrt(27) = 7.534421
    # pooled SD = sqrt((26 * 236.5632 + 26 * 56.7675) / 52) = 12.11055; d = 5.52 / 12.11055 = 0.4558010
    # J = 1 - 3 / 207 = 0.9855072; g = 0.4491952
    assert r["yi"] == pytest.approx(0.4491952, rel=TOL_J_APPROX)
    assert "other reading" in r["conversion"]
    base = ev.effects.set_index("row_id")
    assert base.loc["Huang2018_02", "yi"] > 2          # as labelled: g about 2.3
    # rows without a doubt are read the same way under both readings
    assert r.name in set(ev.extracted.loc[ev.extracted["dispersion_doubt"].notna(), "row_id"])
    assert e.set_index("row_id").loc["Gu2020_12", "yi"] == pytest.approx(base.loc["Gu2020_12", "yi"], abs=0)


def test_gmfm_both_readings_table(ev):
    t = clinical.gmfm_both_readings(ev)
    nums = clinical.gmfm_both_readings.numbers(ev)
    prim = t[t["primary_timepoint"]]
    assert set(prim["analysis"].str[:11]) >= {"as labelled", "doubtful di"}
    assert nums["clinical.gmfm.primary.months"] == 12
    assert nums["clinical.gmfm.primary.studies"] == "Amanat2021; Gu2020; Huang2018"
    assert nums["clinical.gmfm.primary.participants"] == 36 + 36 + 19 + 20 + 27 + 27
    assert t.loc[t["k"] < 3, "pi_low"].isna().all()              # PI only where k >= 3
    excl = {k: nums[f"clinical.gmfm.{k}.ci_low"] > 0 for k in ("primary", "other_reading")}
    assert nums["clinical.gmfm.depends_on_reading"] == ("yes" if excl["primary"] != excl["other_reading"] else "no")
    # oracle: the pooled estimate is the WLS mean with weights 1 / (vi + tau2)
    g = clinical.gmfm_reading_effects(ev, "other_reading")
    g = g[g["months"] == 12]
    r = prim[prim["analysis"].str.startswith("doubtful")].iloc[0]
    w = 1 / (g["vi"] + r["tau2"])
    assert r["estimate"] == pytest.approx(float((w * g["yi"]).sum() / w.sum()), rel=1e-10)


def test_forest_shows_both_readings(ev):
    kw = clinical.gmfm_forest_data(ev)
    d = kw["data"]
    assert (d["study_id"] == "Huang2018").sum() == 2 * (ev.effects["study_id"] == "Huang2018").sum()
    labels = {p["label"] for p in kw["pooled"]}
    assert {"Pooled, as labelled", "Pooled, other reading"} <= labels


# ---------------------------------------------------------------------------
# 9.1 instrument families
# ---------------------------------------------------------------------------

def _synthetic_effects():
    """SYNTHETIC: one cohort with GMFM of unstated version and GMFM-88 (same family) and an ADL score."""
    base = {"study_id": "S2000", "cohort_id": "S2000", "population": "clinical", "product_class": "msc",
            "mechanism": "function", "timepoint_days": 365.0, "yi": 0.1, "vi": 0.1}
    return pd.DataFrame([
        {**base, "row_id": "S2000_01", "outcome": "ADL", "instrument": "ADL", "instrument_family": "ADL"},
        {**base, "row_id": "S2000_02", "outcome": "GMFM", "instrument": "GMFM-unstated", "instrument_family": "GMFM"},
        {**base, "row_id": "S2000_03", "outcome": "GMFM-88", "instrument": "GMFM-88", "instrument_family": "GMFM"},
    ])


def test_primary_effects_never_mix_instrument_families_nor_use_alphabetical_order():
    p = rules.primary_effects(_synthetic_effects())
    assert dict(zip(p["instrument_family"], p["row_id"])) == {"ADL": "S2000_01", "GMFM": "S2000_03"}
    # alphabetically "gmfm" < "gmfm-88" would pick S2000_02; the registry puts GMFM-88 first


def test_pooled_families_split_by_instrument(ev):
    pb = evidence.pooled_by_mechanism(ev)
    cl = pb[(pb["population"] == "clinical") & (pb["mechanism"] == "function")]
    assert set(cl["instrument_family"]) >= {"GMFM", "ADL", "CFA", "PEDI", "spasticity (MAS)"}
    gm = cl[cl["instrument_family"] == "GMFM"].iloc[0]
    assert gm["study_ids"] == "Amanat2021;Gu2020;Huang2018"
    prim = evidence.primary_effects(ev)
    for fam, g in prim.groupby(list(rules.DEFAULT_FAMILY)):
        fams = {schema.instrument_family(i) for i in g["instrument"]}
        assert len(fams) == 1, fam


def test_every_clinical_function_row_has_an_instrument(ev):
    ex = ev.extracted.merge(ev.studies[["study_id", "population"]], on="study_id")
    cf = ex[(ex["population"] == "clinical") & (ex["mechanism"] == "function")]
    assert cf["instrument"].notna().all()
    assert set(cf["instrument"]) <= set(schema.INSTRUMENTS)
    assert ex.loc[ex["population"] == "preclinical", "instrument"].isna().all()
    gu = cf[(cf["study_id"] == "Gu2020") & cf["outcome"].eq("GMFM")]
    assert set(gu["instrument"]) == {"GMFM-unstated"}


def test_unknown_instrument_is_named_with_file_line_row_and_column(tmp_path):
    root = tmp_path / "real"
    for t in schema.TABLES:
        (root / t).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(paths.ROOT / t, root / t)
    p = root / "data/extracted.csv"
    text = p.read_text(encoding="utf-8")
    assert text.count(",GMFM-66,total score,GMFM-66,") == 2
    p.write_text(text.replace("Amanat2021_01,Amanat2021,function,GMFM-66,total score,GMFM-66,",
                              "Amanat2021_01,Amanat2021,function,GMFM-66,total score,GMFM66,"), encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("Amanat2021_01,"))
    v = [x for x in validate(root) if x.column == "instrument"]
    assert len(v) == 1
    assert (v[0].file, v[0].line, v[0].value, v[0].message) == ("data/extracted.csv", line, "GMFM66",
                                                                  "row_id Amanat2021_01")
    assert str(v[0]).startswith(f"data/extracted.csv:{line}: column 'instrument': value 'GMFM66' expected one of:")
    assert "GMFM-66" in v[0].expected


# ---------------------------------------------------------------------------
# 9.8 serious adverse events and GRADE
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("x1,n1,x2,n2,lo,hi", [
    (56, 70, 48, 80, 0.0524, 0.3339),    # Newcombe 1998, Table II, example (a), method 10
    (9, 10, 3, 10, 0.1705, 0.8090),      # example (b)
    (5, 56, 0, 29, -0.0381, 0.1926),     # example (d)
    (0, 10, 0, 20, -0.1611, 0.2775),     # example (e): no events in either arm
])
def test_newcombe_hybrid_score_matches_table_ii(x1, n1, x2, n2, lo, hi):
    rd, l, u = newcombe_rd_ci(x1, n1, x2, n2)
    assert rd == pytest.approx(x1 / n1 - x2 / n2)
    assert (round(l, 4), round(u, 4)) == (lo, hi)


def test_newcombe_matches_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep
    for args in [(3, 27, 0, 27), (0, 27, 0, 27), (4, 19, 9, 20)]:
        lo, hi = confint_proportions_2indep(*args, method="newcomb", compare="diff")
        assert newcombe_rd_ci(*args)[1:] == pytest.approx((lo, hi), abs=1e-12)


def test_wilson_zero_events():
    # 0/27: upper = z^2 / (27 + z^2) = 3.841459 / 30.841459 = 0.1245550
    assert wilson_ci(0, 27) == pytest.approx((0.0, 0.1245550), abs=1e-7)


def test_sae_risk_difference(ev):
    t = clinical.sae_risk_difference(ev)
    nums = clinical.sae_risk_difference.numbers(ev)
    assert nums["clinical.sae.rd_studies"] == "Huang2018"            # Chen2013 is MSC-derived cells
    assert nums["clinical.sae.rd"] == 0
    assert (nums["clinical.sae.rd_ci_low"], nums["clinical.sae.rd_ci_high"]) == pytest.approx((-0.1245550, 0.1245550),
                                                                                              abs=1e-7)
    assert nums["clinical.sae.rr_estimable"] == "no"
    assert "Chen2013" in nums["clinical.sae.with_derived_cells.rd_studies"]
    assert "Liu2017" in nums["clinical.sae.not_usable"]            # MSC and mononuclear-cell arms pooled


def test_rr_continuity_correction_only_with_one_zero_arm():
    # 0/10 vs 3/10 with 0.5 in every cell: (0.5/11) / (3.5/11) = 0.1428571
    assert clinical._rr_cc(0, 10, 3, 10)[0] == pytest.approx(0.1428571, rel=1e-6)
    assert clinical._rr_cc(2, 10, 4, 10)[0] == pytest.approx(0.5)      # no correction without a zero arm
    assert math.isnan(clinical._rr_cc(0, 10, 0, 10)[0])


def test_grade_every_domain_judged_with_a_reason(ev):
    sof = certainty.grade_sof(ev)
    nums = certainty.grade_sof.numbers(ev)
    for d in certainty.GRADE_DOMAINS:
        assert sof[d].str.match(r"^(not serious|serious|very serious) \((0|-1|-2)\)$").all(), d
        assert (sof[f"{d}_reason"].str.len() > 10).all(), d
    assert not sof["publication_bias"].str.contains("not assessable").any()
    assert "NCT04873752" in sof["publication_bias_reason"].iloc[0] or "NCT" in sof["publication_bias_reason"].iloc[0]
    if nums["grade.gmfm.depends_on_reading"] == "yes":
        assert nums["grade.gmfm.dispersion_reading"] == "serious (-1)"
    for key in ("grade.gmfm.certainty", "grade.sae.certainty", "grade.gmfm.risk_of_bias", "grade.sae.imprecision"):
        assert key in nums
