"""The submission document: what the manuscript places besides numbers, the PRISMA 2020 checklist,
and the DOCX and standalone HTML rendered by pandoc (``pypandoc-binary``, pinned in the lock).

- :func:`doc_context` collects the figures (captions from the figure records), tables (the
  generated Markdown) and generated blocks (:func:`deviations_markdown`, from
  ``review/deviations.csv``) that ``review/manuscript_template.md`` may place.
- :func:`checklist_table` and :func:`check_checklist` read ``review/prisma2020_checklist.csv`` and
  check that every place it names exists: ``manuscript: <Heading>`` must be a heading of the
  manuscript (``title`` is the title), anything else a path in the repository.
- :func:`render_documents` writes ``manuscript.docx`` and ``manuscript.html`` with citeproc and
  the generated ``references.bib``, figures embedded; :func:`normalise_docx` rewrites the DOCX
  with a fixed date and fixed zip entry times so rebuilds are byte-identical.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths


@dataclass
class DocContext:
    """What a manuscript may place besides numbers: figures (name -> caption; the PNG is
    ``figures/<name>.png``), tables (name -> (caption, Markdown table)) and generated text blocks
    (name -> Markdown, e.g. the deviations from protocol)."""

    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    includes: dict = field(default_factory=dict)
    figure_dir: str = "../figures"


CHECKLIST = "review/prisma2020_checklist.csv"
CHECKLIST_COLUMNS = ["item", "section", "topic", "checklist_item", "where", "status", "note"]
CHECKLIST_STATUS = ("reported", "partly", "not reported", "not applicable")

#: The fixed date written into the DOCX core properties and zip entries (the protocol's amendment date).
FIXED_DATE = "2026-11-30T00:00:00Z"
_ZIP_DATE = (2026, 11, 30, 0, 0, 0)


def _csv(p: Path) -> list[dict]:
    with p.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def deviations_markdown(root: Path | None = None) -> str:
    """The *Deviations from protocol* list, one item per row of ``review/deviations.csv``."""
    root = Path(root) if root else paths.ROOT
    f = root / "review" / "deviations.csv"
    rows = _csv(f) if f.is_file() else []
    out = []
    for r in rows:
        out.append(f"- **{r['deviation_id']}** ({r['date']}; protocol section {r['section']}). "
                   f"*Protocol:* {r['protocol_said'].rstrip('.')}. *Done:* {r['what_is_done'].rstrip('.')}. "
                   f"*Why:* {r['reason'].rstrip('.')}. *Effect on results:* {r['effect_on_results'].rstrip('.')}.")
    return "\n".join(out)


def _figure_captions(root: Path, stage: Path | None) -> dict:
    if stage is not None:
        from .figures import read_records
        return {r["name"]: r["caption"] for r in read_records(stage)}
    out = {}
    readme = root / "figures" / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^\| `([^`]+)` \| (.*?) \| `notebooks/", line)
            if m:
                out[m.group(1)] = m.group(2).replace("\\|", "|")
    return out


def _tables(tables_dir: Path) -> dict:
    out = {}
    for p in sorted(tables_dir.glob("*.md")):
        if p.name == "README.md":
            continue
        text = p.read_text(encoding="utf-8")
        m = re.match(r"^\*\*(.*?)\*\*\n\n", text, flags=re.S)
        out[p.stem] = (m.group(1) if m else p.stem, text[m.end():] if m else text)
    return out


def doc_context(root: Path | None = None, stage: Path | None = None, published: Path | None = None) -> DocContext:
    """Figures, tables and generated blocks the manuscript template may place.

    During a build (``stage`` given) they come from the staged outputs; otherwise from
    ``figures/README.md`` and ``review/tables/``. A partial build passes ``published`` (the folder
    holding the last full build's figures/ and review/): what it did not rebuild comes from there.
    """
    root = Path(root) if root else paths.ROOT
    base = Path(stage) if stage is not None else root
    figures, tables = _figure_captions(root, stage), _tables(base / "review" / "tables")
    if published is not None:
        figures = {**_figure_captions(Path(published), None), **figures}
        tables = {**_tables(Path(published) / "review" / "tables"), **tables}
    return DocContext(figures=figures, tables=tables, includes={"deviations": deviations_markdown(root)})


# ---------------------------------------------------------------------------
# PRISMA 2020 checklist
# ---------------------------------------------------------------------------

def checklist_table(root: Path | None = None):
    """``review/prisma2020_checklist.csv`` as a DataFrame (columns checked)."""
    import pandas as pd

    root = Path(root) if root else paths.ROOT
    df = pd.read_csv(root / CHECKLIST, dtype=str, keep_default_na=False)
    if list(df.columns) != CHECKLIST_COLUMNS:
        raise ValueError(f"{CHECKLIST}: columns must be {', '.join(CHECKLIST_COLUMNS)}; found {', '.join(df.columns)}")
    return df


def headings(markdown: str) -> set[str]:
    """The ATX headings of a Markdown text (text only, case kept)."""
    return {m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, flags=re.M)}


def check_checklist(root: Path, manuscript_text: str, out_root: Path | None = None) -> list[str]:
    """Every place the checklist names that does not exist, as readable sentences.

    ``manuscript: <Heading>`` must be a heading of the manuscript (``title`` means its title); any
    other entry (separated by ``;``) must be a file or folder of the repository (looked up under
    ``out_root`` first, where generated outputs are staged, then ``root``).
    """
    root = Path(root)
    bases = [Path(out_root)] if out_root is not None else []
    bases.append(root)
    heads = headings(manuscript_text)
    has_title = bool(re.search(r"^#\s+\S", manuscript_text, flags=re.M))
    problems = []
    for line, r in enumerate(checklist_table(root).to_dict("records"), start=2):
        if r["status"] not in CHECKLIST_STATUS:
            problems.append(f"{CHECKLIST}:{line} (item {r['item']}): status {r['status']!r} is not one of "
                            f"{', '.join(CHECKLIST_STATUS)}")
        for place in [p.strip() for p in r["where"].split(";") if p.strip()]:
            if place.startswith("manuscript:"):
                h = place.split(":", 1)[1].strip()
                if not ((h == "title" and has_title) or h in heads):
                    problems.append(f"{CHECKLIST}:{line} (item {r['item']}): the manuscript has no heading "
                                    f"'{h}' (headings: {', '.join(sorted(heads))})")
            elif not any((b / place).exists() for b in bases):
                problems.append(f"{CHECKLIST}:{line} (item {r['item']}): '{place}' does not exist in the repository")
    return problems


# ---------------------------------------------------------------------------
# DOCX and HTML
# ---------------------------------------------------------------------------

def normalise_docx(data: bytes) -> bytes:
    """The DOCX ``data`` rewritten byte-stably: fixed core-property dates, the bibliography's file
    name instead of its absolute path, fixed zip entry times, entries in their original order and
    stored uncompressed (deflate output can differ between zlib versions, i.e. between machines; the
    embedded PNGs are compressed already)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/custom.xml":
                # pandoc stores the metadata, including the bibliography's absolute path: keep the file name
                body = re.sub(rb'(name="bibliography"><vt:lpwstr>)[^<]*/([^/<]+)(</vt:lpwstr>)',
                              lambda m: m.group(1) + m.group(2) + m.group(3), body)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                              lambda m: m.group(1) + FIXED_DATE.encode() + m.group(3), body)
            zi = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            zi.compress_type = zipfile.ZIP_STORED
            zi.external_attr = 0o644 << 16
            zi.create_system = 3
            dst.writestr(zi, body)
    return out.getvalue()


def render_documents(markdown: Path, bibliography: Path, out_dir: Path, resource_paths: list[Path],
                     title: str | None = None) -> dict[str, Path]:
    """Render ``markdown`` to ``out_dir/manuscript.docx`` and ``manuscript.html`` (standalone,
    resources embedded) with citeproc and ``bibliography``; returns {format: path}."""
    import pypandoc

    out_dir = Path(out_dir)
    res = ":".join(str(Path(p).resolve()) for p in resource_paths)
    common = ["--citeproc", f"--bibliography={Path(bibliography).resolve()}", f"--resource-path={res}",
              "--metadata=link-citations:true"]
    if title:
        common.append(f"--metadata=title:{title}")
    fmt = "markdown-implicit_figures+implicit_figures"
    docx, html = out_dir / "manuscript.docx", out_dir / "manuscript.html"
    tmp = out_dir / ".manuscript.tmp.docx"
    pypandoc.convert_file(str(markdown), "docx", format=fmt, outputfile=str(tmp), extra_args=common)
    docx.write_bytes(normalise_docx(tmp.read_bytes()))
    tmp.unlink()
    pypandoc.convert_file(str(markdown), "html5", format=fmt, outputfile=str(html),
                          extra_args=common + ["--standalone", "--embed-resources",
                                               "--metadata=pagetitle:Manuscript"])
    return {"docx": docx, "html": html}
