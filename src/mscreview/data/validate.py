"""Check every table against the data dictionary and the cross-table rules.

``validate(root)`` returns every problem found as a :class:`Violation` naming the file, the line
(1-based, the header is line 1; a row whose quoted field spans lines is reported at its first
line), the column, the value and what was expected. Nothing is fixed and nothing is skipped: a
row with a type error is still checked by every other rule that does not need the broken value.

Rules (each names the column it reports on):

* structure: file present, header equal to the schema's columns in order, field count per row;
* types (integer, number, boolean ``true``/``false``, date ``YYYY-MM-DD``), no surrounding
  whitespace, required values, vocabularies (:data:`mscreview.data.schema.VOCABULARIES`), minimum
  values (n > 0, SD > 0, events >= 0, ...);
* keys: unique primary keys (:data:`~mscreview.data.schema.PRIMARY_KEYS`), foreign keys
  (:data:`~mscreview.data.schema.FOREIGN_KEYS`, plus claims.study_ids), ``row_id`` starts with
  ``{study_id}_``, ``control_group_id`` present for between-group rows and starting with
  ``{study_id}:``, every study has an included screening record;
* extraction: numbers present when ``data_availability = numeric``; absent when
  ``figure_only`` (unless notes say digitised) or ``direction_only`` (which needs a direction,
  or notes saying why none could be read);
  ``lo <= m <= hi`` for CI95 / IQR / range; ``effect_ci_low <= effect <= effect_ci_high``;
  ``x <= n``; a dispersion type that matches the columns used; ``n1i == n2i`` for ``pre_post``;
  no arm 2 for ``events_single_arm``;
  ``higher_is_better`` set; ``timepoint`` and ``timepoint_unit`` together; ``secondary_source``
  for secondary rows;
* formats: URLs, DOI, PMID, PMCID;
* studies: an MSC product and source (not ``not_msc`` / ``not_applicable``), a design that fits
  the population;
* risk of bias: domain and judgement belong to the tool, every domain of a tool present, tool
  fits the study design (SYRCLE animal, RoB 2 randomised, ROBINS-I non-randomised), and every
  animal study, RCT and non-randomised controlled study has its tool's rows;
* screening: duplicates carry no decisions, every other record is screened, excluded records
  have a reason, included records have a study_id, stages follow PRISMA order.

References
----------
Page MJ et al. (2021). The PRISMA 2020 statement. BMJ 372:n71.
Frictionless Table Schema (https://specs.frictionlessdata.io/table-schema/).
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from . import schema
from .tables import parse_value, read_raw

__all__ = ["Violation", "validate", "main", "rob2_algorithm", "ROB2_DOMAINS"]


@dataclass(frozen=True)
class Violation:
    """One problem in one cell (or row, or header) of one table.

    Attributes
    ----------
    file : str
        Repository-relative path, e.g. ``data/extracted.csv``.
    line : int
        1-based line in the file (header = 1); 0 when the whole file is concerned.
    column : str
        Column name ('' when the row or file as a whole is concerned).
    value : str
        The offending value as written in the file.
    expected : str
        What the rule expects.
    message : str
        Extra context (e.g. the first occurrence of a duplicated id).
    """

    file: str
    line: int
    column: str
    value: str
    expected: str
    message: str = ""

    def __str__(self) -> str:
        col = f" column '{self.column}':" if self.column else ""
        text = f"{self.file}:{self.line}:{col} value '{self.value}' expected {self.expected}"
        return f"{text} ({self.message})" if self.message else text


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

_URL = re.compile(r"^https?://[^\s|]+$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_PMID = re.compile(r"^\d{1,9}$")
_PMCID = re.compile(r"^PMC\d+$")
_DIGITISED = re.compile(r"digiti[sz]", re.I)
_NEGATION = re.compile(r"(\bnot|\bno|n't|\bwithout|\bnever|\bun)[\s-]*(yet[\s-]*|been[\s-]*|be[\s-]*)?$", re.I)


def says_digitised(notes) -> bool:
    """True when ``notes`` say the numbers were digitised from a figure ("not digitised" is not)."""
    if not isinstance(notes, str):
        return False
    return any(not _NEGATION.search(notes[max(0, m.start() - 20):m.start()]) for m in _DIGITISED.finditer(notes))

_DISP_NOT_STATED = re.compile(r"dispersion (type )?not stated", re.I)

NUMBER_COLUMNS = ["m1i", "sd1i", "lo1i", "hi1i", "m2i", "sd2i", "lo2i", "hi2i", "m1i_pre", "m2i_pre",
                  "x1i", "x2i", "effect", "effect_ci_low", "effect_ci_high"]
"""Extracted columns that carry numbers (n1i/n2i excluded: arm sizes may be known from a legend)."""


class _Row(dict):
    """A row's fields by column name, with its file line."""

    line: int

    def num(self, col: str, type: str = "number"):
        """The parsed value, or None when empty or not parseable (the type rule reports that)."""
        try:
            return parse_value(self.get(col, ""), type)
        except ValueError:
            return None


@dataclass
class _Table:
    file: str
    present: bool
    header: list
    rows: list  # of _Row


def _read(root: Path, table: str) -> _Table:
    path = root / table
    if not path.exists():
        return _Table(table, False, [], [])
    header, raw = read_raw(path)
    rows = []
    for line, fields in raw:
        r = _Row(zip(header, fields))
        r.line = line
        r.n_fields = len(fields)
        rows.append(r)
    return _Table(table, True, header, rows)


def _fmt(x: float) -> str:
    return f"{x:g}"


# ---------------------------------------------------------------------------
# per-table rules
# ---------------------------------------------------------------------------

def _check_structure(t: _Table, out: list) -> bool:
    if not t.present:
        out.append(Violation(t.file, 0, "", "", "the file to exist", "table missing"))
        return False
    names = schema.columns(t.file)
    if t.header != names:
        missing = [n for n in names if n not in t.header]
        extra = [h for h in t.header if h not in names]
        for n in missing:
            out.append(Violation(t.file, 1, n, "", f"column {n!r} in the header", "column missing"))
        for h in extra:
            out.append(Violation(t.file, 1, h, h, "only the columns of the schema", "unexpected column"))
        if not missing and not extra:
            out.append(Violation(t.file, 1, "", ",".join(t.header), "columns in schema order: " + ",".join(names),
                                 "columns out of order"))
    for r in t.rows:
        if r.n_fields != len(t.header):
            out.append(Violation(t.file, r.line, "", f"{r.n_fields} fields", f"{len(t.header)} fields",
                                 "row has the wrong number of fields"))
    return True


def _check_cells(t: _Table, out: list) -> None:
    cols = {c.name: c for c in schema.TABLES[t.file]}
    for r in t.rows:
        for name, c in cols.items():
            if name not in r:
                continue
            v = r[name]
            if v != v.strip():
                out.append(Violation(t.file, r.line, name, v, "no leading or trailing whitespace"))
                v = v.strip()
            if v == "":
                if c.required:
                    out.append(Violation(t.file, r.line, name, "", "a value (required)"))
                continue
            try:
                value = parse_value(v, c.type)
            except ValueError as err:
                out.append(Violation(t.file, r.line, name, v, str(err)))
                continue
            if c.vocabulary is not None and value not in schema.VOCABULARIES[c.vocabulary]:
                allowed = ", ".join(schema.VOCABULARIES[c.vocabulary])
                rid = f"row_id {r['row_id']}" if r.get("row_id") else ""
                out.append(Violation(t.file, r.line, name, v, f"one of: {allowed}", rid))
            if c.exclusive_minimum is not None and value <= c.exclusive_minimum:
                kind = "an integer" if c.type == "integer" else "a number"
                out.append(Violation(t.file, r.line, name, v, f"{kind} > {_fmt(c.exclusive_minimum)}"))
            if c.minimum is not None and value < c.minimum:
                kind = "an integer" if c.type == "integer" else "a number"
                out.append(Violation(t.file, r.line, name, v, f"{kind} >= {_fmt(c.minimum)}"))


def _check_unique(t: _Table, out: list) -> None:
    key = schema.PRIMARY_KEYS[t.file]
    seen: dict = {}
    for r in t.rows:
        k = tuple(r.get(c, "") for c in key)
        if any(x == "" for x in k):
            continue
        if k in seen:
            out.append(Violation(t.file, r.line, key[-1] if len(key) > 1 else key[0], "/".join(k),
                                 "a unique " + "+".join(key), f"first at line {seen[k]}"))
        else:
            seen[k] = r.line


def _check_foreign(tables: dict, out: list) -> None:
    for (tf, col), (rf, rcol) in schema.FOREIGN_KEYS.items():
        t, ref = tables[tf], tables[rf]
        if not t.present or not ref.present:
            continue
        keys = {r.get(rcol, "") for r in ref.rows}
        for r in t.rows:
            v = r.get(col, "")
            if v and v not in keys:
                out.append(Violation(tf, r.line, col, v, f"a {rcol} of {rf}", "unknown id"))
    claims, studies = tables["review/claims.csv"], tables["data/studies.csv"]
    if claims.present and studies.present:
        ids = {r.get("study_id", "") for r in studies.rows}
        for r in claims.rows:
            for sid in _split_ids(r.get("study_ids", "")):
                if sid not in ids:
                    out.append(Violation(claims.file, r.line, "study_ids", sid, "a study_id of data/studies.csv",
                                         "unknown id (ids separated by ';')"))


    groups = tables.get("review/overlap_groups.csv")
    if groups is not None and groups.present and studies.present:
        ids = {r.get("study_id", "") for r in studies.rows}
        for r in groups.rows:
            members = _split_ids(r.get("study_ids", ""))
            for sid in members:
                if sid not in ids:
                    out.append(Violation(groups.file, r.line, "study_ids", sid, "a study_id of data/studies.csv",
                                         f"unknown id in group {r.get('group_id', '')} (ids separated by ';')"))
            if r.get("study_ids", "") and len(set(members)) < 2:
                out.append(Violation(groups.file, r.line, "study_ids", r.get("study_ids", ""),
                                     "two or more distinct study_ids separated by ';'",
                                     f"group {r.get('group_id', '')}: an overlap needs two reports"))


def _split_ids(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"[;,|]", text) if s.strip()]


def _check_formats(t: _Table, out: list) -> None:
    for r in t.rows:
        if t.file == "data/studies.csv":
            urls = r.get("urls_read", "")
            if urls:
                for u in urls.split(schema.URL_SEPARATOR):
                    if not _URL.match(u.strip()):
                        out.append(Violation(t.file, r.line, "urls_read", u, "URLs starting with http:// or "
                                             "https:// separated by ' | '"))
                        break
        for col in ("source_url",):
            v = r.get(col, "")
            if v and not _URL.match(v):
                out.append(Violation(t.file, r.line, col, v, "a URL starting with http:// or https://"))
        v = r.get("doi", "")
        if v and not _DOI.match(v):
            out.append(Violation(t.file, r.line, "doi", v, "a DOI like 10.1186/s13287-019-1545-x (no https://doi.org/)"))
        v = r.get("pmid", "")
        if v and not _PMID.match(v):
            out.append(Violation(t.file, r.line, "pmid", v, "a PubMed id (digits only)"))
        v = r.get("pmcid", "")
        if v and not _PMCID.match(v):
            out.append(Violation(t.file, r.line, "pmcid", v, "a PMC id like PMC6998370"))


def _check_instrument_columns(f: str, r: _Row, pops: dict, out: list) -> None:
    """Protocol 9.1-9.3: instrument of clinical function rows; doubtful dispersions; reported d."""
    rid = f"row_id {r.get('row_id', '')}"
    inst = r.get("instrument", "")
    clinical_function = pops.get(r.get("study_id", "")) == "clinical" and r.get("mechanism", "") == "function"
    if clinical_function and inst == "":
        out.append(Violation(f, r.line, "instrument", "", "an instrument of schema.INSTRUMENTS for a clinical "
                             "function row", rid))
    elif not clinical_function and inst != "":
        out.append(Violation(f, r.line, "instrument", inst, "empty (instrument is for clinical function rows)", rid))
    if r.get("dispersion_doubt", "") != "" and r.get("dispersion_type", "") not in ("SD", "SEM"):
        out.append(Violation(f, r.line, "dispersion_doubt", r["dispersion_doubt"],
                             "empty unless dispersion_type is SD or SEM (the doubt is SD vs SEM)", rid))
    if (r.get("effect_std", "") == "") != (r.get("effect_std_type", "") == ""):
        out.append(Violation(f, r.line, "effect_std_type", r.get("effect_std_type", ""),
                             "effect_std and effect_std_type both given or both empty", rid))


def _check_extracted(t: _Table, studies: _Table, out: list) -> None:
    f = t.file
    pops = {s.get("study_id", ""): s.get("population", "") for s in studies.rows}
    for r in t.rows:
        sid, rid = r.get("study_id", ""), r.get("row_id", "")
        if sid and rid and not rid.startswith(sid + "_"):
            out.append(Violation(f, r.line, "row_id", rid, f"a row_id starting with '{sid}_' (study_id + '_')"))
        cg = r.get("control_group_id", "")
        if sid and cg and not cg.startswith(sid + ":"):
            out.append(Violation(f, r.line, "control_group_id", cg, f"a control_group_id starting with '{sid}:'"))
        if r.get("comparison_type", "") in ("between_groups", "msc_vs_msc") and cg == "":
            out.append(Violation(f, r.line, "control_group_id", "", f"a control_group_id '{sid}:<control label>' "
                                 f"for a {r.get('comparison_type')} row"))
        tp, tu = r.get("timepoint", ""), r.get("timepoint_unit", "")
        if tp != "" and tu == "":
            out.append(Violation(f, r.line, "timepoint_unit", "", "a timepoint_unit when timepoint is given"))
        elif tp == "" and tu != "":
            out.append(Violation(f, r.line, "timepoint", "", "a timepoint when timepoint_unit is given"))
        if r.get("higher_is_better", None) == "":
            out.append(Violation(f, r.line, "higher_is_better", "", "true or false (set for every outcome)"))
        # availability
        avail = r.get("data_availability", "")
        present = [c for c in NUMBER_COLUMNS if r.get(c, "") != ""]
        ctype = r.get("comparison_type", "")
        if avail == "numeric":
            group = r.get("m1i", "") != "" and (r.get("m2i", "") != "" or ctype == "events_single_arm")
            effect = all(r.get(c, "") != "" for c in ("effect", "effect_ci_low", "effect_ci_high"))
            events = r.get("x1i", "") != "" and r.get("n1i", "") != ""
            if not (group or effect or events):
                out.append(Violation(f, r.line, "data_availability", avail,
                                     "numbers when data_availability is numeric: group statistics (m1i and m2i), "
                                     "an effect with its CI, or event counts (x1i of n1i)"))
        elif avail == "figure_only" and present and not says_digitised(r.get("notes", "")):
            c = present[0]
            out.append(Violation(f, r.line, c, r[c], "empty when data_availability is figure_only "
                                 "(unless notes say how the figure was digitised)"))
        elif avail == "direction_only":
            if present:
                c = present[0]
                out.append(Violation(f, r.line, c, r[c], "empty when data_availability is direction_only"))
            if r.get("direction", "") == "" and r.get("notes", "") == "":
                out.append(Violation(f, r.line, "direction", "", "a direction when data_availability is direction_only "
                                     "(or notes saying why none could be read)"))
        # dispersion type matches the columns used
        dt = r.get("dispersion_type", "")
        has_sd = r.get("sd1i", "") != "" or r.get("sd2i", "") != ""
        has_bounds = any(r.get(c, "") != "" for c in ("lo1i", "hi1i", "lo2i", "hi2i"))
        if has_sd:
            if dt == "" and not _DISP_NOT_STATED.search(r.get("notes", "")):
                out.append(Violation(f, r.line, "dispersion_type", "", "SD or SEM when sd1i/sd2i are given "
                                     "(or notes saying 'dispersion type not stated')"))
            elif dt in ("CI95", "IQR", "range", "none"):
                out.append(Violation(f, r.line, "dispersion_type", dt, "SD or SEM when sd1i/sd2i are given"))
        if has_bounds and dt not in ("CI95", "IQR", "range"):
            out.append(Violation(f, r.line, "dispersion_type", dt, "CI95, IQR or range when lo*/hi* are given"))
        # ordering of bounds
        if dt in ("CI95", "IQR", "range"):
            for arm in ("1", "2"):
                lo, hi, m = r.num(f"lo{arm}i"), r.num(f"hi{arm}i"), r.num(f"m{arm}i")
                if lo is not None and hi is not None and lo > hi:
                    out.append(Violation(f, r.line, f"hi{arm}i", r[f"hi{arm}i"], f"hi{arm}i >= lo{arm}i ({_fmt(lo)})"))
                elif m is not None and ((lo is not None and m < lo) or (hi is not None and m > hi)):
                    out.append(Violation(f, r.line, f"m{arm}i", r[f"m{arm}i"],
                                         f"a value within lo{arm}i..hi{arm}i "
                                         f"({r.get(f'lo{arm}i', '')}..{r.get(f'hi{arm}i', '')})"))
        # reported effect
        e, lo, hi = r.num("effect"), r.num("effect_ci_low"), r.num("effect_ci_high")
        if (e is not None or lo is not None or hi is not None) and r.get("effect_type", "") == "":
            out.append(Violation(f, r.line, "effect_type", "", "an effect_type when effect or its CI is given"))
        if e is None and r.get("effect", "") == "" and (lo is not None or hi is not None):
            out.append(Violation(f, r.line, "effect", "", "the effect estimate when its CI is given"))
        if lo is not None and hi is not None and lo > hi:
            out.append(Violation(f, r.line, "effect_ci_high", r["effect_ci_high"],
                                 f"effect_ci_high >= effect_ci_low ({_fmt(lo)})"))
        elif e is not None and ((lo is not None and e < lo) or (hi is not None and e > hi)):
            out.append(Violation(f, r.line, "effect", r["effect"], "a value within effect_ci_low..effect_ci_high "
                                 f"({r.get('effect_ci_low', '')}..{r.get('effect_ci_high', '')})"))
        # events within n
        for arm in ("1", "2"):
            x, n = r.num(f"x{arm}i", "integer"), r.num(f"n{arm}i", "integer")
            if x is not None and n is not None and x > n:
                out.append(Violation(f, r.line, f"x{arm}i", r[f"x{arm}i"], f"x{arm}i <= n{arm}i ({n})"))
        if ctype == "events_single_arm":
            for c in ("n2i", "m2i", "x2i"):
                if r.get(c, "") != "":
                    out.append(Violation(f, r.line, c, r[c], "empty for events_single_arm (no comparator arm)"))
                    break
        if ctype == "pre_post":
            n1, n2 = r.num("n1i", "integer"), r.num("n2i", "integer")
            if n1 is not None and n2 is not None and n1 != n2:
                out.append(Violation(f, r.line, "n2i", r["n2i"], f"n2i == n1i ({n1}) for pre_post (same patients)"))
        _check_instrument_columns(f, r, pops, out)
        kind, sec = r.get("source_kind", ""), r.get("secondary_source", "")
        if kind == "secondary" and sec == "":
            out.append(Violation(f, r.line, "secondary_source", "", "the review and table, e.g. 'Xie2020 Table 2', "
                                 "when source_kind is secondary"))
        elif kind == "primary" and sec != "":
            out.append(Violation(f, r.line, "secondary_source", sec, "empty when source_kind is primary"))


_POP_DESIGNS = {"preclinical": {"animal_controlled", "other"},
                "clinical": {"rct", "nrsi_controlled", "single_arm", "retrospective", "case_report", "other"}}


def _check_studies(t: _Table, out: list) -> None:
    f = t.file
    for r in t.rows:
        if r.get("product", "") == "not_msc":
            out.append(Violation(f, r.line, "product", "not_msc", "an MSC product (records that are not MSC belong "
                                 "in review/screening.csv only)"))
        if r.get("msc_source", "") == "not_applicable":
            out.append(Violation(f, r.line, "msc_source", "not_applicable", "an MSC source (or 'unclear') for an "
                                 "included study"))
        pop, des = r.get("population", ""), r.get("design", "")
        if pop in _POP_DESIGNS and des in schema.DESIGNS and des not in _POP_DESIGNS[pop]:
            out.append(Violation(f, r.line, "design", des, f"a {pop} design: " + ", ".join(sorted(_POP_DESIGNS[pop]))))


def _required_tool(pop: str, des: str):
    if pop == "preclinical":
        return "SYRCLE"
    return {"rct": "RoB2", "nrsi_controlled": "ROBINS-I"}.get(des)


#: RoB 2 domains that enter the overall judgement (every domain but ``overall``).
ROB2_DOMAINS = tuple(d for d in schema.ROB_DOMAINS["RoB2"] if d != "overall")


def rob2_algorithm(judgements) -> str:
    """RoB 2 overall judgement from the five domain judgements (protocol 9.8).

    ``low`` if every domain is low; ``high`` if any domain is high or three or more domains have
    some concerns; otherwise ``some_concerns`` (Sterne et al. 2019, BMJ 366:l4898, Table 2, with
    "multiple domains" operationalised as three or more). Raises ``ValueError`` naming any
    judgement that is not a RoB 2 domain judgement.
    """
    js = list(judgements)
    bad = [j for j in js if j not in ("low", "some_concerns", "high")]
    if bad or not js:
        raise ValueError(f"RoB 2 domain judgements must be low, some_concerns or high; got {bad or 'nothing'}")
    if "high" in js or js.count("some_concerns") >= 3:
        return "high"
    if all(j == "low" for j in js):
        return "low"
    return "some_concerns"


def _check_rob2_overall(f: str, sid: str, rows: list, out: list) -> None:
    """The stored RoB 2 ``overall`` row must equal the algorithm's result."""
    dom = {r.get("domain", ""): r for r in rows}
    js = [dom[d].get("judgement", "") for d in ROB2_DOMAINS if d in dom]
    if "overall" not in dom or len(js) != len(ROB2_DOMAINS) or \
            any(j not in ("low", "some_concerns", "high") for j in js):
        return   # missing domains and bad judgements are reported by their own checks
    derived = rob2_algorithm(js)
    stored = dom["overall"].get("judgement", "")
    if stored != derived:
        out.append(Violation(f, dom["overall"].line, "judgement", stored,
                             f"'{derived}' for {sid}: the RoB 2 algorithm (protocol 9.8) on its domains "
                             f"({', '.join(js)})", f"study {sid}: stored overall '{stored}' differs from the derived "
                             f"'{derived}'"))


def _check_rob(t: _Table, studies: _Table, out: list) -> None:
    f = t.file
    design = {r.get("study_id", ""): (r.get("population", ""), r.get("design", "")) for r in studies.rows}
    groups: dict = defaultdict(list)
    for r in t.rows:
        tool = r.get("tool", "")
        if tool not in schema.ROB_DOMAINS:
            continue
        d, j = r.get("domain", ""), r.get("judgement", "")
        if d and d not in schema.ROB_DOMAINS[tool]:
            out.append(Violation(f, r.line, "domain", d, f"a {tool} domain: " + ", ".join(schema.ROB_DOMAINS[tool])))
        if j and j not in schema.ROB_JUDGEMENTS[tool]:
            out.append(Violation(f, r.line, "judgement", j, f"a {tool} judgement: " + ", ".join(schema.ROB_JUDGEMENTS[tool])))
        groups[(r.get("study_id", ""), tool)].append(r)
    assessed = {sid for sid, _ in groups}
    for r in studies.rows:
        sid = r.get("study_id", "")
        tool = _required_tool(r.get("population", ""), r.get("design", ""))
        if sid and tool and (sid, tool) not in groups:
            out.append(Violation(studies.file, r.line, "study_id", sid, f"{tool} rows in {f} for a "
                                 f"{r.get('population', '')} {r.get('design', '')} study",
                                 "risk of bias not assessed" if sid not in assessed else "wrong tool"))
    for (sid, tool), rows in groups.items():
        if tool == "RoB2":
            _check_rob2_overall(f, sid, rows, out)
        have = {r.get("domain", "") for r in rows}
        missing = [d for d in schema.ROB_DOMAINS[tool] if d not in have]
        if missing:
            out.append(Violation(f, rows[0].line, "domain", ";".join(missing), f"every {tool} domain for {sid}",
                                 "domains missing"))
        if sid in design:
            pop, des = design[sid]
            fits = {"SYRCLE": pop == "preclinical", "RoB2": des == "rct", "ROBINS-I": des == "nrsi_controlled"}[tool]
            if not fits and pop and des:
                wanted = ("SYRCLE" if pop == "preclinical" else "RoB2" if des == "rct"
                          else "ROBINS-I" if des == "nrsi_controlled" else "no tool")
                out.append(Violation(f, rows[0].line, "tool", tool, f"{wanted} for a {pop} {des} study ({sid})"))


def _check_screening(t: _Table, studies: _Table, out: list) -> None:
    f = t.file
    included: set = set()
    for r in t.rows:
        rid, dup = r.get("record_id", ""), r.get("duplicate_of", "")
        sd, ret = r.get("screen_decision", ""), r.get("retrieval", "")
        ed, why, sid = r.get("eligibility_decision", ""), r.get("exclusion_reason", ""), r.get("study_id", "")
        if dup:
            if dup == rid:
                out.append(Violation(f, r.line, "duplicate_of", dup, "the record_id of another record"))
            for c in ("screen_decision", "retrieval", "eligibility_decision", "exclusion_reason"):
                if r.get(c, ""):
                    out.append(Violation(f, r.line, c, r[c], "empty for a duplicate (removed before screening)"))
                    break
            continue
        if sd == "":
            out.append(Violation(f, r.line, "screen_decision", "", "include or exclude for every record that is not "
                                 "a duplicate"))
            continue
        if sd == "exclude":
            if why == "":
                out.append(Violation(f, r.line, "exclusion_reason", "", "a reason when screen_decision is exclude"))
            for c in ("retrieval", "eligibility_decision"):
                if r.get(c, ""):
                    out.append(Violation(f, r.line, c, r[c], "empty when excluded at screening"))
            continue
        # screened in -> sought for retrieval
        if ret == "":
            out.append(Violation(f, r.line, "retrieval", "", "the retrieval outcome for a record screened in"))
        elif ret == "not_retrieved":
            if ed:
                out.append(Violation(f, r.line, "eligibility_decision", ed, "empty when the report was not retrieved"))
        elif ed == "":
            out.append(Violation(f, r.line, "eligibility_decision", "", "include or exclude for a retrieved report"))
        if ed == "exclude" and why == "":
            out.append(Violation(f, r.line, "exclusion_reason", "", "a reason when eligibility_decision is exclude"))
        if ed == "include":
            if sid == "":
                out.append(Violation(f, r.line, "study_id", "", "the study_id of an included record"))
            else:
                included.add(sid)
            if why:
                out.append(Violation(f, r.line, "exclusion_reason", why, "empty for an included record"))
    if t.present and studies.present:
        for r in studies.rows:
            sid = r.get("study_id", "")
            if sid and sid not in included:
                out.append(Violation(studies.file, r.line, "study_id", sid,
                                     "a record of review/screening.csv with eligibility_decision include and this "
                                     "study_id"))


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------

def validate(root: Path | str | None = None) -> list[Violation]:
    """Check every table of the repository at ``root``.

    Parameters
    ----------
    root : path-like, optional
        Repository root holding ``data/`` and ``review/`` (default :data:`mscreview.paths.ROOT`).

    Returns
    -------
    list of Violation
        Sorted by file (schema order), line and column; empty when the data are clean.
    """
    root = Path(root) if root is not None else paths.ROOT
    tables = {name: _read(root, name) for name in schema.TABLES}
    out: list[Violation] = []
    for name, t in tables.items():
        if not _check_structure(t, out):
            continue
        _check_cells(t, out)
        _check_unique(t, out)
        _check_formats(t, out)
    _check_foreign(tables, out)
    studies = tables["data/studies.csv"]
    if studies.present:
        _check_studies(studies, out)
    if tables["data/extracted.csv"].present:
        _check_extracted(tables["data/extracted.csv"], studies, out)
    if tables["data/risk_of_bias.csv"].present:
        _check_rob(tables["data/risk_of_bias.csv"], studies, out)
    if tables["review/screening.csv"].present:
        _check_screening(tables["review/screening.csv"], studies, out)
    order = {name: i for i, name in enumerate(schema.TABLES)}
    seen, unique = set(), []
    for v in out:        # the same cell can be hit by one rule twice (e.g. two FKs): report once
        if v not in seen:
            seen.add(v)
            unique.append(v)
    return sorted(unique, key=lambda v: (order.get(v.file, 99), v.line, v.column))


def summary(violations: list[Violation]) -> str:
    """One-line summary: count of violations per file."""
    if not violations:
        return "OK: 0 violations in " + ", ".join(schema.TABLES)
    per = defaultdict(int)
    for v in violations:
        per[v.file] += 1
    return f"{len(violations)} violation(s): " + ", ".join(f"{f} {n}" for f, n in per.items())


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m mscreview validate [--root DIR]``.

    Prints each violation as ``file:line: column 'c': value 'v' expected ...`` and a summary;
    returns 1 when there are violations, 0 when the data are clean.
    """
    parser = argparse.ArgumentParser(prog="mscreview validate", description="Validate the review's tables.")
    parser.add_argument("--root", default=None, help="repository root (default: this checkout)")
    parser.add_argument("--max", type=int, default=0, help="print at most this many violations (0 = all)")
    args = parser.parse_args(argv)
    violations = validate(args.root)
    shown = violations if args.max <= 0 else violations[: args.max]
    for v in shown:
        print(v)
    if len(shown) < len(violations):
        print(f"... {len(violations) - len(shown)} more")
    print(summary(violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
