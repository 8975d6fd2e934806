"""Build the whole review: validate, execute every notebook, publish outputs.

``python -m mscreview build`` (what ``make review`` runs):

1. Hash the inputs (``data/``, the review's input
   files, ``src/``, ``notebooks/``, the lock file). If the hash and every
   output match the stamp in ``build/stamp.json``, stop: nothing to do.
2. Validate the data with :func:`mscreview.data.validate.validate`; on violations
   stop and list them.
3. Execute every notebook in ``notebooks/`` in a fresh kernel (nbclient), two
   at a time, with a progress bar. Figures, tables and result fragments go to
   a staging directory (``MSCREVIEW_STAGE``); executed copies go to
   ``build/notebooks/`` (outside git, so the notebooks in git stay without
   outputs).
4. If any notebook fails: stop, name the notebook, the cell and the error,
   delete the staging directory (no half-written figure reaches ``figures/``).
5. Otherwise merge the result fragments into ``review/results.json``, write
   ``figures/README.md``, generate ``review/manuscript.md`` from its template,
   move everything into place, write the stamp and print a summary.

The module imports nothing heavy at import time so that a no-change rebuild
returns in well under a second.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import paths

#: Generated outputs under review/ (never inputs).
REVIEW_OUTPUTS = ("tables", "results.json", "manuscript.md", "references.bib", "manuscript.docx", "manuscript.html")

#: Generated files published from the staged review/ folder (besides tables/).
REVIEW_FILES = ("results.json", "manuscript.md", "references.bib", "manuscript.docx", "manuscript.html")

#: Files in figures/ that the build does not own.
FIGURES_KEEP = (".gitignore",)

STAMP_NAME = "stamp.json"


class BuildError(RuntimeError):
    """The build stopped; the message says why (violations, or notebook/cell/error)."""


@dataclass
class NotebookRun:
    name: str
    seconds: float = 0.0
    cells: int = 0
    error: str | None = None


@dataclass
class BuildSummary:
    skipped: bool
    inputs_hash: str
    seconds: float
    notebooks: list[NotebookRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)   # repo-relative path -> sha256
    plausibility_open: int | None = None                      # open plausibility findings (protocol 9.3)
    build_dir: Path | None = None      # where the executed notebooks and the stamp are
    out_root: Path | None = None       # where figures/ and review/ were published
    note: str | None = None            # one line on what a partial build did with the manuscript

    def text(self, root: Path) -> str:
        root = Path(root)
        exec_dir = shown_path((self.build_dir or root / "build") / "notebooks", root)
        out = self.out_root or root
        fig_dir, tab_dir = shown_path(out / "figures", root), shown_path(out / "review" / "tables", root)
        review = shown_path(out / "review", root)
        if self.skipped:
            return (f"Up to date: inputs unchanged (hash {self.inputs_hash[:12]}), outputs present; "
                    f"nothing rebuilt ({self.seconds:.2f} s). Use --force to rebuild.")
        figs = sorted({Path(p).stem for p in self.outputs if p.startswith("figures/") and not p.endswith(".md")})
        tables = sorted({Path(p).stem for p in self.outputs if p.startswith("review/tables/")})
        lines = [
            "",
            "Build summary",
            "=============",
            f"Notebooks executed ({len(self.notebooks)}), copies with outputs in {exec_dir}/:",
        ]
        for r in self.notebooks:
            lines.append(f"  {r.name:<34} {r.cells:3d} cells  {r.seconds:6.1f} s")
        nfig = sum(1 for p in self.outputs if p.startswith("figures/") and not p.endswith(".md"))
        lines += [
            f"Figures: {len(figs)} figures, {nfig} files (PDF, SVG, PNG, TIFF) in {fig_dir}/ "
            f"(index: {fig_dir}/README.md)",
            f"Tables:  {len(tables)} tables (CSV, Markdown, LaTeX) in {tab_dir}/",
            f"Numbers: {review}/results.json; manuscript: {review}/manuscript.md (DOCX and HTML beside it, "
            f"references in {review}/references.bib)",
            (f"Plausibility: {self.plausibility_open} plausibility findings open "
             "(python -m mscreview validate lists them)" if self.plausibility_open is not None
             else "Plausibility: checks not run"),
        ]
        if self.note:
            lines.append(self.note)
        else:
            lines.append(f"Inputs hash {self.inputs_hash[:12]} -> "
                         f"{shown_path((self.build_dir or root / 'build') / STAMP_NAME, root)}")
        lines.append(f"Done in {self.seconds:.1f} s.")
        return "\n".join(lines)


def shown_path(p: Path, root: Path) -> str:
    """``p`` as the user should read it: relative to ``root`` when inside it, else absolute."""
    p, root = Path(p).resolve(), Path(root).resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


# ---------------------------------------------------------------------------
# Inputs and stamp
# ---------------------------------------------------------------------------

def input_files(root: Path) -> list[Path]:
    """Every file whose change must trigger a rebuild, sorted."""
    root = Path(root)
    out: list[Path] = []

    def walk(d: Path, skip=()):
        if not d.is_dir():
            return
        for p in d.rglob("*"):
            rel = p.relative_to(d)
            if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts) \
                    and not any(rel.parts[0] == s for s in skip) and p.suffix not in (".pyc",):
                out.append(p)

    walk(root / "data")   # staging included: the published estimates may be read from a batch there
    walk(root / "review", skip=REVIEW_OUTPUTS)
    walk(root / "src" / "mscreview")
    walk(root / "notebooks")
    for f in ("requirements.lock", "pyproject.toml"):
        if (root / f).is_file():
            out.append(root / f)
    return sorted(set(out))


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def input_digests(root: Path) -> dict[str, str]:
    """{relative path: SHA-256} of every input file."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in input_files(root)}


def inputs_hash(root: Path, digests: dict[str, str] | None = None) -> str:
    """SHA-256 over the relative path and content hash of every input file."""
    h = hashlib.sha256()
    for rel, d in sorted((digests if digests is not None else input_digests(root)).items()):
        h.update(rel.encode())
        h.update(b"\0")
        h.update(bytes.fromhex(d))
    return h.hexdigest()


def changed_inputs(stamp: dict | None, digests: dict[str, str]) -> list[str]:
    """Input files added, removed or changed since the stamp (for the log)."""
    old = (stamp or {}).get("input_files") or {}
    return sorted(k for k in set(old) | set(digests) if old.get(k) != digests.get(k))


def _read_stamp(build_dir: Path) -> dict | None:
    try:
        return json.loads((build_dir / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None


def _up_to_date(stamp: dict | None, ihash: str, out_root: Path) -> bool:
    if not stamp or stamp.get("inputs") != ihash or not stamp.get("outputs"):
        return False
    for rel, digest in stamp["outputs"].items():
        p = out_root / rel
        if not p.is_file() or _sha256(p) != digest:
            return False
    return True


# ---------------------------------------------------------------------------
# Notebook execution
# ---------------------------------------------------------------------------

def notebook_paths(root: Path) -> list[Path]:
    """Numbered notebooks in run order."""
    return sorted(p for p in (Path(root) / "notebooks").glob("*.ipynb") if p.name[:1].isdigit())


def _cell_error(exc, nb, index) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = ""
    if index is not None:
        code_no = sum(1 for c in nb.cells[: index + 1] if c.cell_type == "code")
        src = nb.cells[index].source.strip().splitlines()
        first = src[0] if src else ""
        where = f"cell {index + 1} (code cell {code_no}: {first[:70]!r})"
    return f"{where}: {ename}: {evalue}".strip(": ")


async def _run_all(nbs: list[Path], workers: int, env: dict, exec_dir: Path, timeout: int,
                   progress: bool, timings: dict | None = None) -> list[NotebookRun]:
    import nbformat
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    timings = timings or {}
    loaded = [(p, nbformat.read(p, as_version=4)) for p in nbs]
    total = sum(1 for _, nb in loaded for c in nb.cells if c.cell_type == "code")
    bar = tqdm(total=total, unit="cell", desc="notebooks", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, mininterval=0.2)
    sem = asyncio.Semaphore(max(1, workers))
    runs: dict[str, NotebookRun] = {}
    running: set[str] = set()
    state = {"failed": False}

    async def one(path: Path, nb):
        name = path.stem
        run = runs[name] = NotebookRun(name)
        async with sem:
            if state["failed"]:
                return run
            current = {"index": None}

            def before(cell, cell_index, **kw):
                current["index"] = cell_index

            def after(cell, cell_index, **kw):
                run.cells += 1
                bar.update(1)

            # startup_timeout: a kernel on a loaded 2-core machine can take longer than nbclient's 60 s to answer
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False, startup_timeout=300,
                                    resources={"metadata": {"path": str(path.parent)}},
                                    on_cell_execute=before, on_cell_executed=after,
                                    extra_arguments=["--IPKernelApp.log_level=ERROR"])
            kenv = dict(env, MSCREVIEW_NOTEBOOK=name)
            exec_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            running.add(name)
            bar.set_postfix_str(", ".join(sorted(running)), refresh=False)
            try:
                # kernel stderr to a log: a kernel stopped because another notebook failed
                # otherwise prints socket errors over the real message
                with open(exec_dir / f"{name}.kernel.log", "w") as klog:
                    await client.async_execute(env=kenv, stderr=klog)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # CellExecutionError, DeadKernelError, timeouts
                if not state["failed"]:
                    run.error = _cell_error(exc, nb, current["index"])
                else:
                    run.error = "stopped"
            finally:
                running.discard(name)
                run.seconds = time.perf_counter() - t0
                nbformat.write(nb, exec_dir / path.name)
            if run.error == "stopped":
                bar.write(f"  stopped {name} (another notebook failed)", file=sys.stderr)
                return run
            bar.write(f"  {'FAILED' if run.error else 'ok':6} {name} ({run.seconds:.1f} s)", file=sys.stderr)
            if run.error:
                state["failed"] = True
                raise BuildError(f"notebooks/{path.name}, {run.error}")
        return run

    # longest first (durations of the last build): two workers finish closer together
    order = sorted(loaded, key=lambda x: -timings.get(x[0].stem, 0.0))
    tasks = [asyncio.ensure_future(one(p, nb)) for p, nb in order]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()
    finally:
        bar.close()
    return [runs[p.stem] for p in nbs]


# ---------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------

def _finalise(stage: Path, root: Path, out_root: Path | None = None, partial: bool = False) -> str | None:
    """Merge fragments and generate README, results.json and the manuscript in ``stage``.

    A partial build (``partial``) starts from the published indexes and ``review/results.json`` of
    ``out_root`` and updates them with what its notebooks recorded; the manuscript is re-rendered only
    when every number it cites is known, otherwise the published one stays. Returns the one line
    that says so (None for a full build).
    """
    from .output import figures, manuscript, numbers, tables

    out_root = Path(out_root) if out_root is not None else root
    (stage / "figures").mkdir(parents=True, exist_ok=True)
    recs = figures.read_records(stage)
    tab = tables.table_records(stage)
    results = numbers.merge_fragments(stage)
    if partial:
        new = {r["name"] for r in recs}
        recs = sorted([r for r in figures.read_readme(out_root / "figures" / "README.md") if r["name"] not in new]
                      + recs, key=lambda r: (r["notebook"], r["name"]))
        tab = {**tables.read_index(out_root / "review" / "tables" / "README.md"), **tab}
        rp = out_root / "review" / "results.json"
        results = dict(sorted({**(json.loads(rp.read_text(encoding="utf-8")) if rp.is_file() else {}),
                               **results}.items()))
    (stage / "figures" / "README.md").write_text(figures.readme(recs), encoding="utf-8")
    (stage / "review" / "tables").mkdir(parents=True, exist_ok=True)
    (stage / "review" / "tables" / "README.md").write_text(tables.tables_readme(tab), encoding="utf-8")
    (stage / "review").mkdir(parents=True, exist_ok=True)
    (stage / "review" / "results.json").write_text(numbers.dumps(results), encoding="utf-8")
    template = root / "review" / "manuscript_template.md"
    if not template.is_file():
        return None
    text = template.read_text(encoding="utf-8")
    missing = manuscript.missing_keys(text, results)
    src = "review/manuscript_template.md"
    if missing:
        if partial:
            return (f"{src} needs {len(missing)} number{'s' if len(missing) != 1 else ''} not recorded by this "
                    f"partial build; the manuscript was left as it was (run a full build).")
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise BuildError(f"{src} cites {len(missing)} number{'s' if len(missing) != 1 else ''} that no notebook "
                         f"recorded ({shown}); record them with report.save_numbers or correct the template.")
    _render_document(stage, root, template, results, tab, published=out_root if partial else None)
    if partial:
        return ("Partial build: the manuscript was re-rendered from the last full build's numbers updated "
                "with this build's; run a full build before citing it.")
    return None


def _render_document(stage: Path, root: Path, template: Path, results: dict, entries: dict,
                     published: Path | None = None) -> None:
    """Manuscript, references, PRISMA 2020 checklist table, DOCX and HTML, all in ``stage``."""
    from .output import document, manuscript, references

    review = stage / "review"
    review.mkdir(parents=True, exist_ok=True)
    (review / "references.bib").write_text(references.bibtex(root), encoding="utf-8")
    text = manuscript.render_template(template.read_text(encoding="utf-8"), results,
                                      source="review/manuscript_template.md",
                                      context=document.doc_context(root, stage, published))
    (review / "manuscript.md").write_text(text, encoding="utf-8")
    missing = [k for k in references.cited_keys(text)
               if f"{{{k}," not in (review / "references.bib").read_text(encoding="utf-8")]
    if missing:
        raise BuildError("the manuscript cites studies that are not in data/studies.csv (so not in "
                         f"review/references.bib): {', '.join(missing)}")
    if (root / document.CHECKLIST).is_file() and published is None:   # a partial build checks nothing it did not build
        _checklist(stage, root, text, entries)
    title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), None)
    body = review / ".manuscript_body.md"
    # the title becomes document metadata (pandoc's title block), not a first-level heading
    body.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("# ")) + "\n", encoding="utf-8")
    try:
        document.render_documents(body, review / "references.bib", review,
                                  [review, stage] + ([published] if published is not None else []), title=title)
    finally:
        body.unlink(missing_ok=True)


def _checklist(stage: Path, root: Path, text: str, entries: dict) -> None:
    """Every place review/prisma2020_checklist.csv names must exist (a heading of the manuscript or a
    repository path); notebook 01 writes the checklist as a table."""
    from .output import document

    problems = document.check_checklist(root, text, out_root=stage)
    if problems:
        raise BuildError("review/prisma2020_checklist.csv names places that do not exist:\n  " + "\n  ".join(problems))


def _publish(stage: Path, out_root: Path, partial: bool = False) -> dict[str, str]:
    """Move staged outputs into ``out_root``; return {relative path: sha256}.

    A full build replaces every generated file; a partial one (``partial``) replaces only the files
    its notebooks wrote and keeps the others.
    """
    out: dict[str, str] = {}
    # figures/: replace every generated file
    src_fig, dst_fig = stage / "figures", out_root / "figures"
    dst_fig.mkdir(parents=True, exist_ok=True)
    for p in dst_fig.iterdir():
        if p.is_file() and p.name not in FIGURES_KEEP and not partial:
            p.unlink()
    for p in sorted(src_fig.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            os.replace(p, dst_fig / p.name)
            out[f"figures/{p.name}"] = _sha256(dst_fig / p.name)
    # review/tables/: replace the directory
    src_tab, dst_tab = stage / "review" / "tables", out_root / "review" / "tables"
    if partial and src_tab.is_dir():
        dst_tab.mkdir(parents=True, exist_ok=True)
        for p in sorted(src_tab.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                os.replace(p, dst_tab / p.name)
                out[f"review/tables/{p.name}"] = _sha256(dst_tab / p.name)
        src_tab = stage / "nothing"
    elif dst_tab.exists():
        shutil.rmtree(dst_tab)
    dst_tab.parent.mkdir(parents=True, exist_ok=True)
    if src_tab.is_dir():
        shutil.move(str(src_tab), str(dst_tab))
        for p in sorted(dst_tab.rglob("*")):
            if p.is_file() and p.name.startswith("."):
                p.unlink()          # lock or temporary files
            elif p.is_file():
                out[p.relative_to(out_root).as_posix()] = _sha256(p)
    for name in REVIEW_FILES:
        s = stage / "review" / name
        if s.is_file():
            (out_root / "review").mkdir(parents=True, exist_ok=True)
            os.replace(s, out_root / "review" / name)
            out[f"review/{name}"] = _sha256(out_root / "review" / name)
    return out


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

def build(root: Path | str | None = None, *, force: bool = False, workers: int = 2,
          out_root: Path | str | None = None, build_dir: Path | str | None = None,
          notebooks: list[str] | None = None, validate: bool = True, timeout: int = 600,
          progress: bool = True, log=print) -> BuildSummary:
    """Build the review (see the module docstring).

    Parameters
    ----------
    root : path, optional
        Repository root with ``data/``, ``review/``, ``notebooks/`` (default: this checkout).
    force : bool
        Rebuild even when the inputs are unchanged.
    workers : int
        Notebooks executed at the same time (each in its own kernel).
    out_root : path, optional
        Where ``figures/`` and ``review/`` outputs are published (default ``root``;
        tests publish into a temporary directory).
    build_dir : path, optional
        Stamp, staging and executed notebooks (default ``root/build``).
    notebooks : list of str, optional
        Only these notebook stems (the stamp is then not written).

    Raises
    ------
    BuildError
        On data violations or a failing notebook (message: notebook, cell, error).
    """
    t0 = time.perf_counter()
    root = Path(root) if root is not None else paths.ROOT
    out_root = Path(out_root) if out_root is not None else root
    build_dir = Path(build_dir) if build_dir is not None else root / "build"
    digests = input_digests(root)
    ihash = inputs_hash(root, digests)
    stamp = _read_stamp(build_dir)
    if not force and notebooks is None and _up_to_date(stamp, ihash, out_root):
        return BuildSummary(True, ihash, time.perf_counter() - t0)
    if stamp and not force:
        changed = changed_inputs(stamp, digests)
        if changed:
            log(f"Inputs changed since the last build: {', '.join(changed[:8])}"
                + (f" and {len(changed) - 8} more" if len(changed) > 8 else ""))
        else:
            log("Outputs missing or modified since the last build: rebuilding.")

    if validate:
        from .data import validate as v

        log("Validating data/ and review/ tables ...")
        violations = v.validate(root)
        if violations:
            listing = "\n".join(f"  {x}" for x in violations[:200])
            more = f"\n  ... {len(violations) - 200} more" if len(violations) > 200 else ""
            raise BuildError(f"data validation failed, fix these and rebuild:\n{listing}{more}\n"
                             f"{v.summary(violations)}")
        log(f"  {v.summary(violations)}")
        from .review import plausibility

        log("Plausibility checks (protocol 9.3) ...")
        found, stale, bad = plausibility.findings(root)
        if bad:
            raise BuildError(f"{plausibility.DECISIONS_FILE} is malformed:\n" + "\n".join(f"  {x}" for x in bad))
        for r in found[found["status"] == "open"].to_dict("records"):
            log(f"  {plausibility.format_finding(r)}")
        n_open = int((found["status"] == "open").sum())
        log(f"  {n_open} plausibility findings open, {len(found) - n_open} accepted with a reason"
            + (f", {len(stale)} stale decisions" if len(stale) else ""))

    nbs = notebook_paths(root)
    if notebooks is not None:
        known = {p.stem: p for p in nbs}
        # a name may be the stem, the file name, the path or just the number ("03")
        picked = []
        for n in notebooks:
            stem = Path(n).stem
            hits = [p for s_, p in known.items() if s_ == stem or s_.split("_")[0] == stem]
            if not hits:
                raise BuildError(f"there is no notebook {n!r} in {shown_path(root / 'notebooks', root)}/; "
                                 f"the notebooks are {', '.join(known)}.")
            picked += hits
        nbs = [p for p in nbs if p in picked]
    if not nbs:
        raise BuildError(f"no notebooks found in {shown_path(root / 'notebooks', root)}/")
    build_dir.mkdir(parents=True, exist_ok=True)
    stage = build_dir / f"stage-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    env = dict(os.environ, MSCREVIEW_STAGE=str(stage), MSCREVIEW_ROOT=str(root), PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)
    log(f"Executing {len(nbs)} notebook{'s' if len(nbs) != 1 else ''} ({min(workers, len(nbs))} at a time, "
        "each in a fresh kernel) ...")
    try:
        tfile = build_dir / "timings.json"
        try:
            timings = json.loads(tfile.read_text())
        except (OSError, ValueError):
            timings = {}
        runs = asyncio.run(_run_all(nbs, workers, env, build_dir / "notebooks", timeout, progress, timings))
        timings.update({r.name: round(r.seconds, 2) for r in runs})
        tfile.write_text(json.dumps(timings, indent=1, sort_keys=True))
        partial = notebooks is not None
        note = _finalise(stage, root, out_root, partial=partial)
        outputs = _publish(stage, out_root, partial=partial)
    except BuildError:
        raise
    except Exception as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise BuildError(f"publishing the outputs failed: {msg}") from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    summary = BuildSummary(False, ihash, time.perf_counter() - t0, runs, outputs, build_dir=build_dir,
                           out_root=out_root, note=note, plausibility_open=n_open if validate else None)
    if notebooks is None:
        (build_dir / STAMP_NAME).write_text(json.dumps(
            {"inputs": ihash, "outputs": outputs, "input_files": digests}, indent=1, sort_keys=True),
            encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m mscreview build [--force] [--workers N] [--only NB ...]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="mscreview build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild even if inputs are unchanged")
    ap.add_argument("--workers", type=int, default=2, help="notebooks run in parallel (default 2)")
    ap.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (stems)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--out", default=None, metavar="DIR",
                    help="publish figures/ and review/ outputs under DIR instead of the repository")
    ap.add_argument("--build-dir", default=None, metavar="DIR", help="stamp and executed notebooks (default build/)")
    args = ap.parse_args(argv)
    root = paths.ROOT
    exec_dir = shown_path(Path(args.build_dir or root / "build") / "notebooks", root)
    out = Path(args.out) if args.out else root
    try:
        s = build(root, force=args.force, workers=args.workers, notebooks=args.only,
                  progress=not args.no_progress, out_root=args.out, build_dir=args.build_dir)
    except BuildError as exc:
        print(f"\nBUILD FAILED: {exc}", file=sys.stderr)
        print(f"Nothing was published; {shown_path(out / 'figures', root)}/ and {shown_path(out / 'review', root)}/ "
              f"are unchanged. Executed copies (with the error) are in {exec_dir}/.", file=sys.stderr)
        return 1
    print(s.text(root))
    return 0
