"""Shared by the plot modules: the category styles (colour + symbol, never colour alone), the
style decorator and the small helpers every plot uses."""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping

from .figures import OKABE_ITO, new_figure, style

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
    "no_clear_direction": ("D", "no clear direction"),
}


def styled(fn):
    """Run a plot function inside :func:`mscreview.output.figures.style`.

    A figure the function made itself (no ``ax=``) remembers how it was drawn
    (``fig.mscreview_builder(width=...)``), so :func:`mscreview.output.figures.export` can lay it out
    again at another width instead of shrinking it.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            fig = fn(*args, **kwargs)
        if kwargs.get("ax") is None and fig is not None:
            fig.mscreview_builder = functools.partial(wrapper, *args, **{k: v for k, v in kwargs.items()
                                                                          if k != "width"})
        return fig
    return wrapper


def label(value, vocabulary=None) -> str:
    """A category as a reader sees it: its display name from the vocabulary registry
    (:func:`mscreview.data.schema.display_name`), never the slug."""
    from ..data.schema import display_name

    return display_name(value, vocabulary)


def vocabulary_of(values) -> str | None:
    """The registry (:data:`mscreview.data.schema.DISPLAY_NAMES`) holding most of ``values``, so that
    a value shared by several (``other``) gets the right display name; None when none holds any."""
    from ..data.schema import DISPLAY_NAMES

    keys = {str(v).strip().replace(" ", "_") for v in values}
    best = max(DISPLAY_NAMES, key=lambda voc: len(keys & set(DISPLAY_NAMES[voc])))
    return best if keys & set(DISPLAY_NAMES[best]) else None


def plural(n, word: str, words: str | None = None) -> str:
    """``"1 month"``, ``"12 months"``, ``"1.5 months"`` (``words`` for an irregular plural)."""
    return f"{n:g} {word if n == 1 else (words or word + 's')}"


def wrap(text: str, chars: int) -> str:
    """``text`` broken into lines of at most ``chars`` characters at spaces (never cut)."""
    import textwrap

    return "\n".join(textwrap.wrap(str(text), max(8, int(chars)), break_long_words=False,
                                    break_on_hyphens=False)) or str(text)


def chars_for(width_mm: float, share: float, fontsize: float = 6.5) -> int:
    """How many characters of ``fontsize``-pt DejaVu Sans fit into ``share`` of a ``width_mm`` figure
    (an average glyph is about 0.55 em wide)."""
    return max(10, int(share * width_mm / (0.55 * fontsize * 25.4 / 72)))


def width_mm(width) -> float:
    """A ``width=`` argument (``"single"``, ``"double"`` or mm) in millimetres."""
    from .figures import MM_PER_INCH, width_inches

    return width_inches(width) * MM_PER_INCH


def axes(ax, width="double", height_mm=None):
    """``(figure, ax)``: the given axes and their figure, else a new figure of ``width``."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = new_figure(width, height_mm)
    return fig, ax


def as_records(obj):
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


def is_value(x):
    """Not None and not NaN."""
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def ci_text(est, lo, hi, digits=2):
    """``0.52 [0.10, 0.94]`` as a forest plot prints it (empty when not estimable)."""
    if not is_value(est):
        return ""
    if not (is_value(lo) and is_value(hi)):
        return f"{est:.{digits}f}"
    return f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
