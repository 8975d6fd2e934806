"""The overview figure: effect sizes by mechanism and MSC source on one page.

One row per item, in bands per mechanism and population; columns (left to right): product class, MSC
source, the item's label (study, pooled estimate, published estimate or direction counts), the
effect on a common SMD axis, and the estimate with its CI as text. Study effects are squares sized by
n, pooled estimates filled diamonds, published estimates open diamonds in another colour;
direction-only cells are counts written across the axis. Intervals beyond the axis limits end in an
arrow, as metafor's ``alim``.
"""
from __future__ import annotations

import textwrap

import numpy as np

from .figures import MM_PER_INCH, OKABE_ITO, PALETTE, new_figure
from .plotbase import is_value, styled

#: Column layout in millimetres from the figure's left edge, for the 174-mm double-column width
#: (:data:`mscreview.output.figures.WIDTHS_MM`), at which the figure is exported.
COLUMNS_MM = {"group": 1.0, "source": 20.0, "label": 48.0, "plot": (106.0, 141.0), "value": 143.0}
#: Characters per line before a label wraps (at 5.2 pt, about 0.95 mm per character).
WRAP = {"group": 19, "source": 29, "label": 62}
ROW_MM = 2.15
FONT = 5.2

STUDY_COLOUR = PALETTE[0]
PUBLISHED_COLOUR = OKABE_ITO["vermillion"]


def _wrap(text, width) -> list[str]:
    text = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def _layout(rows):
    """Top-to-bottom list of (kind, payload, height in rows). The product class and the source are
    written at the first row of their blocks; a block gets as many rows as their wrapped lines need."""
    items = []
    for (band, sub), g in rows.groupby(["band", "subband"], sort=False):
        items.append(("header", f"{band}  \u00b7  {sub}", 1.3 if items else 1.0))
        for grp, gg in g.groupby("group", sort=False):
            group_rows = []
            for src, sg in gg.groupby("source", sort=False):
                block = []
                for r in sg.to_dict("records"):
                    h = max(1, len(_wrap(r["label"], WRAP["label"]))) if r["draw"] != "text" else 1
                    block.append([("row"), dict(r), h])
                block[0][1]["_source"] = src
                need = len(_wrap(src, WRAP["source"]))
                have = sum(b[2] for b in block)
                if need > have:
                    block[-1][2] += need - have
                group_rows.extend(block)
            group_rows[0][1]["_group"] = grp
            need = len(_wrap(grp, WRAP["group"]))
            have = sum(b[2] for b in group_rows)
            if need > have:
                group_rows[-1][2] += need - have
            items.extend(tuple(b) for b in group_rows)
    return items


@styled
def effect_overview(rows, *, xlim=None, xlabel="Standardised mean difference (Hedges' g)",
                    favours=("favours control", "favours MSC"), ax=None, width="double"):
    """Effect sizes by mechanism and MSC source on one page (see :mod:`mscreview.output.overview`).

    Parameters
    ----------
    rows : DataFrame
        From :func:`mscreview.review.overview.overview_rows`: ``band, subband, group, source, kind, draw,
        label, estimate, ci_low, ci_high, n, measure``; ``draw`` is ``square`` (study), ``diamond``
        (pooled), ``open_diamond`` (published SMD), ``value_text`` (published, other measure: printed
        only) or ``text`` (direction counts, written across the axis).
    xlim : (float, float), optional
        Axis limits; intervals beyond them end in an arrow. Default: from the plotted estimates
        (at least -1 to 3, at most -4 to 8).
    ax : matplotlib Axes, optional
        The axes for the effect column; the text columns are drawn to its left and right.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    df = pd.DataFrame(rows).reset_index(drop=True)
    if df.empty:
        raise ValueError("effect_overview: no rows to plot")
    items = _layout(df)
    total = sum(h for _, _, h in items)
    top_mm, bottom_mm = 5.0, 20.0
    height_mm = top_mm + bottom_mm + ROW_MM * total
    if ax is None:
        fig, _ = new_figure(width, height_mm, nrows=0)
        fig.set_layout_engine("none")
        w_mm = fig.get_size_inches()[0] * MM_PER_INCH
        x0, x1 = COLUMNS_MM["plot"]
        ax = fig.add_axes([x0 / w_mm, bottom_mm / height_mm, (x1 - x0) / w_mm, ROW_MM * total / height_mm])
    fig = ax.figure
    fig_w_mm = fig.get_size_inches()[0] * MM_PER_INCH
    pos = ax.get_position()
    ax_l_mm, ax_w_mm = pos.x0 * fig_w_mm, pos.width * fig_w_mm

    def xf(mm):   # figure millimetres -> axes fraction
        return (mm - ax_l_mm) / ax_w_mm

    tr = blended_transform_factory(ax.transAxes, ax.transData)

    plotted = df["draw"].isin(["square", "diamond", "open_diamond"])
    est = pd.to_numeric(df.loc[plotted, "estimate"], errors="coerce").dropna()
    if xlim is None:
        lo = min(-1.0, np.floor(est.min()) - 0.5 if len(est) else -1.0)
        hi = max(3.0, np.ceil(est.max()) + 0.5 if len(est) else 3.0)
        xlim = (max(lo, -4.0), min(hi, 8.0))
    a, b = xlim
    nmax = pd.to_numeric(df["n"], errors="coerce").max()

    y = total
    for kind, payload, h in items:
        yc = y - h / 2
        if kind == "header":
            yt = y - h + 0.5
            ax.text(xf(COLUMNS_MM["group"]), yt, payload, transform=tr, ha="left", va="center",
                    fontsize=FONT + 1, fontweight="bold", clip_on=False)
            ax.plot([xf(COLUMNS_MM["group"]), xf(fig_w_mm - 1)], [y - h + 1, y - h + 1], transform=tr,
                    color="#BBBBBB", lw=0.4, clip_on=False)
            y -= h
            continue
        r = payload
        if "_group" in r:
            lines = _wrap(r["_group"], WRAP["group"])
            ax.text(xf(COLUMNS_MM["group"]), y - 0.5 + (0.5 if len(lines) > 1 else 0), "\n".join(lines),
                    transform=tr, ha="left", va="center" if len(lines) == 1 else "top", fontsize=FONT,
                    clip_on=False, linespacing=1.0)
        if "_source" in r:
            lines = _wrap(r["_source"], WRAP["source"])
            ax.text(xf(COLUMNS_MM["source"]), y - 0.5 + (0.5 if len(lines) > 1 else 0), "\n".join(lines),
                    transform=tr, ha="left", va="center" if len(lines) == 1 else "top",
                    fontsize=FONT, clip_on=False, linespacing=1.0)
        draw = r["draw"]
        if draw == "text":
            ax.text(0.01, y - 0.5, r["label"], transform=tr, ha="left", va="center", fontsize=FONT,
                    color="#333333", style="italic", clip_on=False, zorder=4,
                    bbox=dict(facecolor="white", edgecolor="none", pad=0.3))
            y -= h
            continue
        lab = _wrap(r["label"], WRAP["label"])
        ax.text(xf(COLUMNS_MM["label"]), y - 0.5 + (0.5 if len(lab) > 1 else 0), "\n".join(lab), transform=tr,
                ha="left", va="center" if len(lab) == 1 else "top", fontsize=FONT, clip_on=False,
                linespacing=1.0, fontweight="bold" if draw == "diamond" else "normal",
                color=PUBLISHED_COLOUR if r["kind"] == "published" else "black")
        e, l_, u = (float(r[c]) if is_value(r.get(c)) and pd.notna(r.get(c)) else np.nan
                    for c in ("estimate", "ci_low", "ci_high"))
        ym = y - 0.5
        measure = r.get("measure") if isinstance(r.get("measure"), str) else ""
        txt = "" if np.isnan(e) else (f"{e:.2f}" if np.isnan(l_) else f"{e:.2f} [{l_:.2f}, {u:.2f}]")
        if draw == "value_text":
            txt = f"{measure} {txt}" if txt else f"{measure} not estimable"
        elif r["kind"] == "published" and not measure:
            txt += "\u2020"
        ax.text(xf(COLUMNS_MM["value"]), ym, txt, transform=tr, ha="left", va="center", fontsize=FONT,
                clip_on=False, color=PUBLISHED_COLOUR if r["kind"] == "published" else "black")
        if draw == "value_text" or np.isnan(e):
            y -= h
            continue
        colour = {"square": STUDY_COLOUR, "diamond": "black", "open_diamond": PUBLISHED_COLOUR}[draw]
        if not np.isnan(l_) and not np.isnan(u):
            cl, cu = max(l_, a), min(u, b)
            if cu > cl:
                ax.plot([cl, cu], [ym, ym], color=colour, lw=0.7, solid_capstyle="butt", zorder=2)
            for end, lim, sgn in ((l_, a, -1), (u, b, 1)):
                if (sgn < 0 and end < lim) or (sgn > 0 and end > lim):
                    ax.annotate("", xy=(lim, ym), xytext=(lim - sgn * 0.04 * (b - a), ym),
                                arrowprops=dict(arrowstyle="-|>", color=colour, lw=0.6, mutation_scale=4),
                                annotation_clip=False)
        ex = min(max(e, a), b)
        if draw == "square":
            n = r.get("n")
            ms = 2.0 + 3.0 * np.sqrt(n / nmax) if is_value(n) and nmax > 0 else 3.0
            ax.plot([ex], [ym], marker="s", ms=ms, color=colour, mec="black", mew=0.3, zorder=3)
        else:
            half = 0.36
            w = 0.025 * (b - a) if draw == "open_diamond" or np.isnan(l_) else None
            dl, du = (ex - w, ex + w) if w is not None else (max(l_, a), min(u, b))
            if draw == "diamond":
                ax.fill([dl, ex, du, ex], [ym, ym + half, ym, ym - half], facecolor="black", edgecolor="black",
                        lw=0.4, zorder=3)
            else:
                ax.fill([dl, ex, du, ex], [ym, ym + half, ym, ym - half], facecolor="white",
                        edgecolor=colour, lw=0.7, zorder=3)
        y -= h

    ax.set_xlim(a, b)
    ax.set_ylim(0, total)
    ax.axvline(0.0, color="#555555", lw=0.5, zorder=0)
    ax.set_yticks([])
    for s in ("left", "right", "top"):
        ax.spines[s].set_visible(False)
    ax.tick_params(axis="x", labelsize=FONT)
    ax.set_xticks(np.arange(np.ceil(a), np.floor(b) + 1, 1.0))
    ax.set_xlabel(xlabel, fontsize=FONT + 0.5, labelpad=12)
    ax.annotate("\u2190 " + favours[0], xy=(0, 0), xycoords=("data", "axes fraction"), xytext=(-2, -11),
                textcoords="offset points", ha="right", va="top", fontsize=FONT - 0.5)
    ax.annotate(favours[1] + " \u2192", xy=(0, 0), xycoords=("data", "axes fraction"), xytext=(2, -11),
                textcoords="offset points", ha="left", va="top", fontsize=FONT - 0.5)
    for name, x in (("Product", "group"), ("MSC source", "source"), ("Study, pooled or published estimate", "label")):
        ax.text(xf(COLUMNS_MM[x]), total + 0.6, name, transform=tr, ha="left", va="bottom", fontsize=FONT,
                fontweight="bold", clip_on=False)
    ax.text(xf(COLUMNS_MM["value"]), total + 0.6, "Estimate [95% CI]", transform=tr, ha="left", va="bottom",
            fontsize=FONT, fontweight="bold", clip_on=False)
    handles = [
        Line2D([], [], marker="s", ls="-", color=STUDY_COLOUR, mec="black", mew=0.3, ms=3.5, lw=0.7,
               label="Study (Hedges' g, 95% CI; size: n)"),
        Line2D([], [], marker="D", ls="-", color="black", ms=3.5, lw=0.7, label="Pooled, REML + Hartung-Knapp (k \u2265 2)"),
        Line2D([], [], marker="D", ls="-", color=PUBLISHED_COLOUR, mfc="white", ms=3.5, lw=0.7,
               label="Published meta-analysis"),
        Line2D([], [], ls="none", label="Italic: cohorts without an effect size, by direction"),
        Line2D([], [], ls="none", label="RR, MD: another scale, printed only (RR < 1: fewer events with MSC)"),
        Line2D([], [], ls="none", label="\u2020 effect measure not stated on the page read"),
    ]
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(COLUMNS_MM["group"] / fig_w_mm, 0.0),
               ncol=3, fontsize=FONT, frameon=False, handlelength=2.2, columnspacing=1.5)
    return fig
