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


def inspect_text(tmp_path, name: str, content: bytes, source: str = "erp") -> dict:
    path = tmp_path / name
    path.write_bytes(content)
    return inspect_file(path, source)


def test_rows_of_the_wrong_width_share_one_reason_kind(tmp_path):
    report = inspect_text(tmp_path, "payments_20261005.csv", (
        b"payment_id,customer_id,payment_date,currency,payment_amount,invoice_id,applied_amount\n"
        b"P1,C1,2026-10-05\nP2,C1,2026-10-05,CNY\nP3,C1,2026-10-05,CNY,1.00,I1,1.00,surplus\n"))
    assert report["reasons"] == {"(row): wrong number of fields": 3}


def test_a_utf8_file_with_a_few_bad_bytes_stays_utf8_and_quarantines_those_rows(tmp_path):
    header = "contact_id,account_id,contact_name,title,mobile,email\n"
    rows = [f"K{n},A1,张伟{n},财务经理,13812345678,zhang{n}@example.com\n" for n in range(6)]
    content = (header + "".join(rows[:3])).encode() + b"K9,A1,\xe5\xbc\xa0\xff,CFO,13812345678,\n"
    content += "".join(rows[3:]).encode()
    path = tmp_path / "contacts_20261005.csv"
    path.write_bytes(content)
    assert detect_encoding(path) == "utf-8"
    records = list(read(path, feed_named("crm_contacts"), FileReport()))
    bad = [(line, original, fields) for line, original, fields in records if "__error__" in fields]
    assert [line for line, _, _ in bad] == [5]
    assert bad[0][1] == "K9,A1,张\\xff,CFO,13812345678,", "the bad byte is kept, written out"
    assert str(bad[0][2]["__error__"]).startswith("undecodable bytes: 1 byte(s) not utf-8, the first at character 8")
    assert [f["contact_name"] for _, _, f in records if "__error__" not in f] == [f"张伟{n}" for n in range(6)]


def test_a_gb18030_export_with_a_stray_byte_stays_gb18030(tmp_path):
    rows = "".join(f"INV{n},C{n},2026/10/05,2026/11/04,人民币,100.00,上海华信电子科技有限公司\n" for n in range(20))
    content = ("发票号码,客户编码,开票日期,到期日,币别,价税合计,备注\n" + rows).encode("gb18030") + b"INV99,\xff,,,,,\n"
    path = tmp_path / "invoices_20261005.csv"
    path.write_bytes(content)
    assert detect_encoding(path) == "gb18030"
    report = inspect_file(path, "erp")
    assert report["rows"] == 21 and report["reasons"]["(row): undecodable bytes"] == 1


@pytest.mark.parametrize(("content", "problem"), [
    (b"\xff\xfe\x00\x01\x02garbage\x81\xfe\n\xfa\xfb\n", "not a text export"),
    ("发票号码,客户编码,开票日期,到期日,币别,价税合计".encode("gb18030") + b"\xff\n"
     + "INV1,C1,2026-10-01,2026-10-31,CNY,1\n".encode("gb18030") * 3, "header line: undecodable bytes"),
])
def test_files_that_do_not_decode_fail_with_the_reason(tmp_path, content, problem):
    path = tmp_path / "invoices_20261005.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=problem):
        list(read(path, feed_named("erp_invoices"), FileReport()))


def test_fields_longer_than_csv_s_default_limit_are_read(tmp_path):
    remark = "长" * 200_000
    report = inspect_text(tmp_path, "accounts_20261005.csv", (
        "account_id,account_name,uscc,city,industry,owner_id,created_date\n"
        f'A1,"{remark}",,上海,电子,S001,2026-01-01\n').encode(), source="crm")
    assert report["valid"] == 1, report["reasons"]


def test_a_header_naming_a_column_twice_fails_the_file(tmp_path):
    path = tmp_path / "invoices_20261005.csv"
    path.write_text("invoice_id,customer_id,invoice_date,due_date,currency,amount,价税合计\n"
                    "INV1,C1,2026-10-01,2026-10-31,CNY,1.00,2.00\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match=r"line 1: header names column amount more than once: 'amount' "
                                             r"\(field 6\), '价税合计' \(field 7\)"):
        list(read(path, feed_named("erp_invoices"), FileReport()))


def test_a_bai2_file_cut_short_fails_instead_of_hanging(tmp_path):
    """The bai2 library loops forever on a file without its trailers: the structure is checked first."""
    path = tmp_path / "bai2_x.txt"
    text = (DATA / "bank" / "bai2_sample.txt").read_text(encoding="utf-8")
    path.write_text(text[: text.index("INV26")], encoding="utf-8")
    with pytest.raises(UnreadableFile, match="missing .truncated"):
        list(read(path, feed_named("bank_bai2"), FileReport()))


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_whole_ascii_lines_skip_the_codec_without_hiding_a_bad_byte(tmp_path, monkeypatch, encoding):
    """The survey decodes only lines that are not ASCII: a bad byte after megabytes of ASCII, a
    character cut across read chunks and a line longer than the sample still decide the answer."""
    from ingestion import readers

    monkeypatch.setattr(readers, "_SAMPLE_BYTES", 64)
    ascii_lines = b"INV1,C1,2026-10-01,2026-10-31,CNY,100.00\n" * 40_000  # 1.6 MB: several read chunks
    chinese = "上海华信电子科技有限公司".encode(encoding)
    long_line = chinese * 20 + b"\n"  # longer than the (patched) sample: decoded as it comes
    clean = chinese + b"\n" + ascii_lines + long_line + ascii_lines + chinese
    path = tmp_path / "clean.csv"
    path.write_bytes(clean)
    assert readers._decodes(str(path), encoding)
    path.write_bytes(clean[:-1])  # the file ends inside a character
    assert not readers._decodes(str(path), encoding)
    path.write_bytes(ascii_lines + b"INV9,\xff\xfe\n" + ascii_lines)
    assert not readers._decodes(str(path), encoding)
    path.write_bytes(long_line[:-3] + b"\xff" + ascii_lines)
    assert not readers._decodes(str(path), encoding)


def test_non_ascii_lines_are_found_with_their_line_ends():
    from ingestion.readers import non_ascii_lines

    data = "发票,号码\nINV1,C1\nINV2,客户\nINV3,C3\n客户".encode("gb18030")
    spans = non_ascii_lines(data)
    assert [data[start:end] for start, end in spans] == [
        "发票,号码\n".encode("gb18030"), "INV2,客户\n".encode("gb18030"), "客户".encode("gb18030")]
    assert non_ascii_lines(b"INV1,C1\nINV2,C2\n") == []
    header_only = "发票,号码\nINV1,C1\nINV2,C2\n".encode("gb18030")
    assert non_ascii_lines(header_only) == [(0, len("发票,号码\n".encode("gb18030")))]
    assert non_ascii_lines("客户".encode()) == [(0, len("客户".encode()))]  # one line, no line feed
    assert non_ascii_lines(b"INV1,C1\n" + "客户".encode()) == [(8, 8 + len("客户".encode()))]
    assert non_ascii_lines("客户\n".encode() * 65) is None  # many: decoded whole
