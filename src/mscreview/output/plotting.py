"""The review's plots. Each function draws on ``ax=`` (or makes its own figure)
and returns the Figure; none saves (see :func:`mscreview.output.figures.export`).

Inputs are plain tables (pandas DataFrames with metafor-style columns ``yi``,
``vi``, ``ci_low``, ``ci_high`` ...) or mappings, so the plots do not depend on
how a number was computed. Colours come from the Okabe-Ito palette
(:data:`mscreview.output.figures.PALETTE`); every colour-coded category also has a
symbol or a text label, so nothing depends on colour alone.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
J Stat Softw 36(3). (forest, funnel, bubble, leave-one-out and GOSH plots)
Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2008). Contour-enhanced
meta-analysis funnel plots help distinguish publication bias from other causes
of asymmetry. J Clin Epidemiol 61:991-996.
Campbell M, McKenzie JE, Sowden A, et al. (2020). Synthesis without
meta-analysis (SWiM) in systematic reviews: reporting guideline. BMJ 368:l6890.
Boon MH, Thomson H (2021). The effect direction plot revisited. Res Synth
Methods 12:29-33.
Ogilvie D, Fayter D, Petticrew M, et al. (2008). The harvest plot. BMC Med Res
Methodol 8:8.
McGuinness LA, Higgins JPT (2021). Risk-of-bias VISualization (robvis). Res
Synth Methods 12:55-61.
Page MJ, McKenzie JE, Bossuyt PM, et al. (2021). The PRISMA 2020 statement.
BMJ 372:n71.
Olkin I, Dahabreh IJ, Trikalinos TA (2012). GOSH - a graphical display of
study heterogeneity. Res Synth Methods 3:214-223.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

import numpy as np

from .figures import MM_PER_INCH, OKABE_ITO, PALETTE, new_figure, style

__all__ = ["forest", "funnel", "bubble", "effect_direction", "harvest", "rob_traffic_light",
           "rob_summary", "prisma_flow", "evidence_map", "claims_verdicts", "gosh", "leave1out",
           "distribution", "posterior"]

Z95 = 1.959963984540054

#: Risk-of-bias judgement -> (colour, symbol). Okabe-Ito colours plus a symbol, as robvis.
ROB_STYLE = {
    "low": (OKABE_ITO["bluish_green"], "+"),
    "some_concerns": (OKABE_ITO["yellow"], "-"),
    "moderate": (OKABE_ITO["yellow"], "-"),
    "unclear": (OKABE_ITO["yellow"], "?"),
    "high": (OKABE_ITO["vermillion"], "x"),
    "serious": (OKABE_ITO["vermillion"], "x"),
    "critical": ("#7F2704", "!"),
    "no_information": ("#BBBBBB", "?"),
}

#: Claim verdict -> (colour, order).
VERDICT_STYLE = {
    "supported": (OKABE_ITO["bluish_green"], 0),
    "partly_supported": (OKABE_ITO["sky_blue"], 1),
    "not_supported": (OKABE_ITO["vermillion"], 2),
    "not_verifiable": ("#999999", 3),
}

#: Effect direction -> (marker, label) for the SWiM effect direction plot.
DIRECTION_STYLE = {
    "favours_msc": ("^", "favours MSC"),
    "favours_control": ("v", "favours control"),
    "no_difference": ("D", "no difference"),
    "mixed": ("s", "mixed"),
}


def _styled(fn):
    """Run a plot function inside :func:`mscreview.output.figures.style`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)
    return wrapper


def _axes(ax, width="double", height_mm=None):
    if ax is not None:
        return ax.figure, ax
    fig, ax = new_figure(width, height_mm)
    return fig, ax


def _records(obj):
    """A DataFrame, a list of mappings or a single mapping -> list of dicts."""
    if obj is None:
        return []
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
        return obj.to_dict("records")
    if isinstance(obj, Mapping):
        return [dict(obj)]
    if hasattr(obj, "__dataclass_fields__"):
        return [{k: getattr(obj, k) for k in obj.__dataclass_fields__}]
    return [dict(o) if isinstance(o, Mapping) else
            {k: getattr(o, k) for k in o.__dataclass_fields__} for o in obj]


def _finite(x):
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _fmt_ci(est, lo, hi, digits=2):
    if not _finite(est):
        return ""
    if not (_finite(lo) and _finite(hi)):
        return f"{est:.{digits}f}"
    return f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


# ---------------------------------------------------------------------------
# Forest plot
# ---------------------------------------------------------------------------

@_styled
def forest(data, *, yi="yi", vi="vi", ci_low=None, ci_high=None, label="study_id", group=None,
           pooled=None, weight=None, xlabel="Effect size", null=0.0, transf=None, xscale="linear",
           favours=("favours control", "favours MSC"), digits=2, title=None, ax=None, width="double"):
    """Forest plot with optional subgroups, pooled diamonds and prediction intervals.

    Parameters
    ----------
    data : DataFrame
        One row per effect: ``yi`` and ``vi`` (or ``ci_low``/``ci_high`` columns),
        a ``label`` column and, optionally, a ``group`` column.
    pooled : DataFrame or list of mappings, optional
        Pooled results with ``estimate, ci_low, ci_high`` and optionally
        ``pi_low, pi_high, k, i2, tau2``, a ``label`` and a ``group`` (the
        subgroup it summarises; missing or None = overall, drawn last).
    weight : str, optional
        Column with study weights (percent); default inverse variance ``1/vi``.
    transf : callable, optional
        Applied to every x value (e.g. ``np.exp`` for log ratios), with
        ``xscale="log"``.
    favours : (str, str)
        Text under the axis left and right of ``null``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    df = pd.DataFrame(data).reset_index(drop=True)
    if len(df) == 0:
        raise ValueError("forest: no rows to plot")
    est = df[yi].to_numpy(float)
    if ci_low and ci_high:
        lo, hi = df[ci_low].to_numpy(float), df[ci_high].to_numpy(float)
    else:
        se = np.sqrt(df[vi].to_numpy(float))
        lo, hi = est - Z95 * se, est + Z95 * se
    if weight is not None:
        w = df[weight].to_numpy(float)
    elif vi in df:
        w = 1.0 / df[vi].to_numpy(float)
    else:
        w = np.ones(len(df))
    w = np.where(np.isfinite(w), w, np.nan)
    size = 2.0 + 5.0 * np.sqrt(w / np.nanmax(w)) if np.isfinite(w).any() else np.full(len(df), 4.0)
    tf = transf or (lambda x: x)

    pooled = _records(pooled)
    by_group = {}
    overall = []
    for p in pooled:
        g = p.get("group")
        if g is None or (isinstance(g, float) and math.isnan(g)):
            overall.append(p)
        else:
            by_group.setdefault(g, []).append(p)

    # rows top to bottom: (kind, payload)
    rows = []
    if group:
        groups = list(dict.fromkeys(df[group].tolist()))
        for gi, g in enumerate(groups):
            rows.append(("header", str(g)))
            for i in np.flatnonzero(df[group].to_numpy() == g):
                rows.append(("study", i))
            for p in by_group.get(g, []):
                rows.append(("pooled", p))
            if gi < len(groups) - 1 or overall:
                rows.append(("gap", None))
    else:
        rows.extend(("study", i) for i in range(len(df)))
        if overall:
            rows.append(("gap", None))
    for p in overall:
        rows.append(("pooled", p))

    n = len(rows)
    height_mm = 14.0 + 3.4 * n
    fig, ax = _axes(ax, width, height_mm)
    ys = np.arange(n, 0, -1, dtype=float)
    labels, right = [], []
    xs_all = []
    for (kind, payload), y in zip(rows, ys):
        if kind == "header":
            labels.append(payload.replace("_", " "))
            right.append("")
        elif kind == "gap":
            labels.append("")
            right.append("")
        elif kind == "study":
            i = payload
            e, l, h = tf(est[i]), tf(lo[i]), tf(hi[i])
            ax.plot([l, h], [y, y], color="black", lw=0.7, solid_capstyle="butt", zorder=2)
            ax.plot([e], [y], marker="s", ms=size[i], color=PALETTE[0], mec="black", mew=0.3, zorder=3)
            labels.append("   " + str(df.loc[i, label]) if group else str(df.loc[i, label]))
            wt = (100 * w[i] / np.nansum(w[df[group] == df.loc[i, group]] if group else w)
                  if np.isfinite(w[i]) else np.nan)
            right.append(_fmt_ci(est[i], lo[i], hi[i], digits) if transf is None
                         else _fmt_ci(e, l, h, digits))
            if _finite(wt) and weight is None and group is None:
                right[-1] += f"  {wt:4.1f}%"
            xs_all += [l, h]
        else:
            p = payload
            e, l, h = tf(p["estimate"]), tf(p["ci_low"]), tf(p["ci_high"])
            color = "black" if p.get("group") in (None,) or p in overall else PALETTE[1]
            if _finite(p.get("pi_low")) and _finite(p.get("pi_high")):
                pl, ph = tf(p["pi_low"]), tf(p["pi_high"])
                ax.plot([pl, ph], [y, y], color=color, lw=0.7, ls=(0, (2, 1)), zorder=1)
                ax.plot([pl, pl], [y - 0.15, y + 0.15], color=color, lw=0.7, zorder=1)
                ax.plot([ph, ph], [y - 0.15, y + 0.15], color=color, lw=0.7, zorder=1)
                xs_all += [pl, ph]
            ax.fill([l, e, h, e], [y, y + 0.32, y, y - 0.32], facecolor=color, edgecolor="black",
                    lw=0.4, zorder=3)
            lab = p.get("label") or "Random-effects model"
            bits = []
            if _finite(p.get("k")):
                bits.append(f"k = {int(p['k'])}")
            if _finite(p.get("i2")):
                bits.append(f"I\u00b2 = {p['i2']:.0f}%")
            if bits:
                lab += f" ({', '.join(bits)})"
            labels.append(lab)
            txt = (_fmt_ci(p["estimate"], p["ci_low"], p["ci_high"], digits) if transf is None
                   else _fmt_ci(e, l, h, digits))
            if _finite(p.get("pi_low")):
                pl, ph = (p["pi_low"], p["pi_high"]) if transf is None else (tf(p["pi_low"]), tf(p["pi_high"]))
                txt += f"\nPI [{pl:.{digits}f}, {ph:.{digits}f}]"
            right.append(txt)
            xs_all += [l, h]
    nul = tf(null) if null is not None else None
    if nul is not None:
        ax.axvline(nul, color="#555555", lw=0.6, zorder=0)
    ax.set_xscale(xscale)
    ax.set_yticks(ys, labels)
    for tick, (kind, _) in zip(ax.get_yticklabels(), rows):
        if kind in ("header", "pooled"):
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set_ylim(0.3, n + 1.1)   # headroom for the column header below the title
    finite = [x for x in xs_all if _finite(x) and np.isfinite(x)]
    if finite:
        lo_x, hi_x = min(finite + ([nul] if nul is not None else [])), max(finite + ([nul] if nul is not None else []))
        if xscale == "log":
            pad = (hi_x / lo_x) ** 0.05
            ax.set_xlim(lo_x / pad, hi_x * pad)
        else:
            pad = 0.05 * (hi_x - lo_x or 1.0)
            ax.set_xlim(lo_x - pad, hi_x + pad)
    for txt, y in zip(right, ys):
        if txt:
            ax.annotate(txt, xy=(1.02, y), xycoords=("axes fraction", "data"), ha="left", va="center",
                        fontsize=6, annotation_clip=False)
    ax.annotate("Estimate [95% CI]", xy=(1.02, n + 0.75), xycoords=("axes fraction", "data"), ha="left",
                va="center", fontsize=6, fontweight="bold", annotation_clip=False)
    if xscale == "log":
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter
        lo_, hi_ = ax.get_xlim()
        ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lo_ <= t <= hi_]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    # the favours-labels sit between the tick labels and the axis label
    ax.set_xlabel(xlabel, labelpad=12 if favours and nul is not None else 4)
    if favours and nul is not None:
        ax.annotate("\u2190 " + favours[0], xy=(nul, 0), xycoords=("data", "axes fraction"),
                    xytext=(-3, -13), textcoords="offset points", ha="right", va="top", fontsize=5.5)
        ax.annotate(favours[1] + " \u2192", xy=(nul, 0), xycoords=("data", "axes fraction"),
                    xytext=(3, -13), textcoords="offset points", ha="left", va="top", fontsize=5.5)
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------
# Funnel plot (contour-enhanced)
# ---------------------------------------------------------------------------

@_styled
def funnel(yi, vi, *, estimate=None, filled=None, null=0.0, levels=(0.10, 0.05, 0.01),
           xlabel="Effect size", title=None, ax=None, width="single"):
    """Contour-enhanced funnel plot (Peters et al. 2008).

    Shaded regions show where a study's two-sided p value against ``null``
    falls between the given ``levels``; the dashed funnel is centred on the
    pooled ``estimate``. ``filled`` (a mapping or DataFrame with ``yi``, ``vi``)
    adds the studies imputed by trim-and-fill as open circles.
    """
    from scipy import stats

    yi = np.asarray(yi, float)
    sei = np.sqrt(np.asarray(vi, float))
    fig, ax = _axes(ax, width, 70.0)
    extra_se = np.sqrt(np.asarray(filled["vi"], float)) if filled is not None and len(filled["vi"]) else np.array([])
    se_max = max(sei.max(), extra_se.max() if extra_se.size else 0.0) * 1.1
    se_grid = np.linspace(0, se_max, 100)
    shades = ["#FFFFFF", "#DDDDDD", "#BBBBBB", "#999999"]
    levels = sorted(levels, reverse=True)
    zs = [stats.norm.isf(a / 2) for a in levels]
    span = max(np.abs(yi - null).max(), zs[-1] * se_max) * 1.15
    ax.fill_between([null - span, null + span], 0, se_max, color=shades[-1], lw=0, zorder=0,
                    label=f"p < {levels[-1]:g}")
    # draw from the widest region (smallest p) inwards
    labels_ = [f"{levels[i + 1]:g} < p < {levels[i]:g}" for i in range(len(levels) - 1)][::-1]
    for j, z in enumerate(zs[::-1][:-1]):
        # region inside |y| < z*se but outside the next smaller z
        ax.fill_betweenx(se_grid, null - z * se_grid, null + z * se_grid, color=shades[-2 - j], lw=0,
                         zorder=0, label=labels_[j])
    ax.fill_betweenx(se_grid, null - zs[0] * se_grid, null + zs[0] * se_grid, color=shades[0], lw=0,
                     zorder=0, label=f"p > {levels[0]:g}")
    if estimate is not None:
        ax.plot([estimate - Z95 * se_max, estimate, estimate + Z95 * se_max], [se_max, 0, se_max],
                color="black", lw=0.6, ls=(0, (3, 2)), zorder=1)
        ax.axvline(estimate, color="black", lw=0.6, zorder=1)
    ax.scatter(yi, sei, s=14, color=PALETTE[0], edgecolor="black", lw=0.3, zorder=3, label="studies")
    if extra_se.size:
        ax.scatter(np.asarray(filled["yi"], float), extra_se, s=14, facecolor="white",
                   edgecolor="black", lw=0.5, zorder=3, label="imputed (trim-and-fill)")
    ax.set_ylim(se_max, 0)
    ax.set_xlim(null - span, null + span)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Standard error")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=5.5, handlelength=1.0)
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------
# Bubble plot for meta-regression
# ---------------------------------------------------------------------------

@_styled
def bubble(x, yi, vi, *, intercept=None, slope=None, vb=None, labels=None, xlabel="Moderator",
           ylabel="Effect size", null=0.0, title=None, ax=None, width="single"):
    """Bubble plot: effects against a continuous moderator, area proportional to
    the inverse-variance weight, with the fitted meta-regression line and its
    95% confidence band (from ``vb``, the 2x2 covariance of intercept and slope).
    """
    x = np.asarray(x, float)
    yi = np.asarray(yi, float)
    w = 1.0 / np.asarray(vi, float)
    fig, ax = _axes(ax, width, 65.0)
    ax.scatter(x, yi, s=10 + 190 * w / w.max(), facecolor=PALETTE[0] + "99", edgecolor="black",
               lw=0.4, zorder=3)
    if labels is not None:
        for xi_, yi_, lab in zip(x, yi, labels):
            ax.annotate(str(lab), (xi_, yi_), xytext=(3, 3), textcoords="offset points", fontsize=5)
    if intercept is not None and slope is not None:
        gx = np.linspace(x.min(), x.max(), 100)
        gy = intercept + slope * gx
        ax.plot(gx, gy, color="black", lw=0.8, zorder=2)
        if vb is not None:
            vb = np.asarray(vb, float)
            var = vb[0, 0] + gx ** 2 * vb[1, 1] + 2 * gx * vb[0, 1]
            se = np.sqrt(np.maximum(var, 0))
            ax.fill_between(gx, gy - Z95 * se, gy + Z95 * se, color="#CCCCCC", lw=0, zorder=1)
    if null is not None:
        ax.axhline(null, color="#555555", lw=0.5, ls=(0, (2, 2)), zorder=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------
# SWiM: effect direction and harvest plots
# ---------------------------------------------------------------------------

@_styled
def effect_direction(data, *, row="study_id", col="mechanism", direction="direction",
                     significant="significant", n=None, count=None, columns=None, title=None, ax=None,
                     width="double"):
    """Effect direction plot (SWiM; Boon & Thomson 2021).

    One row per study, one column per outcome domain; an upward triangle means
    the outcome favours MSC, downward favours control, a diamond no difference,
    a square mixed results. Filled symbols: reported as statistically
    significant; open: not significant or not stated. Where a study has several
    results in a domain, the cell shows the majority direction (ties: mixed),
    and the count (or the value of the ``count`` column, e.g. rows behind a
    study-level direction). Marker size grows with ``n`` (sample size column) if given.
    """
    import pandas as pd

    df = pd.DataFrame(data)
    rows_ = list(dict.fromkeys(df[row].tolist()))
    present = list(dict.fromkeys(df[col].tolist()))
    if columns is None and col == "mechanism":
        from ..data.schema import MECHANISMS
        columns = list(MECHANISMS)
    cols_ = [c for c in (columns or []) if c in present] + [c for c in present if c not in (columns or [])]
    fig, ax = _axes(ax, width, 16.0 + 3.3 * len(rows_))
    nmax = df[n].max() if n else None
    pts = []   # (x, y, marker, colour, filled, size, count)
    for (r, c), sub in df.groupby([row, col], sort=False):
        counts = sub[direction].value_counts()
        top = counts.index[0]
        if len(counts) > 1 and counts.iloc[0] == counts.iloc[1]:
            top = "mixed"
        sig = (sub.loc[sub[direction] == top, significant] == "yes").any() if top != "mixed" else False
        marker, _ = DIRECTION_STYLE.get(top, ("o", top))
        ms = 4.5 if not n else 3.0 + 4.0 * math.sqrt(sub[n].max() / nmax)
        color = {"favours_msc": PALETTE[0], "favours_control": PALETTE[3]}.get(top, "#666666")
        cnt = int(sub[count].sum()) if count else len(sub)
        pts.append((cols_.index(c), len(rows_) - 1 - rows_.index(r), marker, color, bool(sig), ms, cnt))
    # one collection per (marker, colour, filled, size): fast with hundreds of cells
    groups = {}
    for p in pts:
        groups.setdefault(p[2:6], []).append(p)
    for (marker, color, filled, ms), g in groups.items():
        ax.scatter([p[0] for p in g], [p[1] for p in g], s=ms ** 2, marker=marker, edgecolors=color,
                   facecolors=color if filled else "white", linewidths=0.8, zorder=3)
    for p in pts:
        if p[6] > 1:
            ax.annotate(f"{p[6]}", (p[0], p[1]), xytext=(5, 0), textcoords="offset points", fontsize=5,
                        va="center", color="#444444")
    ax.set_xticks(range(len(cols_)), [str(c).replace("_", " ") for c in cols_], rotation=30, ha="right")
    ax.set_yticks(range(len(rows_)), rows_[::-1])
    ax.set_xlim(-0.6, len(cols_) - 0.4)
    ax.set_ylim(-0.7, len(rows_) - 0.3)
    ax.grid(True, color="#EEEEEE", lw=0.5)
    ax.set_axisbelow(True)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker=m, ls="none", mec="#444444", mfc="#444444", label=lab)
               for m, lab in DIRECTION_STYLE.values()]
    handles.append(Line2D([], [], marker="o", ls="none", mec="#444444", mfc="white", label="open: not significant / not stated"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=5.5)
    if title:
        ax.set_title(title)
    return fig


@_styled
def harvest(data, *, col="mechanism", direction="direction", significant="significant", title=None,
            ax=None, width="double"):
    """Harvest plot (Ogilvie et al. 2008): for each domain, one bar per result in
    three columns (favours control / no difference or mixed / favours MSC);
    tall bars are results reported as significant, short bars the others.
    """
    import pandas as pd

    df = pd.DataFrame(data)
    cols_ = list(dict.fromkeys(df[col].tolist()))
    if col == "mechanism":
        from ..data.schema import MECHANISMS
        cols_ = [m for m in MECHANISMS if m in cols_] + [m for m in cols_ if m not in MECHANISMS]
    fig, axs = new_figure(width, 45.0, nrows=1, ncols=len(cols_), sharey=True, squeeze=False) if ax is None \
        else (ax.figure, np.array([[ax]]))
    axs = axs[0]
    cats = [("favours_control", "control"), ("no_difference", "none/mixed"), ("favours_msc", "MSC")]
    colors = [PALETTE[3], "#999999", PALETTE[0]]

    def members(sub, cat):
        if cat == "no_difference":
            return sub[sub[direction].isin(["no_difference", "mixed"])]
        return sub[sub[direction] == cat]

    # one slot per result; each category gets as many slots as the fullest category needs
    slots = max(1, max(len(members(df[df[col] == c], cat)) for c in cols_ for cat, _ in cats)) + 1
    for j, c in enumerate(cols_):
        a = axs[j] if len(axs) > 1 else axs[0]
        sub = df[df[col] == c]
        for ci, (cat, lab) in enumerate(cats):
            s_ = members(sub, cat)
            if len(s_):
                hgt = np.where(s_[significant].to_numpy() == "yes", 1.0, 0.5)
                a.bar(ci * slots + np.arange(len(s_)), hgt, width=0.8, color=colors[ci], lw=0)
        a.set_xticks([ci * slots + (slots - 2) / 2 for ci in range(3)], [lab for _, lab in cats], fontsize=5.5,
                     rotation=90)
        a.set_title(str(c).replace("_", " "), fontsize=6)
        a.set_yticks([])
        a.spines["left"].set_visible(False)
        a.set_xlim(-1, 3 * slots - 1)
        if len(axs) == 1:
            break
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------
# Risk of bias (robvis style)
# ---------------------------------------------------------------------------

#: Symbols inside the traffic-light circles, as markers (vectorised drawing).
_SYMBOL_MARKERS = {"+": "+", "-": "_", "x": "x", "?": "$?$", "!": "$!$"}


def _rob_domains(rob, tool, domain):
    from ..data.schema import ROB_DOMAINS

    order = ROB_DOMAINS.get(tool, [])
    seen = list(dict.fromkeys(rob[domain].tolist()))
    return [d for d in order if d in seen] + [d for d in seen if d not in order]


def _rob_rows(rob, tool, who):
    """The rows of one risk-of-bias tool (a table with a ``tool`` column, or one tool's rows)."""
    import pandas as pd

    df = pd.DataFrame(rob)
    if "tool" in df:
        df = df[df["tool"] == tool]
    if df.empty:
        raise ValueError(f"{who}: no rows for tool {tool!r}")
    return df


@_styled
def rob_traffic_light(rob, *, tool="SYRCLE", study="study_id", domain="domain", judgement="judgement",
                      title=None, ax=None, width="double"):
    """Traffic-light plot: one row per study, one column per domain, a coloured
    circle with a symbol (+ low, - some concerns, ? unclear, x high)."""
    import pandas as pd

    df = _rob_rows(rob, tool, "rob_traffic_light")
    doms = _rob_domains(df, tool, domain)
    studies = list(dict.fromkeys(df[study].tolist()))
    fig, ax = _axes(ax, width, 22.0 + 3.6 * len(studies))
    # one collection per judgement (circles) and per symbol: hundreds of cells stay fast to draw
    x = df[domain].map({d: i for i, d in enumerate(doms)}).to_numpy(float)
    y = df[study].map({s: len(studies) - 1 - i for i, s in enumerate(studies)}).to_numpy(float)
    judg = df[judgement].to_numpy()
    for j in dict.fromkeys(judg):
        m = judg == j
        color, sym = ROB_STYLE.get(j, ("#DDDDDD", "?"))
        ax.scatter(x[m], y[m], s=38, color=color, edgecolor="black", lw=0.3, zorder=2)
        ax.scatter(x[m], y[m], s=12, marker=_SYMBOL_MARKERS[sym], color="black", lw=0.6, zorder=3)
    ax.set_xticks(range(len(doms)), [d.replace("_", " ") for d in doms], rotation=35, ha="right")
    ax.set_yticks(range(len(studies)), studies[::-1])
    ax.set_xlim(-0.6, len(doms) - 0.4)
    ax.set_ylim(-0.6, len(studies) - 0.4)
    ax.tick_params(length=0)
    for s in ("left", "bottom"):
        ax.spines[s].set_visible(False)
    from matplotlib.lines import Line2D
    present = [j for j in ROB_STYLE if j in set(df[judgement])]
    handles = [Line2D([], [], marker="o", ls="none", mfc=ROB_STYLE[j][0], mec="black", mew=0.3,
                      label=f"{ROB_STYLE[j][1]} {j.replace('_', ' ')}") for j in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=5.5)
    ax.set_title(title or f"Risk of bias ({tool})")
    return fig


@_styled
def rob_summary(rob, *, tool="SYRCLE", domain="domain", judgement="judgement", title=None, ax=None,
                width="double"):
    """Summary bar plot: per domain, the percentage of studies at each judgement."""
    import pandas as pd
    from ..data.schema import ROB_JUDGEMENTS

    df = _rob_rows(rob, tool, "rob_summary")
    doms = _rob_domains(df, tool, domain)
    judg = ROB_JUDGEMENTS.get(tool, sorted(set(df[judgement])))
    judg = [j for j in judg if j in set(df[judgement])] + sorted(set(df[judgement]) - set(judg))
    fig, ax = _axes(ax, width, 14.0 + 4.2 * len(doms))
    tab = pd.crosstab(df[domain], df[judgement], normalize="index").reindex(index=doms, columns=judg).fillna(0)
    left = np.zeros(len(doms))
    ys = np.arange(len(doms))[::-1]
    for j in judg:
        vals = 100 * tab[j].to_numpy()
        ax.barh(ys, vals, left=left, color=ROB_STYLE.get(j, ("#DDDDDD", ""))[0], edgecolor="white", lw=0.4,
                height=0.7, label=j.replace("_", " "))
        left += vals
    ax.set_yticks(ys, [d.replace("_", " ") for d in doms])
    ax.set_xlim(0, 100)
    ax.set_xlabel("Studies (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=5.5)
    ax.set_title(title or f"Risk of bias summary ({tool})")
    return fig


# ---------------------------------------------------------------------------
# PRISMA 2020 flow diagram
# ---------------------------------------------------------------------------

def _box(ax, x, y, w, h, text, fc="white"):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.8", fc=fc,
                                ec="black", lw=0.5))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=5.8, wrap=False,
            linespacing=1.25)


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="-|>", lw=0.5, color="black", shrinkA=0, shrinkB=0,
                                mutation_scale=6))


@_styled
def prisma_flow(counts, *, title=None, ax=None, width="double"):
    """PRISMA 2020 flow diagram drawn from counts (never typed).

    ``counts`` is a mapping with ``identified`` (mapping source -> n, or an
    int), ``duplicates_removed``, ``screened``, ``excluded_screening``,
    ``sought_retrieval``, ``not_retrieved``, ``assessed_eligibility``,
    ``excluded_eligibility`` (mapping reason -> n, or an int),
    ``included_studies`` and optionally ``included_reports`` (see
    :func:`mscreview.output.report.prisma_counts`).
    """
    c = dict(counts)

    def total(v):
        return sum(v.values()) if isinstance(v, Mapping) else int(v)

    def lines(v, indent="  "):
        if isinstance(v, Mapping):
            return "\n".join(f"{indent}{str(k).replace('_', ' ')} (n = {n})" for k, n in v.items() if n)
        return ""

    fig, ax = _axes(ax, width, 120.0)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")
    ident = c.get("identified", 0)
    lw, rw, lx, rx = 44, 44, 4, 54
    h = 13
    rows_y = [80, 60, 40, 20, 2]
    _box(ax, lx, rows_y[0], lw, 16, f"Records identified (n = {total(ident)})\n" + lines(ident))
    _box(ax, rx, rows_y[0], rw, 16, "Records removed before screening:\n"
         f"  duplicate records (n = {c.get('duplicates_removed', 0)})")
    _box(ax, lx, rows_y[1], lw, h, f"Records screened\n(n = {c.get('screened', 0)})")
    _box(ax, rx, rows_y[1], rw, h, f"Records excluded\n(n = {total(c.get('excluded_screening', 0))})")
    _box(ax, lx, rows_y[2], lw, h, f"Reports sought for retrieval\n(n = {c.get('sought_retrieval', 0)})")
    _box(ax, rx, rows_y[2], rw, h, f"Reports not retrieved\n(n = {c.get('not_retrieved', 0)})")
    exc = c.get("excluded_eligibility", 0)
    _box(ax, lx, rows_y[3], lw, h, f"Reports assessed for eligibility\n(n = {c.get('assessed_eligibility', 0)})")
    _box(ax, rx, rows_y[3] - 6, rw, h + 10, f"Reports excluded (n = {total(exc)}):\n" + lines(exc))
    inc = f"Studies included in review\n(n = {c.get('included_studies', 0)})"
    if c.get("included_reports") is not None:
        inc += f"\nReports of included studies (n = {c['included_reports']})"
    _box(ax, lx, rows_y[4], lw, h + 1, inc, fc="#E8F1F8")
    for y0, y1 in zip(rows_y[:-1], rows_y[1:]):
        _arrow(ax, lx + lw / 2, y0, lx + lw / 2, y1 + (h + 1 if y1 == rows_y[4] else h))
    for y in rows_y[:4]:
        yy = y + (8 if y == rows_y[0] else h / 2)
        _arrow(ax, lx + lw, yy, rx, yy)
    for lab, y in (("Identification", 88), ("Screening", 40), ("Included", 9)):
        ax.text(1.5, y, lab, rotation=90, ha="center", va="center", fontsize=6, fontweight="bold")
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------
# Evidence map
# ---------------------------------------------------------------------------

@_styled
def evidence_map(counts, *, annot=None, xlabel="MSC source", ylabel="Mechanism", cbar_label="Studies",
                 title=None, ax=None, width="double"):
    """Heatmap of a mechanism x source table of counts (e.g. number of studies),
    each cell annotated with its count and, optionally, a second line from
    ``annot`` (same shape: e.g. animals or a pooled effect)."""
    import pandas as pd

    tab = pd.DataFrame(counts)
    fig, ax = _axes(ax, width, 18.0 + 8.0 * len(tab.index))
    vals = tab.to_numpy(float)
    im = ax.imshow(np.where(vals > 0, vals, np.nan), cmap="cividis_r", aspect="auto",
                   vmin=0, vmax=max(1.0, np.nanmax(vals) if np.isfinite(vals).any() else 1.0))
    ax.set_xticks(range(tab.shape[1]), [str(c).replace("_", " ") for c in tab.columns], rotation=30, ha="right")
    ax.set_yticks(range(tab.shape[0]), [str(r).replace("_", " ") for r in tab.index])
    vmax = np.nanmax(vals) if vals.size else 1
    for i in range(tab.shape[0]):
        for j in range(tab.shape[1]):
            v = vals[i, j]
            txt = "" if not np.isfinite(v) or v == 0 else f"{v:g}"
            if annot is not None:
                extra = pd.DataFrame(annot).reindex(index=tab.index, columns=tab.columns).iloc[i, j]
                if isinstance(extra, str) and extra:
                    txt = f"{txt}\n{extra}" if txt else extra
            if txt:
                ax.text(j, i, txt, ha="center", va="center", fontsize=5.5, linespacing=1.1,
                        color="white" if v > 0.55 * vmax else "black")
    ax.set_xticks(np.arange(-0.5, tab.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, tab.shape[0]), minor=True)
    ax.grid(which="minor", color="white", lw=1.0)
    ax.tick_params(which="minor", length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.01)
    cb.set_label(cbar_label)
    cb.outline.set_linewidth(0.4)
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------
# Claims verdicts
# ---------------------------------------------------------------------------

_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+")


def _latin(text: str) -> str:
    """Drop CJK characters (not in the embedded DejaVu font) and the empty quotes they leave."""
    text = _CJK.sub("", text)
    text = re.sub(r"\(\s*[\"'\u201c\u201d\u2018\u2019]*\s*[\"'\u201c\u201d\u2018\u2019]*\s*\)", "", text)
    return re.sub(r"\s{2,}", " ", text).strip()


@_styled
def claims_verdicts(claims, *, claim_id="claim_id", claim="claim", verdict="verdict", max_chars=70,
                    title=None, ax=None, width="double"):
    """One row per claim of the source article, a coloured box with the verdict
    (supported / partly supported / not supported / not verifiable) in words."""
    import pandas as pd
    import textwrap

    df = pd.DataFrame(claims).reset_index(drop=True)
    fig, ax = _axes(ax, width, 12.0 + 9.0 * len(df))
    n = len(df)
    for i, r in df.iterrows():
        y = n - 1 - i
        color, _ = VERDICT_STYLE.get(str(r[verdict]).strip().lower().replace(" ", "_"), ("#DDDDDD", 9))
        ax.add_patch(__import__("matplotlib.patches", fromlist=["FancyBboxPatch"]).FancyBboxPatch(
            (0.70, y - 0.32), 0.28, 0.64, boxstyle="round,pad=0,rounding_size=0.05", fc=color, ec="none"))
        ax.text(0.84, y, str(r[verdict]).replace("_", " "), ha="center", va="center", fontsize=6.5,
                fontweight="bold", color="black")
        text = textwrap.shorten(_latin(str(r[claim])), width=max_chars * 2, placeholder=" ...")
        ax.text(0.0, y, f"{r[claim_id]}", ha="left", va="center", fontsize=6.5, fontweight="bold")
        ax.text(0.06, y, "\n".join(textwrap.wrap(text, max_chars)), ha="left", va="center", fontsize=6,
                linespacing=1.15)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, n - 0.4)
    ax.axis("off")
    ax.set_title(title or "Claims of the source article against the evidence")
    return fig


# ---------------------------------------------------------------------------
# Sensitivity: GOSH and leave-one-out
# ---------------------------------------------------------------------------

@_styled
def gosh(results, *, x="i2", y="estimate", title=None, ax=None, width="single"):
    """GOSH plot: pooled estimate against I-squared for every subset of studies
    (points rasterised so vector files stay small), with marginal histograms."""
    import pandas as pd

    df = pd.DataFrame(results)
    if ax is None:
        fig, _ = new_figure(width, 75.0, nrows=0, ncols=0)
        gs = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4))
        ax = fig.add_subplot(gs[1, 0])
        axx = fig.add_subplot(gs[0, 0], sharex=ax)
        axy = fig.add_subplot(gs[1, 1], sharey=ax)
        axx.hist(df[x], bins=50, color=PALETTE[0], lw=0)
        axy.hist(df[y], bins=50, color=PALETTE[0], lw=0, orientation="horizontal")
        axx.axis("off")
        axy.axis("off")
    else:
        fig = ax.figure
    ax.scatter(df[x], df[y], s=1.0, color=PALETTE[0], alpha=0.25, lw=0, rasterized=True)
    ax.set_xlabel("I\u00b2 (%)" if x == "i2" else x)
    ax.set_ylabel("Pooled estimate" if y == "estimate" else y)
    if title:
        fig.suptitle(title)
    return fig


@_styled
def leave1out(results, *, full=None, label="study_id", xlabel="Pooled estimate omitting the study",
              null=0.0, title=None, ax=None, width="single"):
    """Leave-one-out plot: the pooled estimate and 95% CI without each study,
    a solid line at the estimate from all studies (``full``: a mapping or an
    object with ``estimate``, ``ci_low``, ``ci_high``) and its CI shaded."""
    import pandas as pd

    df = pd.DataFrame(results).reset_index(drop=True)
    fig, ax = _axes(ax, width, 14.0 + 3.6 * len(df))
    ys = np.arange(len(df))[::-1]
    if full is not None:
        f = _records(full)[0]
        ax.axvspan(f["ci_low"], f["ci_high"], color="#E5E5E5", lw=0, zorder=0)
        ax.axvline(f["estimate"], color="black", lw=0.7, zorder=1)
    if null is not None:
        ax.axvline(null, color="#555555", lw=0.5, ls=(0, (2, 2)), zorder=1)
    ax.hlines(ys, df["ci_low"], df["ci_high"], color="black", lw=0.7, zorder=2)
    ax.plot(df["estimate"], ys, "o", color=PALETTE[0], mec="black", mew=0.3, zorder=3)
    ax.set_yticks(ys, [f"\u2212 {s}" for s in df[label]])
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------
# Distributions and posteriors
# ---------------------------------------------------------------------------

@_styled
def distribution(values, *, kind="bar", by=None, xlabel="", ylabel="Studies", log=False, title=None,
                 ax=None, width="single"):
    """Counts of a categorical variable (``kind="bar"``, horizontal bars, stacked
    by ``by`` if given) or a histogram of a numeric one (``kind="hist"``, on a
    log10 axis when ``log``)."""
    import pandas as pd

    fig, ax = _axes(ax, width, 55.0)
    if kind == "hist":
        v = pd.Series(values, dtype=float).dropna()
        v = v[v > 0] if log else v
        data = np.log10(v) if log else v
        ax.hist(data, bins=min(20, max(5, len(v))), color=PALETTE[0], edgecolor="white", lw=0.4)
        ax.set_xlabel(f"log10 {xlabel}" if log else xlabel)
        ax.set_ylabel(ylabel)
    else:
        s = pd.Series(values).fillna("not reported").astype(str)
        if by is None:
            cnt = s.value_counts()
            cnt = cnt.iloc[::-1]
            ax.barh([c.replace("_", " ") for c in cnt.index], cnt.to_numpy(), color=PALETTE[0])
        else:
            tab = pd.crosstab(s, pd.Series(by, index=s.index).fillna("not reported").astype(str))
            tab = tab.loc[tab.sum(axis=1).sort_values().index]
            left = np.zeros(len(tab))
            for k, colname in enumerate(tab.columns):
                ax.barh([c.replace("_", " ") for c in tab.index], tab[colname].to_numpy(), left=left,
                        color=PALETTE[k % len(PALETTE)], label=str(colname).replace("_", " "))
                left += tab[colname].to_numpy()
            ax.legend(fontsize=5.5)
        ax.set_xlabel(ylabel)
        ax.set_ylabel(xlabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        ax.set_title(title)
    return fig


@_styled
def posterior(curves, *, xlabel="Effect size", null=0.0, title=None, ax=None, width="single"):
    """Posterior densities: ``curves`` maps a label to ``(x, density)``."""
    fig, ax = _axes(ax, width, 55.0)
    for k, (lab, (x, d)) in enumerate(dict(curves).items()):
        ax.plot(x, d, color=PALETTE[k % len(PALETTE)], label=str(lab))
    if null is not None:
        ax.axvline(null, color="#555555", lw=0.5, ls=(0, (2, 2)))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Posterior density")
    ax.legend(fontsize=5.5)
    if title:
        ax.set_title(title)
    return fig


_ = MM_PER_INCH  # re-exported for callers sizing figures
