"""Per-notebook build records and the write primitives of the output layer.

During a build each notebook process writes what it made (tables, figures, cited numbers) to its own
files in ``<stage>/records/`` (no file is shared between parallel notebooks) and the build reads them
once. Files shared by interactive sessions are rewritten under :func:`locked`, always through
:func:`atomic_text`.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path


def read_named(stage: Path, suffix: str, what: str, verb: str) -> dict[str, dict]:
    """Records ``{name: record}`` from ``<stage>/records/*.<suffix>.jsonl``.

    A later record of the same name from the same notebook wins; the same name from two notebooks
    raises ``ValueError`` ("<what> 'x' <verb> by both A and B").
    """
    recs: dict[str, dict] = {}
    for p in sorted((Path(stage) / "records").glob(f"*.{suffix}.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                if r["name"] in recs and recs[r["name"]]["notebook"] != r["notebook"]:
                    raise ValueError(f"{what} {r['name']!r} {verb} by both "
                                     f"{recs[r['name']]['notebook']} and {r['notebook']}")
                recs[r["name"]] = r
    return recs


def stage() -> Path | None:
    """The build's staging directory (``MSCREVIEW_STAGE``), or None when run interactively."""
    s = os.environ.get("MSCREVIEW_STAGE")
    return Path(s) if s else None


def notebook_name(notebook: str | None = None) -> str:
    """The notebook writing: ``notebook``, else ``MSCREVIEW_NOTEBOOK``, else ``"interactive"`` (stem only)."""
    nb = notebook or os.environ.get("MSCREVIEW_NOTEBOOK") or "interactive"
    return Path(nb).stem


def atomic_text(p: Path, text: str) -> None:
    """Write ``text`` to ``p`` through a temporary file and ``os.replace`` (readers never see half a file)."""
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)


@contextlib.contextmanager
def locked(p: Path):
    """Exclusive inter-process lock for a read-modify-write of ``p`` (lock file beside it)."""
    lock = p.with_name(f".{p.name}.lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
