"""The review's other figures: PRISMA 2020 flow, evidence map, claims verdicts, distributions and
posteriors."""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from .figures import PALETTE
from .plotbase import VERDICT_STYLE, styled, axes, chars_for, label, vocabulary_of, width_mm, wrap

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


@styled
def prisma_flow(counts, *, title=None, ax=None, width="double"):
    """PRISMA 2020 flow diagram drawn from counts (never typed).

    ``counts`` is a mapping with ``identified`` (mapping source -> n, or an
    int), ``duplicates_removed``, ``screened``, ``excluded_screening``,
    ``sought_retrieval``, ``not_retrieved``, ``assessed_eligibility``,
    ``excluded_eligibility`` (mapping reason -> n, or an int),
    ``included_studies`` and optionally ``included_reports`` (see
    :func:`mscreview.data.prisma.prisma_counts`).
    """
    c = dict(counts)

    def total(v):
        return sum(v.values()) if isinstance(v, Mapping) else int(v)

    def lines(v, vocabulary, indent="  "):
        if isinstance(v, Mapping):
            return "\n".join(f"{indent}{label(k, vocabulary)} (n = {n})" for k, n in v.items() if n)
        return ""

    fig, ax = axes(ax, width, 120.0)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")
    ident = c.get("identified", 0)
    lw, rw, lx, rx = 44, 44, 4, 54
    h = 13
    rows_y = [80, 60, 40, 20, 2]
    _box(ax, lx, rows_y[0], lw, 16, f"Records identified (n = {total(ident)})\n" + lines(ident, "record_source"))
    _box(ax, rx, rows_y[0], rw, 16, "Records removed before screening:\n"
         f"  duplicate records (n = {c.get('duplicates_removed', 0)})")
    _box(ax, lx, rows_y[1], lw, h, f"Records screened\n(n = {c.get('screened', 0)})")
    _box(ax, rx, rows_y[1], rw, h, f"Records excluded\n(n = {total(c.get('excluded_screening', 0))})")
    _box(ax, lx, rows_y[2], lw, h, f"Reports sought for retrieval\n(n = {c.get('sought_retrieval', 0)})")
    _box(ax, rx, rows_y[2], rw, h, f"Reports not retrieved\n(n = {c.get('not_retrieved', 0)})")
    exc = c.get("excluded_eligibility", 0)
    _box(ax, lx, rows_y[3], lw, h, f"Reports assessed for eligibility\n(n = {c.get('assessed_eligibility', 0)})")
    _box(ax, rx, rows_y[3] - 6, rw, h + 10, f"Reports excluded (n = {total(exc)}):\n" + lines(exc, "exclusion_reason"))
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

@styled
def evidence_map(counts, *, annot=None, xlabel="MSC source", ylabel="Mechanism", cbar_label="Studies",
                 title=None, ax=None, width="double"):
    """Annotated heatmap (seaborn) of a mechanism x source table of counts (e.g. number of studies),
    each cell annotated with its count and, optionally, a second line from ``annot`` (same shape:
    e.g. animals or a pooled effect). The colour scale is discrete, one colour per whole count, with
    integer ticks on its colour bar; empty cells stay white. Row and column names are shown by their
    display names (:func:`mscreview.data.schema.display_name`)."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.ticker import MaxNLocator

    tab = pd.DataFrame(counts)
    # column names wrapped to the column width when each word fits, else written vertically
    wmm = width_mm(width) if ax is None else ax.figure.get_size_inches()[0] * 25.4
    # the heatmap gets about half the width (row names on the left, colour bar on the right)
    col_chars = int(0.5 * wmm / max(tab.shape[1], 1) / (0.6 * 6.5 * 25.4 / 72))
    cols = [label(c, "msc_source") for c in tab.columns]
    vertical = col_chars < 9 or any(len(w) > col_chars for c in cols for w in c.split())
    longest = max((len(c) for c in cols), default=10)
    fig, ax = axes(ax, width, 30.0 + 8.0 * len(tab.index) + (1.3 * longest if vertical else 0))
    vals = tab.to_numpy(float)
    vmax = int(np.nanmax(vals)) if vals.size and np.isfinite(vals).any() else 1
    vmax = max(vmax, 1)
    # one colour per integer 1..vmax (cividis, light to dark); the bar shows whole counts only
    base = __import__("matplotlib").colormaps["cividis_r"]
    cmap = ListedColormap([base(0.08 + 0.84 * i / max(vmax - 1, 1)) for i in range(vmax)])
    norm = BoundaryNorm(np.arange(0.5, vmax + 1.5), cmap.N)
    extra = pd.DataFrame(annot).reindex(index=tab.index, columns=tab.columns) if annot is not None else None
    text = np.empty(vals.shape, dtype=object)
    for i in range(tab.shape[0]):
        for j in range(tab.shape[1]):
            v = vals[i, j]
            txt = "" if not np.isfinite(v) or v == 0 else f"{v:g}"
            e = extra.iloc[i, j] if extra is not None else None
            if isinstance(e, str) and e:
                txt = f"{txt}\n{e}" if txt else e
            text[i, j] = txt
    shown = pd.DataFrame(vals, index=[label(r, "mechanism") for r in tab.index],
                         columns=cols if vertical else [wrap(c, col_chars) for c in cols])
    sns.heatmap(shown, mask=~(vals > 0), cmap=cmap, norm=norm, annot=text, fmt="",
                annot_kws={"fontsize": 5.5, "linespacing": 1.1}, linewidths=1.0, linecolor="white",
                cbar_kws={"label": cbar_label, "shrink": 0.8, "pad": 0.01,
                          "ticks": MaxNLocator(nbins=min(vmax, 8), integer=True)}, square=False, ax=ax)
    # cells seaborn did not annotate (empty counts) may still carry a second line
    for i in range(tab.shape[0]):
        for j in range(tab.shape[1]):
            if not vals[i, j] > 0 and text[i, j]:
                ax.text(j + 0.5, i + 0.5, text[i, j], ha="center", va="center", fontsize=5.5, color="black")
    ax.set_xticklabels(ax.get_xticklabels(), rotation=90 if vertical else 0, ha="center")
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    ax.tick_params(length=0)
    cb = ax.collections[0].colorbar
    cb.outline.set_linewidth(0.4)
    cb.ax.tick_params(length=2)
    cb.ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
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


@styled
def claims_verdicts(claims, *, claim_id="claim_id", claim="claim", verdict="verdict", title=None, ax=None,
                    width="double"):
    """One row per claim of the source article: the claim in full (wrapped for ``width``, never cut)
    and beside it a coloured box with the verdict in words (supported / partly supported / not
    supported / not verifiable); each row is as tall as its text."""
    import pandas as pd
    from matplotlib.patches import FancyBboxPatch

    df = pd.DataFrame(claims).reset_index(drop=True)
    wmm = width_mm(width) if ax is None else ax.figure.get_size_inches()[0] * 25.4
    x_text, x_box, box_w = 0.055, 0.76, 0.22
    nchar = chars_for(wmm, (x_box - x_text - 0.02), 6.0)
    texts = [wrap(_latin(str(r[claim])), nchar) for _, r in df.iterrows()]
    heights = [max(1.0, 0.42 * (t.count("\n") + 1) + 0.3) for t in texts]
    total = float(sum(heights))
    fig, ax = axes(ax, width, 14.0 + 7.5 * total)
    y_top = total
    for (i, r), t, h in zip(df.iterrows(), texts, heights):
        y = y_top - h / 2
        y_top -= h
        key = str(r[verdict]).strip().lower().replace(" ", "_")
        color, _ = VERDICT_STYLE.get(key, ("#DDDDDD", 9))
        ax.add_patch(FancyBboxPatch((x_box, y - 0.3), box_w, 0.6, boxstyle="round,pad=0,rounding_size=0.05",
                                    fc=color, ec="none"))
        ax.text(x_box + box_w / 2, y, label(key, "verdict"), ha="center", va="center", fontsize=6.5,
                fontweight="bold", color="black")
        ax.text(0.0, y, f"{r[claim_id]}", ha="left", va="center", fontsize=6.5, fontweight="bold")
        ax.text(x_text, y, t, ha="left", va="center", fontsize=6, linespacing=1.15)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.1, total + 0.1)
    ax.axis("off")
    ax.set_title(title or "Claims of the source article against the evidence")
    return fig



# ---------------------------------------------------------------------------
# Distributions and posteriors
# ---------------------------------------------------------------------------

@styled
def distribution(values, *, kind="bar", by=None, xlabel="", ylabel="Studies", log=False, title=None,
                 vocabulary=None, ax=None, width="single"):
    """Distribution of one variable, drawn with seaborn: counts of a categorical variable
    (``kind="bar"``: horizontal bars in order of frequency, stacked by ``by`` if given) or a
    histogram of a numeric one (``kind="hist"``: dose, timing, follow-up; on a log10 axis when
    ``log``). Categories are shown by their display names (``vocabulary`` names the registry, else
    every registry is searched); count axes have integer ticks."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    fig, ax = axes(ax, width, 55.0)
    if kind == "hist":
        v = pd.Series(values, dtype=float).dropna()
        v = v[v > 0] if log else v
        # on a log axis the ticks read as doses (10^5, 10^6 ...), not as their logarithms
        sns.histplot(x=v.to_numpy(), bins=min(20, max(5, len(v))), log_scale=bool(log), color=PALETTE[0],
                     edgecolor="white", linewidth=0.4, alpha=1.0, ax=ax)
        shown = xlabel[:1].upper() + xlabel[1:]
        ax.set_xlabel(f"{shown}, log scale" if log and shown else shown)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        raw = pd.Series(values)
        voc = vocabulary or vocabulary_of(raw.dropna())
        s = raw.fillna("Not reported").astype(str).map(lambda c: label(c, voc))
        order = s.value_counts().index.tolist()
        frame = pd.DataFrame({"value": pd.Categorical(s, categories=order, ordered=True)})
        if by is None:
            sns.countplot(data=frame, y="value", order=order, color=PALETTE[0], ax=ax, width=0.7)
        else:
            gv = pd.Series(by, index=s.index)
            gvoc = vocabulary_of(gv.dropna())
            grp = gv.fillna("Not reported").astype(str).map(lambda c: label(c, gvoc))
            frame["group"] = grp.to_numpy()
            hue_order = list(dict.fromkeys(sorted(frame["group"])))
            sns.histplot(data=frame, y="value", hue="group", hue_order=hue_order, multiple="stack",
                         discrete=True, shrink=0.7, palette=PALETTE[:len(hue_order)], alpha=1.0,
                         edgecolor="white", linewidth=0.4, ax=ax)
            leg = ax.get_legend()
            if leg is not None:
                leg.set_title(None)
                for t in leg.get_texts():
                    t.set_fontsize(5.5)
            ax.set_yticks(range(len(order)), order)
            ax.set_ylim(len(order) - 0.5, -0.5)
        ax.set_xlabel(ylabel)
        ax.set_ylabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title)
    return fig


@styled
def posterior(curves, *, xlabel="Effect size", null=0.0, title=None, ax=None, width="single"):
    """Posterior densities: ``curves`` maps a label to ``(x, density)``."""
    fig, ax = axes(ax, width, 55.0)
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
