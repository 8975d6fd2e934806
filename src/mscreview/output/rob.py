"""Risk-of-bias plots (robvis style): traffic light and summary bars."""
from __future__ import annotations

import numpy as np

from .figures import style
from .plotbase import ROB_STYLE, styled, axes, label, width_mm, wrap

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


@styled
def rob_traffic_light(rob, *, tool="SYRCLE", study="study_id", domain="domain", judgement="judgement",
                      title=None, ax=None, width="double"):
    """Traffic-light plot: one row per study, one column per domain, a coloured
    circle with a symbol (+ low, - some concerns, ? unclear, x high)."""
    import pandas as pd

    df = _rob_rows(rob, tool, "rob_traffic_light")
    doms = _rob_domains(df, tool, domain)
    studies = list(dict.fromkeys(df[study].tolist()))
    # domain names under their column: wrapped when every word fits the column, else vertical
    names = [label(d, "rob_domain") for d in doms]
    wmm = width_mm(width) if ax is None else ax.figure.get_size_inches()[0] * 25.4
    col_chars = int(0.7 * wmm / max(len(doms), 1) / (0.6 * 6.5 * 25.4 / 72))
    vertical = any(len(w) > col_chars for n in names for w in n.split())
    if not vertical:
        names = [wrap(n, col_chars) for n in names]
    room = 1.3 * max(len(n) for n in names) if vertical else 2.8 * max(n.count("\n") + 1 for n in names)
    fig, ax = axes(ax, width, 18.0 + 3.6 * len(studies) + room)
    # one collection per judgement (circles) and per symbol: hundreds of cells stay fast to draw
    x = df[domain].map({d: i for i, d in enumerate(doms)}).to_numpy(float)
    y = df[study].map({s: len(studies) - 1 - i for i, s in enumerate(studies)}).to_numpy(float)
    judg = df[judgement].to_numpy()
    for j in dict.fromkeys(judg):
        m = judg == j
        color, sym = ROB_STYLE.get(j, ("#DDDDDD", "?"))
        ax.scatter(x[m], y[m], s=38, color=color, edgecolor="black", lw=0.3, zorder=2)
        ax.scatter(x[m], y[m], s=12, marker=_SYMBOL_MARKERS[sym], color="black", lw=0.6, zorder=3)
    ax.set_xticks(range(len(doms)), names, rotation=90 if vertical else 0, ha="center",
                  va="top")
    ax.set_yticks(range(len(studies)), studies[::-1])
    ax.set_xlim(-0.6, len(doms) - 0.4)
    ax.set_ylim(-0.6, len(studies) - 0.4)
    ax.tick_params(length=0)
    for s in ("left", "bottom"):
        ax.spines[s].set_visible(False)
    from matplotlib.lines import Line2D
    present = [j for j in ROB_STYLE if j in set(df[judgement])]
    handles = [Line2D([], [], marker="o", ls="none", mfc=ROB_STYLE[j][0], mec="black", mew=0.3,
                      label=f"{ROB_STYLE[j][1]} {label(j, 'rob_judgement')}") for j in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=5.5)
    ax.set_title(title or f"Risk of bias ({tool})")
    return fig


@styled
def rob_summary(rob, *, tool="SYRCLE", domain="domain", judgement="judgement", title=None, ax=None,
                width="double"):
    """Summary bar plot: per domain, the percentage of studies at each judgement."""
    import pandas as pd
    from ..data.schema import ROB_JUDGEMENTS

    df = _rob_rows(rob, tool, "rob_summary")
    doms = _rob_domains(df, tool, domain)
    judg = ROB_JUDGEMENTS.get(tool, sorted(set(df[judgement])))
    judg = [j for j in judg if j in set(df[judgement])] + sorted(set(df[judgement]) - set(judg))
    fig, ax = axes(ax, width, 14.0 + 4.2 * len(doms))
    tab = pd.crosstab(df[domain], df[judgement], normalize="index").reindex(index=doms, columns=judg).fillna(0)
    left = np.zeros(len(doms))
    ys = np.arange(len(doms))[::-1]
    for j in judg:
        vals = 100 * tab[j].to_numpy()
        ax.barh(ys, vals, left=left, color=ROB_STYLE.get(j, ("#DDDDDD", ""))[0], edgecolor="white", lw=0.4,
                height=0.7, label=label(j, "rob_judgement"))
        left += vals
    ax.set_yticks(ys, [label(d, "rob_domain") for d in doms])
    ax.set_xlim(0, 100)
    ax.set_xlabel("Studies (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=5.5)
    ax.set_title(title or f"Risk of bias summary ({tool})")
    return fig
