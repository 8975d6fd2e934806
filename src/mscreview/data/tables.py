"""Load the review's tables with the types declared in :mod:`mscreview.data.schema`.

Every table is read as text first (so that nothing is guessed by the CSV parser) and then each
column is converted to the type its :class:`~mscreview.data.schema.Column` declares:

========  ==========================  =====================================
schema    pandas dtype                accepted text
========  ==========================  =====================================
string    ``string``                  anything; empty -> <NA>
integer   ``Int64``                   ``12``, ``-3``; empty -> <NA>
number    ``float64``                 ``1.5``, ``-2e-3``; empty -> NaN
boolean   ``boolean``                 ``true`` / ``false`` exactly; empty -> <NA>
date      ``datetime64[ns]``          ``YYYY-MM-DD``; empty -> NaT
========  ==========================  =====================================

A value that does not fit its type raises :class:`TableError` naming the file, the line (1-based,
the header is line 1), the column and the value. :mod:`mscreview.data.validate` reports *all* problems
of a table instead; use it to find everything at once.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from . import schema

__all__ = ["TableError", "read_table", "load", "load_all", "parse_value", "read_raw"]

_INT = re.compile(r"^[+-]?\d+$")
_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class TableError(ValueError):
    """A table does not match its schema; the message names file, line, column and value."""

    def __init__(self, file: str, line: int, column: str, value: str, expected: str):
        self.file, self.line, self.column, self.value, self.expected = file, line, column, value, expected
        where = f"{file}:{line}"
        col = f" column {column!r}:" if column else ""
        super().__init__(f"{where}:{col} value {value!r} expected {expected}")


def parse_value(text: str, type: str):
    """Convert one CSV field to the Python value of a schema type.

    Parameters
    ----------
    text : str
        The field exactly as read (no stripping is done here: surrounding whitespace is an error
        for non-string types).
    type : {"string", "integer", "number", "boolean", "date"}

    Returns
    -------
    object
        ``None`` for the empty string; otherwise str, int, float, bool or ``datetime.date``.

    Raises
    ------
    ValueError
        With a short phrase saying what was expected (used in :class:`TableError`).
    """
    if text == "":
        return None
    if type == "string":
        return text
    if type == "integer":
        if not _INT.match(text):
            raise ValueError("an integer")
        return int(text)
    if type == "number":
        if not _NUM.match(text):
            raise ValueError("a number")
        return float(text)
    if type == "boolean":
        if text == "true":
            return True
        if text == "false":
            return False
        raise ValueError("true or false")
    if type == "date":
        if not _DATE.match(text):
            raise ValueError("a date YYYY-MM-DD")
        try:
            return pd.Timestamp(text).date()
        except ValueError:
            raise ValueError("a valid date YYYY-MM-DD") from None
    raise KeyError(f"unknown schema type {type!r}")


def read_raw(path: Path | str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and rows of a CSV file as text, each row with its 1-based starting line number.

    Quoted fields may span several lines; the line recorded for a row is the line where the
    row starts, so messages point where an editor shows the row.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return [], []
        rows = []
        prev = reader.line_num
        for fields in reader:
            start = prev + 1
            prev = reader.line_num
            if fields == []:        # a blank line: not a row
                continue
            rows.append((start, fields))
    return header, rows


def _dtype(type: str) -> str:
    return {"string": "string", "integer": "Int64", "number": "float64", "boolean": "boolean",
            "date": "datetime64[ns]"}[type]


def read_table(path: Path | str, table: str | None = None, *, name: str | None = None) -> pd.DataFrame:
    """Read one CSV file and type its columns by the schema of ``table``.

    Parameters
    ----------
    path : path-like
        The CSV file.
    table : str, optional
        Key of :data:`mscreview.data.schema.TABLES` (e.g. ``"data/extracted.csv"``) or a short name
        (``"extracted"``). Defaults to the table whose file name matches ``path``.
    name : str, optional
        How the file is named in error messages (defaults to ``path``).

    Returns
    -------
    pandas.DataFrame
        Columns in schema order with the dtypes of the module docstring; a ``line`` attribute
        is not added: row ``i`` (0-based) of the frame is line ``i + 2`` of the file only when
        no field spans several lines, so use :func:`read_raw` when exact lines matter.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    TableError
        Header not equal to the schema's columns, a row with the wrong number of fields, or a
        value that does not fit its column's type.
    """
    path = Path(path)
    shown = name or str(path)
    if table is None:
        matches = [t for t in schema.TABLES if Path(t).name == path.name]
        if len(matches) != 1:
            raise KeyError(f"cannot tell which table {path} is; pass table=")
        table = matches[0]
    table = schema.TABLE_NAMES.get(table, table)
    cols = schema.TABLES[table]
    names = [c.name for c in cols]
    if not path.exists():
        raise FileNotFoundError(f"{shown}: file not found (expected table {table})")
    header, rows = read_raw(path)
    if header != names:
        missing = [n for n in names if n not in header]
        extra = [h for h in header if h not in names]
        detail = []
        if missing:
            detail.append(f"missing {missing}")
        if extra:
            detail.append(f"unexpected {extra}")
        if not detail:
            detail.append("columns out of order")
        raise TableError(shown, 1, "", ",".join(header),
                         f"the columns of schema {table} in order ({'; '.join(detail)})")
    data: dict[str, list] = {n: [] for n in names}
    for line, fields in rows:
        if len(fields) != len(names):
            raise TableError(shown, line, "", ",".join(fields), f"{len(names)} fields, found {len(fields)}")
        for c, text in zip(cols, fields):
            try:
                data[c.name].append(parse_value(text, c.type))
            except ValueError as err:
                raise TableError(shown, line, c.name, text, str(err)) from None
    frame = {}
    for c in cols:
        values = data[c.name]
        if c.type == "number":
            frame[c.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
        elif c.type == "date":
            frame[c.name] = pd.to_datetime(pd.Series([pd.NaT if v is None else v for v in values], dtype="object"))
        else:
            frame[c.name] = pd.Series([pd.NA if v is None else v for v in values], dtype=_dtype(c.type))
    return pd.DataFrame(frame, columns=names)


def load(name: str, root: Path | str | None = None) -> pd.DataFrame:
    """Load one table of the repository by short name (``"extracted"``) or schema key.

    Parameters
    ----------
    name : str
        ``studies``, ``extracted``, ``risk_of_bias``, ``screening``, ``search_log``, ``claims``
        or the corresponding key of :data:`mscreview.data.schema.TABLES`.
    root : path-like, optional
        Repository root (default :data:`mscreview.paths.ROOT`).
    """
    table = schema.TABLE_NAMES.get(name, name)
    if table not in schema.TABLES:
        raise KeyError(f"unknown table {name!r}; known: {sorted(schema.TABLE_NAMES)}")
    root = Path(root) if root is not None else paths.ROOT
    return read_table(root / table, table, name=table)


def load_all(root: Path | str | None = None) -> dict[str, pd.DataFrame]:
    """Every table, keyed by short name (``studies``, ``extracted``, ...)."""
    return {short: load(short, root) for short in schema.TABLE_NAMES}
