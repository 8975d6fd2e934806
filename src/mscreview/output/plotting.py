"""The review's plots, one import for the notebooks (drawn in :mod:`.forest`, :mod:`.direction`,
:mod:`.rob` and :mod:`.plots`). Each function draws on ``ax=`` (or makes its own figure)
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

from . import figures
from .direction import effect_direction, harvest
from .forest import bubble, forest, funnel, gosh, leave1out
from .overview import effect_overview
from .plotbase import DIRECTION_STYLE, ROB_STYLE, VERDICT_STYLE
from .plots import claims_verdicts, distribution, evidence_map, posterior, prisma_flow
from .rob import rob_summary, rob_traffic_light

__all__ = ["export_all", "forest", "funnel", "bubble", "effect_direction", "harvest", "rob_traffic_light",
           "rob_summary", "prisma_flow", "evidence_map", "claims_verdicts", "gosh", "leave1out",
           "distribution", "posterior", "effect_overview", "DIRECTION_STYLE", "ROB_STYLE", "VERDICT_STYLE"]


def export_all(specs, notebook: str | None = None):
    """Draw and export figure specifications (``mscreview.review.evidence.FigureSpec``: ``plot`` names a
    function of this module, called with ``kwargs``; ``name``, ``caption`` and ``data`` go to
    :func:`mscreview.output.figures.export`), in order; returns the exported figures."""
    out = figures.ExportedFigures()
    for s in specs:
        fig = globals()[s.plot](**s.kwargs)
        out.append(figures.export(fig, s.name, s.caption, notebook, data=s.data))
    return out
