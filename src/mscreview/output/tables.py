"""Tables: every table of the review written to ``review/tables/`` as CSV (numbers at the stored
precision: six significant digits, :func:`mscreview.output.numbers.fixed`), Markdown and LaTeX
(booktabs; numbers rounded for reading), with a caption, and indexed in ``review/tables/README.md``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from . import records
from .numbers import SIGNIFICANT, fixed
from .records import atomic_text, locked, notebook_name, stage

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


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


def stored(df):
    """``df`` with every float (float columns and floats inside object columns) at the stored
    precision (:func:`mscreview.output.numbers.fixed`); ints, text and missing values unchanged."""
    import pandas as pd

    out = df.copy()
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_float_dtype(col.dtype):
            out[c] = col.map(lambda v: fixed(v) if pd.notna(v) else v).astype(col.dtype)
        elif col.dtype == object:
            out[c] = col.map(lambda v: fixed(v) if isinstance(v, float) else v)
    return out


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
    st = stage()
    return (st / "review" / "tables") if st else paths.TABLES_OUT


def write_table(df, name: str, caption: str, notebook: str | None = None, *, digits: int = 2) -> TableFiles:
    """Write ``df`` to ``review/tables/<name>.csv|.md|.tex`` and index it.

    Every float is first brought to the stored precision (:data:`~mscreview.output.numbers.SIGNIFICANT`
    significant digits, :func:`stored`), so the CSV is byte-identical on every machine; Markdown and
    LaTeX then round numbers to ``digits`` decimals.
    """
    import pandas as pd

    if not _NAME.match(name or ""):
        raise ValueError(f"table name {name!r} must match {_NAME.pattern}")
    if not caption or not caption.strip():
        raise ValueError(f"table {name!r} needs a caption")
    df = stored(pd.DataFrame(df).reset_index(drop=True))
    nb = notebook_name(notebook)
    d = tables_dir()
    d.mkdir(parents=True, exist_ok=True)
    csv = df.to_csv(index=False, lineterminator="\n")
    mdt = to_markdown(df, digits)
    files = []
    for ext, text in (("csv", csv), ("md", f"**{caption.strip()}**\n\n" + mdt),
                      ("tex", to_latex(df, caption.strip(), name, digits))):
        atomic_text(d / f"{name}.{ext}", text)
        files.append(f"review/tables/{name}.{ext}")
    rec = TableFiles(name, caption.strip(), nb, len(df), tuple(files), mdt)
    entry = {"name": name, "caption": rec.caption, "notebook": nb, "rows": len(df)}
    st = stage()
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
    with locked(index):
        entries = _read_table_index(index)
        entries[name] = {k: entry[k] for k in ("caption", "notebook", "rows")}
        atomic_text(index, _table_index(entries))
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


def read_index(p: Path) -> dict:
    """Entries ``{name: {caption, notebook, rows}}`` of an existing ``review/tables/README.md``
    (a partial build updates them instead of starting from nothing)."""
    return _read_table_index(Path(p))


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
             f"`.csv` (every number at {SIGNIFICANT} significant digits, magnitudes below 1e-12 as 0, integers "
             "as integers: the same bytes on every machine), `.md` and `.tex` (booktabs; numbers rounded "
             "for reading).", "",
             "| Table | Caption | Notebook | Rows |", "|---|---|---|---|"]
    for name in sorted(entries, key=lambda n: (entries[n]["notebook"], n)):
        e = entries[name]
        cap = e["caption"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {cap} | `notebooks/{e['notebook']}.ipynb` | {e['rows']} |")
    return "\n".join(lines) + "\n"
