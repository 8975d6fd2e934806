"""SWiM plots for direction-only evidence: the effect direction plot and the harvest plot.

References
----------
Boon MH, Thomson H (2021). The effect direction plot revisited: application of the 2019 Cochrane
Handbook guidance on alternative synthesis methods. Res Synth Methods 12:29-33.
Ogilvie D, Fayter D, Petticrew M, et al. (2008). The harvest plot. BMC Med Res Methodol 8:8.
"""
from __future__ import annotations

import numpy as np

from .figures import OKABE_ITO, PALETTE, new_figure
from .plotbase import DIRECTION_STYLE, styled, axes, label

#: Direction -> colour (Okabe-Ito): the same in the effect direction and harvest plots.
DIRECTION_COLOUR = {"favours_msc": PALETTE[0], "favours_control": PALETTE[3], "no_clear_direction": "#777777"}

#: Overall risk of bias -> (display text, colour) beside each study row.
ROB_TEXT = {
    "low": ("low", OKABE_ITO["bluish_green"]), "some_concerns": ("some concerns", "#B07800"),
    "moderate": ("moderate", "#B07800"), "unclear": ("unclear", "#B07800"),
    "no_information": ("no information", "#B07800"), "high": ("high", OKABE_ITO["vermillion"]),
    "serious": ("serious", OKABE_ITO["vermillion"]), "critical": ("critical", OKABE_ITO["vermillion"]),
}


def domain_name(c) -> str:
    """Display name of an outcome domain slug: ``anti_apoptosis`` -> ``anti-apoptosis``."""
    return str(c).replace("paracrine_trophic", "paracrine/trophic").replace("_", "-")


def cell_direction(values, threshold: float = 0.7) -> str:
    """Direction of a cell from its rows' directions, by the 70% rule of Boon & Thomson (2021):
    the direction of at least 70% of the rows, otherwise ``no_clear_direction``."""
    v = [x for x in values if isinstance(x, str)]
    for d in ("favours_msc", "favours_control"):
        if v and sum(x == d for x in v) >= threshold * len(v) - 1e-9:
            return d
    return "no_clear_direction"


@styled
def effect_direction(data, *, row="study_id", col="mechanism", direction="direction", n=None, rob=None,
                     count=None, columns=None, title=None, ax=None, width="double"):
    """Effect direction plot (SWiM; Boon & Thomson 2021).

    One row per study (cohort), one column per outcome domain. Direction only, never
    significance: an upward triangle means the outcome favours MSC, downward favours control,
    a diamond no clear direction (fewer than 70% of the study's results in one direction, or
    only a statement of no difference). Where a cell holds several rows, its direction follows
    the same 70% rule (:func:`cell_direction`). Beside each study, its sample size (column
    ``n``: animals or participants) and overall risk of bias (column ``rob``) are printed, as
    in Boon & Thomson's plot; the number beside a symbol is the value of ``count`` (e.g. the
    results behind a study-level direction) when above 1.
    """
    import pandas as pd
    from matplotlib.lines import Line2D

    df = pd.DataFrame(data)
    rows_ = list(dict.fromkeys(df[row].tolist()))
    present = list(dict.fromkeys(df[col].tolist()))
    if columns is None and col == "mechanism":
        from ..data.schema import MECHANISMS
        columns = list(MECHANISMS)
    cols_ = [c for c in (columns or []) if c in present] + [c for c in present if c not in (columns or [])]
    fig, ax = axes(ax, width, 22.0 + 3.3 * len(rows_))
    side = [(lab, c) for lab, c in (("n", n), ("risk of bias", rob)) if c]
    xs_side = [-2.5 + 1.25 * i for i in range(len(side))] if len(side) == 2 else [-1.1] * len(side)
    y_of = {r: len(rows_) - 1 - i for i, r in enumerate(rows_)}
    pts = []   # (x, y, direction, count)
    for (r, c), sub in df.groupby([row, col], sort=False):
        d = cell_direction(sub[direction].tolist())
        cnt = int(sub[count].sum()) if count else len(sub)
        pts.append((cols_.index(c), y_of[r], d, cnt))
    for d, (marker, _) in DIRECTION_STYLE.items():
        g = [p for p in pts if p[2] == d]
        if g:
            ax.scatter([p[0] for p in g], [p[1] for p in g], s=4.5 ** 2, marker=marker, c=DIRECTION_COLOUR[d],
                       edgecolors="none", zorder=3)
    for p in pts:
        if p[3] > 1:
            ax.annotate(f"{p[3]}", (p[0], p[1]), xytext=(5, 0), textcoords="offset points", fontsize=5,
                        va="center", color="#444444")
    first = df.drop_duplicates(row).set_index(row)
    for x, (_, c) in zip(xs_side, side):
        for r in rows_:
            v = first.loc[r, c]
            if c == rob:
                txt, colour = ROB_TEXT.get(v, (str(v).replace("_", " ") if pd.notna(v) else "n.a.", "#444444"))
            else:
                txt, colour = (f"{int(v)}" if pd.notna(v) else "n.r."), "#222222"
            ax.text(x, y_of[r], txt, ha="center", va="center", fontsize=5.5, color=colour)
    ticks = xs_side + list(range(len(cols_)))
    labels = [lab for lab, _ in side] + [label(c) for c in cols_]
    ax.set_xticks(ticks, labels, rotation=30, ha="right")
    for t in ax.get_xticklabels()[:len(side)]:
        t.set_fontstyle("italic")
    ax.set_yticks(range(len(rows_)), rows_[::-1])
    left = (min(xs_side) - 0.7) if side else -0.6
    ax.set_xlim(left, len(cols_) - 0.4)
    ax.set_ylim(-0.7, len(rows_) - 0.3)
    ax.grid(True, color="#EEEEEE", lw=0.5)
    ax.set_axisbelow(True)
    if side:
        ax.axvline(-0.6, color="#BBBBBB", lw=0.6)
    handles = [Line2D([], [], marker=m, ls="none", mec="none", mfc=DIRECTION_COLOUR[d], label=lab)
               for d, (m, lab) in DIRECTION_STYLE.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=5.5,
              title="Direction (70% rule)", title_fontsize=5.5)
    if title:
        ax.set_title(title)
    return fig


@styled
def harvest(data, *, col="mechanism", direction="direction", title=None, ax=None, width="double"):
    """Harvest plot (Ogilvie et al. 2008) of direction only: for each domain, one bar per study
    (cohort) in three columns (favours control / no clear direction / favours MSC), the count
    above each column. All bars have the same height: significance is not shown (SWiM,
    protocol 9.6).
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
    cats = [("favours_control", "control"), ("no_clear_direction", "no clear"), ("favours_msc", "MSC")]

    def members(sub, cat):
        if cat == "no_clear_direction":
            return sub[~sub[direction].isin(["favours_msc", "favours_control"])]
        return sub[sub[direction] == cat]

    # one slot per study; each category gets as many slots as the fullest category needs
    slots = max(1, max(len(members(df[df[col] == c], cat)) for c in cols_ for cat, _ in cats)) + 1
    for j, c in enumerate(cols_):
        a = axs[j] if len(axs) > 1 else axs[0]
        sub = df[df[col] == c]
        for ci, (cat, lab) in enumerate(cats):
            s_ = members(sub, cat)
            centre = ci * slots + (slots - 2) / 2
            if len(s_):   # bars centred under their category
                a.bar(centre - (len(s_) - 1) / 2 + np.arange(len(s_)), np.ones(len(s_)), width=0.8,
                      color=DIRECTION_COLOUR[cat], lw=0)
            a.text(centre, 1.04, f"{len(s_)}", ha="center", va="bottom", fontsize=5.5)
        a.set_xticks([ci * slots + (slots - 2) / 2 for ci in range(3)], [lab for _, lab in cats], fontsize=5.5,
                     rotation=90)
        a.set_title(label(c), fontsize=6)
        a.set_yticks([])
        a.set_ylim(0, 1.3)
        a.spines["left"].set_visible(False)
        a.set_xlim(-1, 3 * slots - 1)
        if len(axs) == 1:
            break
    if title:
        fig.suptitle(title)
    return fig
