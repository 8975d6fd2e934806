"""The review's other figures: PRISMA 2020 flow, evidence map, claims verdicts, distributions and
posteriors."""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from .figures import PALETTE
from .plotbase import VERDICT_STYLE, axes, styled

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

    def lines(v, indent="  "):
        if isinstance(v, Mapping):
            return "\n".join(f"{indent}{str(k).replace('_', ' ')} (n = {n})" for k, n in v.items() if n)
        return ""

    fig, ax = axes(ax, width, 120.0)
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

@styled
def evidence_map(counts, *, annot=None, xlabel="MSC source", ylabel="Mechanism", cbar_label="Studies",
                 title=None, ax=None, width="double"):
    """Heatmap of a mechanism x source table of counts (e.g. number of studies),
    each cell annotated with its count and, optionally, a second line from
    ``annot`` (same shape: e.g. animals or a pooled effect)."""
    import pandas as pd

    tab = pd.DataFrame(counts)
    fig, ax = axes(ax, width, 18.0 + 8.0 * len(tab.index))
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


@styled
def claims_verdicts(claims, *, claim_id="claim_id", claim="claim", verdict="verdict", max_chars=70,
                    title=None, ax=None, width="double"):
    """One row per claim of the source article, a coloured box with the verdict
    (supported / partly supported / not supported / not verifiable) in words."""
    import pandas as pd
    import textwrap

    df = pd.DataFrame(claims).reset_index(drop=True)
    fig, ax = axes(ax, width, 12.0 + 9.0 * len(df))
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
# Distributions and posteriors
# ---------------------------------------------------------------------------

@styled
def distribution(values, *, kind="bar", by=None, xlabel="", ylabel="Studies", log=False, title=None,
                 ax=None, width="single"):
    """Counts of a categorical variable (``kind="bar"``, horizontal bars, stacked
    by ``by`` if given) or a histogram of a numeric one (``kind="hist"``, on a
    log10 axis when ``log``)."""
    import pandas as pd

    fig, ax = axes(ax, width, 55.0)
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
