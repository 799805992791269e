"""Reading delimited text files (CSV, TSV, TXT) into rows of strings that remember their line numbers,
so every later problem can name the file and the line."""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from layerloom.core.data.base import DataError
from layerloom.core.data.options import Options, suggest

HEADER_WORDS = {
    "text", "label", "labels", "class", "target", "y", "sentence", "review", "message", "category", "sentiment",
    "value", "date", "time", "month", "year", "day", "timestamp", "id", "name", "content", "body", "title",
}
DATE_WORDS = ("date", "time", "month", "year", "day", "timestamp", "period", "week", "hour")
_SAMPLE_LINES = 50


@dataclass
class Table:
    """A delimited file: its header (None when it has none), rows of strings and their line numbers."""

    path: str
    header: list[str] | None
    rows: list[list[str]]
    lines: list[int]
    delimiter: str
    notes: list[str]

    @property
    def width(self) -> int:
        return len(self.header) if self.header is not None else (len(self.rows[0]) if self.rows else 0)

    def column_name(self, j: int) -> str:
        return repr(self.header[j]) if self.header is not None else f"{j} (counting from 0)"

    def names(self) -> list[str]:
        return list(self.header) if self.header is not None else [str(j) for j in range(self.width)]

    def where(self, row: int | None = None) -> str:
        name = os.path.basename(self.path)
        return name if row is None else f"{name}, line {self.lines[row]}"

    def error(self, message: str, row: int | None = None, option: str | None = None) -> DataError:
        return DataError(f"{self.where(row)}: {message}", path=self.path,
                         line=None if row is None else self.lines[row], option=option)

    def check_widths(self, join_into: int | None = None) -> None:
        """Every row must have the header's number of values. With `join_into` (the last column), extra
        values are put back into that column (a text with unquoted delimiters in it)."""
        width = self.width
        for i, row in enumerate(self.rows):
            if len(row) == width:
                continue
            if join_into is not None and len(row) > width and join_into == width - 1:
                self.rows[i] = [*row[: width - 1], self.delimiter.join(row[width - 1:])]
                continue
            what = "the header has" if self.header is not None else "the first row has"
            raise self.error(f"{len(row)} values where {what} {width}; check the delimiter and quoting", i)

    def column(self, spec: str | int | None, option: str, default: int) -> int:
        """The position of the column an option names (by header name or position)."""
        if spec is None:
            return default
        if isinstance(spec, int):
            if spec >= self.width:
                raise self.error(f"option {option} is column {spec}, but the file has {self.width} columns "
                                 "(counting from 0)", option=option)
            return spec
        if self.header is None:
            if spec.strip().isdigit():
                return self.column(int(spec), option, default)
            raise self.error(f"option {option} names the column {spec!r}, but the file has no header row; "
                             "give the column's number instead (0 for the first)", option=option)
        if spec not in self.header:
            lowered = [h.lower() for h in self.header]
            if spec.lower() in lowered:
                return lowered.index(spec.lower())
            raise self.error(f"option {option} names the column {spec!r}{suggest(spec, self.header)}; the columns "
                             f"are {', '.join(map(repr, self.header))}", option=option)
        return self.header.index(spec)

    def numbers(self, j: int, what: str = "a number") -> np.ndarray:
        """Column j as float64, or a DataError naming the first line whose value is not a number."""
        col = [row[j] for row in self.rows]
        try:
            values = np.array([float(v) for v in col], dtype=np.float64)
            if np.isfinite(values).all():
                return values
        except ValueError:
            pass
        for i, v in enumerate(col):
            f = _float(v)
            if f is None:
                shown = "an empty value" if not v.strip() else repr(v if len(v) <= 40 else v[:37] + "...")
                raise self.error(f"column {self.column_name(j)} has {shown}, but {what} is needed there", i)
        raise AssertionError("unreachable")  # pragma: no cover

    def cells(self, j: int, limit: int | None = None) -> list[str]:
        """Column j's values for sniffing (rows too short to have it are skipped)."""
        rows = self.rows if limit is None else self.rows[:limit]
        return [row[j] for row in rows if j < len(row)]

    def is_numeric(self, j: int) -> bool:
        return all(_float(v) is not None for v in self.cells(j))

    def looks_like_text(self, j: int) -> bool:
        """Free text: values with spaces in most rows, or long on average."""
        values = self.cells(j, 500)
        if not values or all(_float(v) is not None for v in values):
            return False
        spaced = sum(1 for v in values if " " in v.strip())
        return spaced >= 0.5 * len(values) or sum(map(len, values)) / len(values) >= 20

    def looks_like_dates(self, j: int) -> bool:
        name = (self.header[j].lower() if self.header is not None else "")
        if any(w in name for w in DATE_WORDS):
            return True
        values = [v.strip() for v in self.cells(j, 50)]
        return bool(values) and all(len(v) >= 4 and v[:4].isdigit() and any(c in v for c in "-/:") for v in values)


def _float(v: str) -> float | None:
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


TEXT_MEMORY_FACTOR = 12  # memory of a delimited file read into rows of strings, per byte on disk (an estimate)


def _decode(path: str) -> tuple[str, list[str]]:
    from layerloom.core.resources import MemoryLimitError, NotRegularFile, check_fits, open_regular

    try:
        with open_regular(path, "data file") as fh:
            size = os.fstat(fh.fileno()).st_size
            check_fits(size * TEXT_MEMORY_FACTOR, f"{os.path.basename(path)} ({size:,} bytes of text, read into rows)")
            data = fh.read()
    except (NotRegularFile, MemoryLimitError) as exc:
        raise DataError(str(exc), path=path) from None
    except FileNotFoundError:
        raise DataError(f"file not found: {path}", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", path=path) from None
    if b"\x00" in data[:65536]:
        raise DataError(f"{os.path.basename(path)} is not a text file (it holds binary data); a CSV, TSV or TXT "
                        "file of text lines is needed", path=path)
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return data.decode("latin-1"), [f"{os.path.basename(path)} is not UTF-8 (first at line {line}); "
                                        "read as Latin-1"]


def _guess_delimiter(text: str, default: str) -> str:
    lines = [ln for ln in text.splitlines()[:_SAMPLE_LINES] if ln.strip()]
    best, best_score = default, -1.0
    for delim in dict.fromkeys([default, ",", "\t", ";", "|"]):
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        except csv.Error:  # such as a field past the limit: not this delimiter (read_table words it)
            continue
        if not counts:
            continue
        width, freq = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        score = freq / len(counts)
        if score > best_score + 1e-9:
            best, best_score = delim, score
    return best


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


def read_table(path: str, opts: Options, default_delimiter: str = ",", named: tuple = ()) -> Table:
    """Read a delimited file. Options: `delimiter` (default: guessed), `header` (true, false or auto: a first
    row whose cells are column names). `named` lists option values that name columns (a header is then
    assumed when they are found in the first row)."""
    text, notes = _decode(path)
    delim = opts.raw("delimiter")
    if delim is not None:
        if not isinstance(delim, str) or len(delim.replace("\\t", "\t")) != 1:
            raise opts.error("delimiter", "one character, such as ',' or '\\t'")
        delim = delim.replace("\\t", "\t")
    else:
        delim = _guess_delimiter(text, default_delimiter)
    header_opt = opts.raw("header", "auto")
    if header_opt == "auto":
        header_mode = None
    else:
        header_mode = opts.boolean("header", True)
    # tab-separated files rarely quote, and texts often start with a quote mark that never closes
    quoting = csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delim, quoting=quoting)
    try:
        start = 1
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append([_unquote(c) for c in row] if quoting == csv.QUOTE_NONE else row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataError(f"{os.path.basename(path)}, line {reader.line_num}: a value is longer than "
                            f"{csv.field_size_limit():,} characters, the most a field of a delimited file may hold; "
                            "a quote mark that is never closed joins the lines after it into one value — check the "
                            "quoting (or split the long text)", path=path, line=reader.line_num) from None
        raise DataError(f"{os.path.basename(path)}, line {reader.line_num}: cannot be read as delimited text "
                        f"({exc})", path=path, line=reader.line_num) from None
    if not rows:
        raise DataError(f"{os.path.basename(path)} is empty; it needs rows of values", path=path)
    has_header = header_mode if header_mode is not None else _sniff_header(rows, named)
    header = None
    if has_header:
        header = [h.strip() for h in rows[0]]
        rows, lines = rows[1:], lines[1:]
        if not rows:
            raise DataError(f"{os.path.basename(path)} has a header row but no data rows", path=path)
    return Table(path, header, rows, lines, delim, notes)


def _sniff_header(rows: list[list[str]], named: tuple) -> bool:
    first = [c.strip() for c in rows[0]]
    if any(isinstance(n, str) and n in first for n in named):
        return True
    if any(c.lower() in HEADER_WORDS for c in first):
        return True
    body = rows[1:_SAMPLE_LINES + 1]
    if not body:
        return False
    for j, cell in enumerate(first):
        if _float(cell) is not None:
            continue
        col = [r[j] for r in body if j < len(r)]
        if col and sum(_float(v) is not None for v in col) >= 0.8 * len(col):
            return True  # a name above numbers
    return False
