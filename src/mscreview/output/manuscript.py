"""The text: ``{{ key }}`` placeholders filled from the cited numbers.

- :func:`render_template` fills ``{{ key }}`` / ``{{ key:.2f }}`` placeholders, so no estimate is typed
  by hand; a missing key is an error naming the key and the line.
- :func:`say` renders a notebook's narrative sentence (a Markdown object in Jupyter); :func:`md` shows
  text a review function wrote.
- :func:`render_manuscript` and ``python -m mscreview manuscript`` make ``review/manuscript.md`` from
  ``review/manuscript_template.md`` and ``review/results.json``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .. import paths
from ..engine.format import fmt
from . import numbers
from .records import atomic_text, stage


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*(?::\s*([^}\s]*))?\s*\}\}")


def render_template(text: str, res: dict, source: str = "template") -> str:
    """Fill ``{{ key }}`` and ``{{ key:spec }}`` placeholders from ``res``.

    ``spec`` is a Python format spec (``.2f``, ``d``, ``.1%``) or ``p`` (p value)
    or ``pct`` (a percentage number as ``42%``); without a spec, integers print
    as they are and other numbers with two decimals. Strings are inserted as
    they are, lists joined with ", ", null as ``NA``.

    Raises
    ------
    KeyError
        Listing every placeholder whose key is missing, with its line.
    """
    # HTML comments document the template itself: dropped from the output, never filled
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    missing = []
    for ln, line in enumerate(text.splitlines(), 1):
        for m in _PLACEHOLDER.finditer(line):
            if m.group(1) not in res:
                missing.append(f"{source}:{ln}: {{{{ {m.group(1)} }}}}")
    if missing:
        raise KeyError("placeholders without a value in review/results.json:\n  " + "\n  ".join(missing))

    def sub(m):
        v, spec = res[m.group(1)], m.group(2)
        if isinstance(v, list):
            return ", ".join(str(x) for x in v)
        if v is None:
            return "NA"
        if isinstance(v, (str, bool)):
            return str(v)
        if not spec:
            return str(v) if isinstance(v, int) else fmt(v, ".2f")
        return fmt(v, spec)

    return _PLACEHOLDER.sub(sub, text).lstrip("\n")


def say(template: str, **extra):
    """A narrative sentence from the cited numbers, for a notebook's Markdown output.

    ``template`` uses the same placeholders as the manuscript
    (``"{{ clinical.gmfm.k:d }} trials"``); ``extra`` adds values by name. During a build
    only the numbers saved by the running notebook can be cited (the others' are not final yet).
    Returns an ``IPython.display.Markdown`` when IPython is available, else the text.
    """
    # during a build, notebooks run in parallel and review/results.json is the previous build's:
    # a sentence may cite only what this notebook saved
    res = dict(numbers.SESSION) if stage() is not None else numbers.results()
    res.update(extra)
    text = render_template(template, res, source="say()")
    try:
        from IPython.display import Markdown
        return Markdown(text)
    except ImportError:  # pragma: no cover
        return text


def md(text: str):
    """Markdown output for a notebook (text built by a report function)."""
    try:
        from IPython.display import Markdown
        return Markdown(text)
    except ImportError:  # pragma: no cover
        return text


def render_manuscript(root: Path | None = None) -> str:
    """``review/manuscript.md`` text from the template and ``review/results.json``."""
    root = Path(root) if root else paths.ROOT
    tpl = (root / "review" / "manuscript_template.md").read_text(encoding="utf-8")
    res = json.loads((root / "review" / "results.json").read_text(encoding="utf-8"))
    return render_template(tpl, res, source="review/manuscript_template.md")


def manuscript_main(argv=None) -> int:
    """``python -m mscreview manuscript``: regenerate review/manuscript.md."""
    try:
        text = render_manuscript()
    except (KeyError, OSError) as exc:
        print(f"manuscript: {exc}")
        return 1
    atomic_text(paths.REVIEW / "manuscript.md", text)
    print("wrote review/manuscript.md")
    return 0


def missing_keys(text: str, res: dict) -> list[str]:
    """The distinct keys of ``{{ key }}`` placeholders in ``text`` that ``res`` does not hold, in
    order of first use (HTML comments skipped, as :func:`render_template` does)."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1) not in res))
