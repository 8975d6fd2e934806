"""Confidence intervals for proportions and their difference (score methods).

References
----------
Wilson EB (1927). Probable inference, the law of succession, and statistical inference. J Am Stat
Assoc 22:209-212.
Newcombe RG (1998). Interval estimation for the difference between independent proportions:
comparison of eleven methods. Stat Med 17:873-890 (method 10, the hybrid score interval).
"""
from __future__ import annotations

import math

from scipy import stats

__all__ = ["wilson_ci", "newcombe_rd_ci"]


def _z(confidence_level: float) -> float:
    return float(stats.norm.ppf(1 - (1 - confidence_level) / 2))


def wilson_ci(x: int, n: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) of ``x / n``; valid for ``x = 0`` and ``x = n``."""
    if n <= 0 or not 0 <= x <= n:
        raise ValueError(f"need 0 <= x <= n and n > 0 (x = {x}, n = {n})")
    z = _z(confidence_level)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_rd_ci(x1: int, n1: int, x2: int, n2: int, confidence_level: float = 0.95) -> tuple[float, float, float]:
    """Risk difference ``x1/n1 - x2/n2`` with Newcombe's hybrid score interval (1998, method 10).

    ``L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)`` with
    ``(l_i, u_i)`` the Wilson intervals of each proportion. Defined with zero events in both arms.

    Returns
    -------
    (rd, ci_low, ci_high)
    """
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_ci(x1, n1, confidence_level)
    l2, u2 = wilson_ci(x2, n2, confidence_level)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
