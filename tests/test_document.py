"""The manuscript's wording filters, the generated references, the PRISMA 2020 checklist and the
byte-stable DOCX/HTML (pandoc from pypandoc-binary)."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from mscreview import paths
from mscreview.output import document, references
from mscreview.output.manuscript import DocContext, render_template


# --- number-aware wording ---------------------------------------------------------------------

@pytest.mark.parametrize("tpl,res,expected", [
    ("{{ k|controlled trial|controlled trials }}", {"k": 1}, "1 controlled trial"),
    ("{{ k|controlled trial|controlled trials }}", {"k": 2}, "2 controlled trials"),
    ("{{ k|study|studies }}", {"k": 0}, "0 studies"),
    ("{{ k:w|was|were }}", {"k": 1}, "was"),
    ("{{ k:w|was|were }}", {"k": 3}, "were"),
    ("{{ a..b:.2f }}", {"a": 0.9907, "b": 0.9942}, "of 0.99"),          # both print 0.99
    ("{{ a..b:.2f }}", {"a": 0.97, "b": 1.1}, "between 0.97 and 1.10"),
    ("{{ ids:cite }}", {"ids": "A2020; B2021"}, "[@A2020; @B2021]"),
])
def test_wording_filters(tpl, res, expected):
    assert render_template(tpl, res) == expected


def test_figures_and_tables_numbered_by_first_mention():
    ctx = DocContext(figures={"flow": "Flow diagram.", "forest": "Figure 9. Forest."},
                     tables={"t": ("Table 1. Characteristics.", "|a|\n|-|\n|1|\n")}, includes={"dev": "- D01"})
    out = render_template("See {{ fig:forest }} and {{ fig:flow }}.\n\n{{> figure:flow }}\n\n{{> figure:forest }}\n\n"
                          "{{> figure?:absent }}\n\n{{> table:t }}\n\n{{> include:dev }}", {}, context=ctx)
    assert "See Figure 1 and Figure 2." in out
    assert "![Figure 2. Flow diagram.](../figures/flow.png)" in out
    assert "![Figure 1. Forest.](../figures/forest.png)" in out       # its own "Figure 9." is replaced
    assert "Table: Table 1. Characteristics." in out and "absent" not in out and "- D01" in out


def test_missing_figure_is_a_clear_error():
    with pytest.raises(KeyError, match="figure 'nope'"):
        render_template("{{> figure:nope }}", {}, context=DocContext())


def test_rendered_manuscript_has_no_templated_wording_errors():
    text = (paths.REVIEW / "manuscript.md").read_text(encoding="utf-8")
    assert "(s)" not in text and "(ies)" not in text
    for a, b in re.findall(r"between (-?[\d.]+) and (-?[\d.]+)", text):
        assert a != b, f"'between {a} and {b}' in review/manuscript.md"
    assert "{{" not in text


def test_manuscript_has_the_required_sections():
    heads = document.headings((paths.REVIEW / "manuscript.md").read_text(encoding="utf-8"))
    for h in ("Introduction", "Discussion", "Limitations", "Registration and protocol", "Deviations from protocol",
              "Funding and competing interests", "Data and code availability"):
        assert h in heads


def test_deviations_section_is_generated_from_the_csv():
    text = (paths.REVIEW / "manuscript.md").read_text(encoding="utf-8")
    ids = re.findall(r"^D\d+", (paths.REVIEW / "deviations.csv").read_text(encoding="utf-8"), flags=re.M)
    assert ids and all(f"**{i}**" in text for i in ids)


# --- references ---------------------------------------------------------------------------------

def test_bibtex_keys_are_study_ids():
    import csv
    bib = references.bibtex()
    keys = re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M)
    with (paths.DATA / "studies.csv").open(encoding="utf-8") as fh:
        ids = sorted(r["study_id"] for r in csv.DictReader(fh))
    assert keys == ids
    amanat = bib[bib.index("{Amanat2021,"):].split("\n}\n")[0]
    assert "{Amanat}, M." in amanat and "doi = {10.1186/s13287-021-02513-4}" in amanat and "pages = {439}" in amanat


def test_vancouver_authors_become_bibtex_names():
    assert references._authors("Ahn SY; Park WS; et al.") == "{Ahn}, S. Y. and {Park}, W. S. and others"


def test_manuscript_cites_only_known_keys():
    text = (paths.REVIEW / "manuscript.md").read_text(encoding="utf-8")
    bib = (paths.REVIEW / "references.bib").read_text(encoding="utf-8")
    keys = references.cited_keys(text)
    assert "Amanat2021" in keys and all(f"{{{k}," in bib for k in keys)


# --- PRISMA 2020 checklist ---------------------------------------------------------------------------

def test_checklist_has_42_items_and_every_place_exists():
    cl = document.checklist_table()
    assert len(cl) == 42 and list(cl.columns) == document.CHECKLIST_COLUMNS
    assert document.check_checklist(paths.ROOT, (paths.REVIEW / "manuscript.md").read_text(encoding="utf-8")) == []


def test_checklist_names_a_missing_heading_and_path():
    text = "# Title\n\n## Methods\n"
    problems = document.check_checklist(paths.ROOT, text)
    assert any("item 3" in p and "no heading 'Introduction'" in p for p in problems)
    assert not any("item 1)" in p for p in problems)      # "manuscript: title" is the title


# --- DOCX and HTML ------------------------------------------------------------------------------------

def _render(tmp: Path, sub: str) -> dict:
    d = tmp / sub
    d.mkdir()
    png = next(paths.FIGURES.glob("*.png"), None)
    fig = f"![Figure 1. A figure.]({png})\n\n" if png else ""
    (d / "m.md").write_text(f"## Results\n\nAs shown [@Amanat2021].\n\n{fig}## References\n\n::: {{#refs}}\n:::\n",
                            encoding="utf-8")
    (d / "refs.bib").write_text(references.bibtex(), encoding="utf-8")
    return document.render_documents(d / "m.md", d / "refs.bib", d, [d], title="T")


def test_docx_and_html_are_byte_stable(tmp_path):
    a, b = _render(tmp_path, "a"), _render(tmp_path, "b")
    assert a["docx"].read_bytes() == b["docx"].read_bytes()
    assert a["html"].read_bytes() == b["html"].read_bytes()
    with zipfile.ZipFile(a["docx"]) as z:
        core = z.read("docProps/core.xml").decode()
        assert document.FIXED_DATE in core and all(i.date_time == (2026, 11, 30, 0, 0, 0) for i in z.infolist())
        # stored, not deflated: zlib versions differ between machines
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        assert "/refs.bib" not in z.read("docProps/custom.xml").decode()   # no absolute path
        assert "Amanat" in z.read("word/document.xml").decode()


def test_cli_manuscript_equals_the_built_one():
    from mscreview.output.manuscript import render_manuscript
    assert render_manuscript() == (paths.REVIEW / "manuscript.md").read_text(encoding="utf-8")
