"""The notebooks: committed without outputs, thin (no def/class), and the build runs them all.

The execution test runs the real build (every notebook in a fresh kernel, 2 at a time) into a
temporary directory, so the working tree is not touched. It takes about a minute on a 2-core
machine and is part of `make test`.
"""
import ast
import hashlib
import json
import zipfile
import re

import nbformat
import pytest

from mscreview import build, paths

NOTEBOOKS = build.notebook_paths(paths.ROOT)
EXPECTED = ["01_evidence_audit", "02_study_characteristics", "03_effects_by_mechanism", "04_effects_by_source",
            "05_clinical_outcomes", "06_robustness", "07_risk_of_bias_certainty", "08_claims"]


def test_the_numbered_notebooks_exist_in_order():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_outputs_and_no_definitions(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for i, c in enumerate(nb.cells, 1):
        if c.cell_type != "code":
            continue
        assert c.outputs == [], f"{path.name} cell {i} has outputs (strip them)"
        assert c.execution_count is None, f"{path.name} cell {i} has an execution count"
        tree = ast.parse(c.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                f"{path.name} cell {i} defines a function or class: move it into the package"
        # thin: at most a few top-level statements per cell
        assert len(tree.body) <= 4, f"{path.name} cell {i} has {len(tree.body)} statements"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_cells_type_no_estimates(path):
    """Numbers that depend on the data come from results.json via report.say, never typed in Markdown."""
    nb = nbformat.read(path, as_version=4)
    for i, c in enumerate(nb.cells, 1):
        if c.cell_type == "markdown":
            text = re.sub(r"(protocol|section|Handbook)\s+\d+(\.\d+)+", "", c.source)  # section references
            assert not re.search(r"\b\d+\.\d+\b", text), f"{path.name} cell {i} types a decimal number"


@pytest.mark.slow
def test_build_executes_every_notebook(tmp_path):
    out, bdir = tmp_path / "out", tmp_path / "build"
    s = build.build(paths.ROOT, force=True, out_root=out, build_dir=bdir, progress=False, log=lambda *a: None)
    assert [r.name for r in s.notebooks] == EXPECTED
    assert all(r.error is None for r in s.notebooks)
    # every figure in all formats, indexed in figures/README.md
    readme = (out / "figures" / "README.md").read_text()
    stems = sorted({p.stem for p in (out / "figures").iterdir() if p.suffix in (".pdf", ".svg", ".png", ".tiff")})
    assert stems, "no figure exported"
    for stem in stems:
        assert {p.suffix for p in (out / "figures").glob(stem + ".*")} == {".pdf", ".svg", ".png", ".tiff"}
        assert f"| `{stem}` |" in readme
    for fig in ("prisma_flow", "evidence_map_preclinical", "effect_direction_preclinical_msc", "claims_verdicts"):
        assert fig in stems
    results = json.loads((out / "review" / "results.json").read_text())
    assert results["audit.studies.total"] > 0
    for t in ("table1_clinical", "table2_preclinical", "grade_sof", "claims", "sign_tests"):
        for ext in ("csv", "md", "tex"):
            assert (out / "review" / "tables" / f"{t}.{ext}").exists(), (t, ext)
    manuscript = (out / "review" / "manuscript.md").read_text()
    assert "{{" not in manuscript
    # the submission documents (not committed: a fresh clone has them only after a build) embed the
    # numbered figures and the reference list
    html = (out / "review" / "manuscript.html").read_text(encoding="utf-8")
    assert html.count("<img ") >= 4 and 'src="data:image/png;base64,' in html
    assert "Figure 1. PRISMA 2020 flow diagram" in html and 'class="csl-entry"' in html
    with zipfile.ZipFile(out / "review" / "manuscript.docx") as z:
        assert sum(n.startswith("word/media/") for n in z.namelist()) >= 4
    # the committed notebooks stay without outputs; executed copies live in build/
    assert (bdir / "notebooks" / "08_claims.ipynb").exists()
    for p in NOTEBOOKS:
        assert all(c.get("outputs", []) == [] for c in nbformat.read(p, as_version=4).cells)
    # no staging directory left behind
    assert not list(bdir.glob("stage-*"))
