"""The build: staging, atomic publish, failure reporting, skip on unchanged inputs.

Runs on SYNTHETIC notebooks written into a temporary repository root here (the
real notebooks are executed by tests/test_notebooks.py).
"""
import json
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mscreview import build as B

GOOD_A = ["# Synthetic notebook A (test).", "from mscreview.output import plotting, figures, report",
          "fig = plotting.funnel([0.1, 0.3, 0.5], [0.1, 0.05, 0.2])",
          "figures.export(fig, 'synth_funnel', 'Synthetic funnel', '01_a', formats=('pdf', 'svg'))",
          "report.save_numbers({'synth.a': 1.5})"]
GOOD_B = ["from mscreview.output import report", "import pandas as pd",
          "report.write_table(pd.DataFrame({'a': [1, 2], 'b': [0.5, 0.25]}), 'synth_table', 'Synthetic')",
          "report.save_numbers({'synth.b': 3})"]
BAD_C = ["from mscreview.output import plotting, figures",
         "fig = plotting.funnel([0.1, 0.3], [0.1, 0.05])",
         "figures.export(fig, 'half_written', 'must never reach figures/', '03_c', formats=('pdf',))",
         "# Now the failing cell.",
         "raise ValueError('synthetic failure')"]


def write_nb(path, cells):
    nb = new_notebook(cells=[new_markdown_cell(c) if c.startswith("# ") else new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "review").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n1\n")
    (tmp_path / "review" / "manuscript_template.md").write_text("A is {{ synth.a:.1f }}, B is {{ synth.b }}.\n")
    write_nb(tmp_path / "notebooks" / "01_a.ipynb", GOOD_A)
    write_nb(tmp_path / "notebooks" / "02_b.ipynb", GOOD_B)
    return tmp_path


def run(repo, **kw):
    return B.build(repo, validate=False, progress=False, log=lambda *a: None, **kw)


def test_build_publishes_outputs_then_skips_when_unchanged(repo):
    s = run(repo)
    assert not s.skipped and [r.name for r in s.notebooks] == ["01_a", "02_b"]
    assert sorted(p.name for p in (repo / "figures").iterdir()) == ["README.md", "synth_funnel.pdf",
                                                                   "synth_funnel.svg"]
    assert json.loads((repo / "review" / "results.json").read_text()) == {"synth.a": 1.5, "synth.b": 3}
    assert (repo / "review" / "manuscript.md").read_text() == "A is 1.5, B is 3.\n"
    assert (repo / "review" / "tables" / "synth_table.tex").exists()
    assert "| `synth_funnel` | Synthetic funnel | `notebooks/01_a.ipynb` |" in (repo / "figures" / "README.md").read_text()
    # executed copies outside git, with outputs; the sources stay without outputs
    executed = nbformat.read(repo / "build" / "notebooks" / "01_a.ipynb", as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    source = nbformat.read(repo / "notebooks" / "01_a.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in source.cells if c.cell_type == "code")
    assert not list((repo / "build").glob("stage-*"))
    first = {p.name: p.read_bytes() for p in (repo / "figures").iterdir()}

    again = run(repo)
    assert again.skipped and again.seconds < 1.0
    # a changed input rebuilds; outputs byte-identical
    (repo / "data" / "x.csv").write_text("a\n2\n")
    third = run(repo)
    assert not third.skipped
    assert {p.name: p.read_bytes() for p in (repo / "figures").iterdir()} == first
    # a deleted output rebuilds too
    (repo / "figures" / "synth_funnel.svg").unlink()
    assert not run(repo).skipped


def test_failing_notebook_names_cell_and_leaves_no_half_written_figure(repo):
    write_nb(repo / "notebooks" / "03_c.ipynb", BAD_C)
    (repo / "figures").mkdir()
    (repo / "figures" / "old.pdf").write_bytes(b"previous build")
    with pytest.raises(B.BuildError) as ei:
        run(repo)
    msg = str(ei.value)
    assert "notebooks/03_c.ipynb" in msg
    assert "cell 5 (code cell 4" in msg and "ValueError: synthetic failure" in msg
    assert sorted(p.name for p in (repo / "figures").iterdir()) == ["old.pdf"]
    assert (repo / "figures" / "old.pdf").read_bytes() == b"previous build"
    assert not (repo / "review" / "results.json").exists()
    assert not list((repo / "build").glob("stage-*"))
    assert not (repo / "build" / "stamp.json").exists()


def test_validation_violations_stop_the_build(repo):
    (repo / "data" / "studies.csv").write_text("study_id\nX\n")
    with pytest.raises(B.BuildError, match=r"data validation failed(.|\n)*data/studies.csv:1: column 'citation'"):
        B.build(repo, progress=False, log=lambda *a: None)
    assert not (repo / "figures").exists()


def test_inputs_exclude_generated_outputs(repo):
    run(repo)
    files = {p.relative_to(repo).as_posix() for p in B.input_files(repo)}
    assert "data/x.csv" in files and "notebooks/01_a.ipynb" in files
    assert "review/manuscript_template.md" in files
    assert not any(f.startswith(("review/tables", "figures", "build")) for f in files)
    assert "review/results.json" not in files and "review/manuscript.md" not in files
    h = B.inputs_hash(repo)
    (repo / "review" / "tables" / "new.csv").write_text("x\n")
    (repo / "build" / "x").write_text("x\n")
    assert B.inputs_hash(repo) == h
    (repo / "review" / "screening.csv").write_text("x\n")
    h2 = B.inputs_hash(repo)
    assert h2 != h
    (repo / "data" / "staging").mkdir()
    (repo / "data" / "staging" / "published_estimates.csv").write_text("x\n")
    assert B.inputs_hash(repo) != h2


def test_cli_help_and_unknown_command():
    r = subprocess.run([sys.executable, "-m", "mscreview"], capture_output=True, text=True)
    assert r.returncode == 2 and "build" in r.stdout
    r = subprocess.run([sys.executable, "-m", "mscreview", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "mscreview", "build", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--force" in r.stdout


# ---------------------------------------------------------------------------
# build --only: a partial build (issue 9, item 6)
# ---------------------------------------------------------------------------

def test_only_without_a_full_build_leaves_the_manuscript_and_says_so_in_one_line(repo):
    s = run(repo, notebooks=["02_b"])
    assert [r.name for r in s.notebooks] == ["02_b"]
    # the template cites synth.a, which only notebook 01 records
    assert s.note == ("review/manuscript_template.md needs 1 number not recorded by this partial build; "
                      "the manuscript was left as it was (run a full build).")
    assert not (repo / "review" / "manuscript.md").exists()
    assert json.loads((repo / "review" / "results.json").read_text()) == {"synth.b": 3}
    text = s.text(repo)
    assert s.note in text and "\n" not in s.note
    assert "stamp" not in text                      # a partial build writes no stamp
    assert not (repo / "build" / "stamp.json").exists()


def test_only_after_a_full_build_updates_what_it_ran_and_keeps_the_rest(repo):
    run(repo)
    old_svg = (repo / "figures" / "synth_funnel.svg").read_bytes()
    write_nb(repo / "notebooks" / "02_b.ipynb", [c.replace("'synth.b': 3", "'synth.b': 4") for c in GOOD_B])
    s = run(repo, notebooks=["02"])                    # the number alone names the notebook
    assert [r.name for r in s.notebooks] == ["02_b"]
    # the other notebook's figure, table-index row and numbers stay
    assert (repo / "figures" / "synth_funnel.svg").read_bytes() == old_svg
    assert "| `synth_funnel` | Synthetic funnel |" in (repo / "figures" / "README.md").read_text()
    assert "| `synth_table` |" in (repo / "review" / "tables" / "README.md").read_text()
    assert json.loads((repo / "review" / "results.json").read_text()) == {"synth.a": 1.5, "synth.b": 4}
    assert (repo / "review" / "manuscript.md").read_text() == "A is 1.5, B is 4.\n"
    assert s.note.startswith("Partial build: the manuscript was re-rendered")


def test_paths_printed_are_the_real_ones(repo, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    s = run(repo, build_dir=elsewhere)
    text = s.text(repo)
    assert f"copies with outputs in {elsewhere.resolve()}/notebooks/" in text
    assert "build/notebooks" not in text
    assert (elsewhere / "notebooks" / "01_a.ipynb").exists()
    assert f"-> {elsewhere.resolve()}/stamp.json" in text


def test_errors_are_sentences_not_reprs(repo):
    with pytest.raises(B.BuildError) as e:
        run(repo, notebooks=["09_nothing"])
    assert str(e.value) == ("there is no notebook '09_nothing' in notebooks/; the notebooks are 01_a, 02_b.")
    (repo / "review" / "manuscript_template.md").write_text("C is {{ synth.c }}.\n")
    with pytest.raises(B.BuildError) as e:
        run(repo)
    msg = str(e.value)
    assert msg == ("review/manuscript_template.md cites 1 number that no notebook recorded (synth.c); "
                   "record them with report.save_numbers or correct the template.")
    assert "KeyError" not in msg and "\\n" not in msg
