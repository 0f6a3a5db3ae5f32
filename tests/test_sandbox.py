"""The sandbox company: reproducible, laid out as the feed contract says, files that parse like the
real formats, identifiers that validate, a calibrated default rate, and defects exactly where the
ground truth says they are."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import mt940
import pytest
from lxml import etree
from stdnum import iban
from stdnum.cn import ric, uscc
from stdnum.eu import vat as eu_vat
from typer.testing import CliRunner

from ingestion.feeds import FEEDS, feed_for
from sandbox.defects import CATALOGUE
from sandbox.generator import generate, portfolio
from sandbox.reference import COMPANY_ACCOUNTS, TRADITIONAL

START, END = date(2026, 9, 1), date(2026, 10, 31)
CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.{}"
# Rates high enough that every defect shows up in two months of the tiny company.
DEFECTIVE = {name: (0.03 if unit.endswith("file") else 0.01) for name, (_, unit) in CATALOGUE.items()}
DEFECTIVE["wrong_encoding"] = DEFECTIVE["redelivered_file"] = 0.05
NO_DEFECTS = dict.fromkeys(CATALOGUE, 0.0)
FORMATTED_AMOUNT = r"\d{1,3}(,\d{3})+\.\d\d|[０-９]+．[０-９]{2}"  # 1,234.50 or １２３４．５０


@pytest.fixture(scope="module")
def defective(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("defective")
    generate(out, start=START, end=END, seed=11, scale="tiny", defect_rates=DEFECTIVE)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, start=START, end=END, seed=5, scale="tiny", defect_rates=NO_DEFECTS)
    return out


def truth(out: Path, name: str) -> list[dict[str, str]]:
    with (out / "ground_truth" / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def defects_by_file(out: Path) -> dict[str, list[tuple[int | None, str]]]:
    found = defaultdict(list)
    for row in truth(out, "defects"):
        found[row["file"]].append((int(row["line"]) if row["line"] else None, row["defect"]))
    return found


def landing_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "landing").rglob("*") if p.is_file())


def relative(out: Path, path: Path) -> str:
    return path.relative_to(out / "landing").as_posix()


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def header_names() -> dict[str, dict[str, str]]:
    """Per feed: header text (English name or Chinese alias) -> column."""
    return {f.name: {**{c.name: c.name for c in f.columns}, **{a: c.name for c in f.columns for a in c.aliases}}
            for f in FEEDS}


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows with contract column names; JSON lines as rows of strings."""
    feed = feed_for(path.parent.parent.name, path.name)
    text = decode(path.read_bytes())
    if feed.format == "jsonl":
        rows = [{k: "" if v is None else str(v) for k, v in json.loads(line).items()} for line in text.splitlines()]
        return [c.name for c in feed.columns], rows
    records = list(csv.reader(io.StringIO(text, newline="")))
    names = header_names()[feed.name]
    header = [names.get(h, h) for h in records[0]]
    return header, [dict(zip(header, r, strict=False)) for r in records[1:]]


def extract_kind(path: Path) -> str:
    """customers, credit_limits, camt053, …: the file name without account, date and re-delivery suffix."""
    stem = path.name.split(".")[0].split("__")[0]
    return stem.split("_")[0] if path.parent.parent.name == "bank" else stem.rsplit("_", 1)[0]


def cells_of(path: Path, line: str) -> list[str]:
    if path.suffix == ".jsonl":
        return ["" if v is None else str(v) for v in json.loads(line).values()]
    return next(csv.reader([line]))


def digest(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    window = {"start": date(2026, 9, 28), "end": date(2026, 10, 6), "scale": "tiny"}
    generate(tmp_path / "a", seed=1, **window)
    generate(tmp_path / "b", seed=1, **window)
    generate(tmp_path / "c", seed=2, **window)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_every_file_lands_by_source_and_business_date_and_has_a_feed(defective):
    files = landing_files(defective)
    assert {p.parent.parent.name for p in files} == {"erp", "crm", "bank", "bureau"}
    deliveries = {row["file"]: row for row in truth(defective, "deliveries")}
    for path in files:
        business_date = date.fromisoformat(path.parent.name)
        assert START <= business_date <= END, path
        assert feed_for(path.parent.parent.name, path.name) is not None, path
        assert f"{business_date:%Y%m%d}" in path.name, path
        delivery = deliveries.pop(relative(defective, path))
        assert delivery["business_date"] == path.parent.name
        assert delivery["arrival_date"] >= delivery["business_date"]
    assert not deliveries, "deliveries.csv lists files that do not exist"
    expected = {"erp": {"customers", "credit_limits", "sales_orders", "invoices", "credit_notes", "payments",
                        "open_items", "fx_rates"},
                "crm": {"accounts", "contacts", "owners"}, "bank": {"camt053", "mt940", "cnbank"},
                "bureau": {"company_reports", "bureau_events"}}
    for source, kinds in expected.items():
        seen = {extract_kind(p) for p in files if p.parent.parent.name == source}
        assert kinds <= seen, (source, kinds - seen)


def test_camt053_statements_are_iso_20022_and_match_the_ground_truth(defective):
    entries = Counter(row["file"] for row in truth(defective, "bank_entries"))
    broken = {f for f, found in defects_by_file(defective).items() if (None, "truncated_file") in found}
    versions = {a.account_id: a.format[-2:] for a in COMPANY_ACCOUNTS if a.format.startswith("camt")}
    statements = [p for p in landing_files(defective) if p.name.startswith("camt053_") and "__" not in p.name]
    assert statements
    for path in statements:
        name = relative(defective, path)
        if name in broken:
            with pytest.raises(etree.XMLSyntaxError):
                etree.fromstring(path.read_bytes())
            continue
        root = etree.fromstring(path.read_bytes())
        version = versions[path.name.split("_")[1]]
        ns = {"c": CAMT.format(version)}
        assert root.tag == f"{{{ns['c']}}}Document"
        statement = root.find("c:BkToCstmrStmt/c:Stmt", ns)
        children = [etree.QName(child).localname for child in statement]
        assert children[:4] == ["Id", "ElctrncSeqNb", "CreDtTm", "Acct"]
        assert children[4:6] == ["Bal", "Bal"] and children[6] == "TxsSummry"
        assert set(children[7:]) <= {"Ntry"}
        booked = root.findall(".//c:Ntry", ns)
        assert len(booked) == entries[name], name
        if version == "02":
            assert all(e.findtext("c:Sts", namespaces=ns) == "BOOK" for e in booked)
            party = "c:NtryDtls/c:TxDtls/c:RltdPties/c:Dbtr/c:Nm"
        else:
            assert all(e.findtext("c:Sts/c:Cd", namespaces=ns) == "BOOK" for e in booked)
            party = "c:NtryDtls/c:TxDtls/c:RltdPties/c:Dbtr/c:Pty/c:Nm"
        credits = [e for e in booked if e.findtext("c:CdtDbtInd", namespaces=ns) == "CRDT"]
        assert all(e.findtext(party, namespaces=ns) for e in credits)
        balances = {b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns): Decimal(b.findtext("c:Amt", namespaces=ns))
                    for b in statement.findall("c:Bal", ns)}
        movement = sum(Decimal(e.findtext("c:Amt", namespaces=ns)) * (1 if e in credits else -1) for e in booked)
        assert balances["OPBD"] + movement == balances["CLBD"]


def test_mt940_statements_parse_with_the_mt940_library(defective):
    entries = Counter(row["file"] for row in truth(defective, "bank_entries"))
    broken = {f for f, found in defects_by_file(defective).items() if (None, "truncated_file") in found}
    statements = [p for p in landing_files(defective) if p.suffix == ".sta" and relative(defective, p) not in broken]
    assert statements
    paid = 0
    for path in statements:
        parsed = mt940.parse(str(path))
        assert len(parsed) == entries[relative(defective, path).replace("__2", "")], path
        assert parsed.data["statement_number"] and parsed.data["sequence_number"] == "001"
        paid += sum(1 for t in parsed if t.data["status"] == "C")
    assert paid, "foreign customers pay into the Hong Kong accounts"


def test_gb18030_exports_are_gb18030_and_the_rest_utf8_unless_delivered_wrongly(defective):
    wrong = {f for f, found in defects_by_file(defective).items() if (None, "wrong_encoding") in found}
    chinese = ("customers_", "invoices_", "cnbank_")
    checked = Counter()
    for path in landing_files(defective):
        if path.suffix not in (".csv", ".jsonl"):
            continue
        data = path.read_bytes()
        expect_gb18030 = path.name.startswith(chinese) != (relative(defective, path) in wrong)
        if expect_gb18030:
            data.decode("gb18030")
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
        else:
            data.decode("utf-8")
        checked[expect_gb18030] += 1
    assert checked[True] and checked[False]


def test_identifiers_validate_except_where_the_defect_catalogue_says(defective):
    defects = defects_by_file(defective)
    validators = {"uscc": uscc.is_valid, "legal_rep_id_number": ric.is_valid}
    never_spoiled = {
        "vat_number": eu_vat.is_valid,
        "iban": iban.is_valid,
        "legal_rep_mobile": lambda v: re.fullmatch(r"1[3-9]\d{9}", v) is not None,
        "mobile": lambda v: re.fullmatch(r"1[3-9]\d{9}|\+\d{11,13}", v) is not None,
    }
    checked = Counter()
    for path in landing_files(defective):
        name = relative(defective, path)
        if path.suffix not in (".csv", ".jsonl") or (None, "truncated_file") in defects[name]:
            continue
        _, rows = read_table(path)
        first_line = 1 if path.suffix == ".jsonl" else 2
        for line, row in enumerate(rows, start=first_line):
            for column, is_valid in validators.items():
                value = row.get(column)
                if value:
                    checked[column] += 1
                    if not is_valid(value):
                        assert (line, "invalid_check_character") in defects[name], (name, line, value)
            for column, is_valid in never_spoiled.items():
                value = row.get(column)
                if value:
                    checked[column] += 1
                    assert is_valid(value), (name, line, column, value)
    assert checked["uscc"] > 100 and checked["legal_rep_id_number"] > 10
    assert checked["vat_number"] and checked["iban"] and checked["mobile"] > 10


def test_the_portfolio_defaults_at_two_to_six_percent_a_year():
    start = date(2026, 1, 5)
    customers = portfolio(start=start, end=date(2027, 1, 31), seed=42, scale="small").customers
    first, year_later = start.toordinal(), start.toordinal() + 365
    at_risk = [c for c in customers if c.created <= first and (c.default_day is None or c.default_day >= first)]
    defaulted = [c for c in at_risk if c.default_day is not None and c.default_day < year_later]
    assert 0.02 <= len(defaulted) / len(at_risk) <= 0.06
    # Deterioration shows before the default: most defaulters have adverse bureau events first.
    warned = [c for c in defaulted if not c.company.is_foreign and any(
        e.kind in ("litigation", "dishonest_debtor", "business_anomaly") and e.day < c.default_day
        for e in c.bureau_events)]
    chinese = [c for c in defaulted if not c.company.is_foreign]
    assert 0.4 <= len(warned) / len(chinese) < 1


def test_defects_are_on_the_lines_the_ground_truth_names(defective):
    spotted = Counter()
    for file, found in defects_by_file(defective).items():
        path = defective / "landing" / file
        lines = decode(path.read_bytes()).splitlines()
        for line, defect in found:
            text = lines[line - 1] if line else ""
            cells = cells_of(path, text) if line else []
            match defect:
                case "duplicate_row":
                    assert text == lines[line - 2], (file, line)
                case "bad_date":
                    assert set(cells) & {"2026-13-45", "31/31/2026", "2026-02-30", "2026-1O-05", "0000-00-00"}
                case "formatted_amount":
                    assert any(re.fullmatch(FORMATTED_AMOUNT, c) for c in cells), (file, line)
                case "malformed_amount":
                    assert set(cells) & {"N/A", "#VALUE!", "--", "12,34.5.6"}, (file, line)
                case "unknown_currency":
                    assert set(cells) & {"RMB", "XYZ"}, (file, line)
                case "added_column" | "renamed_column":
                    feed = feed_for(path.parent.parent.name, path.name)
                    assert line == 1 and set(next(csv.reader([text]))) - set(header_names()[feed.name]), file
                case "corrected_redelivery":
                    corrected = decode(path.with_name(path.name.replace(".", "__2.", 1)).read_bytes()).splitlines()
                    assert text != corrected[line - 1] and text.split(",")[0] == corrected[line - 1].split(",")[0]
                case "redelivered_file":
                    assert path.read_bytes() == path.with_name(path.name.replace("__2", "")).read_bytes()
            spotted[defect] += 1
    assert set(spotted) == set(CATALOGUE), set(CATALOGUE) - set(spotted)


def test_every_truncated_file_is_followed_by_a_complete_redelivery(defective):
    truncated = [f for f, found in defects_by_file(defective).items() if (None, "truncated_file") in found]
    assert truncated
    for file in truncated:
        first = defective / "landing" / file
        complete = first.with_name(first.name.replace(".", "__2.", 1))
        cut, whole = decode(first.read_bytes()), decode(complete.read_bytes())
        assert whole.startswith(cut) and len(cut) < len(whole), file
        assert not cut.endswith("\n"), "cut in the middle of a record"
        if complete.suffix == ".xml":
            etree.fromstring(complete.read_bytes())


def test_every_customer_like_record_maps_to_a_true_customer(defective):
    entities = {(r["source_system"], r["source_record_id"]): r["true_customer_id"]
                for r in truth(defective, "entities")}
    truth_ids = {r["true_customer_id"] for r in truth(defective, "customers")}
    assert set(entities.values()) <= truth_ids
    seen = Counter()
    for path in landing_files(defective):
        source, kind = path.parent.parent.name, extract_kind(path)
        if kind in ("customers", "accounts", "company_reports"):
            if (None, "truncated_file") in defects_by_file(defective)[relative(defective, path)]:
                continue
            _, rows = read_table(path)
            key = {"customers": "customer_id", "accounts": "account_id", "company_reports": "subject_id"}[kind]
            for row in rows:
                assert (source, row[key]) in entities, (path, row[key])
                seen[source] += 1
    credits = [r for r in truth(defective, "bank_entries") if r["credit_debit"] == "CRDT"]
    for row in credits:
        assert entities[("bank", f"{row['account_id']}:{row['entry_reference']}")] == row["true_customer_id"]
    assert seen["erp"] and seen["crm"] and seen["bureau"] and credits


def test_the_erp_ledger_reconciles_with_its_open_items_report(clean):
    """Open items at each month-end = invoices - payments - credit notes - write-offs delivered so far
    (the start date's files carry the initial load, so nothing before it is missing)."""
    landing = clean / "landing" / "erp"
    amounts: dict[str, Decimal] = defaultdict(Decimal)

    def rows(pattern: str) -> list[tuple[date, dict[str, str]]]:
        found = []
        for path in sorted(landing.glob(f"*/{pattern}")):
            found.extend((date.fromisoformat(path.parent.name), row) for row in read_table(path)[1])
        return found

    ledger = [(d, r["invoice_id"], Decimal(r["amount"])) for d, r in rows("invoices_*.csv")]
    ledger += [(d, r["invoice_id"], -Decimal(r["applied_amount"]))
               for d, r in rows("payments_*.csv") if r["invoice_id"]]
    ledger += [(d, r["invoice_id"], -Decimal(r["amount"])) for d, r in rows("credit_notes_*.csv")]
    ledger += [(d, r["invoice_id"], -Decimal(r["amount"])) for d, r in rows("write_offs_*.csv")]
    reports = rows("open_items_*.csv")
    assert {d for d, _ in reports} == {date(2026, 9, 30), date(2026, 10, 31)}
    assert any(d == START and date.fromisoformat(r["invoice_date"].replace("/", "-")) < START
               for d, r in rows("invoices_*.csv")), "the first delivery carries the open invoices"
    for month_end in sorted({d for d, _ in reports}):
        amounts.clear()
        for day, invoice, amount in ledger:
            if day <= month_end:
                amounts[invoice] += amount
        expected = {invoice: amount for invoice, amount in amounts.items() if amount}
        reported = {r["invoice_id"]: Decimal(r["open_amount"]) for d, r in reports if d == month_end}
        assert reported == expected


def test_rows_are_unique_by_the_contract_key_within_each_delivery(clean):
    checked = 0
    for path in landing_files(clean):
        feed = feed_for(path.parent.parent.name, path.name)
        if feed.format not in ("csv", "jsonl") or not feed.key:
            continue
        keys = Counter(tuple(row[k] for k in feed.key) for row in read_table(path)[1])
        assert max(keys.values(), default=1) == 1, (path, keys.most_common(1))
        checked += 1
    assert checked > 100


def test_the_traditional_table_agrees_with_opencc():
    opencc = pytest.importorskip("opencc")
    converter = opencc.OpenCC("s2t")
    for simplified, traditional in TRADITIONAL.items():
        assert converter.convert(simplified) == traditional


def test_the_cli_generates_with_a_progress_bar_and_can_leave_out_defects(tmp_path):
    from credit_dw.cli import app

    result = CliRunner().invoke(app, ["sandbox", "generate", "--start", "2026-09-01", "--end", "2026-09-04",
                                      "--seed", "3", "--out", str(tmp_path), "--no-defects"])
    assert result.exit_code == 0, result.output
    assert "sandbox written to" in result.output
    assert (tmp_path / "ground_truth" / "defects.csv").read_text(encoding="utf-8") == "file,line,defect\n"
