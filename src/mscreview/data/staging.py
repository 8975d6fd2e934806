"""Merge the extractors' staging tables into the final tables.

Each extractor writes ``data/staging/<BATCH>/{studies,extracted,risk_of_bias,screening,
search_log,claims}.csv`` with the columns of :mod:`mscreview.data.schema`. This module concatenates
the batches (in batch-name order) into ``data/studies.csv``, ``data/extracted.csv``,
``data/risk_of_bias.csv``, ``review/screening.csv``, ``review/search_log.csv`` and
``review/claims.csv``, sorted by id, and reports every problem on the way.

Normalisation is limited to purely mechanical edits, each one logged:

* surrounding whitespace of a field is stripped;
* a vocabulary value that differs from a key only by letter case (``sd`` -> ``SD``) or a boolean
  written ``TRUE`` / ``True`` is rewritten as the key.

Everything else (unknown vocabulary values, missing or extra columns, the same id in two batches
with different content, unparseable numbers) is reported and left as written, so the validator
and the lead see it. Rows identical in every field that appear in two batches are kept once (the
duplicate is logged).

The log is printed and written to ``review/merge_log.csv`` (batch, file, line, column, action,
before, after).

A batch may also correct rows of other batches with ``<table>_updates.csv`` (key, column,
new_value, reason ...) and ``supersedes.csv`` (old_row_id, new_row_id, reason); these are
applied only with ``--apply-updates``, each change logged (otherwise reported as skipped).

Usage::

    .venv/bin/python -m mscreview.data.staging            # merge and write
    .venv/bin/python -m mscreview.data.staging --apply-updates   # also apply update files
    .venv/bin/python -m mscreview.data.staging --dry-run  # report only
"""
from __future__ import annotations

import argparse
import csv
import io as _io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from . import schema
from .tables import read_raw

__all__ = ["LogEntry", "MergeResult", "merge", "main"]

LOG_FILE = "review/merge_log.csv"


@dataclass(frozen=True)
class LogEntry:
    """One thing the merge did or found."""

    batch: str
    file: str
    line: int
    column: str
    action: str      # normalised | updated | unchanged | superseded | reported | dropped_identical_duplicate | conflict | skipped_file
    before: str
    after: str

    def __str__(self) -> str:
        where = f"data/staging/{self.batch}/{self.file}:{self.line}"
        col = f" column '{self.column}'" if self.column else ""
        if self.action == "normalised":
            return f"{where}:{col} normalised {self.before!r} -> {self.after!r}"
        if self.action in ("updated", "unchanged"):
            short = [t if len(t) <= 60 else t[:57] + "..." for t in (self.before, self.after)]
            return f"{where}:{col} {self.action}: {short[0]!r} -> {short[1]!r}"
        return f"{where}:{col} {self.action}: {self.before}" + (f" ({self.after})" if self.after else "")


@dataclass
class MergeResult:
    """Merged rows per final table (as lists of dicts in schema column order) and the log."""

    tables: dict = field(default_factory=dict)
    log: list = field(default_factory=list)
    origins: dict = field(default_factory=dict)   # table -> [(batch, staging line)] aligned with tables[table]

    @property
    def n_normalised(self) -> int:
        return sum(e.action == "normalised" for e in self.log)

    @property
    def n_reported(self) -> int:
        return sum(e.action not in ("normalised", "updated", "unchanged", "superseded") for e in self.log)


_BOOL = {"true": "true", "false": "false"}


def _normalise(value: str, col: schema.Column) -> str:
    v = value.strip()
    if col.type == "boolean" and v.lower() in _BOOL:
        return _BOOL[v.lower()]
    if col.vocabulary is not None and v:
        vocab = schema.VOCABULARIES[col.vocabulary]
        if v not in vocab:
            matches = [k for k in vocab if k.lower() == v.lower()]
            if len(matches) == 1:
                return matches[0]
    return v


def _natural(text: str):
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def _sort_key(table: str, row: dict):
    if table == "data/risk_of_bias.csv":
        tool = row.get("tool", "")
        domains = schema.ROB_DOMAINS.get(tool, [])
        d = row.get("domain", "")
        return (_natural(row.get("study_id", "")), tool, domains.index(d) if d in domains else len(domains), d)
    key = schema.PRIMARY_KEYS[table]
    return tuple(tuple(_natural(row.get(k, ""))) for k in key)


#: Optional correction files a batch may write for rows of *other* batches (applied only with
#: ``apply_updates=True``; every change logged): ``<table>_updates.csv`` with the table's primary
#: key column, ``column``, ``new_value`` (+ free documentation columns such as reason, source_url,
#: locator), and ``supersedes.csv`` (``old_row_id, new_row_id, reason``) that drops an extracted row
#: replaced by a better one.
UPDATE_FILES = {f"{Path(t).stem}_updates.csv": t for t in schema.TABLES}
SUPERSEDES_FILE = "supersedes.csv"


def _apply_updates(result: MergeResult, staging: Path, batches: list[str]) -> None:
    for batch in batches:
        for fname, table in UPDATE_FILES.items():
            path = staging / batch / fname
            if not path.exists():
                continue
            key = schema.PRIMARY_KEYS[table]
            header, rows = read_raw(path)
            need = key + ["column", "new_value"]
            if any(c not in header for c in need):
                result.log.append(LogEntry(batch, fname, 1, "", "reported", f"update file lacks columns {need}",
                                           "not applied"))
                continue
            names = schema.columns(table)
            for line, fields in rows:
                u = dict(zip(header, fields))
                k = tuple(u[c].strip() for c in key)
                col, new = u["column"].strip(), u["new_value"]
                targets = [i for i, r in enumerate(result.tables[table]) if tuple(r.get(c, "") for c in key) == k]
                if col not in names:
                    result.log.append(LogEntry(batch, fname, line, col, "reported", f"update of unknown column {col!r}",
                                               "not applied"))
                elif len(targets) != 1:
                    result.log.append(LogEntry(batch, fname, line, col, "reported",
                                               f"update target {'/'.join(k)} found {len(targets)} times in {table}",
                                               "not applied"))
                else:
                    row = result.tables[table][targets[0]]
                    before = row[col]
                    row[col] = new
                    result.log.append(LogEntry(batch, fname, line, col, "updated" if before != new else "unchanged",
                                               before, new))
        path = staging / batch / SUPERSEDES_FILE
        if path.exists():
            header, rows = read_raw(path)
            table = "data/extracted.csv"
            for line, fields in rows:
                u = dict(zip(header, fields))
                old, new = u.get("old_row_id", "").strip(), u.get("new_row_id", "").strip()
                ids = [r["row_id"] for r in result.tables[table]]
                if old not in ids or new not in ids:
                    result.log.append(LogEntry(batch, SUPERSEDES_FILE, line, "row_id", "reported",
                                               f"supersedes {old} -> {new}: "
                                               f"{'old' if old not in ids else 'new'} row not found", "not applied"))
                    continue
                i = ids.index(old)
                del result.tables[table][i]
                del result.origins[table][i]
                result.log.append(LogEntry(batch, SUPERSEDES_FILE, line, "row_id", "superseded", old,
                                           f"{new}: {u.get('reason', '')}"))


def merge(root: Path | str | None = None, batches: list[str] | None = None,
          apply_updates: bool = False) -> MergeResult:
    """Concatenate the staging tables of every batch into final tables (in memory).

    Parameters
    ----------
    root : path-like, optional
        Repository root (default :data:`mscreview.paths.ROOT`).
    batches : list of str, optional
        Batch folder names under ``data/staging`` (default: every folder, sorted).
    apply_updates : bool
        Apply the batches' ``<table>_updates.csv`` and ``supersedes.csv`` files (see
        :data:`UPDATE_FILES`) after concatenation, logging each change; otherwise they are
        reported as skipped files.

    Returns
    -------
    MergeResult
    """
    root = Path(root) if root is not None else paths.ROOT
    staging = root / "data" / "staging"
    if batches is None:
        batches = sorted(p.name for p in staging.iterdir() if p.is_dir()) if staging.exists() else []
    if not batches:
        raise ValueError(f"no batch folders under {staging}: nothing to merge (the merge replaces the final "
                         "tables, and since the staging phase ended they are edited directly)")
    result = MergeResult()
    known = {Path(t).name for t in schema.TABLES}
    for batch in batches:
        for path in sorted((staging / batch).glob("*.csv")):
            if path.name in known:
                continue
            if apply_updates and (path.name in UPDATE_FILES or path.name == SUPERSEDES_FILE):
                continue
            why = ("update file (use --apply-updates to apply it)" if path.name in UPDATE_FILES
                   or path.name == SUPERSEDES_FILE else "CSV file that is not one of the schema's tables")
            result.log.append(LogEntry(batch, path.name, 0, "", "skipped_file", why, "not merged"))
    for table, cols in schema.TABLES.items():
        names = [c.name for c in cols]
        fname = Path(table).name
        merged: list[dict] = []
        where: list[tuple] = []
        origin: dict = {}     # primary key -> (batch, line, row)
        for batch in batches:
            path = staging / batch / fname
            if not path.exists():
                continue
            header, rows = read_raw(path)
            hdr = [h.strip() for h in header]
            if hdr != header:
                result.log.append(LogEntry(batch, fname, 1, "", "normalised", ",".join(header), ",".join(hdr)))
            missing = [n for n in names if n not in hdr]
            extra = [h for h in hdr if h not in names]
            if missing or extra or hdr != names:
                result.log.append(LogEntry(batch, fname, 1, "", "reported",
                                           f"header differs from schema: missing {missing}, unexpected {extra}"
                                           + ("" if missing or extra else ", order differs"),
                                           "columns matched by name; unexpected columns NOT merged"))
            for line, fields in rows:
                if len(fields) != len(hdr):
                    result.log.append(LogEntry(batch, fname, line, "", "reported",
                                               f"{len(fields)} fields, header has {len(hdr)}",
                                               "row merged with fields matched by position"))
                raw = dict(zip(hdr, fields))
                for h in extra:
                    if raw.get(h, ""):
                        result.log.append(LogEntry(batch, fname, line, h, "reported",
                                                   f"value {raw[h]!r} in a column not in the schema", "not merged"))
                row = {}
                for c in cols:
                    before = raw.get(c.name, "")
                    after = _normalise(before, c)
                    if after != before:
                        result.log.append(LogEntry(batch, fname, line, c.name, "normalised", before, after))
                    if c.vocabulary is not None and after and after not in schema.VOCABULARIES[c.vocabulary]:
                        result.log.append(LogEntry(batch, fname, line, c.name, "reported",
                                                   f"value {after!r} not in vocabulary {c.vocabulary}",
                                                   "left as written"))
                    row[c.name] = after
                key = tuple(row.get(k, "") for k in schema.PRIMARY_KEYS[table])
                if key in origin and all(key):
                    ob, ol, orow = origin[key]
                    if orow == row:
                        result.log.append(LogEntry(batch, fname, line, "", "dropped_identical_duplicate",
                                                   f"id {'/'.join(key)} identical to data/staging/{ob}/{fname}:{ol}", ""))
                        continue
                    diff = [c for c in names if orow.get(c, "") != row.get(c, "")]
                    result.log.append(LogEntry(batch, fname, line, diff[0] if diff else "", "conflict",
                                               f"id {'/'.join(key)} also in data/staging/{ob}/{fname}:{ol} with different "
                                               f"{', '.join(diff[:6])}", "both rows kept; the lead must resolve"))
                else:
                    origin[key] = (batch, line, row)
                merged.append(row)
                where.append((batch, line))
        order = sorted(range(len(merged)), key=lambda i: _sort_key(table, merged[i]))
        result.tables[table] = [merged[i] for i in order]
        result.origins[table] = [where[i] for i in order]
    if apply_updates:
        _apply_updates(result, staging, batches)
    return result


def _to_csv(rows: list[dict], names: list[str]) -> str:
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def write(result: MergeResult, root: Path | str | None = None) -> list[Path]:
    """Write the merged tables and ``review/merge_log.csv``; returns the paths written."""
    root = Path(root) if root is not None else paths.ROOT
    written = []
    for table, rows in result.tables.items():
        path = root / table
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_to_csv(rows, schema.columns(table)), encoding="utf-8")
        written.append(path)
    log_rows = [{"batch": e.batch, "file": e.file, "line": e.line, "column": e.column, "action": e.action,
                 "before": e.before, "after": e.after} for e in result.log]
    path = root / LOG_FILE
    path.write_text(_to_csv(log_rows, ["batch", "file", "line", "column", "action", "before", "after"]),
                    encoding="utf-8")
    written.append(path)
    return written


def staging_location(result: MergeResult, root: Path | str | None, violation) -> str:
    """``data/staging/<BATCH>/<file>:<line>`` of the staging row behind a violation of a merged table.

    Empty when the violation concerns a header, a whole file, or a table not produced by the merge.
    """
    root = Path(root) if root is not None else paths.ROOT
    origins = result.origins.get(violation.file)
    if not origins or violation.line < 2:
        return ""
    if not hasattr(result, "_lines"):
        result._lines = {}
    if violation.file not in result._lines:
        _, rows = read_raw(root / violation.file)
        result._lines[violation.file] = {line: i for i, (line, _) in enumerate(rows)}
    i = result._lines[violation.file].get(violation.line)
    if i is None or i >= len(origins):
        return ""
    batch, line = origins[i]
    return f"data/staging/{batch}/{Path(violation.file).name}:{line}"


def main(argv: list[str] | None = None) -> int:
    """``python -m mscreview.data.staging [--root DIR] [--dry-run] [--batch B ...]``.

    Merges, writes the final tables and the log, prints the log and then every violation of the
    merged tables with the staging row it came from (``<- data/staging/B/file.csv:line``). Returns 0 when the merged tables validate cleanly, 1 otherwise
    (the tables are written either way unless --dry-run).
    """
    parser = argparse.ArgumentParser(prog="mscreview.data.staging", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None)
    parser.add_argument("--batch", action="append", default=None, help="batch folder(s) to merge (default all)")
    parser.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--apply-updates", action="store_true",
                        help="apply <table>_updates.csv and supersedes.csv files of the batches (logged)")
    args = parser.parse_args(argv)
    result = merge(args.root, args.batch, apply_updates=args.apply_updates)
    if not args.quiet:
        for e in result.log:
            print(e)
    for table, rows in result.tables.items():
        print(f"{table}: {len(rows)} rows")
    n_upd = sum(e.action in ("updated", "superseded") for e in result.log)
    print(f"merge: {result.n_normalised} normalisation(s), {n_upd} update(s) applied, "
          f"{result.n_reported} problem(s) reported")
    if args.dry_run:
        return 0
    write(result, args.root)
    from .validate import summary, validate
    violations = validate(args.root)
    for v in violations:
        loc = staging_location(result, args.root, v)
        print(f"{v}" + (f"  <- {loc}" if loc else ""))
    print("validate: " + summary(violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
