"""Fault injection on real processes and a real PostgreSQL: what the pipeline does when a loader is
killed, files arrive broken, twice, late or not at all, and the disk fills up; and the whole
pipeline's bookkeeping invariant on a sandbox.

Each test works in a database of its own; the two that run the nightly DAG share one sandbox and
warehouse (module fixture), two `credit_nightly` runs in all.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import SESSION_DATABASE, _admin, _url_for
from psycopg import sql
from sandbox_oracle import expected_exposure

from ingestion.feeds import feed_named
from ingestion.load import ingest
from ingestion.readers import FileReport, identify_feed, read
from sandbox.generator import generate

CLI = [str(Path(sys.executable).parent / "credit-dw")]
TESTS = Path(__file__).parent
BANK_SAMPLES = TESTS / "data" / "bank"


def run_cli(*args: str, database_url: str, landing: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "CREDIT_DW_DATABASE_URL": database_url, "CREDIT_DW_LANDING_DIR": str(landing),
           "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def manifest_rows(conn: psycopg.Connection, path: Path) -> list[dict]:
    cursor = conn.execute(
        """select batch_id, feed, status, rows_read, rows_loaded, rows_quarantined, schema_drift, error
           from raw.load_manifest where path = %s order by batch_id""",
        (str(path),),
    )
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


def rows_in_raw(conn: psycopg.Connection, feed_name: str, batch_id: int) -> int:
    table = sql.Identifier("raw", feed_named(feed_name).table_name)
    query = sql.SQL("select count(*) from {} where _batch_id = %s").format(table)
    return conn.execute(query, (batch_id,)).fetchone()[0]


def rows_in_quarantine(conn: psycopg.Connection, batch_id: int) -> int:
    return conn.execute("select count(*) from raw.quarantine where batch_id = %s", (batch_id,)).fetchone()[0]


# An invoice dated 31 February: quarantined by validation.
BAD_INVOICE_ROW = b"26BAD0000000000000001,KH000001,,2026/02/31,2026/03/31,NET30,CNY,100.00\r\n"


@pytest.fixture(scope="module")
def tiny_sandbox(tmp_path_factory) -> Path:
    """A month of the tiny sandbox, generated once for the tests that only copy files from it."""
    out = tmp_path_factory.mktemp("tiny_sandbox")
    generate(out, start=date(2026, 9, 1), end=date(2026, 9, 30), seed=7, scale="tiny")
    return out / "landing"


# --- the loader killed mid-file ------------------------------------------------------------------

def test_a_loader_killed_during_the_copy_leaves_no_rows_and_the_rerun_loads_the_file(
    tiny_sandbox, tmp_path, fresh_database_url
):
    """SIGKILL of `credit-dw ingest` while the server is receiving the file's COPY: the open
    transaction dies with the connection, so raw holds nothing of the file and the manifest never
    says `loaded`; the next run loads it whole, rows read = loaded + quarantined."""
    sample = tiny_sandbox / "erp" / "2026-09-30" / "invoices_20260930.csv"
    header, *rows = sample.read_bytes().splitlines(keepends=True)
    assert rows, "the sandbox's invoice file should have rows"
    folder = tmp_path / "landing" / "erp" / "2026-09-30"
    folder.mkdir(parents=True)
    big = folder / sample.name
    # Large enough that the COPY lasts seconds even on an idle machine (about 30 MB).
    repeats = 400_000 // len(rows) + 1
    with big.open("wb") as handle:
        handle.write(header)
        for number in range(repeats):
            handle.writelines(rows)
            if number == repeats // 2:
                handle.write(BAD_INVOICE_ROW)  # one row for the quarantine, in the middle of the file
    lines_in_file = repeats * len(rows) + 1

    env = {**os.environ, "CREDIT_DW_DATABASE_URL": fresh_database_url,
           "CREDIT_DW_LANDING_DIR": str(tmp_path / "landing")}
    loader = subprocess.Popen([*CLI, "ingest", "--date", "2026-09-30"], env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # In the loader's database: relid::regclass resolves names in the current database only.
    with psycopg.connect(fresh_database_url, autocommit=True) as monitor:
        def copy_under_way():
            if loader.poll() is not None:
                output = loader.stdout.read().decode(errors="replace")
                pytest.fail(f"the loader ended before it could be killed mid-COPY (make the file larger):\n{output}")
            return monitor.execute(
                """select progress.pid from pg_stat_progress_copy as progress
                   where progress.datid = (select oid from pg_database where datname = current_database())
                     and progress.command = 'COPY FROM' and progress.relid::regclass::text = 'raw.erp_invoices'
                     and progress.tuples_processed > 0"""
            ).fetchone()
        (backend,) = wait_for(copy_under_way, timeout=300, what="the loader's COPY into raw.erp_invoices")
        os.killpg(loader.pid, signal.SIGKILL)
        loader.wait(timeout=30)
        loader.stdout.close()
        wait_for(lambda: not monitor.execute("select count(*) from pg_stat_activity where pid = %s",
                                             (backend,)).fetchone()[0],
                 timeout=60, what=f"the killed loader's backend {backend} to end")

    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select count(*) from raw.erp_invoices").fetchone()[0] == 0, "no partial rows"
        assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] == 0
        killed = manifest_rows(conn, big)
    assert [row["status"] for row in killed] == ["loading"], "the manifest must not claim the file loaded"

    rerun = run_cli("ingest", "--date", "2026-09-30", database_url=fresh_database_url, landing=tmp_path / "landing")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with psycopg.connect(fresh_database_url) as conn:
        entries = manifest_rows(conn, big)
        loaded = [row for row in entries if row["status"] == "loaded"]
        assert len(loaded) == 1, entries
        # the killed run's entry is closed as interrupted, not left 'loading' for ever
        assert [(row["batch_id"], row["status"]) for row in entries if row["batch_id"] == killed[0]["batch_id"]] \
            == [(killed[0]["batch_id"], "failed")], entries
        (entry,) = loaded
        assert entry["rows_read"] == lines_in_file
        assert entry["rows_read"] == entry["rows_loaded"] + entry["rows_quarantined"]
        assert entry["rows_quarantined"] == 1
        assert rows_in_raw(conn, "erp_invoices", entry["batch_id"]) == entry["rows_loaded"]
        assert conn.execute("select count(*) from raw.erp_invoices").fetchone()[0] == entry["rows_loaded"]
        assert rows_in_quarantine(conn, entry["batch_id"]) == 1


# --- broken, doubled and drifting files in one landing folder ------------------------------------

GOOD_DAY, FAULT_DAY = "2026-09-30", "2026-10-01"
FAULT_STAMP = FAULT_DAY.replace("-", "")


@dataclass(frozen=True)
class Fault:
    relative: str  # under landing/
    status: str  # what the manifest must end with
    reason: str | None = None  # a phrase the failure or a quarantine reason must contain


def _junk(seed: int) -> bytes:
    """Random bytes that do not even start like a document."""
    rng = random.Random(seed)
    return b"\xd1\xfe" + bytes(rng.randrange(256) for _ in range(3000))


def _cut(data: bytes, share: float) -> bytes:
    return data[: int(len(data) * share)]


def _build_fault_folder(sandbox: Path, landing: Path) -> list[Fault]:
    """One good day of every format, then a day of duplicates, truncations, garbage and drift."""
    def put(relative: str, data: bytes) -> None:
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    for source in ("erp", "bank"):
        for path in (sandbox / source / GOOD_DAY).iterdir():
            put(f"{source}/{GOOD_DAY}/{path.name}", path.read_bytes())
    reports = sorted((sandbox / "bureau").glob("*/company_reports_*.jsonl"))[-1].read_bytes()
    put(f"bureau/{GOOD_DAY}/company_reports_20260930.jsonl", reports)
    camt054 = (BANK_SAMPLES / "camt054_v08_notification.xml").read_bytes()
    bai2 = (BANK_SAMPLES / "bai2_sample.txt").read_bytes()
    mt940 = (BANK_SAMPLES / "mt940_hsbc_envelope.sta").read_bytes()
    put(f"bank/{GOOD_DAY}/camt054_ntf_20260930.xml", camt054)
    put(f"bank/{GOOD_DAY}/mt940_hsbc_20260930.sta", mt940)
    put(f"bank/{GOOD_DAY}/bai2_lockbox_20260930.txt", bai2)
    good = [Fault(str(path.relative_to(landing)), "loaded") for path in sorted(landing.rglob("*")) if path.is_file()]

    invoices = (sandbox / "erp" / GOOD_DAY / "invoices_20260930.csv").read_bytes()
    payments = (sandbox / "erp" / GOOD_DAY / "payments_20260930.csv").read_text(encoding="utf-8").splitlines()
    orders = (sandbox / "erp" / GOOD_DAY / "sales_orders_20260930.csv").read_bytes()
    camt053 = next(p for p in (sandbox / "bank" / GOOD_DAY).glob("camt053_*.xml") if b"<Ntry>" in p.read_bytes())
    camt053 = camt053.read_bytes()
    drifted = [payments[0] + ",remark"] + [f"{line},late" for line in payments[1:]]
    faults = [
        # the same bytes delivered again under another day's name: loaded once
        Fault(f"erp/{FAULT_DAY}/invoices_{FAULT_STAMP}.csv", "duplicate"),
        # an added column: loaded, the drift recorded
        Fault(f"erp/{FAULT_DAY}/payments_{FAULT_STAMP}.csv", "loaded"),
        # cut mid-row: the cut row quarantined, the rest loaded
        Fault(f"erp/{FAULT_DAY}/sales_orders_{FAULT_STAMP}.csv", "loaded", "expected 7"),
        Fault(f"erp/{FAULT_DAY}/fx_rates_{FAULT_STAMP}.csv", "failed"),
        Fault(f"bureau/{FAULT_DAY}/company_reports_{FAULT_STAMP}.jsonl", "loaded", "invalid JSON"),
        Fault(f"bureau/{FAULT_DAY}/bureau_events_{FAULT_STAMP}.csv", "failed"),
        Fault(f"bank/{FAULT_DAY}/camt053_cut_{FAULT_STAMP}.xml", "failed", "malformed XML"),
        Fault(f"bank/{FAULT_DAY}/camt053_junk_{FAULT_STAMP}.xml", "failed", "malformed XML"),
        Fault(f"bank/{FAULT_DAY}/camt054_cut_{FAULT_STAMP}.xml", "failed", "malformed XML"),
        Fault(f"bank/{FAULT_DAY}/camt054_junk_{FAULT_STAMP}.xml", "failed", "malformed XML"),
        Fault(f"bank/{FAULT_DAY}/mt940_cut_{FAULT_STAMP}.sta", "failed", "closing balance"),
        Fault(f"bank/{FAULT_DAY}/mt940_junk_{FAULT_STAMP}.sta", "failed"),
        Fault(f"bank/{FAULT_DAY}/bai2_cut_{FAULT_STAMP}.txt", "failed", "BAI2"),
        Fault(f"bank/{FAULT_DAY}/bai2_junk_{FAULT_STAMP}.txt", "failed"),
    ]
    contents = [
        invoices,
        ("\r\n".join(drifted) + "\r\n").encode("utf-8"),
        _cut(orders, 0.7),
        _junk(1),
        _cut(reports, 0.6),
        _junk(2),
        _cut(camt053, 0.66),
        _junk(3),
        _cut(camt054, 0.6),
        _junk(4),
        _cut(mt940, 0.6),
        _junk(5),
        _cut(bai2, 0.6),
        _junk(6),
    ]
    for fault, data in zip(faults, contents, strict=True):
        put(fault.relative, data)
    return good + faults


def test_every_broken_doubled_or_drifting_file_ends_with_a_status_and_the_others_still_load(
    tiny_sandbox, tmp_path, fresh_database_url
):
    landing = tmp_path / "landing"
    expected = _build_fault_folder(tiny_sandbox, landing)
    formats = {identify_feed(landing / f.relative, f.relative.split("/")[0]).format
               for f in expected if f.status == "loaded" and not f.reason}
    assert formats >= {"csv", "jsonl", "camt053", "camt054", "mt940", "bai2"}, formats

    summary = ingest(date.fromisoformat(FAULT_DAY), landing_dir=landing, database_url=fresh_database_url)

    assert len(summary.files) == len(expected)
    with psycopg.connect(fresh_database_url) as conn:
        for fault in expected:
            path = landing / fault.relative
            entries = manifest_rows(conn, path)
            assert len(entries) == 1, (fault.relative, entries)
            (entry,) = entries
            assert entry["status"] == fault.status, (fault.relative, entry)
            if entry["status"] == "failed":
                assert path.name in entry["error"], entry["error"]
                if fault.reason:
                    assert fault.reason in entry["error"], entry["error"]
                stored = conn.execute(sql.SQL("select count(*) from {} where _source_file = %s").format(
                    sql.Identifier("raw", feed_named(entry["feed"]).table_name)), (str(path),)).fetchone()[0]
                assert stored == 0 and rows_in_quarantine(conn, entry["batch_id"]) == 0, fault.relative
            elif entry["status"] == "loaded":
                assert entry["rows_read"] == entry["rows_loaded"] + entry["rows_quarantined"], entry
                assert rows_in_raw(conn, entry["feed"], entry["batch_id"]) == entry["rows_loaded"], fault.relative
                assert rows_in_quarantine(conn, entry["batch_id"]) == entry["rows_quarantined"], fault.relative
                if fault.reason:  # a truncated text file: its cut row quarantined, the rows before it loaded
                    assert entry["rows_quarantined"] == 1 and entry["rows_loaded"] > 0, entry
                    reasons = [r[0] for r in conn.execute(
                        "select reason from raw.quarantine where batch_id = %s", (entry["batch_id"],))]
                    assert any(fault.reason in reason for reason in reasons), reasons
                elif GOOD_DAY in fault.relative:
                    assert entry["rows_read"] > 0 or path.name.startswith("mt940_"), entry
            else:  # duplicate: nothing stored for it
                assert rows_in_raw(conn, entry["feed"], entry["batch_id"]) == 0
        drifted = manifest_rows(conn, landing / f"erp/{FAULT_DAY}/payments_{FAULT_STAMP}.csv")[0]
        assert drifted["schema_drift"] == {"missing": [], "extra": ["remark"]}
        assert drifted["rows_quarantined"] == 0 and drifted["rows_loaded"] > 0


# --- a full disk in the landing area -------------------------------------------------------------

@pytest.fixture
def small_tmpfs(tmp_path):
    """A 256 kB file system of its own: real ENOSPC, without filling the machine's disk."""
    mount_point = tmp_path / "full_disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; run as root (or in the project's container) to test ENOSPC")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def test_a_full_disk_in_the_landing_area_gives_a_clear_error_and_no_half_written_file(small_tmpfs, tmp_path):
    out = small_tmpfs / "sandbox"
    result = subprocess.run([*CLI, "sandbox", "generate", "--scale", "tiny", "--start", "2026-09-01",
                             "--end", "2026-09-30", "--seed", "7", "--out", str(out)],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert "No space left on device" in output or "disk full" in output.lower(), output
    assert str(small_tmpfs) in output, "the error names the path it could not write"

    # Nothing half written: every landing file left behind is byte for byte what a generation with
    # room writes, so ingesting what is there loads only whole files.
    reference = tmp_path / "reference"
    generate(reference, start=date(2026, 9, 1), end=date(2026, 9, 30), seed=7, scale="tiny")
    left = [p for p in (out / "landing").rglob("*") if p.is_file() and not p.name.startswith(".")]
    partial = [str(p) for p in left
               if p.read_bytes() != (reference / "landing" / p.relative_to(out / "landing")).read_bytes()]
    assert not partial, f"half-written files left in the landing area: {partial}"


# --- the nightly pipeline: its invariant, and a late file corrected by a backfill ----------------

NIGHT_START, NIGHT_END = date(2026, 6, 1), date(2026, 6, 30)  # dates no other test's DAG runs use
LATE_DAY = date(2026, 6, 16)


@dataclass
class Nightly:
    landing: Path
    database_url: str
    late_file: Path
    withheld: Path


def _create_database() -> str:
    name = f"{SESSION_DATABASE}_faults_{uuid.uuid4().hex[:6]}"
    with _admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return _url_for(name)


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """A month of history loaded by hand (each file known on its folder's date), closed by one
    `credit-dw nightly`, with one past day's payments file held back to arrive late."""
    out = tmp_path_factory.mktemp("nightly_sandbox")
    generate(out, start=NIGHT_START, end=NIGHT_END, seed=11, scale="tiny")
    landing = out / "landing"
    late_file = landing / "erp" / LATE_DAY.isoformat() / f"payments_{LATE_DAY:%Y%m%d}.csv"
    assert late_file.exists(), f"the sandbox should deliver payments on {LATE_DAY}"
    # A bad row, so that the quarantine side of the invariant is exercised whatever the seed's defects.
    with sorted(landing.glob("erp/*/invoices_*.csv"))[0].open("ab") as invoices:
        invoices.write(BAD_INVOICE_ROW)
    withheld = out / "withheld" / late_file.name
    withheld.parent.mkdir()
    late_file.rename(withheld)
    database_url = _create_database()
    loaded = run_cli("ingest", "--date", NIGHT_END.isoformat(), database_url=database_url, landing=landing)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    closed = run_cli("nightly", "--date", NIGHT_END.isoformat(), database_url=database_url, landing=landing)
    assert closed.returncode == 0, closed.stdout + closed.stderr
    yield Nightly(landing, database_url, late_file, withheld)
    with _admin() as conn:
        name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


OPEN_AR_FROM_RAW = """
with invoices as (
    select distinct on (invoice_id) invoice_id, currency, amount
    from raw.erp_invoices where invoice_date <= %(day)s
    order by invoice_id, _batch_id desc
),
payments as (
    select distinct on (payment_id, invoice_id) invoice_id, applied_amount as amount
    from raw.erp_payments where payment_date <= %(day)s and invoice_id is not null
    order by payment_id, invoice_id, _batch_id desc
),
credit_notes as (
    select distinct on (credit_note_id) invoice_id, amount
    from raw.erp_credit_notes where credit_note_date <= %(day)s
    order by credit_note_id, _batch_id desc
),
write_offs as (
    select distinct on (write_off_id) invoice_id, amount
    from raw.erp_write_offs where write_off_date <= %(day)s
    order by write_off_id, _batch_id desc
),
reductions as (
    select invoice_id, sum(amount) as amount
    from (select * from payments union all select * from credit_notes union all select * from write_offs) as all_
    group by invoice_id
),
open_items as (
    select invoices.currency, invoices.amount - coalesce(reductions.amount, 0) as open_amount
    from invoices left join reductions using (invoice_id)
)
select currency, sum(open_amount) from open_items where open_amount > 0 group by currency order by currency
"""


def test_every_source_file_balances_and_the_marts_reconcile_to_raw(nightly):
    """For every landing file: a manifest entry; when loaded, rows read (counted again here with the
    readers) = rows in raw + rows in quarantine. Open AR per currency in the published marts at the
    month-end = the same figure computed straight from raw."""
    files = [p for p in nightly.landing.rglob("*") if p.is_file()]
    assert len(files) > 100
    with psycopg.connect(nightly.database_url) as conn:
        statuses: dict[str, int] = {}
        for path in files:
            entries = manifest_rows(conn, path)
            assert entries, f"{path} is not in the manifest"
            final = entries[-1]
            statuses[final["status"]] = statuses.get(final["status"], 0) + 1
            assert final["status"] in {"loaded", "duplicate", "superseded"}, (path, final)
            in_raw = rows_in_raw(conn, final["feed"], final["batch_id"])
            in_quarantine = rows_in_quarantine(conn, final["batch_id"])
            if final["status"] == "loaded":
                read_again = sum(1 for _ in read(path, feed_named(final["feed"]), FileReport()))
                assert final["rows_read"] == read_again == in_raw + in_quarantine, (path, final, in_raw, in_quarantine)
                assert (final["rows_loaded"], final["rows_quarantined"]) == (in_raw, in_quarantine), path
            else:
                assert in_raw == in_quarantine == 0, (path, final)
        assert statuses.get("loaded", 0) > 100
        assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] > 0, \
            "the sandbox's defects should have sent rows to quarantine"

        from_raw = conn.execute(OPEN_AR_FROM_RAW, {"day": NIGHT_END}).fetchall()
        from_marts = conn.execute(
            """select currency, sum(open_amount) from marts.fct_ar_open_items_snapshots
               where as_of_date = %s group by currency order by currency""",
            (NIGHT_END,),
        ).fetchall()
    assert from_raw and sum(amount for _, amount in from_raw) > 0
    assert [(c.strip(), Decimal(a)) for c, a in from_marts] == [(c.strip(), Decimal(a)) for c, a in from_raw]


def _exposure(database_url: str, day: date) -> dict[str, tuple]:
    with psycopg.connect(database_url) as conn:
        return {row[0]: row[1:] for row in conn.execute(
            """select customer_id, open_receivables, unapplied_cash, exposure
               from marts.fct_credit_exposure_daily where as_of_date = %s""", (day,))}


def _matches(marts: dict[str, tuple], expected: dict[str, dict]) -> list[str]:
    """Customers whose exposure differs from the oracle's by more than rounding."""
    return [customer for customer, truth in expected.items()
            if customer not in marts or any(abs(value - truth[column]) > Decimal("0.02") for value, column in
                                            zip(marts[customer], ("open_receivables", "unapplied_cash", "exposure"),
                                                strict=True))]


def test_a_late_file_for_a_past_date_is_loaded_by_its_backfill_which_corrects_that_dates_marts(nightly):
    """The payments of a past day arrive after that day's marts were built: the backfill of that day
    loads them (known on that day) and rebuilds it, and the marts then agree with the files."""
    without_late = expected_exposure(nightly.landing, LATE_DAY)
    before = _exposure(nightly.database_url, LATE_DAY)
    assert not _matches(before, without_late), "the marts agreed with the files they had"

    shutil.copyfile(nightly.withheld, nightly.late_file)  # the file arrives, late
    with_late = expected_exposure(nightly.landing, LATE_DAY)
    assert _matches(before, with_late), "the late payments should change the day's exposure"

    backfill = run_cli("backfill", "--start", LATE_DAY.isoformat(), "--end", LATE_DAY.isoformat(),
                       database_url=nightly.database_url, landing=nightly.landing)
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr

    with psycopg.connect(nightly.database_url) as conn:
        (entry,) = manifest_rows(conn, nightly.late_file)
    assert entry["status"] == "loaded" and entry["rows_read"] == entry["rows_loaded"] + entry["rows_quarantined"]
    after = _exposure(nightly.database_url, LATE_DAY)
    assert not _matches(after, with_late), "the backfill should have corrected the day's marts"
    assert set(after) == set(before)
