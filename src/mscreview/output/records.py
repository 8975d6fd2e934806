"""Per-notebook build records: each notebook process appends JSON lines to its own file in
``<stage>/records/`` (no file is shared between parallel notebooks); the build reads them once."""
from __future__ import annotations

import json
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
