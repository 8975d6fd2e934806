"""SWiM plots for direction-only evidence: the effect direction plot and the harvest plot."""
from __future__ import annotations

import math

import numpy as np

from .figures import PALETTE, new_figure
from .plotbase import DIRECTION_STYLE, styled, axes, label

# ---------------------------------------------------------------------------
# SWiM: effect direction and harvest plots
# ---------------------------------------------------------------------------

@styled
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
    fig, ax = axes(ax, width, 16.0 + 3.3 * len(rows_))
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
    ax.set_xticks(range(len(cols_)), [label(c) for c in cols_], rotation=30, ha="right")
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


@styled
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
        a.set_title(label(c), fontsize=6)
        a.set_yticks([])
        a.spines["left"].set_visible(False)
        a.set_xlim(-1, 3 * slots - 1)
        if len(axs) == 1:
            break
    if title:
        fig.suptitle(title)
    return fig
