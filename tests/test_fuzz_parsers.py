"""Bad input never crashes ingestion (issue #9): random bytes and mutated files of every supported
format (CSV in UTF-8 and GB18030, JSON Lines, camt.053, camt.054, MT940, BAI2).

- Parsing: ``identify_feed`` / ``sniff_format`` answer or say "no feed"; reading either yields
  records or raises ``UnreadableFile`` (the one documented bad-input error); ``validate`` types a
  record or rejects it, never raises; ``inspect_file`` raises nothing but ``UnreadableFile``.
- Loading: through ``ingest`` each file ends ``loaded`` (rows read = loaded + quarantined, and the
  raw and quarantine tables hold exactly those rows) or ``failed`` with a reason naming the file, or
  ``duplicate`` of an identical earlier file; never an internal error.

Examples per test are few enough that the file runs in well under a minute on this machine; set
CREDIT_DW_FUZZ_SCALE (e.g. 20) for a longer hunt.
"""

from __future__ import annotations

import os
import random
import tempfile
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.feeds import feed_named
from ingestion.inspect import inspect_file
from ingestion.load import ingest
from ingestion.readers import FileReport, UnreadableFile, identify_feed, read, sniff_format
from ingestion.validation import validate

DATA = Path(__file__).parent / "data" / "bank"
DAY = date(2026, 10, 5)
SCALE = int(os.environ.get("CREDIT_DW_FUZZ_SCALE", "1"))

# (feed, file name, a small valid file of that feed)
SAMPLES = {
    "invoices_gb18030": ("erp_invoices", "invoices_20261005.csv", (
        "发票号码,客户编码,销售订单号,开票日期,到期日,收款条件,币别,价税合计\n"
        "INV1,C1,SO1,2026-10-01,2026-10-31,NET30,CNY,\"1,234.50\"\n"
        "INV2,C2,,2026/10/02,20261101,NET30,cny,１２３４．５０\n"
        "INV3,C3,SO3,2026年10月3日,2026-11-02T08:30:00,,USD,¥99.00\n").encode("gb18030")),
    "contacts_utf8": ("crm_contacts", "contacts_20261005.csv", (
        "\ufeffcontact_id,account_id,contact_name,title,mobile,email\r\n"
        "K1,A1,张伟,财务经理,138-1234-5678,zhang.wei@example.com\r\n"
        "K2,A2,\"Smith, John\",CFO,+86 139 8765 4321,\r\n").encode()),
    "fx_rates": ("erp_fx_rates", "fx_rates_20261005.csv",
                 b"rate_date,currency,cny_per_unit\n2026-10-05,USD,7.1234\n2026-10-05,EUR,\"7,8\"\n"),
    "bank_cn_csv": ("bank_cn_csv", "cnbank_20261005.csv", (
        "statement_id,本方账号,交易流水号,交易日期,借贷标志,交易金额,币种,对方户名,对方账号,摘要\n"
        "S1,6222,T1,2026-10-05,贷,100.00,CNY,华信,6222000011112222,货款\n"
        "S1,6222,T2,2026-10-05,借,200.00,CNY,,,\n").encode("gb18030")),
    "bureau_jsonl": ("bureau_company_reports", "company_reports_20261005.jsonl", (
        '{"subject_id": "B1", "uscc": "91310000MA1FL8TQ36", "company_name": "上海华信电子科技有限公司", '
        '"report_date": "2026-10-05", "registration_status": "存续", "registered_capital": "5,000,000.00", '
        '"litigation_count": 2, "is_dishonest_debtor": false, "bureau_score": 610}\n'
        '{"subject_id": "B2", "company_name": "北京恒通", "report_date": "2026/10/05", '
        '"registration_status": "注销", "is_business_anomaly": "是"}\n').encode()),
    "camt053": ("bank_camt053", "camt053_456700000001_20261005.xml",
                (DATA / "camt053_v02_two_statements.xml").read_bytes()),
    "camt054": ("bank_camt054", "camt054_456700000001_20261005.xml",
                (DATA / "camt054_v08_notification.xml").read_bytes()),
    "mt940": ("bank_mt940", "mt940_004123456001_20261005.sta", (DATA / "mt940_hsbc_envelope.sta").read_bytes()),
    "bai2": ("bank_bai2", "bai2_000123456789_20261005.txt", (DATA / "bai2_sample.txt").read_bytes()),
}

# Bytes that matter to some parser: delimiters, quotes, line ends, tags, field markers, bad UTF-8.
_SPECIAL = [b'"', b",", b"\n", b"\r", b"<", b">", b"/", b":", b"{", b"}", b":61:", b":20:", b":62F:",
            b"16,", b"88,", b"01,", b"\x00", b"\xff", b"\x81", b"\xe5\xbc", b"\xef\xbb\xbf", b"-}", b"</Ntry>",
            b"&", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"NaN", b"1e400", b"T25:00"]


def mutate(sample: bytes, seed: int) -> bytes:
    """The sample with a few edits: bytes flipped, inserted, deleted or repeated, or the end cut off.

    Driven by one drawn seed rather than by a draw per edit: Hypothesis's own mutator, splicing
    draws of a variable-length edit list, made inputs (and memory) grow without bound."""
    rng = random.Random(seed)
    data = bytearray(sample)
    for _ in range(rng.randint(1, 4)):
        position = rng.randint(0, len(data))
        match rng.choice(["flip", "insert", "special", "delete", "repeat", "truncate"]):
            case "flip" if position < len(data):
                data[position] = rng.randrange(256)
            case "insert":
                data[position:position] = rng.randbytes(rng.randint(1, 8))
            case "special":
                data[position:position] = rng.choice(_SPECIAL)
            case "delete":
                del data[position:position + rng.randint(1, 40)]
            case "repeat":
                data[position:position] = data[position:position + rng.randint(1, 200)]
            case "truncate":
                del data[position:]
    return bytes(data)


def inputs(sample: str) -> st.SearchStrategy[bytes]:
    original = SAMPLES[sample][2]
    return st.one_of(st.integers(0, 2**64).map(lambda seed: mutate(original, seed)), st.binary(max_size=300))


def parse_everything(path: Path, source: str, feed_name: str) -> None:
    """Every parsing entry point on one file: only the documented outcomes."""
    sniff_format(path)
    identify_feed(path, source)
    identify_feed(path, None)
    feed = feed_named(feed_name)
    try:
        for _, original, fields in read(path, feed, FileReport()):
            assert isinstance(original, str)
            original.encode("utf-8")  # the quarantine keeps it as text: no lone surrogates
            values, rejection = validate(feed, fields)
            assert (values is None) != (rejection is None)
    except UnreadableFile as error:
        assert error.problem and str(path) in str(error)
    try:
        report = inspect_file(path, source)
    except UnreadableFile:
        return
    except Exception as error:
        assert type(error).__name__ == "UnknownFeed", error
        return
    assert report["rows"] == report["valid"] + report["quarantined"]


FAST = settings(deadline=None, max_examples=100 * SCALE, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_samples_themselves_load_cleanly(sample, tmp_path):
    feed_name, name, content = SAMPLES[sample]
    path = tmp_path / name
    path.write_bytes(content)
    report = inspect_file(path, feed_named(feed_name).source)
    assert report["feed"] == feed_name and report["rows"] >= 1 and report["quarantined"] == 0, report


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_parsers_survive_mutated_files_and_random_bytes(sample):
    feed_name, name, _ = SAMPLES[sample]
    source = feed_named(feed_name).source

    @FAST
    @given(content=inputs(sample))
    def check(content: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(content)
            parse_everything(path, source, feed_name)

    check()


def manifest_agrees_with_the_tables(url: str) -> list[tuple]:
    """Manifest rows whose counts disagree with what raw and the quarantine hold for their batch."""
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
            " and table_name not in ('load_manifest', 'quarantine')")]
        in_raw = " + ".join(f"(select count(*) from raw.{t} where _batch_id = m.batch_id)" for t in tables)
        return conn.execute(f"""
            select batch_id, status, rows_read, rows_loaded, rows_quarantined, error from raw.load_manifest m
            where status not in ('loaded', 'failed', 'duplicate')
               or (status = 'failed' and coalesce(error, '') = '')
               or (status = 'loaded' and (rows_read <> rows_loaded + rows_quarantined
                   or rows_loaded <> {in_raw}
                   or rows_quarantined <> (select count(*) from raw.quarantine q where q.batch_id = m.batch_id)))
               or (status <> 'loaded' and ({in_raw} > 0
                   or exists (select from raw.quarantine q where q.batch_id = m.batch_id)))
        """).fetchall()


def test_every_mutated_file_is_loaded_quarantined_or_failed_with_a_reason(fresh_database_url):
    examples = {"count": 0}

    @settings(deadline=None, max_examples=15 * SCALE, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(sample=st.sampled_from(sorted(SAMPLES)), data=st.data())
    def check(sample: str, data) -> None:
        feed_name, name, _ = SAMPLES[sample]
        content = data.draw(inputs(sample))
        examples["count"] += 1
        # a business date of its own, so that no example is a re-delivery of another's extract
        business_date = DAY - timedelta(days=examples["count"])
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / feed_named(feed_name).source / business_date.isoformat() / name
            path.parent.mkdir(parents=True)
            path.write_bytes(content)
            summary = ingest(DAY, landing_dir=Path(folder), database_url=fresh_database_url)
        (result,) = summary.files
        assert result.status in {"loaded", "failed", "duplicate"}, result
        if result.status == "failed":
            assert result.error and (str(path) in result.error or "matches" in result.error), result.error
            assert "internal error" not in result.error
        if result.status == "loaded":
            assert result.rows_read == result.rows_loaded + result.rows_quarantined

    check()
    assert examples["count"] >= 15
    assert manifest_agrees_with_the_tables(fresh_database_url) == []
