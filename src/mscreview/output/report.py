"""Tables, the numbers the text cites, and the generated manuscript.

- :func:`record` stores a number under a dotted key (``"clinical.gmfm.k"``).
  Every number the manuscript or a notebook's narrative cites is recorded, and
  the build merges them into ``review/results.json``.
- :func:`write_table` writes a table to ``review/tables/`` as CSV, Markdown and
  LaTeX (booktabs), with a caption, and indexes it in ``review/tables/README.md``.
- :func:`render_template` fills ``{{ key }}`` / ``{{ key:.2f }}`` placeholders of
  ``review/manuscript_template.md`` from results.json, so no estimate is typed
  by hand; a missing key is an error naming the key and the template line.
- :func:`say` renders a narrative sentence from recorded numbers for a notebook
  (returns a Markdown object in Jupyter).

During ``python -m mscreview build`` everything is written to the staging
directory (``MSCREVIEW_STAGE``) and published only when every notebook
succeeded; run interactively, tables go straight to ``review/tables/`` and
numbers into ``review/results.json``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from . import records

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")

#: Numbers recorded in this process (kernel), by key.
_RESULTS: dict[str, object] = {}


def _stage() -> Path | None:
    s = os.environ.get("MSCREVIEW_STAGE")
    return Path(s) if s else None


def _notebook(notebook: str | None) -> str:
    nb = notebook or os.environ.get("MSCREVIEW_NOTEBOOK") or "interactive"
    return Path(nb).stem


# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------

def _clean(value):
    """JSON-safe value: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        seq = value.tolist() if hasattr(value, "tolist") else value
        return [_clean(v) for v in seq]
    if hasattr(value, "item"):
        return _clean(value.item())
    raise TypeError(f"cannot record a value of type {type(value).__name__}: {value!r}")


def record(key: str, value, notebook: str | None = None):
    """Store ``value`` under ``key`` for results.json and return it.

    Parameters
    ----------
    key : str
        Dotted key, e.g. ``"clinical.gmfm_6m.estimate"``.
    value : number, str, bool, None or list
        NaN is stored as null.
    notebook : str, optional
        The notebook recording it (default ``MSCREVIEW_NOTEBOOK``).
    """
    if not _KEY.match(key or ""):
        raise ValueError(f"result key {key!r} must be dotted words (letters, digits, _ and -)")
    value = _clean(value)
    _RESULTS[key] = value
    st = _stage()
    nb = _notebook(notebook)
    if st is not None:
        d = st / "records"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{nb}.results.json"
        frag = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
        frag[key] = value
        _atomic_text(p, dumps(frag))
    else:
        p = paths.REVIEW / "results.json"
        cur = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
        cur[key] = value
        p.parent.mkdir(parents=True, exist_ok=True)
        _atomic_text(p, dumps(cur))
    return value


def record_many(prefix: str, values: dict, notebook: str | None = None) -> dict:
    """Record each ``values[name]`` under ``prefix.name``; return the cleaned dict."""
    return {k: record(f"{prefix}.{k}", v, notebook) for k, v in values.items()}


#: Fields of a pooled result copied to results.json by :func:`record_fit`.
FIT_FIELDS = ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "pvalue", "tau2", "i2", "q",
              "q_pvalue", "k", "method", "test")


def record_fit(prefix: str, fit, notebook: str | None = None, fields=FIT_FIELDS) -> dict:
    """Record the standard fields of a pooled result (``RMAResult`` or mapping)."""
    get = (lambda f: fit.get(f)) if isinstance(fit, dict) else (lambda f: getattr(fit, f, None))
    return record_many(prefix, {f: get(f) for f in fields if get(f) is not None or f in ("pi_low", "pi_high")},
                       notebook)


def results() -> dict:
    """Numbers recorded so far: ``review/results.json`` updated with this session's records."""
    p = paths.REVIEW / "results.json"
    base = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    base.update(_RESULTS)
    return base


def value(key: str):
    """One recorded number (this session first, then ``review/results.json``)."""
    if key in _RESULTS:
        return _RESULTS[key]
    r = results()
    if key not in r:
        raise KeyError(f"result {key!r} has not been recorded (see review/results.json)")
    return r[key]


def dumps(res: dict) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(res, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def merge_fragments(stage: Path) -> dict:
    """Merge every notebook's result fragment; the same key from two notebooks must agree."""
    merged: dict = {}
    origin: dict = {}
    for p in sorted((Path(stage) / "records").glob("*.results.json")):
        nb = p.name.split(".")[0]
        for k, v in json.loads(p.read_text(encoding="utf-8")).items():
            if k in merged and merged[k] != v:
                raise ValueError(f"result {k!r} recorded as {merged[k]!r} by {origin[k]} and {v!r} by {nb}")
            merged[k], origin[k] = v, nb
    return dict(sorted(merged.items()))


def _atomic_text(p: Path, text: str) -> None:
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)


# ---------------------------------------------------------------------------
# Formatting and narrative
# ---------------------------------------------------------------------------

def fmt(x, spec: str = ".2f", missing: str = "NA") -> str:
    """Format a number (``None``/NaN -> ``missing``); ``spec="p"`` gives ``"p = 0.062"`` or
    ``"p < 0.001"``, ``spec="pct"`` gives ``"42%"``."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return missing
    if spec == "p":
        return "p < 0.001" if x < 0.001 else f"p = {x:.3f}"
    if spec == "pct":
        return f"{x:.0f}%"
    if isinstance(x, str):
        return x
    return format(x, spec)


def fmt_ci(est, lo, hi, digits: int = 2) -> str:
    """``0.52 (95% CI 0.10 to 0.94)``."""
    if est is None:
        return "not estimable"
    return f"{fmt(est, f'.{digits}f')} (95% CI {fmt(lo, f'.{digits}f')} to {fmt(hi, f'.{digits}f')})"


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
    """A narrative sentence from recorded numbers, for a notebook's Markdown output.

    ``template`` uses the same placeholders as the manuscript
    (``"{{ clinical.gmfm.k:d }} trials"``); ``extra`` adds values by name. During a build
    only the numbers recorded by the running notebook can be cited (the others' are not final yet).
    Returns an ``IPython.display.Markdown`` when IPython is available, else the text.
    """
    # during a build, notebooks run in parallel and review/results.json is the previous build's:
    # a sentence may cite only what this notebook recorded
    res = dict(_RESULTS) if _stage() is not None else results()
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


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TableFiles:
    """What :func:`write_table` wrote."""

    name: str
    caption: str
    notebook: str
    rows: int
    files: tuple[str, ...]
    markdown: str

    def _repr_markdown_(self) -> str:
        return f"**Table `{self.name}`.** {self.caption}\n\n{self.markdown}"


def _cell(v, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        return f"{v:.{digits}f}"
    if hasattr(v, "item") and not isinstance(v, str):
        return _cell(v.item(), digits)
    return str(v)


def to_markdown(df, digits: int = 2) -> str:
    """Pipe table (no external dependency), numbers rounded to ``digits``."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [_cell(v, digits).replace("|", "\\|").replace("\n", " ") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_TEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _tex(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in s)


def to_latex(df, caption: str, label: str, digits: int = 2) -> str:
    """booktabs ``table`` environment (no external dependency)."""
    align = "".join("r" if str(df[c].dtype).startswith(("float", "int", "Int", "Float")) else "l"
                    for c in df.columns)
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
             rf"\caption{{{_tex(caption)}}}", rf"\label{{tab:{label}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(_tex(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(_tex(_cell(v, digits)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def tables_dir() -> Path:
    st = _stage()
    return (st / "review" / "tables") if st else paths.TABLES_OUT


def write_table(df, name: str, caption: str, notebook: str | None = None, *, digits: int = 2) -> TableFiles:
    """Write ``df`` to ``review/tables/<name>.csv|.md|.tex`` and index it.

    The CSV keeps full precision; Markdown and LaTeX round numbers to ``digits``.
    """
    import pandas as pd

    if not _NAME.match(name or ""):
        raise ValueError(f"table name {name!r} must match {_NAME.pattern}")
    if not caption or not caption.strip():
        raise ValueError(f"table {name!r} needs a caption")
    df = pd.DataFrame(df).reset_index(drop=True)
    nb = _notebook(notebook)
    d = tables_dir()
    d.mkdir(parents=True, exist_ok=True)
    csv = df.to_csv(index=False, lineterminator="\n")
    mdt = to_markdown(df, digits)
    files = []
    for ext, text in (("csv", csv), ("md", f"**{caption.strip()}**\n\n" + mdt),
                      ("tex", to_latex(df, caption.strip(), name, digits))):
        _atomic_text(d / f"{name}.{ext}", text)
        files.append(f"review/tables/{name}.{ext}")
    rec = TableFiles(name, caption.strip(), nb, len(df), tuple(files), mdt)
    entry = {"name": name, "caption": rec.caption, "notebook": nb, "rows": len(df)}
    st = _stage()
    if st is not None:
        # during a build, notebooks run in parallel: each appends to its own record file and the
        # build writes review/tables/README.md once from all of them (no shared file to race on)
        rd = st / "records"
        rd.mkdir(parents=True, exist_ok=True)
        with open(rd / f"{nb}.tables.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
        return rec
    index = d / "README.md"
    # interactive sessions may still share the index: read-modify-write under a lock
    with _locked(index):
        entries = _read_table_index(index)
        entries[name] = {k: entry[k] for k in ("caption", "notebook", "rows")}
        _atomic_text(index, _table_index(entries))
    return rec


def table_records(stage: Path) -> dict:
    """Table index entries written into ``stage`` by :func:`write_table` (a later write of the
    same table wins; two notebooks writing the same table name is an error)."""
    recs = records.read_named(stage, "tables", "table", "written")
    entries = {n: {k: e[k] for k in ("caption", "notebook", "rows")} for n, e in recs.items()}
    return entries


def tables_readme(entries: dict) -> str:
    """Text of ``review/tables/README.md`` (deterministic)."""
    return _table_index(entries)


@contextlib.contextmanager
def _locked(p: Path):
    """Exclusive inter-process lock for a read-modify-write of ``p`` (lock file beside it)."""
    lock = p.with_name(f".{p.name}.lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_table_index(p: Path) -> dict:
    out = {}
    if p.exists():
        for line in p.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^\| `([^`]+)` \| (.*) \| `notebooks/([^`]+)\.ipynb` \| (\d+) \|$", line)
            if m:
                out[m.group(1)] = {"caption": m.group(2).replace("\\|", "|"), "notebook": m.group(3),
                                   "rows": int(m.group(4))}
    return out


def _table_index(entries: dict) -> str:
    lines = ["# Tables", "", "Generated by `make review`; do not edit by hand. Each table is in three formats:",
             "`.csv` (full precision), `.md` and `.tex` (booktabs; numbers rounded).", "",
             "| Table | Caption | Notebook | Rows |", "|---|---|---|---|"]
    for name in sorted(entries, key=lambda n: (entries[n]["notebook"], n)):
        e = entries[name]
        cap = e["caption"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {cap} | `notebooks/{e['notebook']}.ipynb` | {e['rows']} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Manuscript
# ---------------------------------------------------------------------------

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
    _atomic_text(paths.REVIEW / "manuscript.md", text)
    print("wrote review/manuscript.md")
    return 0
