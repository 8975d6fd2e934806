"""The numbers the text cites: a store of ``{dotted key: value}`` behind ``review/results.json``.

A review section computes its cited numbers (``mscreview.review.<section>.numbers(ev)``) and the
notebook saves them once with :func:`save`: during ``python -m mscreview build`` into the notebook's own
fragment ``<stage>/records/<notebook>.results.json`` (merged by the build, :func:`merge_fragments`);
run interactively, into ``review/results.json``. Every write is one atomic replace under the
inter-process lock that :func:`mscreview.output.tables.write_table` takes.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from .. import paths
from .records import atomic_text, locked, notebook_name, stage

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$")

#: Significant digits every stored float keeps (results.json and the CSV, Markdown and LaTeX tables).
#: Six digits are more than any figure a reader sees (estimates print with 2-3 decimals, p values
#: with 3) and far fewer than the 17 of a full ``repr``, whose last digits are floating-point noise
#: that differs between machines, BLAS builds and library versions.
SIGNIFICANT = 6

#: Magnitudes below this are stored as 0 (a tau^2 of 1e-17 on one machine is 0 on another).
ZERO_BELOW = 1e-12


def fixed(value: float) -> float:
    """``value`` at the review's stored precision: :data:`SIGNIFICANT` significant digits, magnitudes
    under :data:`ZERO_BELOW` as 0.0 (and no negative zero); NaN and infinities unchanged.

    The one formatter of stored numbers (``review/results.json`` here, ``review/tables/`` in
    :func:`mscreview.output.tables.write_table`), so a value with noise in its 15th digit writes the
    same bytes as the clean value.

    >>> fixed(0.1 + 0.2), fixed(1.5818007685875351), fixed(-1e-17)
    (0.3, 1.5818, 0.0)
    """
    v = float(value)
    if not math.isfinite(v):
        return v
    if abs(v) < ZERO_BELOW:
        return 0.0
    return float(f"{v:.{SIGNIFICANT}g}") + 0.0


#: Numbers saved by this process (kernel), by key: what a notebook's sentences may cite during a build.
SESSION: dict[str, object] = {}


def clean(value):
    """JSON-safe value: numpy scalars to Python, NaN/inf to None, tuples to lists, floats at the stored
    precision (:func:`fixed`), ints as ints."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
    if isinstance(value, float):
        return fixed(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        seq = value.tolist() if hasattr(value, "tolist") else value
        return [clean(v) for v in seq]
    if hasattr(value, "item"):
        return clean(value.item())
    raise TypeError(f"cannot save a value of type {type(value).__name__}: {value!r}")



def save(values: dict, notebook: str | None = None) -> dict:
    """Save the cited numbers ``{dotted key: value}`` (one write) and return them cleaned.

    Parameters
    ----------
    values : dict
        Keys are dotted words (``"clinical.gmfm.latest.k"``); values numbers, strings, bools, None or
        lists (NaN is stored as null).
    notebook : str, optional
        The notebook saving them (default ``MSCREVIEW_NOTEBOOK``).
    """
    bad = [k for k in values if not _KEY.match(k or "")]
    if bad:
        raise ValueError(f"result key {bad[0]!r} must be dotted words (letters, digits, _ and -)")
    cleaned = {k: clean(v) for k, v in values.items()}
    SESSION.update(cleaned)
    st = stage()
    if st is not None:
        d = st / "records"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{notebook_name(notebook)}.results.json"
    else:
        p = paths.REVIEW / "results.json"
        p.parent.mkdir(parents=True, exist_ok=True)
    with locked(p):
        cur = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
        cur.update(cleaned)
        atomic_text(p, dumps(cur))
    return cleaned


def results() -> dict:
    """Numbers saved so far: ``review/results.json`` updated with this session's numbers."""
    p = paths.REVIEW / "results.json"
    base = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    base.update(SESSION)
    return base


def value(key: str):
    """One cited number (this session first, then ``review/results.json``)."""
    if key in SESSION:
        return SESSION[key]
    r = results()
    if key not in r:
        raise KeyError(f"result {key!r} has not been saved (see review/results.json)")
    return r[key]


def dumps(res: dict) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline, floats at the stored
    precision (:func:`fixed`)."""
    return json.dumps(clean(res), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def merge_fragments(stage_dir: Path) -> dict:
    """Merge every notebook's fragment; the same key from two notebooks must agree."""
    merged: dict = {}
    origin: dict = {}
    for p in sorted((Path(stage_dir) / "records").glob("*.results.json")):
        nb = p.name.split(".")[0]
        for k, v in json.loads(p.read_text(encoding="utf-8")).items():
            if k in merged and merged[k] != v:
                raise ValueError(f"result {k!r} recorded as {merged[k]!r} by {origin[k]} and {v!r} by {nb}")
            merged[k], origin[k] = v, nb
    return dict(sorted(merged.items()))
