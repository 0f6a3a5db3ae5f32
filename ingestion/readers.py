"""Format readers: each turns a landing file into ``(line_number, original_text, fields)`` records,
streaming, without judging the values (that is ``validation``'s job). Field names are the feed's
column names; CSV headers are matched through the columns' aliases.

A file that cannot be read at all raises ``UnreadableFile`` naming the line and the problem.
"""

from __future__ import annotations

import codecs
import csv
import functools
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lxml import etree

from ingestion.feeds import FEEDS, Feed, feed_for
from ingestion.validation import InvalidValue

Record = tuple[int, str, dict[str, object]]

# What banks write when the payer gave no reference.
_NO_REFERENCE = {"NONREF", "NOTPROVIDED", ""}


def _reference(value: str | None) -> str | None:
    return None if value is None or value.strip().upper() in _NO_REFERENCE else value.strip()


class UnreadableFile(Exception):
    """The whole file cannot be parsed; nothing of it may be loaded."""

    def __init__(self, path: Path, line: int | None, problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass
class FileReport:
    """What a reader learned about the file besides its records."""

    encoding: str | None = None
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def drift(self) -> dict | None:
        if not (self.missing_columns or self.extra_columns):
            return None
        return {"missing": self.missing_columns, "extra": self.extra_columns}


# --- text files -----------------------------------------------------------------------------

# Python's csv refuses fields over 128 KiB by default; real exports carry long remarks. The limit
# stays finite so that a runaway quoted field fails its file instead of filling memory.
FIELD_SIZE_LIMIT = 16 << 20
csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))

# Bytes that do not decode are read as lone surrogates U+DC80..U+DCFF ("surrogateescape"), so that
# their rows can be quarantined by line instead of failing or reinterpreting the whole file.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class TextEncoding:
    """How a text file is decoded, and how many of its bytes do not decode that way."""

    name: str
    undecodable_bytes: int
    lines: int  # counted only when some bytes do not decode (0 otherwise): all that asks


def detect_encoding(path: Path) -> str:
    return survey_encoding(path).name


def survey_encoding(path: Path) -> TextEncoding:
    """UTF-8 (with or without BOM) or GB18030, the superset of GBK/GB2312 that Chinese ERPs and banks
    export. A file with a UTF-8 BOM, or whose every byte decodes as UTF-8, is UTF-8. Otherwise it is
    GB18030 only when that reading has fewer undecodable bytes than UTF-8's and the UTF-8 reading is
    mostly wrong (more undecodable bytes than valid non-ASCII characters): a UTF-8 file with a few
    stray bytes stays UTF-8, and the rows with those bytes are quarantined.

    Computed once per file version (path, inode, size and mtime), as several steps ask."""
    stat = path.stat()
    return _survey(str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _survey(path: str, _inode: int, _size: int, _mtime_ns: int) -> TextEncoding:
    # Cheap answers first, since every landing file is surveyed: a strict decode stops at the
    # first bad byte, and a GB18030 export already shows itself in its first few KiB.
    with open(path, "rb") as handle:
        has_bom = handle.read(3) == codecs.BOM_UTF8
    if _decodes(path, "utf-8"):
        return TextEncoding("utf-8-sig" if has_bom else "utf-8", 0, 0)
    if not has_bom:
        with open(path, "rb") as handle:
            head = handle.read(_SAMPLE_BYTES)
        bad, non_ascii = _counts(head.decode("utf-8", errors="surrogateescape"))
        utf8_looks_wrong = bad > non_ascii if bad else None  # None: the head is clean, look further
        if utf8_looks_wrong and _decodes(path, "gb18030"):
            return TextEncoding("gb18030", 0, 0)
        if utf8_looks_wrong is False:
            return _with_lines(path, "utf-8", _decode_counts(path, "utf-8")[0])
    utf8_bad, utf8_non_ascii = _decode_counts(path, "utf-8")
    if has_bom:
        return _with_lines(path, "utf-8-sig", utf8_bad)
    gb_bad, _ = _decode_counts(path, "gb18030")
    if gb_bad < utf8_bad and utf8_non_ascii < utf8_bad:
        return _with_lines(path, "gb18030", gb_bad)
    return _with_lines(path, "utf-8", utf8_bad)


def _with_lines(path: str, name: str, undecodable_bytes: int) -> TextEncoding:
    return TextEncoding(name, undecodable_bytes, _line_count(path) if undecodable_bytes else 0)


# Bytes of a file's head that decide between UTF-8 and GB18030 when the file is not clean UTF-8.
_SAMPLE_BYTES = 16 << 10


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def _line_count(path: str) -> int:
    return sum(chunk.count(b"\n") for chunk in _chunks(path)) + 1


def _decodes(path: str, encoding: str) -> bool:
    """Whether the whole file decodes. Only the lines holding non-ASCII bytes go through the codec
    (``non_ascii_lines``), while it holds no partial character."""
    decoder = codecs.getincrementaldecoder(encoding)()
    pending, at_line_start = b"", True
    try:
        for chunk in _chunks(path):
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) > _SAMPLE_BYTES:  # no line end in sight: decode it as it comes
                decoder.decode(data)
                pending, at_line_start = b"", False
                continue
            lines, pending = data[:cut], data[cut:]
            spans = non_ascii_lines(lines) if at_line_start else None
            if spans is None:
                decoder.decode(lines)
            for start, end in spans or ():
                lines[start:end].decode(encoding)
            at_line_start = at_line_start or bool(lines)
        decoder.decode(pending, final=True)
    except UnicodeDecodeError:
        return False
    return True


# More lines with non-ASCII bytes than this in a piece of text, and it is decoded whole.
_FEW_LINES = 64


def non_ascii_lines(data: bytes) -> list[tuple[int, int]] | None:
    """(start, end) of each line of ``data`` (line feed included) holding a byte outside ASCII;
    None when more than a few lines do.

    Decoding only those lines is decoding all of it: ASCII bytes read the same in UTF-8 and
    GB18030, and a line feed byte is never inside a multi-byte character of either. A Chinese ERP
    export is mostly ASCII below its header, so most of it can skip the codec."""
    if data.isascii():
        return []
    array = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.flatnonzero(array == _LINE_FEED)
    lines = np.unique(np.searchsorted(line_ends, np.flatnonzero(array >= 0x80)))
    if len(lines) > _FEW_LINES:
        return None
    bounds = np.concatenate(([0], line_ends + 1, [len(data)]))
    return [(int(bounds[line]), int(bounds[line + 1])) for line in lines]


_LINE_FEED = ord("\n")


def _counts(text: str) -> tuple[int, int]:
    """(undecodable bytes, other non-ASCII characters) of text decoded with surrogateescape."""
    if text.isascii():
        return 0, 0
    bad = len(_UNDECODABLE.findall(text))
    return bad, len(text) - len(text.encode("ascii", "ignore")) - bad


def _decode_counts(path: str, encoding: str) -> tuple[int, int]:
    """(undecodable bytes, other non-ASCII characters) of the file read as ``encoding``."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
    bad = non_ascii = 0
    for chunk in _chunks(path):
        found, others = _counts(decoder.decode(chunk))
        bad, non_ascii = bad + found, non_ascii + others
    found, others = _counts(decoder.decode(b"", final=True))
    return bad + found, non_ascii + others


def _text_encoding(path: Path) -> str:
    """The encoding to read a text file with; raises UnreadableFile when most of it does not decode
    (more undecodable bytes than one per two lines): not text in a supported encoding."""
    encoding = survey_encoding(path)
    if encoding.undecodable_bytes * 2 > encoding.lines:
        problem = (f"undecodable bytes: {encoding.undecodable_bytes} in {encoding.lines} line(s) do not decode"
                   f" as {encoding.name} (nor as UTF-8/GB18030): not a text export in a supported encoding")
        raise UnreadableFile(path, None, problem)
    return encoding.name


def undecodable(text: str, encoding: str) -> InvalidValue | None:
    """The problem with a line that has bytes the file's encoding does not decode, if it has any."""
    found = _UNDECODABLE.search(text)
    if found is None:
        return None
    count = len(_UNDECODABLE.findall(text))
    return InvalidValue("undecodable bytes", f"{count} byte(s) not {encoding}, the first at character "
                                             f"{found.start() + 1}")


def printable(text: str) -> str:
    """A line with undecodable bytes as the text to keep: each such byte written as \\xNN."""
    return _UNDECODABLE.sub(lambda byte: f"\\x{ord(byte[0]) - 0xDC00:02x}", text)


def _read_text(path: Path, encoding: str) -> str:
    """A whole (small) statement file as text; a byte that does not decode fails the file."""
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UnreadableFile(path, line, f"undecodable bytes for {encoding} ({error.reason})") from None


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
        yield from enumerate(handle, start=1)


def header_key(name: str) -> str:
    """A header name as it is matched to a feed column's name and aliases."""
    return unicodedata.normalize("NFKC", name).strip().strip('"').lower()


def _logical_rows(path: Path, encoding: str) -> Iterator[tuple[int, str, list[str]]]:
    """CSV rows with the physical line each starts on and its text as delivered; a quoted field
    may span lines."""
    consumed: list[str] = []
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:

        def remembered() -> Iterator[str]:
            for line in handle:
                consumed.append(line)
                yield line

        reader = csv.reader(remembered(), strict=True)
        start = 1
        try:
            for values in reader:
                original = "".join(consumed).rstrip("\r\n")
                consumed.clear()
                yield start, original, values
                start = reader.line_num + 1
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                raise UnreadableFile(path, start, "file ends inside a quoted field (truncated?)") from None
            if "field larger than field limit" in str(error):
                problem = f"a field longer than {FIELD_SIZE_LIMIT >> 20} MiB (runaway quote?)"
                raise UnreadableFile(path, start, problem) from None
            raise UnreadableFile(path, reader.line_num, f"malformed CSV: {error}") from None


def header_columns(feed: Feed, header: list[str]) -> list[str | None]:
    """The feed column each field of a row goes to (None: a column the feed does not know)."""
    by_key = {header_key(name): column.name for column in feed.columns for name in (column.name, *column.aliases)}
    return [by_key.get(header_key(name)) for name in header]


def read_csv(path: Path, feed: Feed, report: FileReport) -> Iterator[Record]:
    report.encoding = _text_encoding(path)
    rows = _logical_rows(path, report.encoding)
    try:
        _, original_header, header = next(rows)
    except StopIteration:
        raise UnreadableFile(path, 1, "empty file: no header line") from None
    if problem := undecodable(original_header, report.encoding):
        raise UnreadableFile(path, 1, f"header line: {problem}")
    mapped = header_columns(feed, header)
    # Two fields for one column: which to load is a guess either way, so the file is refused.
    for target in sorted({t for t in mapped if t and mapped.count(t) > 1}):
        names = ", ".join(f"{header[i].strip()!r} (field {i + 1})" for i, t in enumerate(mapped) if t == target)
        raise UnreadableFile(path, 1, f"header names column {target} more than once: {names}")
    report.extra_columns = [name.strip() for name, target in zip(header, mapped, strict=True) if target is None]
    present = {target for target in mapped if target}
    report.missing_columns = [c.name for c in feed.columns if c.name not in present]
    required_missing = [c.name for c in feed.columns if c.required and c.name not in present]
    if required_missing:
        raise UnreadableFile(path, 1, f"header lacks required column(s) {', '.join(required_missing)}")
    for number, original, values in rows:
        if not original.strip():
            continue
        if problem := undecodable(original, report.encoding):
            yield number, printable(original), {"__error__": problem}
            continue
        if len(values) != len(header):
            yield number, original, {"__error__": wrong_width(len(header), len(values))}
            continue
        yield number, original, {target: value for target, value in zip(mapped, values, strict=True) if target}


def wrong_width(expected: int, found: int) -> InvalidValue:
    return InvalidValue("wrong number of fields", f"expected {expected}, found {found}")


def read_jsonl(path: Path, feed: Feed, report: FileReport) -> Iterator[Record]:
    report.encoding = _text_encoding(path)
    expected = {column.name for column in feed.columns}
    seen_extra: set[str] = set()
    for number, line in _lines(path, report.encoding):
        if not line.strip():
            continue
        original = line.rstrip("\r\n")
        if problem := undecodable(original, report.encoding):
            yield number, printable(original), {"__error__": problem}
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, original, {"__error__": InvalidValue("invalid JSON", error.msg)}
            continue
        if not isinstance(document, dict):
            yield number, original, {"__error__": InvalidValue("a JSON object was expected")}
            continue
        seen_extra.update(set(document) - expected)
        yield number, original, document
    report.extra_columns = sorted(seen_extra)


# --- ISO 20022 camt.053 / camt.054 ------------------------------------------------------------

_SECURE_XML = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}


def _text(element, path: str, namespaces: dict[str, str]) -> str | None:
    found = element.find(path, namespaces)
    return found.text.strip() if found is not None and found.text else None


def _camt_entry(element, ns: dict[str, str], statement_id, account_id) -> dict[str, object]:
    amount = element.find("c:Amt", ns)
    details = "c:NtryDtls/c:TxDtls"
    remittance = [node.text.strip() for node in element.findall(f"{details}/c:RmtInf/c:Ustrd", ns) if node.text]
    # The payer is Dbtr/Pty/Nm from 001.07 on and Dbtr/Nm before.
    return {
        "statement_id": statement_id,
        "account_id": account_id,
        "entry_reference": _text(element, "c:AcctSvcrRef", ns) or _text(element, "c:NtryRef", ns),
        "booking_date": _text(element, "c:BookgDt/c:Dt", ns) or _text(element, "c:BookgDt/c:DtTm", ns),
        "value_date": _text(element, "c:ValDt/c:Dt", ns) or _text(element, "c:ValDt/c:DtTm", ns),
        "credit_debit": _text(element, "c:CdtDbtInd", ns),
        "amount": amount.text.strip() if amount is not None and amount.text else None,
        "currency": amount.get("Ccy") if amount is not None else None,
        "end_to_end_id": _reference(_text(element, f"{details}/c:Refs/c:EndToEndId", ns)),
        "payer_name": _text(element, f"{details}/c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns)
        or _text(element, f"{details}/c:RltdPties/c:Dbtr/c:Nm", ns),
        "payer_account": _text(element, f"{details}/c:RltdPties/c:DbtrAcct/c:Id/c:IBAN", ns)
        or _text(element, f"{details}/c:RltdPties/c:DbtrAcct/c:Id/c:Othr/c:Id", ns),
        "remittance_information": " ".join(remittance) or None,
    }


def _split_tag(tag: str) -> tuple[str | None, str]:
    """(namespace, local name) of a tag as lxml spells it, ``{namespace}local``. Not etree.QName,
    which raises on names lxml itself accepted from a file (``<:61:Document>``)."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def _read_camt(path: Path, report: FileReport, message: str, container: str) -> Iterator[Record]:
    """One record per entry (``Ntry``) of every statement or notification in the file."""
    report.encoding = "xml"
    namespace = None
    statement_id = account_id = None
    try:
        for _, element in etree.iterparse(str(path), events=("end",), remove_blank_text=True, **_SECURE_XML):
            tag_namespace, local_name = _split_tag(element.tag)
            if namespace is None:
                namespace = tag_namespace
                if not namespace or message not in namespace:
                    problem = f"not a {message} document (namespace {namespace!r})"
                    raise UnreadableFile(path, element.sourceline, problem)
            ns = {"c": namespace}
            parent = element.getparent()
            in_container = parent is not None and _split_tag(parent.tag)[1] == container
            if local_name == "Id" and in_container:
                statement_id = (element.text or "").strip()
            elif local_name == "Acct" and in_container:
                account_id = _text(element, "c:Id/c:IBAN", ns) or _text(element, "c:Id/c:Othr/c:Id", ns)
            elif local_name == "Ntry":
                original = etree.tostring(element, encoding="unicode", with_tail=False)
                yield element.sourceline, original, _camt_entry(element, ns, statement_id, account_id)
                element.clear(keep_tail=False)
            elif local_name == container:
                statement_id = account_id = None
                element.clear(keep_tail=False)
    except etree.XMLSyntaxError as error:
        raise UnreadableFile(path, error.lineno, f"malformed XML: {error.msg}") from None
    if namespace is None:
        raise UnreadableFile(path, None, "empty XML document")


def read_camt053(path: Path, feed: Feed, report: FileReport) -> Iterator[Record]:
    return _read_camt(path, report, "camt.053", "Stmt")


def read_camt054(path: Path, feed: Feed, report: FileReport) -> Iterator[Record]:
    return _read_camt(path, report, "camt.054", "Ntfctn")


# --- SWIFT MT940 --------------------------------------------------------------------------------

# The mt-940 library logs a field it cannot match with the field's text (payer names, accounts) at
# ERROR level; personal data must not reach the logs, and read_mt940 reports the problem itself.
logging.getLogger("mt940").setLevel(logging.CRITICAL)

# Structured :86: subfields many banks use: /ORDP//NAME/ACME LTD/REMI/INV-1 INV-2/IBAN/GB29…
_MT940_SUBFIELD = re.compile(r"/(ORDP|NAME|REMI|EREF|IBAN|ACCW|BENM)/")


def _mt940_details(text: str) -> tuple[str | None, str | None, str | None]:
    """(payer name, payer account, remittance) from a :86: field, structured or free text."""
    flat = " ".join(text.split())
    codes = list(_MT940_SUBFIELD.finditer(flat))
    if not codes:
        return None, None, flat or None
    parts: dict[str, str] = {}
    for current, following in zip(codes, [*codes[1:], None], strict=True):
        end = following.start() if following else len(flat)
        parts.setdefault(current.group(1), flat[current.end():end].strip(" /"))
    name = parts.get("NAME") or parts.get("ORDP") or None
    account = parts.get("IBAN") or parts.get("ACCW") or None
    return name, account, parts.get("REMI") or None


def _mt940_statements(text: str) -> Iterator[tuple[int, str]]:
    """Each statement's text with the line it starts on: a statement opens with its :20: field."""
    start, block = None, []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(":20:") and block:
            yield start, "\n".join(block)
            block = []
        if line.startswith(":20:"):
            start = number
        if start is not None:
            block.append(line)
    if block:
        yield start, "\n".join(block)


def read_mt940(path: Path, feed: Feed, report: FileReport) -> Iterator[Record]:
    """One record per ``:61:`` line of every statement, parsed by the mt-940 library."""
    import mt940

    report.encoding = _text_encoding(path)
    text = _read_text(path, report.encoding)
    statements = list(_mt940_statements(text))
    if not statements:
        raise UnreadableFile(path, 1, "not an MT940 file: no statement starts with a :20: field")
    for first_line, block in statements:
        lines = block.splitlines()
        if not any(line.startswith(":62F:") or line.startswith(":62M:") for line in lines):
            raise UnreadableFile(path, first_line, "statement has no closing balance (:62F:/:62M:): truncated?")
        detail_lines = [first_line + offset for offset, line in enumerate(lines) if line.startswith(":61:")]
        statement = mt940.models.Transactions()
        try:
            statement.parse(block)
        except Exception as error:  # the library raises bare exceptions on malformed input
            raise UnreadableFile(path, first_line, f"malformed MT940 statement: {error}") from None
        if len(statement.transactions) != len(detail_lines):
            problem = f"{len(detail_lines)} :61: lines but {len(statement.transactions)} transactions parsed"
            raise UnreadableFile(path, first_line, problem)
        account = statement.data.get("account_identification")
        number, sequence = statement.data.get("statement_number"), statement.data.get("sequence_number") or 1
        statement_id = f"{account}:{number}/{sequence}"
        for line, transaction in zip(detail_lines, statement.transactions, strict=True):
            data = transaction.data
            amount = data["amount"]
            details = data.get("transaction_details") or ""
            name, payer_account, remittance = _mt940_details(details)
            customer_reference = data.get("customer_reference")
            original = lines[line - first_line] + (f"\n:86:{details}" if details else "")
            yield line, original, {
                "statement_id": statement_id,
                "account_id": account,
                "entry_reference": data.get("bank_reference") or customer_reference,
                "booking_date": str(data.get("entry_date") or data.get("date")),
                "value_date": str(data.get("date")) if data.get("date") else None,
                "credit_debit": "DBIT" if amount.amount < 0 else "CRDT",
                "amount": str(abs(amount.amount)),
                "currency": amount.currency,
                "end_to_end_id": _reference(customer_reference),
                "payer_name": name,
                "payer_account": payer_account,
                "remittance_information": remittance,
            }


# --- BAI2 ---------------------------------------------------------------------------------------

# BAI2 record codes that open a level (file, group, account) and the code that closes each.
_BAI2_OPENS = {"01": "99", "02": "98", "03": "49"}
_BAI2_CLOSES = {close: open_ for open_, close in _BAI2_OPENS.items()}


def _check_bai2_structure(path: Path, lines: list[str]) -> None:
    """Records nest as file (01..99) > group (02..98) > account (03..49) > details (16, with 88
    continuations), every level closed. Checked before the bai2 library parses: it loops forever
    on a file cut off before its trailers."""
    open_levels: list[str] = []
    expected_depth = {"01": 0, "02": 1, "03": 2, "16": 3}
    for number, line in enumerate(lines, start=1):
        code = line[:3]
        if not line.strip():
            continue
        if len(code) < 3 or code[2] != ",":
            raise UnreadableFile(path, number, f"not a BAI2 record: {line[:20]!r}")
        code = code[:2]
        if code in expected_depth and len(open_levels) != expected_depth[code]:
            raise UnreadableFile(path, number, f"BAI2 record {code} out of place")
        if code in _BAI2_OPENS:
            open_levels.append(code)
        elif code in _BAI2_CLOSES:
            if not open_levels or open_levels[-1] != _BAI2_CLOSES[code]:
                raise UnreadableFile(path, number, f"BAI2 record {code} closes nothing open")
            open_levels.pop()
        elif code not in ("16", "88"):
            raise UnreadableFile(path, number, f"unknown BAI2 record type {code}")
        if code == "88" and not open_levels:
            raise UnreadableFile(path, number, "BAI2 continuation (88) outside the file")
    if open_levels:
        raise UnreadableFile(path, len(lines), f"BAI2 file ends with record {_BAI2_OPENS[open_levels[-1]]} "
                                               "missing (truncated?)")
    if not lines or not any(line.strip() for line in lines):
        raise UnreadableFile(path, None, "empty BAI2 file")


def read_bai2(path: Path, feed: Feed, report: FileReport) -> Iterator[Record]:
    """One record per type-16 transaction detail, parsed by the bai2 library."""
    from bai2 import bai2
    from bai2.constants import TypeCodeTransaction

    report.encoding = _text_encoding(path)
    lines = _read_text(path, report.encoding).splitlines()
    _check_bai2_structure(path, lines)
    detail_lines = [number for number, line in enumerate(lines, start=1) if line.startswith("16,")]
    try:
        document = bai2.parse_from_lines(lines)
    except Exception as error:  # the library raises its own and bare exceptions on malformed input
        raise UnreadableFile(path, None, f"malformed BAI2: {error}") from None
    index = 0
    for group in document.children:
        as_of = group.header.as_of_date
        for account in group.children:
            account_id = account.header.customer_account_number
            currency = account.header.currency or group.header.currency or "USD"
            for detail in account.children:
                line = detail_lines[index] if index < len(detail_lines) else 0
                index += 1
                direction = detail.type_code.transaction if detail.type_code else None
                yield line, lines[line - 1] if line else "", {
                    "statement_id": f"{account_id}:{as_of}",
                    "account_id": account_id,
                    "entry_reference": detail.bank_reference or detail.customer_reference,
                    "booking_date": str(as_of),
                    "value_date": None,
                    "credit_debit": "CRDT" if direction == TypeCodeTransaction.credit else "DBIT",
                    # BAI2 amounts are in the currency's minor unit, without a decimal point.
                    "amount": f"{detail.amount / 100:.2f}" if detail.amount is not None else None,
                    "currency": currency,
                    "end_to_end_id": _reference(detail.customer_reference),
                    "payer_name": None,
                    "payer_account": None,
                    "remittance_information": " ".join((detail.text or "").split()) or None,
                }


READERS = {
    "csv": read_csv,
    "jsonl": read_jsonl,
    "camt053": read_camt053,
    "camt054": read_camt054,
    "mt940": read_mt940,
    "bai2": read_bai2,
}


def read(path: Path, feed: Feed, report: FileReport) -> Iterator[Record]:
    return READERS[feed.format](path, feed, report)


def sniff_format(path: Path) -> str | None:
    """The format a file's first bytes show, whatever its name."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    text = head.lstrip(codecs.BOM_UTF8).lstrip()
    if text.startswith(b"<"):
        for message in ("camt.053", "camt.054"):
            if message.encode() in head:
                return message.replace(".", "")
        return None
    if text.startswith(b"{1:") or text.startswith(b":20:") or b"\n:20:" in head or b"\n:61:" in head:
        return "mt940"
    if text.startswith(b"01,"):
        return "bai2"
    if text.startswith(b"{"):
        return "jsonl"
    return "csv" if b"," in head else None


def _header_fits(path: Path, feed: Feed) -> int:
    """How many of a CSV feed's columns the file's header names; 0 when a required one is missing."""
    try:
        encoding = detect_encoding(path)
        with path.open(encoding=encoding, newline="") as handle:
            header = {header_key(name) for name in next(csv.reader([handle.readline()]))}
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return 0
    matched = [c for c in feed.columns if {header_key(n) for n in (c.name, *c.aliases)} & header]
    if any(c.required and c not in matched for c in feed.columns):
        return 0
    return len(matched)


def identify_feed(path: Path, source: str | None = None) -> Feed | None:
    """The feed a file belongs to: by its name within its source, else by its content (format, and
    for CSV the header that fits a feed best). ``source`` narrows the search when known."""
    sources = [source] if source else sorted({feed.source for feed in FEEDS})
    for candidate in sources:
        feed = feed_for(candidate, path.name)
        if feed is not None:
            return feed
    file_format = sniff_format(path)
    candidates = [feed for feed in FEEDS if feed.format == file_format and feed.source in sources]
    if file_format == "csv":
        fits = sorted(((_header_fits(path, feed), feed.name, feed) for feed in candidates), reverse=True)
        return fits[0][2] if fits and fits[0][0] > 0 else None
    return candidates[0] if candidates else None

