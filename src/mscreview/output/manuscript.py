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
from .document import DocContext, doc_context
from .records import atomic_text, stage


_KEY = r"[A-Za-z0-9_.\-]+"
_PLACEHOLDER = re.compile(r"\{\{\s*(" + _KEY + r")\s*(?::\s*([^}|\s]*))?\s*(?:\|([^|}]*)\|([^|}]*))?\s*\}\}")
_DIRECTIVE = re.compile(r"\{\{>\s*(figure\??|table|include):\s*([A-Za-z0-9_\-]+)\s*\}\}")
_REF = re.compile(r"\{\{\s*(fig|tab):\s*([A-Za-z0-9_\-]+)\s*\}\}")


def _plural(n, singular: str, plural: str) -> str:
    return singular if (isinstance(n, (int, float)) and not isinstance(n, bool) and n == 1) else plural


def _value(v, spec):
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    if v is None:
        return "NA"
    if isinstance(v, (str, bool)):
        return str(v)
    if not spec:
        return str(v) if isinstance(v, int) else fmt(v, ".2f")
    return fmt(v, spec)


def _cite(v) -> str:
    ids = v if isinstance(v, list) else [x.strip() for x in str(v or "").replace(",", ";").split(";")]
    ids = [i for i in ids if i]
    return "[" + "; ".join(f"@{i}" for i in ids) + "]" if ids else ""


def _numbering(text: str, ctx: DocContext) -> tuple[dict, dict]:
    """Figure and table numbers in order of first mention (reference or placement)."""
    figs, tabs = {}, {}
    for m in re.finditer(r"\{\{>\s*(figure\??|table|include):\s*([A-Za-z0-9_\-]+)\s*\}\}|"
                         r"\{\{\s*(fig|tab):\s*([A-Za-z0-9_\-]+)\s*\}\}", text):
        kind, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if kind.startswith("fig") and name not in figs:
            if kind == "figure?" and name not in ctx.figures:
                continue
            figs[name] = len(figs) + 1
        elif kind.startswith("tab") and name not in tabs:
            tabs[name] = len(tabs) + 1
    return figs, tabs


def render_template(text: str, res: dict, source: str = "template", context: DocContext | None = None) -> str:
    """Fill ``{{ key }}`` and ``{{ key:spec }}`` placeholders from ``res``.

    ``spec`` is a Python format spec (``.2f``, ``d``, ``.1%``) or ``p`` (p value)
    or ``pct`` (a percentage number as ``42%``) or ``cite`` (study ids "A; B" as the citation
    ``[@A; @B]``); without a spec, integers print as they are and other numbers with two decimals.
    Strings are inserted as they are, lists joined with ", ", null as ``NA``.

    Number-aware wording, so that "(s)" or "between x and x" never reach the text:

    - ``{{ key|study|studies }}`` (or ``{{ key:d|study|studies }}``) prints the number and the
      word that agrees with it ("1 study", "3 studies"); with spec ``w`` only the word
      (``{{ key:w|was|were }}``);
    - ``{{ lo..hi:.2f }}`` prints "between X and Y", or "of X" when both print the same.

    With a :class:`DocContext`, ``{{> figure:name }}`` places a numbered figure (``figure?:``
    only if it exists), ``{{> table:name }}`` a numbered table, ``{{> include:name }}`` a
    generated block, and ``{{ fig:name }}`` / ``{{ tab:name }}`` print "Figure N" / "Table N"
    (numbered in order of first mention).

    Raises
    ------
    KeyError
        Listing every placeholder whose key is missing, with its line.
    """
    # HTML comments document the template itself: dropped from the output, never filled
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    ctx = context
    missing = []
    for ln, line in enumerate(text.splitlines(), 1):
        for m in _PLACEHOLDER.finditer(line):
            if _REF.fullmatch(m.group(0)):
                continue
            for k in m.group(1).split(".."):
                if k not in res:
                    missing.append(f"{source}:{ln}: {{{{ {k} }}}}")
        for m in list(_DIRECTIVE.finditer(line)) + list(_REF.finditer(line)):
            kind, name = m.group(1), m.group(2)
            if ctx is None:
                missing.append(f"{source}:{ln}: {m.group(0)} (figures, tables and includes need a document context)")
            elif kind in ("figure", "fig") and name not in ctx.figures:
                missing.append(f"{source}:{ln}: figure {name!r} (no figure of that name was exported)")
            elif kind in ("table", "tab") and name not in ctx.tables:
                missing.append(f"{source}:{ln}: table {name!r} (no table of that name was written)")
            elif kind == "include" and name not in ctx.includes:
                missing.append(f"{source}:{ln}: include {name!r} (unknown generated block)")
    if missing:
        raise KeyError("placeholders without a value in review/results.json:\n  " + "\n  ".join(missing))

    if ctx is not None:
        fnum, tnum = _numbering(text, ctx)

        def directive(m):
            kind, name = m.group(1), m.group(2)
            if kind.startswith("figure"):
                if name not in ctx.figures:
                    return ""
                cap = re.sub(r"^Figure\s+\d+[.:]\s*", "", ctx.figures[name].strip()).rstrip(".")
                return f"![Figure {fnum[name]}. {cap}.]({ctx.figure_dir}/{name}.png){{#fig-{name}}}"
            if kind == "table":
                cap, table = ctx.tables[name]
                cap = re.sub(r"^Table\s+\d+[.:]\s*", "", cap.strip()).rstrip(".")   # the document numbers tables
                return f"{table.rstrip()}\n\nTable: Table {tnum[name]}. {cap}."
            return ctx.includes[name].rstrip()

        text = _DIRECTIVE.sub(directive, text)
        text = _REF.sub(lambda m: f"Figure {fnum[m.group(2)]}" if m.group(1) == "fig" else f"Table {tnum[m.group(2)]}",
                        text)

    def sub(m):
        key, spec, one, many = m.group(1), m.group(2), m.group(3), m.group(4)
        if ".." in key:
            lo, hi = (_value(res[k], spec) for k in key.split("..", 1))
            return f"of {lo}" if lo == hi else f"between {lo} and {hi}"
        v = res[key]
        if spec == "cite":
            return _cite(v)
        if one is not None:
            word = _plural(v, one.strip(), many.strip())
            return word if spec == "w" else f"{_value(v, spec)} {word}"
        return _value(v, spec)

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
    # figures and tables in place, from figures/README.md and review/tables/
    return render_template(tpl, res, source="review/manuscript_template.md", context=doc_context(root))


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
    keys = (k for m in _PLACEHOLDER.finditer(text) if not _REF.fullmatch(m.group(0)) for k in m.group(1).split(".."))
    return list(dict.fromkeys(k for k in keys if k not in res))
