"""Every supported format, from files shaped like real banks' and ERPs' exports: correct entry
counts and fields; unreadable files fail with the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.feeds import feed_named
from ingestion.inspect import inspect_file
from ingestion.readers import FileReport, UnreadableFile, detect_encoding, identify_feed, read

DATA = Path(__file__).parent / "data"


def records(path: Path, feed_name: str) -> list[dict]:
    return [fields for _, _, fields in read(path, feed_named(feed_name), FileReport())]


def test_camt053_version_02_with_two_statements():
    entries = records(DATA / "bank" / "camt053_v02_two_statements.xml", "bank_camt053")
    assert [e["statement_id"] for e in entries] == ["BOC-4567-20261005"] * 2 + ["BOC-4568-20261005"]
    assert entries[0]["payer_name"] == "上海华信电子科技有限公司"
    assert entries[0]["remittance_information"] == "货款 INV2609001111 INV2609001112"
    assert entries[0]["end_to_end_id"] is None, "NOTPROVIDED is no reference"
    assert entries[2]["account_id"] == "DE89370400440532013000"
    assert entries[2]["currency"] == "EUR"


def test_camt054_notification():
    (entry,) = records(DATA / "bank" / "camt054_v08_notification.xml", "bank_camt054")
    assert entry["statement_id"] == "NTF-7-1"
    assert entry["payer_name"] == "深圳鼎盛新能源有限公司"
    assert entry["amount"] == "88000.00"


def test_mt940_in_a_swift_envelope_with_multiline_fields():
    entries = records(DATA / "bank" / "mt940_hsbc_envelope.sta", "bank_mt940")
    assert len(entries) == 3
    assert {e["statement_id"] for e in entries} == {"004-123456-001:00245/001"}
    assert entries[0]["payer_name"] == "ACME COMPONENTS LTD"
    assert entries[0]["remittance_information"] == "PAYMENT INV2609001234 INV2609001240"
    assert entries[1]["remittance_information"] == "MUELLER MASCHINENBAU GMBH RECHNUNG INV2609001301 TEILZAHLUNG"
    assert [e["credit_debit"] for e in entries] == ["CRDT", "CRDT", "DBIT"]
    assert entries[1]["amount"] == "9870.55"


def test_bai2_transaction_details():
    entries = records(DATA / "bank" / "bai2_sample.txt", "bank_bai2")
    assert [e["amount"] for e in entries] == ["48200.00", "9870.55", "35.00"]
    assert [e["credit_debit"] for e in entries] == ["CRDT", "CRDT", "DBIT"]
    assert "INV2609001240" in entries[0]["remittance_information"], "continuation (88) records are kept"


def test_gb18030_export_with_chinese_headers_and_an_added_column(tmp_path):
    path = tmp_path / "invoices_20261005.csv"
    path.write_bytes(
        "发票号码,客户编码,开票日期,到期日,币别,价税合计,备注\n"
        "INV1,C000001,2026/10/05,2026/11/04,CNY,\"1,200.00\",加急\n".encode("gb18030")
    )
    assert detect_encoding(path) == "gb18030"
    report = FileReport()
    (fields,) = [f for _, _, f in read(path, feed_named("erp_invoices"), report)]
    assert fields["invoice_id"] == "INV1" and fields["amount"] == "1,200.00"
    assert report.extra_columns == ["备注"]
    assert "order_id" in report.missing_columns


def test_utf8_with_bom_and_a_quoted_field_spanning_lines(tmp_path):
    path = tmp_path / "accounts_20261005.csv"
    path.write_bytes(
        b"\xef\xbb\xbfaccount_id,account_name,uscc,city,industry,owner_id,created_date\n"
        + 'A1,"华信电子\n（上海）",,上海,电子,S001,2026-01-01\nA2,恒通,,,,,\n'.encode()
    )
    rows = list(read(path, feed_named("crm_accounts"), FileReport()))
    assert [line for line, _, _ in rows] == [2, 4]
    assert rows[0][2]["account_name"] == "华信电子\n（上海）"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("camt053_x.xml", None, "malformed XML"),
        ("mt940_x.sta", None, "no closing balance"),
        ("invoices_x.csv", "invoice_id,customer_id\nA,B\n", "lacks required column"),
        ("invoices_y.csv", "", "empty file"),
        ("company_reports_x.jsonl", b"\xff\xfe\x00garbage\x81", "undecodable"),
    ],
)
def test_unreadable_files_name_the_problem(tmp_path, name, content, problem):
    path = tmp_path / name
    if content is None:
        sample = "camt053_v02_two_statements.xml" if name.endswith("xml") else "mt940_hsbc_envelope.sta"
        source = DATA / "bank" / sample
        text = source.read_text(encoding="utf-8")
        path.write_text(text[: len(text) // 2], encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    feed = identify_feed(path, None) or feed_named("erp_invoices")
    with pytest.raises(UnreadableFile, match=problem):
        list(read(path, feed, FileReport()))


def test_a_file_is_identified_by_its_content_when_its_name_is_unknown(tmp_path):
    path = tmp_path / "statement_download_5.txt"
    path.write_bytes((DATA / "bank" / "mt940_hsbc_envelope.sta").read_bytes())
    assert identify_feed(path, "bank").name == "bank_mt940"
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("payment_id,customer_id,payment_date,currency,payment_amount,invoice_id,applied_amount\n")
    assert identify_feed(csv_path, "erp").name == "erp_payments"


def test_inspect_counts_valid_and_quarantined_rows_and_masks_personal_data(tmp_path):
    path = tmp_path / "contacts_20261005.csv"
    path.write_text(
        "contact_id,account_id,contact_name,title,mobile,email\n"
        "K1,A1,张伟,财务经理,13812345678,zhang.wei@example.com\n"
        "K2,A1,李娜,,12345,li@example.com\n",
        encoding="utf-8",
    )
    report = inspect_file(path, "crm")
    assert (report["rows"], report["valid"], report["quarantined"]) == (2, 1, 1)
    assert report["reasons"] == {"mobile: not a mobile phone number": 1}
    assert report["sample"][0]["contact_name"] == "***" and report["sample"][0]["mobile"] == "***"
    assert "12345" not in str(report)
