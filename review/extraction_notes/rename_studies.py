"""Rename study ids to FirstAuthorYear through every table, note, notebook, test and source file.

Usage: python review/extraction_notes/rename_studies.py review/study_id_map.csv

The map (columns old_study_id, new_study_id) is kept in ``review/`` so that earlier references
(git history, the search logs, the batch change files, which keep the old ids on purpose) stay
traceable. An id is replaced only as a whole token: not preceded by a letter, digit or hyphen and
not followed by a letter, digit or hyphen (so ``Ding2015_03`` and ``cohort Ding2015`` change, but
``XDing2015`` does not). Ids without a year (e.g. ``Cameron``) are replaced only where they are
used as ids (a cell, a ``;`` list, a row or control-group id), never in prose.
"""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# historical records keep the ids they were written with (the map makes them traceable)
KEEP = re.compile(r"^(review/search_log\.csv|review/second_extraction_search_log\.csv|review/study_id_map\.csv|"
                  r"review/extraction_notes/s2/.*_(search_log|changes|new_rows)\.csv|"
                  r"review/extraction_notes/s2/applied_changes\.csv|review/extraction_notes/rename_studies\.py|"
                  r"figures/.*|review/tables/.*|review/results\.json|review/manuscript\.md)$")
TEXT = (".csv", ".md", ".py", ".ipynb", ".json", ".txt", ".bib", ".R", ".yml", ".cff", ".tex")


def pattern(old: str) -> re.Pattern:
    o = re.escape(old)
    if re.search(r"\d", old):
        return re.compile(rf"(?<![A-Za-z0-9-]){o}(?![A-Za-z0-9-])")
    # no year in the id: only id-like uses
    return re.compile(rf"(?<![A-Za-z0-9-]){o}(?=_\d|:|;|,|\"|'|\n|$| ;)")


def main(map_path: str) -> None:
    with open(map_path, encoding="utf-8", newline="") as fh:
        pairs = [(r["old_study_id"], r["new_study_id"]) for r in csv.DictReader(fh)
                 if r["new_study_id"] and r["new_study_id"] != r["old_study_id"]]
    news = [n for _, n in pairs]
    assert len(set(news)) == len(news), "new ids are not unique"
    # longest first, so an id that contains another is replaced before it
    pairs.sort(key=lambda p: -len(p[0]))
    compiled = [(pattern(o), n) for o, n in pairs]
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    changed = 0
    for rel in files:
        if KEEP.match(rel) or not rel.endswith(TEXT):
            continue
        p = ROOT / rel
        text = p.read_text(encoding="utf-8")
        new = text
        for rx, n in compiled:
            new = rx.sub(n, new)
        if new != text:
            p.write_text(new, encoding="utf-8")
            changed += 1
            print("renamed in", rel)
    print(f"{len(pairs)} ids renamed in {changed} files")


if __name__ == "__main__":
    main(sys.argv[1])
