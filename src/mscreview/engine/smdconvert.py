"""Hedges' g from a between-group mean difference (or adjusted beta) with its CI, or from a reported d.

References
----------
Higgins JPT et al. (eds). Cochrane Handbook for Systematic Reviews of Interventions, version 6.4 (2023),
6.5.2.3 (SD from the CI of a difference in means).
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related estimators. J Educ
Stat 6:107-128 (the small-sample correction J, as metafor's exact form).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from .effectsize import hedges_correction

__all__ = ["smd_from_difference", "smd_from_reported", "smd_from_between_group", "CI_TO_SMD", "REPORTED_D_TO_SMD"]

#: ``conversion`` texts of :func:`smd_from_between_group`
CI_TO_SMD = "MD/beta with 95% CI -> SD (Cochrane 6.5.2.3)"
REPORTED_D_TO_SMD = "reported standardised effect (effect_std) -> Hedges' g"


def smd_from_difference(effect, ci_low, ci_high, n1i, n2i, confidence_level: float = 0.95):
    """Hedges' g and its variance from a between-group mean difference (or adjusted beta) with its CI.

    The SE is recovered from the CI with t on n1i + n2i - 2 df when either arm has fewer than 60
    participants, else z (Cochrane Handbook 6.5.2.3); the SD as ``SE / sqrt(1/n1i + 1/n2i)``;
    ``d = effect / SD``; ``g = J d`` with metafor's exact ``J``; ``vi = 1/n1i + 1/n2i + g^2 / (2 (n1i + n2i))``
    (metafor's large-sample SMD variance). Returns ``(g, vi, sd)``; the sign is that of ``effect``.

    References
    ----------
    Higgins JPT et al. (eds). Cochrane Handbook, version 6.4 (2023), 6.5.2.3.
    Hedges LV (1981). J Educ Stat 6:107-128 (J).
    """
    n1, n2 = float(n1i), float(n2i)
    df = n1 + n2 - 2
    tail = 1 - (1 - confidence_level) / 2
    q = stats.t.ppf(tail, df) if min(n1, n2) < 60 else stats.norm.ppf(tail)
    se = (float(ci_high) - float(ci_low)) / (2 * q)
    sd = se / np.sqrt(1 / n1 + 1 / n2)
    g = float(hedges_correction(np.array([df]))[0]) * float(effect) / sd
    return g, 1 / n1 + 1 / n2 + g ** 2 / (2 * (n1 + n2)), sd


def smd_from_reported(d, n1i, n2i):
    """Hedges' g (metafor's J times the reported d) and the same variance as :func:`smd_from_difference`."""
    n1, n2 = float(n1i), float(n2i)
    g = float(hedges_correction(np.array([n1 + n2 - 2]))[0]) * float(d)
    return g, 1 / n1 + 1 / n2 + g ** 2 / (2 * (n1 + n2))


def smd_from_between_group(effect, ci_low, ci_high, n1i, n2i, effect_std=np.nan, how: str = "ci"):
    """``(g, vi, conversion)`` of a between-group MD or beta with its 95% CI and per-arm n.

    ``how="ci"`` (primary, protocol 9.2): :func:`smd_from_difference`. ``how="reported_d"``
    (sensitivity): the trial's reported standardised effect ``effect_std`` through
    :func:`smd_from_reported`; its sign is taken from ``effect`` because reports give d as a
    magnitude. Raises ``ValueError`` when ``how="reported_d"`` and no ``effect_std`` is given.
    """
    if how == "ci":
        g, vi, _ = smd_from_difference(effect, ci_low, ci_high, n1i, n2i)
        return g, vi, CI_TO_SMD
    if how != "reported_d":
        raise ValueError("how must be 'ci' or 'reported_d'")
    if effect_std is None or np.isnan(effect_std):
        raise ValueError("no reported standardised effect (effect_std)")
    g, vi = smd_from_reported(abs(float(effect_std)) * np.sign(effect), n1i, n2i)
    return g, vi, REPORTED_D_TO_SMD
