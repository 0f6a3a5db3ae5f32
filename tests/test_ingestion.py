"""Loading landing files into raw: lossless (loaded or quarantined with a reason), idempotent,
re-deliveries supersede, unreadable files leave nothing behind, personal data never in plaintext."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ingestion.load import discover, ingest
from ingestion.pii import protector
from sandbox.generator import generate

DAY = date(2026, 10, 5)
PERSONAL = ["张伟", "13812345678", "zhang.wei@example.com", "110101199003074477", "王芳", "13987654321"]


def drop(landing: Path, source: str, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = landing / source / DAY.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode(encoding))
    return path


@pytest.fixture
def landing(tmp_path) -> Path:
    landing = tmp_path / "landing"
    drop(landing, "crm", "contacts_20261005.csv",
         "contact_id,account_id,contact_name,title,mobile,email\n"
         "K1,A1,张伟,财务经理,138-1234-5678,zhang.wei@example.com\n"
         "K2,A2,王芳,,13987654321,\n"
         "K3,A2,赵六,,12345,\n")
    drop(landing, "erp", "customers_20261005.csv",
         "客户编码,客户名称,统一社会信用代码,收款条件,信用额度,币别,法定代表人,法人身份证号,法人手机\n"
         "C1,上海华信电子科技有限公司,91310000MA1FL8TQ36,NET30,\"500,000.00\",CNY,王芳,110101199003074477,13987654321\n"
         "C2,北京恒通建材有限公司,,NET60,２００００．００,CNY,,,\n"
         "C3,坏数据有限公司,,NET30,N/A,RMB,,,\n",
         encoding="gb18030")
    return landing


def scalar(url: str, query: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_every_row_is_loaded_or_quarantined_and_personal_data_is_never_plaintext(
    landing, fresh_database_url, caplog
):
    caplog.set_level(logging.DEBUG)
    summary = ingest(DAY, landing_dir=landing, database_url=fresh_database_url, run_id="t1")

    assert summary.failure() is None
    by_feed = {Path(f.path).name: f for f in summary.files}
    contacts, customers = by_feed["contacts_20261005.csv"], by_feed["customers_20261005.csv"]
    assert (contacts.rows_read, contacts.rows_loaded, contacts.rows_quarantined) == (3, 2, 1)
    assert (customers.rows_read, customers.rows_loaded, customers.rows_quarantined) == (3, 2, 1)
    assert customers.reasons == {"credit_limit: not an amount": 1}
    assert scalar(fresh_database_url, "select credit_limit from raw.erp_customers where customer_id = 'C2'") == 20000
    assert scalar(
        fresh_database_url,
        "select count(*) from raw.load_manifest where rows_read <> rows_loaded + rows_quarantined",
    ) == 0

    # No plaintext personal data anywhere in the database, nor in the logs.
    with psycopg.connect(fresh_database_url) as conn:
        dump = "\n".join(
            str(row) for table in ("raw.crm_contacts", "raw.erp_customers", "raw.quarantine", "raw.load_manifest")
            for row in conn.execute(f"select * from {table}").fetchall()
        )
    for value in PERSONAL + ["138-1234-5678", "12345,"]:
        assert value not in dump, value
        assert value not in caplog.text, value

    # Equality lookups through the blind index, and the ciphertext decrypts under the key.
    index = protector().blind_index("+86 139 8765 4321")
    with psycopg.connect(fresh_database_url) as conn:
        (encrypted,) = conn.execute(
            "select contact_name_encrypted from raw.crm_contacts where mobile_hash = %s", (index,)
        ).fetchone()
        assert conn.execute(
            "select count(*) from raw.erp_customers where legal_rep_mobile_hash = %s", (index,)
        ).fetchone()[0] == 1
    assert protector().decrypt(bytes(encrypted)) == "王芳"
    masked = ("select legal_rep_id_number_masked, legal_rep_mobile_masked, legal_rep_name_masked"
              " from raw.erp_customers where customer_id = 'C1'")
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute(masked).fetchone() == ("110***********4477", "139****4321", "王*")


def test_a_second_ingest_changes_nothing(landing, fresh_database_url):
    ingest(DAY, landing_dir=landing, database_url=fresh_database_url)
    counts = ("select row((select count(*) from raw.crm_contacts), (select count(*) from raw.load_manifest),"
              " (select count(*) from raw.quarantine))::text")
    before = scalar(fresh_database_url, counts)
    again = ingest(DAY, landing_dir=landing, database_url=fresh_database_url)
    assert {f.status for f in again.files} == {"skipped"}
    assert scalar(fresh_database_url, counts) == before


def test_redeliveries_supersede_and_copies_are_recorded_as_duplicates(landing, fresh_database_url):
    header = "payment_id,customer_id,payment_date,currency,payment_amount,invoice_id,applied_amount\n"
    first = drop(landing, "erp", "payments_20261005.csv", header + "P1,C1,2026-10-05,CNY,100.00,I1,100.00\n")
    ingest(DAY, landing_dir=landing, database_url=fresh_database_url)

    # The ERP re-sends the extract corrected, and someone drops a copy of it under another name.
    corrected = header + "P1,C1,2026-10-05,CNY,150.00,I1,150.00\nP2,C2,2026-10-05,CNY,5.00,,5.00\n"
    drop(landing, "erp", "payments_20261005__2.csv", corrected)
    drop(landing, "erp", "payments_20261005_copy.csv", corrected)
    summary = ingest(DAY, landing_dir=landing, database_url=fresh_database_url)

    statuses = {Path(f.path).name: f.status for f in summary.files if f.status != "skipped"}
    assert statuses == {"payments_20261005__2.csv": "loaded", "payments_20261005_copy.csv": "duplicate"}
    assert scalar(fresh_database_url, "select sum(applied_amount) from raw.erp_payments") == 155
    first_status = scalar(fresh_database_url, "select status from raw.load_manifest where path = %s", str(first))
    assert first_status == "superseded"


def test_an_unreadable_file_fails_alone_and_leaves_nothing_half_loaded(landing, fresh_database_url):
    good = (Path(__file__).parent / "data" / "bank" / "camt053_v02_two_statements.xml").read_text(encoding="utf-8")
    broken = drop(landing, "bank", "camt053_456700000001_20261005.xml", good[: int(len(good) * 0.8)])
    summary = ingest(DAY, landing_dir=landing, database_url=fresh_database_url)

    (failed,) = summary.failed
    assert failed.path == str(broken)
    assert "malformed XML" in failed.error and str(broken) in failed.error and "line" in failed.error
    assert "could not be loaded" in str(summary.failure())
    assert scalar(fresh_database_url, "select count(*) from raw.bank_statement_entries") == 0
    assert scalar(fresh_database_url, "select count(*) from raw.crm_contacts") == 2, "other files still load"
    assert scalar(fresh_database_url, "select status from raw.load_manifest where path = %s", str(broken)) == "failed"


def _waiting_for_advisory_lock(url: str) -> int:
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    return scalar(url, """select count(*) from pg_stat_activity where datname = %s
                          and wait_event_type = 'Lock' and wait_event = 'advisory'""", database)


def test_a_second_ingest_run_waits_for_the_first(landing, fresh_database_url):
    from ingestion.load import INGEST_LOCK

    outcome = {}
    with psycopg.connect(fresh_database_url, autocommit=True) as first_run:
        # This connection stands for a run in progress: it holds the lock an ingest run takes.
        first_run.execute("select pg_advisory_lock(hashtext(%s))", (INGEST_LOCK,))
        second = threading.Thread(target=lambda: outcome.update(
            summary=ingest(DAY, landing_dir=landing, database_url=fresh_database_url)))
        second.start()
        deadline = time.monotonic() + 30
        while not _waiting_for_advisory_lock(fresh_database_url) and time.monotonic() < deadline:
            assert second.is_alive(), "the second run did not wait for the lock"
            time.sleep(0.05)
        assert _waiting_for_advisory_lock(fresh_database_url) == 1
        assert scalar(fresh_database_url, "select to_regclass('raw.load_manifest') is null"), "nothing done yet"
        first_run.execute("select pg_advisory_unlock(hashtext(%s))", (INGEST_LOCK,))
        second.join(60)
    assert {f.status for f in outcome["summary"].files} == {"loaded"}


def test_two_ingest_runs_at_once_load_each_file_once(landing, fresh_database_url):
    start = threading.Barrier(2)
    summaries = []

    def run():
        start.wait()
        summaries.append(ingest(DAY, landing_dir=landing, database_url=fresh_database_url))

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(120)
    statuses = sorted(sorted({f.status for f in summary.files}) for summary in summaries)
    assert statuses == [["loaded"], ["skipped"]]
    assert scalar(fresh_database_url, "select count(*) from raw.load_manifest") == 2
    assert scalar(fresh_database_url, "select count(*) from raw.crm_contacts") == 2
    assert scalar(fresh_database_url, "select count(*) from raw.erp_customers") == 2


# --- several files at once ------------------------------------------------------------------------

PARALLEL_FIRST_DAY, PARALLEL_LAST_DAY = date(2026, 9, 25), date(2026, 9, 30)


@pytest.fixture(scope="module")
def parallel_landing(tmp_path_factory) -> Path:
    """Four working days of the tiny sandbox (every source and format), plus what makes the order
    of loading matter: a corrected re-delivery, a copy of a file under another name and a truncated
    file."""
    out = tmp_path_factory.mktemp("parallel_sandbox")
    generate(out, start=PARALLEL_FIRST_DAY, end=PARALLEL_LAST_DAY, seed=11, scale="tiny")
    landing = out / "landing"
    day = landing / "erp" / "2026-09-28"
    invoices = (day / "invoices_20260928.csv").read_bytes().splitlines(keepends=True)
    corrected = b"".join(invoices[:-1]) + b"26BAD01,KH000001,,2026/02/31,,,CNY,1\r\n"  # a 31 February: quarantined
    (day / "invoices_20260928__2.csv").write_bytes(corrected)
    (landing / "erp" / "2026-09-29" / "invoices_copy_20260929.csv").write_bytes(
        (landing / "erp" / "2026-09-25" / "invoices_20260925.csv").read_bytes())
    camt053 = next((landing / "bank" / "2026-09-28").glob("camt053_*.xml"))
    (camt053.parent / "camt053_cut_20260928.xml").write_bytes(camt053.read_bytes()[:2000])
    return landing


def warehouse_state(url: str) -> dict:
    """Everything ingestion wrote, with each batch named by its file (path and digest) instead of
    its id, without timestamps, and with personal data decrypted (its ciphertext differs by nonce)."""
    with psycopg.connect(url) as conn:
        batches = {batch_id: f"{path}#{sha256[:12]}" for batch_id, path, sha256 in
                   conn.execute("select batch_id, path, sha256 from raw.load_manifest")}

        def rows(table: str, batch_column: str, dropped: set[str]) -> list[tuple]:
            cursor = conn.execute(sql.SQL("select * from {}").format(sql.Identifier("raw", table)))
            names = [column.name for column in cursor.description]
            kept = []
            for row in cursor:
                values = []
                for name, value in zip(names, row, strict=True):
                    if name in dropped:
                        continue
                    if name == batch_column:
                        value = batches[value]
                    elif name.endswith("_encrypted") and value is not None:
                        value = protector().decrypt(bytes(value))
                    elif name == "error" and value is not None:
                        value = re.sub(r"batch (\d+)", lambda match: f"batch {batches[int(match[1])]}", value)
                    values.append((name, value))
                kept.append(tuple(values))
            return sorted(kept, key=repr)

        tables = [name for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1")]
        state = {table: rows(table, "_batch_id", {"_loaded_at"})
                 for table in tables if table not in ("load_manifest", "quarantine")}
        state["quarantine"] = rows("quarantine", "batch_id", {"quarantined_at"})
        state["load_manifest"] = rows("load_manifest", "batch_id", {"started_at", "finished_at"})
    return state


def batch_order(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('raw.load_manifest')").fetchone()[0] is None:
            return []  # nothing ingested yet
        return [path for (path,) in conn.execute("select path from raw.load_manifest order by batch_id")]


def summary_without_timings(summary) -> list[dict]:
    return [{**entry, "seconds": None} for entry in summary.as_dict()["files"]]


def test_several_files_at_once_leave_what_one_at_a_time_leaves(parallel_landing, module_database, caplog, tmp_path):
    serial_url, parallel_url = module_database("serial"), module_database("parallel")
    caplog.set_level(logging.INFO, logger="ingestion.load")

    def both(day: date) -> None:
        outcomes = {}
        for url, workers in ((serial_url, 1), (parallel_url, 4)):
            caplog.clear()
            registered_before = len(batch_order(url))
            summary = ingest(day, landing_dir=parallel_landing, database_url=url, run_id="r", workers=workers)
            logged = sorted(r.getMessage() for r in caplog.records if r.name == "ingestion.load")
            outcomes[workers] = summary_without_timings(summary), logged
            # Staging keeps a key's row from its latest delivery by batch id: however the workers
            # interleave, ids must follow the order in which files are discovered (dates, deliveries).
            registered = batch_order(url)[registered_before:]
            assert registered == [str(f.path) for f in discover(parallel_landing, day) if str(f.path) in registered]
        assert outcomes[4] == outcomes[1]
        assert warehouse_state(parallel_url) == warehouse_state(serial_url)

    both(PARALLEL_LAST_DAY)
    state = warehouse_state(serial_url)
    statuses = {dict(row)["status"] for row in state["load_manifest"]}
    assert statuses == {"loaded", "superseded", "duplicate", "failed"}, "the folder must exercise every outcome"
    assert state["quarantine"], "and the quarantine"

    # A second run: a re-delivery of an extract an earlier run loaded, whose first delivery has
    # been archived meanwhile, and a copy of that first delivery under another extract's name:
    # whether the copy is a duplicate depends on which of the two loads first.
    day = parallel_landing / "erp" / "2026-09-25"
    earlier = (day / "payments_20260925.csv").read_bytes()
    (day / "payments_20260925.csv").unlink()
    (day / "payments_20260925__2.csv").write_bytes(earlier.splitlines(keepends=True)[0])
    (parallel_landing / "erp" / "2026-09-30" / "payments_resent_20260930.csv").write_bytes(earlier)
    both(PARALLEL_LAST_DAY)
    manifest = {dict(row)["path"].split("/")[-1]: dict(row)["status"]
                for row in warehouse_state(parallel_url)["load_manifest"]}
    assert manifest["payments_20260925.csv"] == "superseded"
    assert manifest["payments_resent_20260930.csv"] == "loaded"


def test_an_internal_error_in_one_file_stops_the_run_once_the_files_under_way_are_done(
    parallel_landing, fresh_database_url, monkeypatch
):
    """A bug (not a bad file) while loading one file fails the run: that file's entry says so, no
    entry stays 'loading', no further file starts, and a run after the fix loads what is left."""
    from ingestion import arrow_csv

    faulty = parallel_landing / "erp" / "2026-09-29" / "invoices_20260929.csv"
    real_load = arrow_csv.load_csv_arrow

    def load_with_a_bug(conn, feed, path, batch_id, *encoded_ahead):
        if path == faulty:
            raise RuntimeError("a bug in the loader")
        return real_load(conn, feed, path, batch_id, *encoded_ahead)

    monkeypatch.setattr(arrow_csv, "load_csv_arrow", load_with_a_bug)
    with pytest.raises(RuntimeError, match="a bug in the loader"):
        ingest(PARALLEL_LAST_DAY, landing_dir=parallel_landing, database_url=fresh_database_url, workers=3)
    with psycopg.connect(fresh_database_url) as conn:
        entries = dict(conn.execute("select path, status from raw.load_manifest").fetchall())
        error = conn.execute("select error from raw.load_manifest where path = %s", (str(faulty),)).fetchone()[0]
    assert entries[str(faulty)] == "failed" and "internal error" in error
    assert "loading" not in entries.values()
    files = sum(1 for path in parallel_landing.rglob("*") if path.is_file())
    assert len(entries) < files, "the run stopped: files were left for the next run"

    monkeypatch.setattr(arrow_csv, "load_csv_arrow", real_load)
    summary = ingest(PARALLEL_LAST_DAY, landing_dir=parallel_landing, database_url=fresh_database_url, workers=3)
    assert {Path(f.path).name: f.status for f in summary.files}[faulty.name] == "loaded"
    assert "loading" not in {f.status for f in summary.files}


def test_progress_counts_every_file_found_once(parallel_landing, fresh_database_url):
    reported: list[tuple[int, int]] = []
    summary = ingest(PARALLEL_LAST_DAY, landing_dir=parallel_landing, database_url=fresh_database_url, workers=2,
                     progress=lambda done, total: reported.append((done, total)))
    found = len(summary.files)
    assert [done for done, _ in reported] == list(range(1, found + 1))
    assert {total for _, total in reported} == {found}
