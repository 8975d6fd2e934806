"""Apply a batch's change file and new rows to the extraction tables, refusing any conflict.

Usage: python review/extraction_notes/apply_changes.py BATCH [BATCH ...]

For each BATCH, reads ``review/extraction_notes/s2/<BATCH>_changes.csv`` (columns file, key,
column, old_value, new_value, source_url, source_locator, note) and, if present,
``<BATCH>_new_rows.csv`` (the header of data/extracted.csv). A change is applied only when the
cell still holds ``old_value`` exactly; otherwise the script stops and names the change. Every
applied change is appended to ``review/extraction_notes/s2/applied_changes.csv`` with its batch,
so each edited cell of data/ keeps the URL and locator it was read from. The CSVs are rewritten
with the csv module's minimal quoting and '\n' line ends, which round-trips the tables byte for
byte.
"""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
S2 = ROOT / "review" / "extraction_notes" / "s2"
TABLES = {"studies": ("data/studies.csv", "study_id"), "extracted": ("data/extracted.csv", "row_id"),
          "risk_of_bias": ("data/risk_of_bias.csv", None)}
LOG = S2 / "applied_changes.csv"
LOG_COLUMNS = ["batch", "file", "key", "column", "old_value", "new_value", "source_url", "source_locator", "note"]


def read(path: Path):
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return rows[0], rows[1:]


def write(path: Path, header, rows) -> None:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def rob_key(row, header) -> str:
    return "|".join(row[header.index(c)] for c in ("study_id", "tool", "domain"))


def apply(batch: str) -> tuple[int, int]:
    tables = {name: read(ROOT / rel) for name, (rel, _) in TABLES.items()}
    log = []
    changes_file = S2 / f"{batch}_changes.csv"
    n_changed = 0
    if changes_file.exists():
        with changes_file.open(encoding="utf-8", newline="") as fh:
            for i, ch in enumerate(csv.DictReader(fh), start=2):
                name = ch["file"].strip()
                if name not in tables:
                    sys.exit(f"{changes_file.name}:{i}: file {name!r}: expected one of {sorted(tables)}")
                header, rows = tables[name]
                if ch["column"] not in header:
                    sys.exit(f"{changes_file.name}:{i}: column {ch['column']!r} is not a column of {TABLES[name][0]}")
                keycol = TABLES[name][1]
                hits = [r for r in rows if (rob_key(r, header) if keycol is None else r[header.index(keycol)]) == ch["key"]]
                if len(hits) != 1:
                    sys.exit(f"{changes_file.name}:{i}: key {ch['key']!r} matches {len(hits)} rows of {TABLES[name][0]} (expected 1)")
                j = header.index(ch["column"])
                current = hits[0][j]
                if current == ch["new_value"]:
                    continue
                if current != ch["old_value"]:
                    sys.exit(f"{changes_file.name}:{i}: {ch['key']} column {ch['column']!r} holds {current!r}, "
                             f"the change expected {ch['old_value']!r}: resolve by hand")
                hits[0][j] = ch["new_value"]
                n_changed += 1
                log.append([batch] + [ch.get(c, "") for c in LOG_COLUMNS[1:]])
    n_new = 0
    new_file = S2 / f"{batch}_new_rows.csv"
    if new_file.exists():
        header, rows = tables["extracted"]
        new_header, new_rows = read(new_file)
        if new_header != header:
            sys.exit(f"{new_file.name}: header differs from data/extracted.csv")
        ids = {r[0] for r in rows}
        for k, r in enumerate(new_rows, start=2):
            if not any(r):
                continue
            if r[0] in ids:
                sys.exit(f"{new_file.name}:{k}: row_id {r[0]!r} already exists")
            same = [i for i, x in enumerate(rows) if x[1] == r[1]]
            # after the study's last row, so rows stay grouped by study in their order
            rows.insert(same[-1] + 1 if same else len(rows), r)
            ids.add(r[0])
            n_new += 1
    for name, (rel, _) in TABLES.items():
        write(ROOT / rel, *tables[name])
    if log:
        exists = LOG.exists()
        with LOG.open("a", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            if not exists:
                w.writerow(LOG_COLUMNS)
            w.writerows(log)
    return n_changed, n_new


if __name__ == "__main__":
    for b in sys.argv[1:]:
        c, n = apply(b)
        print(f"{b}: {c} cells changed, {n} rows added")
