"""Format readers: each turns a landing file into ``(line_number, original_text, fields)`` records,
streaming, without judging the values (that is ``validation``'s job).

A file that cannot be read at all raises ``UnreadableFile`` naming the line and the problem.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ingestion.feeds import Feed

Record = tuple[int, str, dict[str, object]]


class UnreadableFile(Exception):
    """The whole file cannot be parsed; nothing of it may be loaded."""

    def __init__(self, path: Path, line: int | None, problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass
class HeaderReport:
    """What the file's header said, compared with the feed's columns."""

    missing: list[str]
    extra: list[str]


def _decode_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            yield from enumerate(handle, start=1)
    except UnicodeDecodeError as error:
        raise UnreadableFile(path, None, f"not valid UTF-8 ({error.reason} at byte {error.start})") from None


def read_csv(path: Path, feed: Feed, header_report: HeaderReport) -> Iterator[Record]:
    lines = _decode_lines(path)
    try:
        _, header_line = next(lines)
    except StopIteration:
        raise UnreadableFile(path, 1, "empty file: no header line") from None
    header = [name.strip() for name in next(csv.reader([header_line]))]
    expected = [column.name for column in feed.columns]
    header_report.missing = [name for name in expected if name not in header]
    header_report.extra = [name for name in header if name not in expected]
    required_missing = [c.name for c in feed.columns if c.required and c.name not in header]
    if required_missing:
        raise UnreadableFile(path, 1, f"header lacks required column(s) {', '.join(required_missing)}")
    for number, line in lines:
        if not line.strip():
            continue
        try:
            values = next(csv.reader([line], strict=True))
        except csv.Error as error:
            raise UnreadableFile(path, number, f"malformed CSV: {error}") from None
        original = line.rstrip("\r\n")
        if len(values) != len(header):
            yield number, original, {"__error__": f"expected {len(header)} fields, found {len(values)}"}
            continue
        yield number, original, dict(zip(header, values, strict=True))


def read_jsonl(path: Path, feed: Feed, header_report: HeaderReport) -> Iterator[Record]:
    expected = {column.name for column in feed.columns}
    seen_extra: set[str] = set()
    for number, line in _decode_lines(path):
        if not line.strip():
            continue
        original = line.rstrip("\r\n")
        try:
            document = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, original, {"__error__": f"invalid JSON: {error.msg}"}
            continue
        if not isinstance(document, dict):
            yield number, original, {"__error__": "a JSON object was expected"}
            continue
        seen_extra.update(set(document) - expected)
        yield number, original, document
    header_report.extra = sorted(seen_extra)


def _text(element, path: str, namespaces: dict[str, str]) -> str | None:
    found = element.find(path, namespaces)
    return found.text.strip() if found is not None and found.text else None


def read_camt053(path: Path, feed: Feed, header_report: HeaderReport) -> Iterator[Record]:
    """ISO 20022 camt.053: one record per statement entry (``Ntry``), any 001.xx version."""
    # Secure parsing: no entity expansion, no network access, no DTD loading.
    parser_options = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
    try:
        context = etree.iterparse(str(path), events=("end",), remove_blank_text=True, **parser_options)
        statement_id = account_id = None
        namespace = None
        for _, element in context:
            tag = etree.QName(element)
            if namespace is None:
                namespace = tag.namespace
                if not namespace or "camt.053" not in namespace:
                    raise UnreadableFile(path, element.sourceline, f"not a camt.053 document (namespace {namespace!r})")
            ns = {"c": namespace}
            parent = element.getparent()
            in_statement = parent is not None and etree.QName(parent).localname == "Stmt"
            if tag.localname == "Id" and in_statement:
                statement_id = (element.text or "").strip()
            elif tag.localname == "Acct" and in_statement:
                account_id = _text(element, "c:Id/c:IBAN", ns) or _text(element, "c:Id/c:Othr/c:Id", ns)
            elif tag.localname == "Ntry":
                amount = element.find("c:Amt", ns)
                # Status is <Sts><Cd>BOOK</Cd></Sts> from 001.07 on and plain <Sts>BOOK</Sts> before.
                fields = {
                    "statement_id": statement_id,
                    "account_id": account_id,
                    "entry_reference": _text(element, "c:AcctSvcrRef", ns) or _text(element, "c:NtryRef", ns),
                    "booking_date": _text(element, "c:BookgDt/c:Dt", ns) or _text(element, "c:BookgDt/c:DtTm", ns),
                    "value_date": _text(element, "c:ValDt/c:Dt", ns),
                    "credit_debit": _text(element, "c:CdtDbtInd", ns),
                    "amount": amount.text.strip() if amount is not None and amount.text else None,
                    "currency": amount.get("Ccy") if amount is not None else None,
                    "end_to_end_id": _text(element, "c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", ns),
                    "payer_name": _text(element, "c:NtryDtls/c:TxDtls/c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns)
                    or _text(element, "c:NtryDtls/c:TxDtls/c:RltdPties/c:Dbtr/c:Nm", ns),
                    "remittance_information": _text(element, "c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd", ns),
                }
                original = etree.tostring(element, encoding="unicode", with_tail=False)
                yield element.sourceline, original, fields
                element.clear(keep_tail=False)
    except etree.XMLSyntaxError as error:
        raise UnreadableFile(path, error.lineno, f"malformed XML: {error.msg}") from None
    if namespace is None:
        raise UnreadableFile(path, None, "empty XML document")


READERS = {"csv": read_csv, "jsonl": read_jsonl, "camt053": read_camt053}


def read(path: Path, feed: Feed, header_report: HeaderReport) -> Iterator[Record]:
    return READERS[feed.format](path, feed, header_report)

