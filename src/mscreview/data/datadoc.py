"""Generate the data documentation from :mod:`mscreview.data.schema`.

``data/datapackage.json`` (Frictionless) and ``data/README.md`` (the data dictionary in prose)
are both written from the schema, so they cannot drift from what the validator checks. Tests
assert the committed files equal what these functions produce.

Usage::

    .venv/bin/python -m mscreview.data.datadoc        # rewrite both files
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .. import paths
from . import schema

__all__ = ["datapackage_json", "readme_markdown", "write", "main"]

DATAPACKAGE = "data/datapackage.json"
README = "data/README.md"


def datapackage_json() -> str:
    """``data/datapackage.json`` text: :func:`mscreview.data.schema.to_datapackage` as indented JSON."""
    return json.dumps(to_datapackage(), indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _allowed(c: schema.Column) -> str:
    parts = []
    if c.vocabulary is not None:
        parts.append(", ".join(f"`{k}`" for k in schema.VOCABULARIES[c.vocabulary]))
    if c.type == "boolean":
        parts.append("`true`, `false`")
    if c.minimum is not None:
        parts.append(f">= {c.minimum:g}")
    if c.exclusive_minimum is not None:
        parts.append(f"> {c.exclusive_minimum:g}")
    if c.type == "date":
        parts.append("YYYY-MM-DD")
    return "; ".join(parts)


HOW_TO_ADD = """\
## How to add a study

1. **Screen it.** Add a row to `review/screening.csv` (record_id, citation, source_type, the
   search_id of `review/search_log.csv` that found it, screen_decision, retrieval,
   eligibility_decision, exclusion_reason or study_id). Log the search itself in
   `review/search_log.csv`.
2. **Describe it.** If included, add one row to `data/studies.csv` with a new `study_id`
   (FirstAuthorYear, a/b suffix when needed), every URL you read (`urls_read`, separated by
   ` | `), and `cohort_id` (= study_id unless the patients or animals were reported elsewhere).
3. **Extract it.** Add one row per comparison x outcome x timepoint to `data/extracted.csv`
   (`row_id` = `{study_id}_{nn}`), arm 1 = MSC, arm 2 = comparator; copy numbers exactly as
   printed and say what the dispersion is (`dispersion_type`); conversions to SD happen in code.
   Give `source_url`, `source_locator` and `source_kind`. Numbers only in a figure:
   `data_availability = figure_only`, numbers empty.
4. **Judge its risk of bias** in `data/risk_of_bias.csv`: every domain of SYRCLE (animal),
   RoB 2 (randomised) or ROBINS-I (non-randomised controlled).
5. **Validate**: `.venv/bin/python -m mscreview validate` lists every problem as
   `file:line: column 'c': value 'v' expected ...` and exits non-zero until the tables are clean.
6. **Rebuild**: `make review` re-runs the analyses, figures and tables.

The first extraction was done by parallel batches (CL, CT, P1, P2, NH, PUB, adjudication X2ADJ;
the `extractor` column keeps the batch) in `data/staging/<BATCH>/*.csv`, merged by
`.venv/bin/python -m mscreview.data.staging` (log in `review/merge_log.csv`). That phase is over and
the staging folders were removed: the tables above are now the only source and are edited directly.
A later parallel round would stage the *whole* tables again (the merge replaces the final tables and
refuses to run without staging folders).
"""


def readme_markdown() -> str:
    """``data/README.md`` text: every table and column with type, unit, allowed values, meaning."""
    out = ["# Data dictionary",
           "",
           "Generated from `src/mscreview/data/schema.py` by `python -m mscreview.data.datadoc`; do not edit by hand",
           "(edit the schema and regenerate). The same information, machine-readable, is in",
           "`datapackage.json` (Frictionless Data Package). Every number in these tables was copied",
           "from a page whose URL and locator are recorded with it; nothing is estimated or invented.",
           "",
           "Conventions: CSV, UTF-8, comma-separated, header row; an **empty field means unknown / not",
           "reported**; booleans are `true` / `false`; dates are ISO `YYYY-MM-DD`; several URLs in one",
           f"field are separated by `{schema.URL_SEPARATOR.strip()}` (with spaces); several ids by `{schema.ID_SEPARATOR}`.",
           "Statistics use metafor's names: arm 1 = MSC (`n1i m1i sd1i`), arm 2 = comparator (`n2i m2i sd2i`).",
           "",
           HOW_TO_ADD,
           "## Tables",
           ""]
    for table, cols in schema.TABLES.items():
        key = schema.PRIMARY_KEYS[table]
        out += [f"### `{table}`", "", schema.TABLE_DESCRIPTIONS[table], "",
                f"Primary key: {' + '.join(f'`{k}`' for k in key)}."]
        fks = [f"`{col}` -> `{rt}`:`{rc}`" for (t, col), (rt, rc) in schema.FOREIGN_KEYS.items() if t == table]
        if fks:
            out.append("Foreign keys: " + "; ".join(fks) + ".")
        out += ["", "| column | type | required | unit | allowed values | meaning |",
                "|---|---|---|---|---|---|"]
        for c in cols:
            out.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {_cell(c.unit or '')} | "
                       f"{_cell(_allowed(c))} | {_cell(schema.describe(c))} |")
        out.append("")
    out += ["## Vocabularies", "",
            "One registry per vocabulary in `schema.py`; validation, this file and `datapackage.json` "
            "derive from it.", ""]
    for name, vocab in schema.VOCABULARIES.items():
        if name in ("rob_domain", "rob_judgement"):
            continue
        out += [f"### `{name}`", "", "| value | meaning |", "|---|---|"]
        out += [f"| `{k}` | {_cell(v)} |" for k, v in vocab.items()]
        out.append("")
    out += ["### Risk-of-bias domains and judgements per tool", "", "| tool | domains | judgements |", "|---|---|---|"]
    for tool in schema.ROB_TOOLS:
        out.append(f"| `{tool}` | {', '.join(f'`{d}`' for d in schema.ROB_DOMAINS[tool])} | "
                   f"{', '.join(f'`{j}`' for j in schema.ROB_JUDGEMENTS[tool])} |")
    out += ["", "## Cross-table and row rules (checked by `python -m mscreview validate`)", ""]
    from . import validate as _v
    rules = _v.__doc__.split("Rules (each names the column it reports on):", 1)[1].split("References", 1)[0]
    rules = re.sub(r":data:`~?([\w.]+)`", lambda m: "`" + m.group(1).split(".")[-1] + "`", rules)
    out += [line.replace("``", "`") for line in rules.strip("\n").splitlines()]
    return "\n".join(out).rstrip() + "\n"


def write(root: Path | str | None = None) -> list[Path]:
    """Write ``data/datapackage.json`` and ``data/README.md`` under ``root``."""
    root = Path(root) if root is not None else paths.ROOT
    written = []
    for rel, text in ((DATAPACKAGE, datapackage_json()), (README, readme_markdown())):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written


_FRICTIONLESS_TYPES = {"string": "string", "integer": "integer", "number": "number",
                       "boolean": "boolean", "date": "date"}



def _field(c: schema.Column, table: str) -> dict:
    field = {"name": c.name, "type": _FRICTIONLESS_TYPES[c.type]}
    description = schema.describe(c)
    if c.exclusive_minimum is not None:
        description = (description + "; " if description else "") + f"must be > {c.exclusive_minimum:g}"
    if description:
        field["description"] = description
    if c.type == "boolean":
        field["trueValues"] = ["true"]
        field["falseValues"] = ["false"]
    if c.type == "date":
        field["format"] = "default"   # ISO 8601 YYYY-MM-DD
    if c.unit:
        field["unit"] = c.unit
    constraints = {}
    if c.required:
        constraints["required"] = True
    if schema.PRIMARY_KEYS[table] == [c.name]:
        constraints["unique"] = True
    if c.vocabulary is not None:
        constraints["enum"] = list(schema.VOCABULARIES[c.vocabulary])
    minimum = c.minimum if c.minimum is not None else c.exclusive_minimum
    if minimum is not None:
        constraints["minimum"] = int(minimum) if c.type == "integer" else minimum
    if constraints:
        field["constraints"] = constraints
    return field


def to_datapackage() -> dict:
    """The Frictionless data package descriptor of every table, derived from this module.

    ``data/datapackage.json`` is this dictionary written with ``json.dumps(indent=2)``;
    a test asserts the committed file equals it.

    Returns
    -------
    dict
        Data package (profile ``tabular-data-package``) with one ``tabular-data-resource``
        per table: path relative to ``data/``, a Table Schema with fields (type,
        description, unit, constraints ``required`` / ``unique`` / ``enum`` / ``minimum``),
        ``primaryKey``, ``foreignKeys`` and ``missingValues = [""]``.

    References
    ----------
    Frictionless Standards: Data Package, Tabular Data Resource and Table Schema
    (https://specs.frictionlessdata.io/).
    """
    resources = []
    for table, cols in schema.TABLES.items():
        name = table.rsplit("/", 1)[1][:-4]
        table_schema = {
            "fields": [_field(c, table) for c in cols],
            "missingValues": [""],
            "primaryKey": schema.PRIMARY_KEYS[table] if len(schema.PRIMARY_KEYS[table]) > 1 else schema.PRIMARY_KEYS[table][0],
        }
        fks = []
        for (t, col), (ref_t, ref_col) in schema.FOREIGN_KEYS.items():
            if t != table:
                continue
            ref_name = "" if ref_t == table else ref_t.rsplit("/", 1)[1][:-4]
            fks.append({"fields": col, "reference": {"resource": ref_name, "fields": ref_col}})
        if fks:
            table_schema["foreignKeys"] = fks
        # paths are relative to data/ (where datapackage.json lives)
        path = table[len("data/"):] if table.startswith("data/") else "../" + table
        resources.append({
            "name": name, "path": path, "profile": "tabular-data-resource", "format": "csv",
            "mediatype": "text/csv", "encoding": "utf-8", "description": schema.TABLE_DESCRIPTIONS[table],
            "schema": table_schema,
        })
    return {
        "profile": "tabular-data-package",
        "name": "mscreview-msc-cerebral-palsy",
        "title": "Mesenchymal stromal cell therapy for cerebral palsy: extraction tables of a systematic review",
        "description": ("Hand-extracted study characteristics, outcome data, risk of bias, screening and search "
                        "logs. Generated from src/mscreview/data/schema.py by mscreview.data.datadoc.to_datapackage(); "
                        "do not edit by hand."),
        "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/",
                      "title": "Creative Commons Attribution 4.0"}],
        "resources": resources,
    }


def main(argv: list[str] | None = None) -> int:
    for p in write():
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
