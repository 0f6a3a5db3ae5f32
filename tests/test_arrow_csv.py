"""The vectorised CSV path loads exactly what the reference row path loads: the same raw rows and typed
values, the same quarantine rows, counts, reasons, file report and unreadable-file errors.

Every case loads the same file twice, into two empty databases: once through ``load_file`` on the
reference path, once through ``arrow_csv.load_csv_arrow``, and compares what each left behind.
"""

from __future__ import annotations

import random
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from ingestion import arrow_csv
from ingestion.feeds import Column, Feed, feed_named
from ingestion.load import ensure_raw_schema, load_file
from ingestion.pii import protector
from ingestion.readers import UnreadableFile
from ingestion.validation import validate

INVOICE_HEADER_ZH = "发票号码,客户编码,销售订单号,开票日期,到期日,收款条件,币别,价税合计"
INVOICE_HEADER_EN = "invoice_id,customer_id,order_id,invoice_date,due_date,payment_terms,currency,amount"

INVOICE_ROWS = [
    "INV1,C1,SO1,2026-10-01,2026-10-31,NET30,CNY,\"1,234.50\"",
    "INV2,C2,,2026/10/02,20261101,NET30,cny,１２３４．５０",
    "INV3,C3,SO3,2026年10月3日,2026-11-02,,USD,¥99.00",
    "INV4,C4,SO4,2026-13-45,2026-11-02,NET30,CNY,100",
    "INV5,C5,SO5,31/31/2026,2026-11-02,NET30,CNY,100",
    "INV6,C6,SO6,2026-10-06,2026-11-06,NET30,CNY,N/A",
    "INV7,C7,SO7,2026-10-07,2026-11-07,NET30,XYZ,100",
    "INV8,,SO8,2026-10-08,2026-11-08,NET30,CNY,100",
    "INV9,C9,SO9,2026-10-09",
    "INV10,C10,SO10,2026-10-10T08:30:00,2026-11-10,NET30,RMB,100.5",
    " INV11 ,C11,SO11,2026.10.11,2026-11-11,NET30,EUR,\"-1,000,000.00\"",
    "INV12,C12,SO12,2026-02-29,2026-11-12,NET30,CNY,1.234",
    "INV13,C13,SO13,0000-01-01,2026-11-13,NET30,CNY,00012.30",
    "INV14,C14,,2026-10-14,2026-11-14,NET30,CNY,99999999999999999",
    "INV15,C15,SO15,2026-10-15,2026-11-15,NET30,CNY,￥2,000",
    "\"INV16\",\"C16\",\"SO\"\"16\",2026-10-16,2026-11-16,\"NET 30\",CNY,\"  7.5 \"",
    "INV17,C17,SO17,2026-10-17,2026-11-17,NET30,CNY,1e3",
    "INV18,C18,SO18,2026-10-18,2026-11-18,NET30,CNY,100,surplus",
    "INV19,C19,SO19,\u30002026-10-19,2026-11-19,NET30,\u3000CNY,-0",
    ",,,,,,,",
    "",
    "   ",
    "INV20,C20,SO20,20260230,2026-11-20,NET30,CNY,0.10",
]


def lines(*rows: str, newline: str = "\n") -> str:
    return newline.join(rows) + newline


# A feed of one field per row, where a line of spaces is a row to pyarrow (the reference skips it).
SINGLE_FIELD = Feed("single_field", "erp", "single_field_*.csv", "csv", (Column("value", "date"),))
# Integer and boolean columns (no sandbox CSV feed has them), each sent in its binary COPY form.
COUNTS_AND_FLAGS = Feed("counts_and_flags", "bureau", "counts_and_flags_*.csv", "csv", (
    Column("subject_id"), Column("lawsuits", "integer", required=False), Column("dishonest", "boolean", required=False),
))


CASES = {
    "gb18030_chinese_headers": (
        "erp_invoices", "invoices_20261005.csv", lines(INVOICE_HEADER_ZH, *INVOICE_ROWS), "gb18030"),
    "utf8_bom_crlf": (
        "erp_invoices", "invoices_20261005.csv", "\ufeff" + lines(INVOICE_HEADER_EN, *INVOICE_ROWS, newline="\r\n"),
        "utf-8"),
    "drift_extra_and_missing_optional_column": (
        "erp_invoices", "invoices_20261005.csv",
        lines("发票号码,客户编码,开票日期,到期日,备注,币别,价税合计",
              "INV1,C1,2026-10-01,2026-10-31,加急,CNY,100.00",
              "INV2,C2,2026-10-02,2026-10-31,,CNY,abc",
              "INV3,C3,2026-10-03,2026-10-31,,CNY"),
        "gb18030"),
    "customers_uscc_and_personal_data": (
        "erp_customers", "customers_20261005.csv",
        lines("客户编码,客户名称,统一社会信用代码,收款条件,信用额度,币别,法定代表人,法人身份证号,法人手机,税号,IBAN",
              "C1,上海华信电子科技有限公司,91310000MA1FL8TQ36,NET30,\"500,000.00\",CNY,王芳,110101199003074477,"
              "13987654321,DE136695976,GB82WEST12345698765432",
              "C2,北京恒通建材有限公司,91310000MA1FL8TQ37,NET60,20000,CNY,,,,,",
              "C3,坏数据有限公司,,NET30,N/A,RMB,张伟,110101199003074478,12345,,",
              "C4,广州有限公司,,NET30,1000,CNY,李四,,+86 139-8765-4321,DE000000000,",
              "C5,深圳有限公司,,NET30,1000,CNY,,,,,GB00WEST12345698765432"),
        "gb18030"),
    "contacts_personal_data": (
        "crm_contacts", "contacts_20261005.csv",
        lines("contact_id,account_id,contact_name,title,mobile,email",
              "K1,A1,张伟,财务经理,138-1234-5678,zhang.wei@example.com",
              "K2,A2,王芳,,13987654321,",
              "K3,A2,赵六,,12345,",
              "K4,A3,  Li Lei ,CFO,+86 139 8765 4321,li.lei@example",
              "K5,A3,,CFO,13987654321,x@y.cn",
              "K6,A4,Ｈａｎ Ｍｅｉ,,,han.mei@example.com,extra"),
        "utf-8"),
    "bank_directions_and_rates": (
        "bank_cn_csv", "cnbank_20261005.csv",
        lines("statement_id,本方账号,交易流水号,交易日期,借贷标志,交易金额,币种,对方户名,对方账号,摘要",
              "S1,6222,T1,2026-10-05,贷,100.00,CNY,华信,6222000011112222,货款",
              "S1,6222,T2,2026-10-05,借,200.00,CNY,,,",
              "S1,6222,T3,2026-10-05,CRDT,300.00,CNY,,,",
              "S1,6222,T4,2026-10-05,Credit,400.00,CNY,,,",
              "S1,6222,T5,2026-10-05,出,500.00,CNY,,,",
              "S1,6222,T6,2026-10-05, dr ,600.00,CNY,,,"),
        "gb18030"),
    "fx_rates": (
        "erp_fx_rates", "fx_rates_20261005.csv",
        lines("rate_date,currency,cny_per_unit", "2026-10-05,USD,7.1234", "2026-10-05,EUR,\"7,8\"",
              "2026-10-05,JPY,0.0000001", "2026-10-05,GBP,abc", "2026-10-05,HKD,0.91234567891"),
        "utf-8"),
    # stdnum has no GB VAT numbers any more: the reference quarantines the row (or fails the file).
    "vat_number_outside_the_eu": (
        "erp_customers", "customers_20261005.csv",
        lines("客户编码,客户名称,收款条件,信用额度,币别,税号", "C1,甲,NET30,1,CNY,DE136695976",
              "C2,乙,NET30,1,CNY,GB135078322"),
        "gb18030"),
    "single_field": (
        SINGLE_FIELD, "single_field_1.csv", lines("value", "2026-10-01", "  ", "", "\u3000", "x", '""', "2026/10/02"),
        "utf-8"),
    "integers_and_booleans": (
        COUNTS_AND_FLAGS, "counts_and_flags_1.csv",
        lines("subject_id,lawsuits,dishonest", "S1,0,true", "S2,-12,否", "S3,１２,Y", "S4,,", "S5,1.5,maybe",
              "S6,999999999,0", "S7,1234567890,1"),
        "utf-8"),
    # Far dates and amounts at the edges of numeric(18,2), in their binary COPY forms.
    "extreme_values": (
        "erp_invoices", "invoices_20261005.csv",
        lines(INVOICE_HEADER_EN, "INV1,C1,,0001-01-01,9999-12-31,,CNY,9999999999999999.99",
              "INV2,C2,,1899-12-31,1970-01-01,,CNY,-9999999999999999.99", "INV3,C3,,2000-01-01,2000-02-29,,CNY,-0.01"),
        "utf-8"),
    "header_only": ("erp_invoices", "invoices_20261005.csv", INVOICE_HEADER_EN + "\n", "utf-8"),
    "no_final_newline": (
        "erp_invoices", "invoices_20261005.csv", INVOICE_HEADER_EN + "\nINV1,C1,,2026-10-01,2026-10-31,,CNY,5",
        "utf-8"),
    "byte_order_mark_starting_a_line": (
        "erp_invoices", "invoices_20261005.csv",
        "\ufeff" + lines(INVOICE_HEADER_EN, "INV1,C1,,2026-10-01,2026-10-31,,CNY,5",
                         "\ufeffINV2,C2,,2026-10-01,2026-10-31,,CNY,5", "\ufeff" + INVOICE_HEADER_EN),
        "utf-8"),
}

UNREADABLE = {
    "empty_file": b"",
    "byte_order_mark_only": b"\xef\xbb\xbf",
    "blank_first_line": b"\n" + INVOICE_HEADER_EN.encode() + b"\n",
    "header_lacks_required_column": b"invoice_id,customer_id\nINV1,C1\n",
    "duplicate_header_column": (
        INVOICE_HEADER_EN + ",amount\nINV1,C1,,2026-10-01,2026-10-31,,CNY,1.00,2.00\n").encode(),
}

# Files with bytes their encoding does not decode: the reference quarantines those rows, or fails
# the file when the header or most of it does not decode (tests/test_readers.py); not for the fast path.
UNDECODABLE = {
    "undecodable_header": INVOICE_HEADER_ZH.encode("gb18030") + b"\x81\x20\nINV1,C1,,2026-10-01,2026-10-31,,CNY,1\n",
    "mostly_undecodable": INVOICE_HEADER_EN.encode() + b"\n\xff\xfe\xfd\n",
    "undecodable_early": INVOICE_HEADER_ZH.encode("gb18030") + b"\nINV1,\x81\x20,,2026-10-01,2026-10-31,,CNY,1\n",
    "undecodable_late": (INVOICE_HEADER_ZH + "\n" + "INV1,客户,,2026-10-01,2026-10-31,,CNY,1\n" * 250).encode(
        "gb18030") + b"INV2,\xff\xff,,2026-10-01,2026-10-31,,CNY,1\n",
    "undecodable_at_the_end": INVOICE_HEADER_ZH.encode("gb18030") + b"\nINV1,C1,,2026-10-01,2026-10-31,,CNY,1\x81",
}

NOT_FOR_THE_FAST_PATH = {
    "quoted_field_spanning_lines": lines(INVOICE_HEADER_EN, 'INV1,C1,,2026-10-01,2026-10-31,"NET\n30",CNY,1'),
    "text_after_a_closing_quote": lines(INVOICE_HEADER_EN, 'INV1,C1,,2026-10-01,2026-10-31,"NET"30,CNY,1'),
    "quote_inside_an_unquoted_field": lines(INVOICE_HEADER_EN, 'INV1,C1,,2026-10-01,2026-10-31,NET"30",CNY,1'),
    "unterminated_quote": INVOICE_HEADER_EN + '\nINV1,C1,,2026-10-01,2026-10-31,"NET30,CNY,1',
    "lone_carriage_return": INVOICE_HEADER_EN + "\rINV1,C1,,2026-10-01,2026-10-31,NET30,CNY,1\r",
    "field_beyond_the_csv_size_limit": lines(INVOICE_HEADER_EN, "INV1,C1,," + "x" * 140_000 + ",2026-10-31,,CNY,1"),
}


@pytest.fixture
def databases(fresh_database_url):
    """(reference database, fast-path database): two empty warehouses with the raw schema."""
    reference_url = _create_sibling(fresh_database_url, "ref")
    try:
        for url in (reference_url, fresh_database_url):
            with psycopg.connect(url) as conn:
                ensure_raw_schema(conn)
                conn.execute("create table raw.single_field (value date, _batch_id bigint, _source_file text, "
                             "_source_line integer, _loaded_at timestamptz)")
                conn.execute("create table raw.counts_and_flags (subject_id text, lawsuits integer, dishonest boolean, "
                             "_batch_id bigint, _source_file text, _source_line integer, _loaded_at timestamptz)")
        yield reference_url, fresh_database_url
    finally:
        _drop(reference_url)


def _create_sibling(url: str, suffix: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = f"{info['dbname']}_{suffix}"
    with psycopg.connect(psycopg.conninfo.make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def _drop(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(psycopg.conninfo.make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def write(folder: Path, name: str, content: str | bytes, encoding: str | None = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def load_with(url: str, feed, path: Path, load) -> dict:
    """What one load returns and leaves in the database, in comparable form."""
    with psycopg.connect(url) as conn:
        batch_id = conn.execute(
            """insert into raw.load_manifest (source, feed, business_date, path, extract, delivery, size_bytes,
               sha256, status) values (%s, %s, current_date, %s, %s, 1, 0, '', 'loading') returning batch_id""",
            (feed.source, feed.name, str(path), str(path)),
        ).fetchone()[0]
        conn.commit()
        try:
            read, loaded, quarantined, reasons, report = load(conn, feed, path, batch_id)
        except UnreadableFile as error:
            conn.rollback()
            return {"unreadable": str(error)}
        except Exception as error:  # the reference's own failures must be the fast path's too
            conn.rollback()
            return {"failed": type(error).__name__}
        conn.commit()
        return {
            "counts": (read, loaded, quarantined),
            "reasons": reasons,
            "reasons_order": list(reasons),
            "report": (report.encoding, report.drift),
            "raw": rows(conn, f"select * from raw.{feed.table_name} where _batch_id = %s order by _source_line",
                        batch_id, ignore={"_batch_id", "_loaded_at"}),
            # The load time differs between the two loads, but each must be the moment of its load.
            "loaded_just_now": conn.execute(
                f"select coalesce(bool_and(abs(extract(epoch from clock_timestamp() - _loaded_at)) < 300), true) "
                f"from raw.{feed.table_name} where _batch_id = %s", (batch_id,)).fetchone()[0],
            "quarantine": rows(conn, "select * from raw.quarantine where batch_id = %s order by source_line",
                               batch_id, ignore={"batch_id", "quarantined_at"}),
        }


def rows(conn, query: str, batch_id: int, ignore: set[str]) -> list[dict]:
    """Rows as dicts, ciphertexts decrypted: their nonces differ from one load to the next."""
    cursor = conn.execute(query, (batch_id,))
    names = [column.name for column in cursor.description]
    result = []
    for row in cursor.fetchall():
        record = {}
        for name, value in zip(names, row, strict=True):
            if name in ignore:
                continue
            if name.endswith("_encrypted") and value is not None:
                value = ("decrypted", protector().decrypt(bytes(value)))
            record[name] = value
        result.append(record)
    return result


def assert_same_load(databases, monkeypatch, feed, path: Path) -> dict:
    reference_url, fast_url = databases
    with monkeypatch.context() as patch:
        # Once load_file dispatches to the fast path, this keeps it on the reference path.
        patch.setattr(arrow_csv, "can_load", lambda _path: False)
        expected = load_with(reference_url, feed, path, load_file)
    assert arrow_csv.can_load(path)
    actual = load_with(fast_url, feed, path, arrow_csv.load_csv_arrow)
    for key in expected:
        assert actual[key] == expected[key], key
    # Encoded whole before its COPY starts, as ingest does with a small file while its worker's
    # connection is busy with the file before: the same outcome, errors included.
    ahead = load_with(fast_url, feed, path, lambda conn, feed, path, batch_id: arrow_csv.load_csv_arrow(
        conn, feed, path, batch_id, arrow_csv.encode_ahead(feed, path, batch_id)))
    for key in expected:
        assert ahead[key] == expected[key], f"{key}, encoded ahead"
    return actual


def tiny_blocks(monkeypatch) -> None:
    """Blocks of a few lines, to cross every block boundary case."""
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 301)
    monkeypatch.setattr(arrow_csv, "SCAN_BYTES", 89)


def assert_same_loads(databases, monkeypatch, tmp_path, cases: dict[str, tuple]) -> dict[str, dict]:
    """Each case (feed or its name, file name, content, encoding) loaded both ways, in blocks of the
    default size and in tiny ones; what the fast path left, by case."""
    results = {}
    for blocks in ("default blocks", "tiny blocks"):
        with monkeypatch.context() as patch:
            if blocks == "tiny blocks":
                tiny_blocks(patch)
            for case, (feed_name, file_name, content, encoding) in cases.items():
                folder = tmp_path / blocks.replace(" ", "_") / case
                folder.mkdir(parents=True)
                path = write(folder, file_name, content, encoding)
                try:
                    feed = feed_name if isinstance(feed_name, Feed) else feed_named(feed_name)
                    results[case] = assert_same_load(databases, monkeypatch, feed, path)
                except AssertionError as error:
                    raise AssertionError(f"{case}, {blocks}: {error}") from error
    return results


def test_loads_exactly_what_the_reference_loads(databases, monkeypatch, tmp_path):
    unreadable = {case: ("erp_invoices", "invoices_20261005.csv", raw, None) for case, raw in UNREADABLE.items()}
    results = assert_same_loads(databases, monkeypatch, tmp_path, {**CASES, **unreadable})

    # The comparison is only as good as its cases: they exercise every outcome.
    assert all("unreadable" in results[case] for case in UNREADABLE)
    assert results["single_field"]["counts"] == (4, 2, 2)
    assert results["integers_and_booleans"]["counts"] == (7, 5, 2)
    assert results["extreme_values"]["counts"] == (3, 3, 0)
    read, loaded, quarantined = results["gb18030_chinese_headers"]["counts"]
    assert read == len([row for row in INVOICE_ROWS if row.strip()])
    assert loaded >= 5 and quarantined >= 10
    assert "(row): wrong number of fields" in results["gb18030_chinese_headers"]["reasons"]
    assert results["gb18030_chinese_headers"]["report"][0] == "gb18030"
    assert results["utf8_bom_crlf"]["report"][0] == "utf-8-sig"
    assert results["drift_extra_and_missing_optional_column"]["report"][1] == {
        "missing": ["order_id", "payment_terms"], "extra": ["备注"]}
    contacts = results["contacts_personal_data"]
    assert contacts["raw"] and all(row["contact_name_encrypted"] for row in contacts["raw"])
    # Verdicts on distinct values are remembered from file to file, never those on personal data.
    assert arrow_csv._VERDICTS and not any(column.pii for _, column in arrow_csv._VERDICTS)
    assert contacts["quarantine"] and all(row["original_text"] is None for row in contacts["quarantine"])


@pytest.mark.parametrize("blocks", ["default blocks", "tiny blocks"])
@pytest.mark.parametrize("case", sorted(NOT_FOR_THE_FAST_PATH))
def test_files_the_fast_path_cannot_mirror_are_left_to_the_reference(case, blocks, monkeypatch, tmp_path):
    if blocks == "tiny blocks":
        tiny_blocks(monkeypatch)
    for encoding in ("utf-8", "gb18030"):
        assert not arrow_csv.can_load(write(tmp_path, f"{encoding}.csv", NOT_FOR_THE_FAST_PATH[case], encoding))


@pytest.mark.parametrize("case", sorted(UNDECODABLE))
def test_files_with_undecodable_bytes_are_left_to_the_reference(case, tmp_path):
    path = write(tmp_path, "invoices_20261005.csv", UNDECODABLE[case])
    assert not arrow_csv.can_load(path)


def test_well_formed_quoting_stays_on_the_fast_path(tmp_path):
    quoted = lines('"invoice_id","customer_id",order_id,invoice_date,due_date,payment_terms,currency,amount',
                   '"INV""1","",,2026-10-01,2026-10-31,"a,b","""",1', '"""",x,,,,,,""')
    assert arrow_csv.can_load(write(tmp_path, "quoted.csv", "\ufeff" + quoted))
    assert arrow_csv.can_load(write(tmp_path, "empty.csv", ""))


def random_invoice_rows(rng: random.Random, count: int) -> list[str]:
    """Invoice rows mixing clean values with every irregularity the sources send."""
    day = date(2026, 10, 1)

    def pick(*choices):
        return rng.choice(choices)

    def a_date() -> str:
        value = day + timedelta(days=rng.randint(-400, 400))
        return pick(value.isoformat(), value.isoformat(), value.strftime("%Y/%m/%d"), value.strftime("%Y%m%d"),
                    value.strftime("%Y.%m.%d"), f"{value.year}年{value.month}月{value.day}日",
                    value.isoformat() + "T09:30:00", "2026-13-45", "31/31/2026", "", " ", "0000-01-01",
                    "2026-02-30", "２０２６－１０－０１", f" {value.isoformat()} ")

    def an_amount() -> str:
        value = rng.randint(-10**7, 10**9) / 100
        return pick(f"{value:.2f}", f"{value:.2f}", f'"{value:,.2f}"', f"{value:.1f}", f"¥{value:.2f}",
                    f'"￥{value:,.2f}"', "N/A", "", f"{value:.3f}", "1e3", "00012.30", "-0",
                    "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in f"{value:.2f}"),
                    "12345678901234567.00", " 42 ")

    rows = []
    for number in range(count):
        fields = [
            pick(f"INV{number}", f"INV{number}", f" INV{number} ", "", f'"INV{number}"'),
            pick(f"C{rng.randint(1, 50)}", "", "客户甲", "\u3000C1\u3000"),
            pick(f"SO{number}", "", '"SO ""quoted"""'),
            a_date(),
            a_date(),
            pick("NET30", "NET60", "", "月结30天", '"NET, 30"'),
            pick("CNY", "CNY", "usd", "EUR", "RMB", "XYZ", "", " cny ", "ＣＮＹ"),
            an_amount(),
        ]
        shape = rng.random()
        if shape < 0.03:
            fields = fields[: rng.randint(1, 7)]
        elif shape < 0.05:
            fields.append("surplus")
        rows.append(",".join(fields) if rng.random() > 0.02 else pick("", "  ", ",,,,,,,"))
    return rows


def test_random_rows_load_exactly_as_on_the_reference_path(databases, monkeypatch, tmp_path):
    cases = {}
    shapes = [(INVOICE_HEADER_ZH, "gb18030", "\n"), (INVOICE_HEADER_EN, "utf-8", "\r\n"),
              (INVOICE_HEADER_ZH, "utf-8", "\n")]
    for seed, (header, encoding, newline) in enumerate(shapes, start=1):
        content = lines(header, *random_invoice_rows(random.Random(seed), 300), newline=newline)
        cases[f"invoices, seed {seed}"] = ("erp_invoices", "invoices_20261005.csv", content, encoding)
    rng = random.Random(4)
    contacts = ["contact_id,account_id,contact_name,title,mobile,email"]
    for number in range(200):
        contacts.append(",".join([
            f"K{number}", rng.choice(["A1", "A2", ""]),
            rng.choice(["张伟", "王芳", " Li Lei ", "", "Ｈａｎ Ｍｅｉ", '"Smith, John"']),
            rng.choice(["CFO", "", "财务经理"]),
            rng.choice(["13812345678", "138-1234-5678", "+86 139 8765 4321", "12345", "", "+4915112345678"]),
            rng.choice(["a@b.cn", "not-an-email", "", " zhang.wei@example.com "]),
        ]))
    cases["contacts"] = ("crm_contacts", "contacts_20261005.csv", lines(*contacts), "utf-8")
    for case, result in assert_same_loads(databases, monkeypatch, tmp_path, cases).items():
        assert result["counts"][1] > 0 and result["counts"][2] > 0, case


def random_values(rng: random.Random, count: int) -> list[str]:
    """Strings near the shapes the vectorised rules accept, and across their edges."""
    pieces = ["0", "1", "2", "9", "00", "12", "31", "29", "2026", "0000", "-", "/", ".", ",", " ", "T", "\t",
              "\u3000", "１", "０", "¥", "￥", "e", "+", "年", "月", "日", "CNY", "cny", "贷", "借", "CRDT", "d",
              "\x1c", "a", "@"]
    values = []
    for _ in range(count):
        day = date(2026, 1, 1) + timedelta(days=rng.randint(-800, 800))
        values.append(rng.choice([
            "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))),
            day.isoformat(), day.strftime("%Y%m%d"), day.strftime("%Y/%m/%d"), day.strftime("%Y.%m.%d"),
            f"{day.year}-{day.month:02d}-{rng.randint(0, 32):02d}", day.isoformat() + rng.choice(["T", "T1", "t", " "]),
            f"{rng.randint(-10**6, 10**6) / 100:.{rng.randint(0, 3)}f}", f"{rng.randint(0, 10**18)}",
            f"{rng.randint(0, 10**9) / 100:,.2f}", rng.choice(["", " ", "\u3000", "-0", "0", "00", "-0.00", ".5"]),
        ]))
    return values


@pytest.mark.parametrize("column_type", ["date", "amount", "currency", "direction", "text", "mobile", "uscc"])
@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize("pii", [False, True])
def test_each_value_gets_the_reference_verdict(column_type, required, pii):
    """Value by value, the column-wise judgement equals the reference's: accepted or not, and the
    same text for the server (for personal data: the same text to encrypt)."""
    column = Column("value", column_type, required=required, pii=pii)
    feed = Feed("probe", "erp", "probe_*.csv", "csv", (column,))
    judge = arrow_csv._Judge(None, feed)
    values, crashing = [], []
    for value in random_values(random.Random(f"{column_type}{required}{pii}"), 1500):
        try:
            validate(feed, {"value": value})
        except ArithmeticError:  # the reference's own failure on amounts like "2026e2026"
            crashing.append(value)
        else:
            values.append(value)
    texts, accepted = judge.column(column, pa.array(values, pa.string()), len(values))
    for value, text, ok in zip(values, texts.to_pylist(), accepted.to_pylist(), strict=True):
        typed, rejection = validate(feed, {"value": value})
        expected = (rejection is None, None if rejection else judge.text(column, typed[0]))
        assert (ok, text if ok else None) == expected, repr(value)
    for value in crashing:
        with pytest.raises(ArithmeticError):
            judge.column(column, pa.array([value]), 1)


def test_the_whitespace_trimmed_is_all_of_python_s():
    everything = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace())
    assert everything == arrow_csv._WHITESPACE
