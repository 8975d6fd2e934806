"""Meta-analytic plots, drawn as metafor draws them: forest, contour-enhanced funnel, bubble
(meta-regression), GOSH and leave-one-out."""
from __future__ import annotations

import math

import numpy as np

from .figures import PALETTE, new_figure
from .plotbase import Z95, styled, axes, as_records, is_value, ci_text, chars_for, wrap, width_mm
from .plotbase import label as _display

# ---------------------------------------------------------------------------
# Forest plot
# ---------------------------------------------------------------------------

#: A study interval wider than this many times the median study interval (k >= 3) does not set the
#: axis limits; it is clipped at them with an arrow, as metafor's ``alim``.
WIDE = 4.0

@styled
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

    The x axis spans the study intervals (with the null and the pooled estimates); a pooled
    interval or prediction interval reaching beyond, or a study interval more than :data:`WIDE`
    times the median study interval, is clipped at the axis limit with an arrow, as metafor's
    ``alim`` does, so a k = 2 Hartung-Knapp diamond does not squash the studies.
    Labels are wrapped for ``width`` (never cut) and each row grows with its lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    label_col = label
    label = _display
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

    pooled = as_records(pooled)
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

    # labels wrapped for the width the figure is drawn at (never cut); a row grows with its lines
    wmm = width_mm(width) if ax is None else ax.figure.get_size_inches()[0] * 25.4
    nchar = chars_for(wmm, 0.36)
    labels, right, kinds = [], [], []
    for kind, payload in rows:
        if kind == "header":
            labels.append(wrap(label(payload), nchar))
        elif kind == "gap":
            labels.append("")
        elif kind == "study":
            lab = str(df.loc[payload, label_col])
            labels.append(wrap(lab, nchar - 3).replace("\n", "\n   ") if group else wrap(lab, nchar))
            if group:
                labels[-1] = "   " + labels[-1]
        else:
            p = payload
            lab = p.get("label") or "Random-effects model"
            bits = []
            if is_value(p.get("k")):
                bits.append(f"k = {int(p['k'])}")
            if is_value(p.get("i2")):
                bits.append(f"I\u00b2 = {p['i2']:.0f}%")
            if bits:
                lab += f" ({', '.join(bits)})"
            labels.append(wrap(lab, nchar))
        kinds.append(kind)
    heights = []
    for kind, (k2, payload), lab in zip(kinds, rows, labels):
        lines = lab.count("\n") + 1
        if kind == "pooled" and is_value(payload.get("pi_low")):
            lines = max(lines, 2)
        heights.append(1.0 + 0.9 * (lines - 1))   # a 6.5-pt line is ~0.8 of a 3.4-mm row
    n = len(rows)
    total = float(sum(heights))
    height_mm = max(18.0 + 3.4 * total, 42.0)   # a floor, so that a forest of two or three rows stays legible
    fig, ax = axes(ax, width, height_mm)
    tops = np.cumsum([0.0] + heights[:-1])
    ys = total - tops - np.asarray(heights) / 2 + 0.5

    # axis limits from the study intervals (and the null and pooled estimates), as metafor's alim;
    # a pooled interval or prediction interval reaching further is clipped with an arrow
    # a study interval more than WIDE times the median study interval is clipped too (e.g. a pooled
    # k = 2 estimate shown as a row beside published estimates)
    widths = np.asarray([tf(hi[i]) - tf(lo[i]) for i in range(len(df))], float)
    if xscale == "log":
        widths = np.log(np.asarray([tf(hi[i]) for i in range(len(df))], float)
                        / np.asarray([tf(lo[i]) for i in range(len(df))], float))
    fin = widths[np.isfinite(widths)]
    limit_w = WIDE * float(np.median(fin)) if fin.size >= 3 else np.inf
    study_x = [v for i in range(len(df))
               for v in ((tf(est[i]),) if widths[i] > limit_w else (tf(lo[i]), tf(hi[i]), tf(est[i])))
               if np.isfinite(v)]
    anchor = list(study_x)
    if null is not None:
        anchor.append(tf(null))
    for p in pooled:
        if is_value(p.get("estimate")):
            anchor.append(tf(p["estimate"]))
    if xscale == "log":
        anchor = [a for a in anchor if a > 0]
        L, U = np.log(min(anchor)), np.log(max(anchor))
    else:
        L, U = min(anchor), max(anchor)
    span = (U - L) or 1.0
    # a pooled CI just beyond the studies widens the axis (by at most a quarter of their span)
    for p in pooled:
        for key in ("ci_low", "ci_high"):
            if is_value(p.get(key)):
                v = tf(p[key])
                v = np.log(v) if xscale == "log" and v > 0 else (v if xscale != "log" else None)
                if v is not None and L - 0.25 * span <= v < L:
                    L = v
                if v is not None and U < v <= U + 0.25 * span:
                    U = v
    pad = 0.05 * ((U - L) or 1.0)
    xmin, xmax = (np.exp(L - pad), np.exp(U + pad)) if xscale == "log" else (L - pad, U + pad)
    clipped = {"any": False}

    def clip_segment(a, b, y, color, ls="-", lw=0.7, z=2):
        a2, b2 = max(a, xmin), min(b, xmax)
        ax.plot([a2, b2], [y, y], color=color, lw=lw, ls=ls, solid_capstyle="butt", zorder=z)
        for end, cut, side in ((a2, a < xmin, "<"), (b2, b > xmax, ">")):
            if cut:
                clipped["any"] = True
                ax.plot([end], [y], marker=side, ms=3.2, color=color, mew=0, zorder=z + 1, clip_on=False)
        return a < xmin, b > xmax

    for (kind, payload), y in zip(rows, ys):
        if kind == "study":
            i = payload
            e, l, h = tf(est[i]), tf(lo[i]), tf(hi[i])
            clip_segment(l, h, y, "black")
            ax.plot([e], [y], marker="s", ms=size[i], color=PALETTE[0], mec="black", mew=0.3, zorder=3)
            wt = (100 * w[i] / np.nansum(w[df[group] == df.loc[i, group]] if group else w)
                  if np.isfinite(w[i]) else np.nan)
            right.append(ci_text(est[i], lo[i], hi[i], digits) if transf is None else ci_text(e, l, h, digits))
            # a weight means something only beside the pooled estimate it contributes to
            if is_value(wt) and weight is None and group is None and any(k == "pooled" for k, _ in rows):
                right[-1] += f"  {wt:4.1f}%"
        elif kind == "pooled":
            p = payload
            e, l, h = tf(p["estimate"]), tf(p["ci_low"]), tf(p["ci_high"])
            color = "black" if p.get("group") in (None,) or p in overall else PALETTE[1]
            if is_value(p.get("pi_low")) and is_value(p.get("pi_high")):
                pl, ph = tf(p["pi_low"]), tf(p["pi_high"])
                cut_l, cut_h = clip_segment(pl, ph, y, color, ls=(0, (2, 1)), z=1)
                for xx, cut in ((pl, cut_l), (ph, cut_h)):
                    if not cut:
                        ax.plot([xx, xx], [y - 0.15, y + 0.15], color=color, lw=0.7, zorder=1)
            lc, hc = max(l, xmin), min(h, xmax)
            ec = min(max(e, xmin), xmax)
            ax.fill([lc, ec, hc, ec], [y, y + 0.32, y, y - 0.32], facecolor=color, edgecolor="black",
                    lw=0.4, zorder=3)
            for end, cut, side in ((lc, l < xmin, "<"), (hc, h > xmax, ">")):
                if cut:
                    clipped["any"] = True
                    ax.plot([end], [y], marker=side, ms=3.6, color="black", mew=0, zorder=4, clip_on=False)
            txt = (ci_text(p["estimate"], p["ci_low"], p["ci_high"], digits) if transf is None
                   else ci_text(e, l, h, digits))
            if is_value(p.get("pi_low")):
                pl, ph = (p["pi_low"], p["pi_high"]) if transf is None else (tf(p["pi_low"]), tf(p["pi_high"]))
                txt += f"\nPI [{pl:.{digits}f}, {ph:.{digits}f}]"
            right.append(txt)
        else:
            right.append("")
    nul = tf(null) if null is not None else None
    if nul is not None:
        ax.axvline(nul, color="#555555", lw=0.6, zorder=0)
    ax.set_xscale(xscale)
    ax.set_yticks(ys, labels)
    for tick, kind in zip(ax.get_yticklabels(), kinds):
        if kind in ("header", "pooled"):
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set_ylim(0.3, total + 1.4)   # headroom for the column header below the title
    ax.set_xlim(xmin, xmax)
    n = total
    for txt, y in zip(right, ys):
        if txt:
            ax.annotate(txt, xy=(1.02, y), xycoords=("axes fraction", "data"), ha="left", va="center",
                        fontsize=6, annotation_clip=False)
    ax.annotate("Estimate [95% CI]", xy=(1.02, n + 0.95), xycoords=("axes fraction", "data"), ha="left",
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

@styled
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
    fig, ax = axes(ax, width, 70.0)
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

@styled
def bubble(x, yi, vi, *, intercept=None, slope=None, vb=None, labels=None, xlabel="Moderator",
           ylabel="Effect size", null=0.0, title=None, ax=None, width="single"):
    """Bubble plot: effects against a continuous moderator, area proportional to
    the inverse-variance weight, with the fitted meta-regression line and its
    95% confidence band (from ``vb``, the 2x2 covariance of intercept and slope).
    """
    x = np.asarray(x, float)
    yi = np.asarray(yi, float)
    w = 1.0 / np.asarray(vi, float)
    fig, ax = axes(ax, width, 65.0)
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
# Sensitivity: GOSH and leave-one-out
# ---------------------------------------------------------------------------

@styled
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


@styled
def leave1out(results, *, full=None, label="study_id", xlabel="Pooled estimate omitting the study",
              null=0.0, title=None, ax=None, width="single"):
    """Leave-one-out plot: the pooled estimate and 95% CI without each study,
    a solid line at the estimate from all studies (``full``: a mapping or an
    object with ``estimate``, ``ci_low``, ``ci_high``) and its CI shaded."""
    import pandas as pd

    df = pd.DataFrame(results).reset_index(drop=True)
    fig, ax = axes(ax, width, 14.0 + 3.6 * len(df))
    ys = np.arange(len(df))[::-1]
    if full is not None:
        f = as_records(full)[0]
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
