"""A vectorised fast path for CSV feeds: what ``ingestion.load.load_file`` does on the reference row
path (``readers.read_csv`` + ``validation.validate`` + ``copy.write_row``), with identical results,
at several times its speed.

Identical means: the same rows loaded with the same typed values and lineage, the same quarantine rows
(field, reason, original text, physical line), the same counts and reasons, the same ``FileReport``
and the same ``UnreadableFile`` errors. It holds for every file ``can_load`` accepts; the caller
loads the others on the reference path.

How:
- the file streams in blocks of whole lines (a few MB, so memory stays bounded whatever the file's
  size), decoded exactly as the reference decodes it and handed to pyarrow as UTF-8;
- pyarrow parses each block into string columns; rows with the wrong number of fields are set aside
  by its invalid-row handler, which also says on which line they are, so every row gets its
  physical line number back;
- values are judged column by column: text is trimmed, plain dates and amounts are checked with
  ``pyarrow.compute``, and whatever those rules do not accept is judged by the reference
  ``validate``, once per distinct value (currencies, directions, check-character codes, ¥ amounts…);
- a row that any column does not accept goes whole through the reference ``validate``, so its
  rejection is the reference's own, first field and reason included;
- the good rows go to PostgreSQL in its binary COPY format (``COPY … (FORMAT binary)``), encoded
  from Arrow columns of the raw table's types by pgpq: no Python object per value, and the server
  has no text to parse (dates, amounts and lineage arrive as the binary values it stores; its CSV
  parse was some 40 % of the load). Each value is carried as the text the reference path would
  send (typed values from the reference rendered by psycopg's own text dumpers) and cast to its
  column's type column-wise. Personal data is stored by the reference's own code (ciphertext, blind
  index, mask), in Python over just those columns.

Reference code is called, not copied (``validate``, ``read_csv`` for the header and the report,
``load.stored_values``), so that a change to the rules reaches both paths.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg import sql
from psycopg.adapt import PyFormat, Transformer

from ingestion import load as reference_load  # a module import: load imports this module too
from ingestion.feeds import LINEAGE_COLUMNS, RAW_SCHEMA, Column, Feed
from ingestion.pii import protector
from ingestion.readers import (
    FileReport,
    UnreadableFile,
    header_columns,
    non_ascii_lines,
    read_csv,
    survey_encoding,
    wrong_width,
)
from ingestion.validation import Rejection, validate

# Bytes of the file per block: large enough that per-block overhead vanishes (a block is some 12,000
# invoice rows), small enough that a block's columns and its binary COPY data stay a few MB.
BLOCK_BYTES = 1 << 20
# Bytes per step of can_load's scan.
SCAN_BYTES = 8 << 20
# Longest line the fast path takes: pyarrow parses a block in pieces of 1 MiB and cannot take a row
# longer than one piece; longer lines (rare, long remarks) go the reference way.
LONGEST_LINE = 1 << 17

# What str.strip() removes: the reference strips every value with it, and pyarrow's own notion of
# whitespace is not Python's (it keeps U+001C..U+001F, for one). None lies beyond U+3000 (the
# ideographic space; a test checks all of Unicode): scanning only that far saves every process
# that imports this module a quarter of a second.
_LAST_WHITESPACE = 0x3000
_WHITESPACE = "".join(chr(code) for code in range(_LAST_WHITESPACE + 1) if chr(code).isspace())

_NEWLINE, _CARRIAGE_RETURN, _QUOTE, _COMMA = b"\n"[0], b"\r"[0], b'"'[0], b","[0]


def takes(feed: Feed, path: Path) -> bool:
    """Whether this path loads the file (a CSV feed's file that ``can_load`` accepts)."""
    return feed.format == "csv" and can_load(path)


def can_load(path: Path) -> bool:
    """Whether pyarrow reads this file exactly as the reference reader (Python's csv module, strict)
    does, line for line: every byte decodes (the reference quarantines rows with bytes that do not),
    no quoted field spans lines, every quote stands where strict csv accepts it (opening a field,
    closing it before a delimiter or the line end, or doubled inside it), lines end in LF or CRLF,
    and no line is longer than ``LONGEST_LINE``.

    One pass over the raw bytes with numpy. In UTF-8 and GB18030 alike the bytes of ``"``, ``,``,
    CR and LF only ever stand for those characters, so no decoding is needed."""
    if survey_encoding(path).undecodable_bytes:
        return False
    limit = LONGEST_LINE
    pending = b""
    at_file_start = True
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_BYTES):
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > limit:
                    return False
                pending = data
                continue
            if not _lines_fit(data[:cut], at_file_start, limit):
                return False
            pending, at_file_start = data[cut:], False
    return _lines_fit(pending, at_file_start, limit)


def _lines_fit(data: bytes, at_file_start: bool, limit: int) -> bool:
    """can_load's test for whole lines of the file."""
    if not data:
        return True
    array = np.frombuffer(data, dtype=np.uint8)
    # A lone CR ends a line for both parsers, but the line numbering here counts LFs only.
    carriage_returns = np.flatnonzero(array == _CARRIAGE_RETURN)
    if len(carriage_returns) and (carriage_returns[-1] == len(data) - 1
                                  or (array[carriage_returns + 1] != _NEWLINE).any()):
        return False
    newlines = np.flatnonzero(array == _NEWLINE)
    line_ends = np.concatenate(([-1], newlines, [len(data)]))
    if np.diff(line_ends).max() - 1 > limit:
        return False
    if b'"' not in data:
        return True
    quotes = np.flatnonzero(array == _QUOTE)
    if len(quotes) % 2:
        return False
    # Paired in order, quotes open and close quoted fields; a doubled quote inside a field closes
    # one pair and opens the next, which the checks below accept.
    opening, closing = quotes[0::2], quotes[1::2]
    if (np.searchsorted(newlines, opening) != np.searchsorted(newlines, closing)).any():
        return False
    line_start = 3 if at_file_start and data.startswith(codecs.BOM_UTF8) else 0
    before = array[np.maximum(opening - 1, 0)]
    opens_field = (opening == line_start) | (opening == 0) | np.isin(before, (_COMMA, _NEWLINE, _QUOTE))
    after = array[np.minimum(closing + 1, len(data) - 1)]
    closes_field = (closing == len(data) - 1) | np.isin(after, (_COMMA, _NEWLINE, _CARRIAGE_RETURN, _QUOTE))
    return bool(opens_field.all() and closes_field.all())


def load_csv_arrow(
    conn: psycopg.Connection, feed: Feed, path: Path, batch_id: int, encoded: EncodedFile | None = None
):
    """``load_file`` for a CSV feed, vectorised; the file must pass ``can_load``. ``encoded``: the
    file as ``encode_ahead`` prepared it, else it is encoded as it streams to the server.

    Returns (rows read, rows loaded, rows quarantined, {reason: count}, FileReport)."""
    if encoded is None:
        encoded = encode(conn, feed, path, batch_id)
    stored_columns = [name for column in feed.columns for name, _ in column.stored_columns]
    target = sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.Identifier(RAW_SCHEMA, feed.table_name),
        sql.SQL(", ").join(map(sql.Identifier, stored_columns + list(LINEAGE_COLUMNS))),
    )
    with conn.cursor() as cursor, cursor.copy(target) as copy:
        for chunk in encoded.chunks:
            copy.write(chunk)
        # psycopg ends the COPY with the binary format's trailer (and its header, if no row was sent).
    rejected = encoded.rejected
    reasons: dict[str, int] = {}
    if rejected:
        pii = protector() if feed.has_pii else None
        with conn.cursor() as cursor, cursor.copy(
            f"""copy {RAW_SCHEMA}.quarantine (batch_id, feed, source_file, source_line, field, reason,
                original_text, original_text_encrypted) from stdin"""
        ) as copy:
            for line, rejection, original in rejected:
                reasons[rejection.kind] = reasons.get(rejection.kind, 0) + 1
                copy.write_row((
                    batch_id, feed.name, str(path), line, rejection.field, rejection.reason,
                    None if pii else original, pii.encrypt(original) if pii else None,
                ))
    if encoded.rows_read != encoded.rows_loaded + len(rejected):
        raise AssertionError(
            f"{path}: read {encoded.rows_read} != loaded {encoded.rows_loaded} + quarantined {len(rejected)}")
    return encoded.rows_read, encoded.rows_loaded, len(rejected), reasons, encoded.report


@dataclasses.dataclass
class EncodedFile:
    """A CSV file's accepted rows as binary COPY data (less the trailer), its rejected lines and its
    counts. ``chunks`` is a generator while the file streams (the counts fill as it runs) and a
    list once ``encode_ahead`` has run it through."""

    report: FileReport
    chunks: Iterable[bytes | memoryview] = ()
    rejected: list[tuple[int, Rejection, str]] = dataclasses.field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0


def encode(conn: psycopg.Connection | None, feed: Feed, path: Path, batch_id: int) -> EncodedFile:
    """The file parsed, validated and encoded block by block, as ``chunks`` is consumed. ``conn``
    only lends its adapters to render values (None: psycopg's defaults, which it uses unchanged)."""
    encoded = EncodedFile(FileReport())
    sources = _column_sources(feed, path, encoded.report)
    encoded.chunks = _encoded_blocks(encoded, _Judge(conn, feed), path, sources, batch_id)
    return encoded


# Files up to this size may be encoded ahead, whole, while their worker's connection is still busy
# with the file before (``load.ingest``): a daily file is one block, whose COPY the server only
# starts once the client is done with it.
ENCODE_AHEAD_BYTES = BLOCK_BYTES


def encode_ahead(feed: Feed, path: Path, batch_id: int) -> EncodedFile:
    """``encode`` run through: the file's COPY data in memory (files up to ``ENCODE_AHEAD_BYTES``).
    It runs beside its worker's connection, so it does not touch it."""
    encoded = encode(None, feed, path, batch_id)
    encoded.chunks = list(encoded.chunks)
    return encoded


def _encoded_blocks(
    encoded: EncodedFile, judge: _Judge, path: Path, sources: list[str | None], batch_id: int
) -> Iterator[bytes | memoryview]:
    feed = judge.feed
    width = len(sources)
    by_column = {target: index for index, target in enumerate(sources) if target}  # the last one wins, as in read_csv
    lineage = {"_batch_id": batch_id, "_source_file": str(path), "_loaded_at": datetime.now(UTC)}
    encoder: ArrowToPostgresBinaryEncoder | None = None
    for first_line, block, line_feeds in _blocks(path, encoded.report.encoding):
        outcome = _load_block(feed, judge, block, first_line, line_feeds, width, by_column)
        encoded.rows_read += outcome.rows_read
        encoded.rejected += outcome.rejected
        if outcome.good is None:
            continue
        encoded.rows_loaded += outcome.good.num_rows
        output = _stored_table(feed, outcome.good, lineage)
        if encoder is None:
            encoder = ArrowToPostgresBinaryEncoder(output.schema)
            yield encoder.write_header()
        for batch in output.to_batches():
            yield encoder.write_batch(batch)  # pgpq buffers: often empty
    if encoder is not None:
        yield without_copy_trailer(encoder.finish())


# The binary COPY format's end: a tuple field count of -1.
_BINARY_TRAILER = b"\xff\xff"


def without_copy_trailer(data) -> memoryview:
    """pgpq's last rows without the end-of-data marker it adds: psycopg adds its own when the COPY
    ends, and the server refuses data after a first one."""
    view = memoryview(data)
    if bytes(view[-2:]) != _BINARY_TRAILER:
        raise AssertionError("pgpq's encoder did not end its output with the binary COPY trailer")
    return view[:-2]


def _column_sources(feed: Feed, path: Path, report: FileReport) -> list[str | None]:
    """The feed column each field of a row goes to (None: an extra column), from the header.

    The reference reader itself judges the header and fills the report (encoding, drift), so its
    errors for an empty file, a header without a required column or undecodable bytes up front are
    raised here word for word."""
    records = read_csv(path, feed, report)
    try:
        next(records, None)
    finally:
        records.close()
    with path.open(encoding=report.encoding, newline="") as handle:
        header = next(csv.reader([handle.readline()]), [])
    return header_columns(feed, header)


def _blocks(path: Path, encoding: str) -> Iterator[tuple[int, bytes, int]]:
    """The file as UTF-8 in blocks of whole lines, each with the number of its first line and its
    count of line feeds.

    Decoded as the reference reader decodes it (same codec, so an undecodable byte fails the same
    way), but only the lines with non-ASCII bytes (``readers.non_ascii_lines``): the rest is UTF-8
    as it is. A line feed byte is never part of a multi-byte character in UTF-8 or GB18030, so blocks
    cut after one decode on their own. The byte-order mark that ``utf-8-sig`` drops is dropped from
    the file's start only. No block but the first starts with U+FEFF: pyarrow drops a byte-order mark at
    the start of its input, where the reference keeps the character."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    byte_order_mark = "\ufeff".encode(codec)
    first_line, pending, at_start = 1, b"", True
    with path.open("rb") as handle:
        while chunk := handle.read(BLOCK_BYTES):
            data = pending + chunk
            if at_start and encoding == "utf-8-sig" and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]
            cut = data.rfind(b"\n") + 1
            while cut and data.startswith(byte_order_mark, cut):
                cut = data.rfind(b"\n", 0, cut - 1) + 1
            if cut == 0:
                pending, at_start = data, False
                continue
            line_feeds = data.count(b"\n", 0, cut)
            yield first_line, _as_utf8(path, data[:cut], codec, encoding), line_feeds
            first_line += line_feeds
            pending, at_start = data[cut:], False
    if pending:
        yield first_line, _as_utf8(path, pending, codec, encoding), pending.count(b"\n")


def _as_utf8(path: Path, data: bytes, codec: str, encoding: str) -> bytes:
    """Whole lines of the file in UTF-8: only the lines with non-ASCII bytes are decoded."""
    spans = non_ascii_lines(data)
    try:
        if spans is None:
            text = data.decode(codec)
            return data if codec == "utf-8" else text.encode()
        lines = [data[start:end].decode(codec) for start, end in spans]
    except UnicodeDecodeError as error:
        raise UnreadableFile(path, None, f"undecodable bytes for {encoding} ({error.reason})") from None
    if codec == "utf-8" or not spans:  # valid UTF-8 already
        return data
    pieces, done = [], 0
    for (start, end), line in zip(spans, lines, strict=True):
        pieces += [data[done:start], line.encode()]
        done = end
    return b"".join([*pieces, data[done:]])


@dataclasses.dataclass
class _BlockOutcome:
    rows_read: int
    rejected: list[tuple[int, Rejection, str]]
    # Accepted rows: one string column per feed column (the value as the server is to read it; for
    # personal data, the plaintext to encrypt) and _source_line; None when there are none.
    good: pa.Table | None


def _load_block(
    feed: Feed, judge: _Judge, block: bytes, first_line: int, line_feeds: int, width: int, by_column: dict[str, int]
) -> _BlockOutcome:
    has_header = first_line == 1
    table, misfits = _parse(block, width, has_header)
    lines = _Lines(block, line_feeds)
    if table.num_rows + len(misfits) != lines.count - has_header:
        raise AssertionError(f"line {first_line}ff: {table.num_rows} rows + {len(misfits)} set aside "
                             f"!= {lines.count - has_header} lines; was can_load() checked?")
    line_in_block = _row_lines([number for number, _ in misfits], table.num_rows, int(has_header))

    rejected: list[tuple[int, Rejection, str]] = []
    rows_read = 0
    for number, found in misfits:
        original = lines.text(number)
        if original.strip():
            _, rejection = validate(feed, {"__error__": wrong_width(width, found)})
            rejected.append((first_line + number - 1, rejection, original))
            rows_read += 1

    raw = {name: table.column(by_column[name]).combine_chunks() for name in by_column}
    values, verdicts = {}, []
    for column in feed.columns:
        values[column.name], column_accepted = judge.column(column, raw.get(column.name), table.num_rows)
        verdicts.append(column_accepted.to_numpy(zero_copy_only=False))
    accepted = np.logical_and.reduce(verdicts)

    # The reference skips blank lines. To pyarrow an empty line is a row of empty fields, as is a
    # line of bare commas, which the reference does read; a line of spaces is a row of the wrong
    # width (handled above) unless rows have a single field. So with several fields only rows from
    # lines of at most width - 1 commas and a CR can be blank.
    blank = np.zeros(table.num_rows, dtype=bool)
    if width == 1:
        candidates = np.arange(table.num_rows)
    else:
        candidates = np.flatnonzero(lines.lengths()[line_in_block - 1] <= width)
    for row in candidates:
        blank[row] = not lines.text(line_in_block[row]).strip()
    good = accepted & ~blank
    rows_read += int((~blank).sum())

    # Rows a column did not accept: the reference validates them whole.
    late: dict[str, list] = {column.name: [] for column in feed.columns}
    late_lines: list[int] = []
    doubtful = np.flatnonzero(~good & ~blank)
    if len(doubtful):
        fields_of = table.take(doubtful).to_pylist()
        for row, fields in zip(doubtful, fields_of, strict=True):
            typed, rejection = validate(feed, {name: fields[f"f{index}"] for name, index in by_column.items()})
            line = first_line + int(line_in_block[row]) - 1
            if rejection is not None:
                rejected.append((line, rejection, lines.text(line_in_block[row])))
                continue
            late_lines.append(line)
            for column, value in zip(feed.columns, typed, strict=True):
                late[column.name].append(judge.text(column, value))
    rejected.sort(key=lambda item: item[0])

    if not good.any() and not late_lines:
        return _BlockOutcome(rows_read, rejected, None)
    mask = pa.array(good)
    columns = {name: array.filter(mask) for name, array in values.items()}
    columns["_source_line"] = pa.array(first_line + line_in_block[good] - 1, pa.int64())
    accepted_rows = pa.table(columns)
    if late_lines:
        late_rows = pa.table({**{name: pa.array(texts, pa.string()) for name, texts in late.items()},
                              "_source_line": pa.array(late_lines, pa.int64())})
        combined = pa.concat_tables([accepted_rows, late_rows])
        accepted_rows = combined.take(pc.sort_indices(combined.column("_source_line")))
    return _BlockOutcome(rows_read, rejected, accepted_rows)


def _parse(block: bytes, width: int, has_header: bool) -> tuple[pa.Table, list[tuple[int, int]]]:
    """The block's rows as string columns, and the rows of the wrong width set aside as (line in the
    block, fields found)."""
    names = [f"f{index}" for index in range(width)]
    wrong_width: list[tuple[int, int]] = []

    def set_aside(row) -> str:
        wrong_width.append((row.number, row.actual_columns))
        return "skip"

    table = pa_csv.read_csv(
        pa.py_buffer(block),
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=int(has_header), use_threads=False),
        # Empty lines must stay rows: they are lines to count (the reference skips them silently).
        parse_options=pa_csv.ParseOptions(invalid_row_handler=set_aside, ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    return table, wrong_width


def _row_lines(set_aside: list[int], rows: int, header_lines: int) -> np.ndarray:
    """The line within the block of each parsed row: the block's lines in order, less the header
    and the lines set aside (given in order)."""
    row = np.arange(rows, dtype=np.int64)
    set_aside_lines = np.asarray(set_aside, dtype=np.int64)
    # Row k is on line k + 1 + header_lines + the number of set-aside lines before it; the i-th
    # set-aside line n comes before row k exactly when n - header_lines - i - 1 <= k.
    precede = set_aside_lines - header_lines - np.arange(len(set_aside_lines)) - 1
    return row + 1 + header_lines + np.searchsorted(precede, row, side="right")


class _Lines:
    """Physical lines of a block, found only when one is asked for (rejections, blank lines)."""

    def __init__(self, block: bytes, line_feeds: int):
        self.block = block
        self.count = line_feeds + (not block.endswith(b"\n"))
        self._ends: np.ndarray | None = None

    def text(self, number: int) -> str:
        """Line ``number`` (1-based) as the reference quotes it: without its line break."""
        ends = self._line_ends()
        start = int(ends[number - 2]) + 1 if number > 1 else 0
        end = int(ends[number - 1]) if number - 1 < len(ends) else len(self.block)
        return self.block[start:end].decode().rstrip("\r\n")

    def lengths(self) -> np.ndarray:
        """Bytes of each line without its line feed (a CR included), by line number - 1."""
        ends = self._line_ends()
        return np.diff(np.concatenate(([-1], ends, [len(self.block)])))[: self.count] - 1

    def _line_ends(self) -> np.ndarray:
        if self._ends is None:
            self._ends = np.flatnonzero(np.frombuffer(self.block, dtype=np.uint8) == _NEWLINE)
        return self._ends


# Verdicts on distinct values (carried text, accepted) by (feed, column), kept across files and
# loading threads (a lost race judges a value twice, to the same verdict), forgotten past this many.
_VERDICTS: dict[tuple[Feed, Column], dict[str | None, tuple[str | None, bool]]] = {}
_VERDICTS_KEPT = 10_000
# New distinct values judged by the reference one by one rather than column-wise: a daily file
# brings a date or two not seen before (its own, its due dates), column-wise some 20 Arrow calls.
_FEW_VALUES = 16


def forget_verdicts() -> None:
    """Start as a new process does, remembering no verdict (benchmarks time cold loads)."""
    _VERDICTS.clear()


class _Judge:
    """Column-wise validation: the reference's verdict on every value, from vectorised rules for the
    common cases and from the reference itself, once per distinct value, for the rest."""

    def __init__(self, conn: psycopg.Connection | None, feed: Feed):
        self.feed = feed
        self._dumper = Transformer.from_context(conn)

    def render(self, value: object) -> str | None:
        """A typed value as the reference path's COPY sends it: psycopg's text dump."""
        if value is None:
            return None
        return bytes(self._dumper.dump_sequence([value], [PyFormat.TEXT])[0]).decode()

    def text(self, column: Column, value: object) -> str | None:
        """A typed value as this path carries it: rendered, or for personal data the text to encrypt."""
        if value is None:
            return None
        return str(value) if column.pii else self.render(value)

    def column(self, column: Column, raw: pa.Array | None, rows: int) -> tuple[pa.Array, pa.Array]:
        """(the carried text of each value, null for none; whether the reference accepts it)."""
        if raw is None:  # an optional column the file lacks (a required one makes it unreadable)
            return pa.nulls(rows, pa.string()), pa.array(np.ones(rows, dtype=bool))
        if column.type in _MOSTLY_DISTINCT:
            return self._judge(column, raw)
        # Dates, currencies, directions, codes repeat: judge each distinct value once.
        encoded = pc.dictionary_encode(raw)
        values, accepted = self._distinct(column, encoded.dictionary)
        return pc.take(values, encoded.indices), pc.take(accepted, encoded.indices)

    def _distinct(self, column: Column, distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        """``_judge`` of distinct values, remembered from file to file: a daily file's dates and
        currencies are mostly yesterday's, and judging a handful of values costs a block some 20
        Arrow calls whatever their number. Personal data is never kept."""
        if column.pii:
            return self._judge(column, distinct)
        known = _VERDICTS.setdefault((self.feed, column), {})
        keys = distinct.to_pylist()
        verdicts = {key: known.get(key) for key in keys}  # None: not judged yet
        new = [key for key, verdict in verdicts.items() if verdict is None]
        if new:
            if len(new) <= _FEW_VALUES:  # Arrow's calls cost more than the reference on a handful
                judged = {value: self._verdict(column, value) for value in new}
            else:
                texts, accepted = self._judge(column, pa.array(new, pa.string()))
                judged = dict(zip(new, zip(texts.to_pylist(), accepted.to_pylist(), strict=True), strict=True))
            verdicts.update(judged)
            if len(known) + len(judged) > _VERDICTS_KEPT:
                known.clear()
            known.update(judged)
        return (pa.array([verdicts[key][0] for key in keys], pa.string()),
                pa.array([verdicts[key][1] for key in keys], pa.bool_()))

    def _judge(self, column: Column, raw: pa.Array) -> tuple[pa.Array, pa.Array]:
        trimmed = pc.utf8_trim(raw, _WHITESPACE)
        empty = pc.equal(pc.binary_length(trimmed), 0)
        none = pa.scalar(None, pa.string())
        if column.type == "text":  # the reference's text value is the stripped text: nothing to decide
            accepted = pc.invert(empty) if column.required else pa.array(np.ones(len(raw), dtype=bool))
            return pc.if_else(empty, none, trimmed), accepted
        if column.type in _SHORTCUTS and not column.pii:
            values, decided = _SHORTCUTS[column.type](raw, trimmed)
        else:
            values, decided = pa.nulls(len(raw), pa.string()), pa.array(np.zeros(len(raw), dtype=bool))
        undecided = pc.and_not(pc.invert(decided), empty)
        if pc.any(undecided).as_py():
            pending = raw.filter(undecided).to_pylist()
            verdicts = {value: self._reference(column, value) for value in set(pending)}
            looked_up = pa.array([verdicts[value] for value in pending], pa.string())
            values = pc.replace_with_mask(values, undecided, looked_up)
            decided = pc.replace_with_mask(decided, undecided, pc.is_valid(looked_up))
        accepted = pc.or_(decided, pc.and_(empty, pa.scalar(not column.required)))
        return pc.if_else(empty, none, values), accepted

    def _reference(self, column: Column, value: str) -> str | None:
        """The reference's verdict on one non-empty value: its carried text, or None when it rejects it."""
        return self._verdict(column, value)[0]

    def _verdict(self, column: Column, value: str | None) -> tuple[str | None, bool]:
        """The reference's verdict on one value: (its carried text, None for none; accepted)."""
        typed, rejection = validate(_one_column(self.feed, column), {column.name: value})
        return (None, False) if rejection else (self.text(column, typed[0]), True)


@functools.cache
def _one_column(feed: Feed, column: Column) -> Feed:
    """The feed narrowed to one column: the reference's verdict on, or storage of, a single value."""
    return dataclasses.replace(feed, columns=(column,))


# Vectorised rules: (raw, trimmed) -> (value as the server is to read it, accepted). They accept
# only values whose reference verdict is certain and render them as psycopg renders the reference's
# typed value; they may leave any value to the reference. ASCII only: the reference folds with
# NFKC first, which is the identity on ASCII.
# A time after a "T" is left to the reference, which checks it.
_SEPARATED_DATE = r"^\d{4}(?:-\d{2}-|/\d{2}/|\.\d{2}\.)\d{2}$"
_COMPACT_DATE = r"^\d{8}$"
_PLAIN_AMOUNT = r"^-?(?:0|[1-9]\d{0,15})(?:\.\d{1,2})?$"


def _plain_dates(raw: pa.Array, trimmed: pa.Array) -> tuple[pa.Array, pa.Array]:
    """2026-10-01, 2026/10/01, 2026.10.01 and 20261001: the formats parse_date tries, each read as
    exactly these digits."""
    separated = pc.match_substring_regex(trimmed, _SEPARATED_DATE)
    compact = pc.match_substring_regex(trimmed, _COMPACT_DATE)
    digits = [pc.utf8_slice_codeunits(trimmed, start, stop) for start, stop in ((0, 4), (4, 6), (6, 8))]
    iso = pc.if_else(
        compact,
        pc.binary_join_element_wise(*digits, "-"),
        pc.replace_substring_regex(pc.utf8_slice_codeunits(trimmed, 0, 10), r"[/.]", "-"),
    )
    parsed = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2026-02-30 over into March, and takes year 0, which Python's date has not.
    real = pc.and_(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), iso), pc.invert(pc.starts_with(iso, "0000")))
    accepted = pc.and_(pc.and_(pc.string_is_ascii(raw), pc.or_(separated, compact)), pc.fill_null(real, False))
    return iso, accepted


def _plain_amounts(raw: pa.Array, trimmed: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Decimal numbers with at most two decimals and 16 integer digits, thousand separators and
    spaces removed as parse_amount removes them; no leading zeros, so that the text is the
    Decimal's own."""
    cleaned = pc.replace_substring(pc.replace_substring(trimmed, ",", ""), " ", "")
    return cleaned, pc.and_(pc.string_is_ascii(raw), pc.match_substring_regex(cleaned, _PLAIN_AMOUNT))


_SHORTCUTS = {"date": _plain_dates, "amount": _plain_amounts}
# Types judged value by value rather than per distinct value: cheap to judge and rarely repeated,
# so that finding the distinct values would cost more than it saves.
_MOSTLY_DISTINCT = {"text", "amount"}


def _stored_table(feed: Feed, good: pa.Table, lineage: dict[str, object]) -> pa.Table:
    """The raw table's columns for accepted rows, as Arrow arrays of the types whose binary COPY form
    each raw column takes. Personal data is stored by the reference itself (``load.stored_values``:
    ciphertext, blind index and whatever else it keeps), value by value."""
    columns: dict[str, pa.Array] = {}
    for column in feed.columns:
        values = good.column(column.name).combine_chunks()
        if not column.pii:
            columns[column.name] = _typed(values, column.pg_type)
            continue
        stored = [reference_load.stored_values(_one_column(feed, column), [text]) for text in values.to_pylist()]
        for position, (name, pg_type) in enumerate(column.stored_columns):
            kept = [row[position] for row in stored]
            columns[name] = pa.array(kept, pa.binary()) if pg_type == "bytea" else pa.array(kept, pa.string())
    for name, pg_type in LINEAGE_COLUMNS.items():
        target = arrow_type(pg_type.removesuffix(" not null"))
        columns[name] = (pc.cast(good.column(name), target) if name == "_source_line"
                         else pa.repeat(pa.scalar(lineage[name], target), good.num_rows))
    return pa.table(columns)


def arrow_type(pg_type: str) -> pa.DataType:
    """The Arrow type whose binary COPY form (as pgpq encodes it) a raw column of this type reads."""
    if pg_type.startswith("numeric("):
        precision, scale = (int(part) for part in pg_type.removeprefix("numeric(").rstrip(")").split(","))
        return pa.decimal128(precision, scale)
    return _ARROW_TYPES.get(pg_type, pa.string())  # text and char(n): padded from binary as from text


_ARROW_TYPES = {
    "date": pa.date32(), "integer": pa.int32(), "bigint": pa.int64(), "boolean": pa.bool_(),
    "bytea": pa.binary(), "timestamptz": pa.timestamp("us", tz="UTC"),
}


def _typed(texts: pa.Array, pg_type: str) -> pa.Array:
    """Carried texts (each as the server would read it in a text COPY) as the Arrow type of their raw
    column: what the server's text input would have made of them."""
    target = arrow_type(pg_type)
    if pa.types.is_decimal(target):
        return _decimals(texts, target)
    if pa.types.is_boolean(target):
        return pc.equal(texts, "t")  # psycopg's text form of True and False: t, f
    return texts if target == texts.type else pc.cast(texts, target)


def _decimals(texts: pa.Array, target: pa.Decimal128Type) -> pa.Array:
    """Decimal texts at the column's scale. Arrow refuses to round; PostgreSQL's numeric input rounds
    half away from zero, which the rare value with more decimals than the scale (a rate, say) gets
    here in Python."""
    try:
        return pc.cast(texts, target)
    except pa.ArrowInvalid:
        step = Decimal(1).scaleb(-target.scale)
        return pa.array([None if text is None else Decimal(text).quantize(step, rounding=ROUND_HALF_UP)
                         for text in texts.to_pylist()], target)
