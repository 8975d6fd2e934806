"""Numbers as text: the formats results are reported in (as metafor's ``fmtx`` and ``fmtp``)."""
from __future__ import annotations

import math


def fmt(x, spec: str = ".2f", missing: str = "NA") -> str:
    """Format a number (``None``/NaN -> ``missing``); ``spec="p"`` gives ``"p = 0.062"`` or
    ``"p < 0.001"``, ``spec="pct"`` gives ``"42%"``."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return missing
    if spec == "p":
        return "p < 0.001" if x < 0.001 else f"p = {x:.3f}"
    if spec == "pct":
        return f"{x:.0f}%"
    if isinstance(x, str):
        return x
    return format(x, spec)


def fmt_ci(est, lo, hi, digits: int = 2) -> str:
    """``0.52 (95% CI 0.10 to 0.94)``."""
    if est is None:
        return "not estimable"
    return f"{fmt(est, f'.{digits}f')} (95% CI {fmt(lo, f'.{digits}f')} to {fmt(hi, f'.{digits}f')})"
