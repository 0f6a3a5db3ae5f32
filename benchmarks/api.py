"""Latency and throughput of ``GET /customers/{id}/credit-status`` over HTTP, against a warehouse with data.

    python -m benchmarks.api --json [--customers 20000] [--days 30] [--rate 200] [--seconds 30] [--workers 2]
    python -m benchmarks.api --json --database-url postgresql://…/credit_dw   # an existing warehouse instead
    python -m benchmarks.api --json --priority     # on a shared machine (root): see below

By default a scratch database on the warehouse server gets a synthetic publication at the medium
sandbox scale: 20,000 customers in the master (2% with two ERP accounts), their ERP and bank links in
the xref, ``--days`` days of ``fct_credit_exposure_daily`` (one row per ERP account and day), alerts,
rule evaluations and hits (1% blacklisted), scores and limit proposals. The server is started as
``credit-dw api`` does it (a subprocess: prepare, then uvicorn; the ``api`` role through the pool),
with the access log off; the database is dropped at the end.

Load: a real HTTP load tool, ``wrk`` (https://github.com/wg/wrk) with a Lua script that spreads the
requests over 5,000 customers (half by master id, half by ERP number) with a bearer token:
- paced: ``--connections`` connections, each pausing after every answer; the pause is calibrated on
  5-second trial runs until the achieved rate is within 3% of ``--rate`` (wrk has no constant-rate
  mode and wrk2 is not packaged here: the achieved rate is reported beside the target, and a slow
  answer still delays that connection's next request, so a stall is under-sampled);
- max: 8 connections without pauses, for the throughput ceiling.
Without wrk on PATH (or with ``--load-tool python``) an open-loop asyncio generator sends requests at
fixed times instead and measures each latency from the time it was due (no coordinated omission).
The server's own view (``api.request_log.duration_ms``) is reported too, and the CPU time per request
of the server's processes and of the warehouse backends serving them: on a busy machine wall-clock
latency measures the share of CPU the run gets, CPU per request what the service costs. ``--priority``
(root) runs the server, wrk and the API's warehouse backends at niceness -15, closer to dedicated
cores on a shared machine. Prints one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.scratch import drop_database, scratch_database
from credit_dw import warehouse

REPO = Path(__file__).resolve().parents[1]
BUSINESS_DATE = date(2026, 10, 31)

LUA = r"""
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local counter = 0
local pause = %(pause_ms)s

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  counter = math.random(1, #ids)
end

function delay()
  return pause
end

function request()
  counter = counter %% #ids + 1
  return wrk.format("GET", "/customers/" .. ids[counter] .. "/credit-status",
                    {["Authorization"] = "Bearer %(token)s", ["Accept"] = "application/json"})
end

function done(summary, latency, requests)
  io.write(string.format('BENCH {"requests": %%d, "duration_us": %%d, "non_2xx": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "p999_us": %%d, "max_us": %%d, "mean_us": %%.1f}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def synthetic_warehouse(url: str, customers: int, days: int) -> dict[str, int]:
    """A publication of ``customers`` customers over ``days`` business days, written with set-based SQL."""
    from credit_dw.pipeline import PUBLICATIONS_DDL
    from scoring.alerts import ALERTS_DDL
    from scoring.limits import LIMITS_DDL
    from scoring.model.registry import MODEL_DDL
    from scoring.rules.engine import ENGINE_DDL

    first = BUSINESS_DATE - timedelta(days=days - 1)
    params = {"n": customers, "first": first, "last": BUSINESS_DATE}
    with psycopg.connect(url) as conn:
        conn.execute("""
            create schema marts;
            create table marts.dim_customers (customer_id text, customer_name text, uscc text, country_code text,
                city text, registration_status text, primary_erp_customer_id text, erp_customer_ids text,
                is_erp_customer boolean);
            create table marts.customer_source_xref (source_system text, source_record_id text, customer_id text,
                match_method text, match_probability double precision);
            create table marts.fct_credit_exposure_daily (as_of_date date, customer_id text, customer_name text,
                currency text, open_receivables numeric(18, 2), open_invoice_count integer,
                overdue_amount numeric(18, 2), open_orders numeric(18, 2), unapplied_cash numeric(18, 2),
                exposure numeric(18, 2), credit_limit numeric(18, 2), utilisation numeric(12, 4),
                headroom numeric(18, 2), is_over_limit boolean);
        """)
        # ERP accounts: C + number for everyone, D + number for every 50th customer (a duplicate account)
        conn.execute("""
            insert into marts.dim_customers
            select 'CU' || lpad(i::text, 8, '0'), '测试客户' || i || '有限公司', null, 'CN', '上海', 'active',
                   'C' || lpad(i::text, 6, '0'),
                   'C' || lpad(i::text, 6, '0') || case when i %% 50 = 0 then ',D' || lpad(i::text, 6, '0') else '' end,
                   true
            from generate_series(1, %(n)s) i""", params)
        conn.execute("""
            insert into marts.customer_source_xref
            select 'erp', 'C' || lpad(i::text, 6, '0'), 'CU' || lpad(i::text, 8, '0'), 'uscc', 1
            from generate_series(1, %(n)s) i
            union all
            select 'erp', 'D' || lpad(i::text, 6, '0'), 'CU' || lpad(i::text, 8, '0'), 'uscc', 1
            from generate_series(50, %(n)s, 50) i
            union all
            select 'bank', 'ACCT:' || i || '-' || k, 'CU' || lpad(i::text, 8, '0'), 'probabilistic', 0.99
            from generate_series(1, %(n)s) i, generate_series(1, 5) k""", params)
        conn.execute("""
            insert into marts.fct_credit_exposure_daily
            select day, account, account || ' 有限公司', 'CNY', receivables, 3, receivables * 0.2, orders, 0,
                   receivables + orders, credit_limit, (receivables + orders) / credit_limit,
                   credit_limit - receivables - orders, receivables + orders > credit_limit
            from (select day::date, account, credit_limit,
                         round((random() * credit_limit * 1.1)::numeric, 2) as receivables,
                         round((random() * credit_limit * 0.1)::numeric, 2) as orders
                  from generate_series(%(first)s::date, %(last)s::date, interval '1 day') day,
                       (select 'C' || lpad(i::text, 6, '0') as account, (100000 + (i %% 40) * 25000)::numeric
                               as credit_limit
                        from generate_series(1, %(n)s) i
                        union all
                        select 'D' || lpad(i::text, 6, '0'), 50000 from generate_series(50, %(n)s, 50) i) accounts
                 ) rows""", params)
        conn.execute(PUBLICATIONS_DDL)
        conn.execute("insert into ops.publications (run_id, business_date, tables) values ('bench', %(last)s, '{}')",
                     params)
        for ddl in (ALERTS_DDL, ENGINE_DDL, LIMITS_DDL, MODEL_DDL):
            conn.execute(ddl)
        conn.execute("""
            insert into scoring.alerts (customer_id, rule_id, rule_version, rule_set, rule_set_version, content_hash,
                                        severity, status, evidence, raised_on, last_seen_on)
            select 'C' || lpad(i::text, 6, '0'), rule, 1, 'credit_policy', 'bench', 'bench',
                   (array['low', 'medium', 'high', 'critical'])[1 + i %% 4], 'open',
                   jsonb_build_object('exposure', i * 1000), %(last)s, %(last)s
            from generate_series(1, %(n)s, 10) i, unnest(array['limit_breach', 'days_past_due']) rule""", params)
        conn.execute("""
            insert into scoring.rule_evaluations (as_of_date, rule_set, rule_set_version, content_hash, is_shadow,
                                                  rule_id, rule_version, rule_kind, status, customers_evaluated, hits)
            select day::date, 'credit_policy', 'bench', 'bench', false, rule, 1,
                   case when rule in ('dishonest_debtor', 'deregistered') then 'blacklist' else 'warning' end,
                   'evaluated', %(n)s, 0
            from generate_series(%(first)s::date, %(last)s::date, interval '1 day') day,
                 unnest(array['dishonest_debtor', 'deregistered', 'limit_breach', 'days_past_due']) rule""", params)
        conn.execute("""
            insert into scoring.rule_hits (as_of_date, rule_set, rule_set_version, content_hash, is_shadow, rule_id,
                                           rule_version, rule_kind, customer_id, severity, evidence)
            select day::date, 'credit_policy', 'bench', 'bench', false, 'dishonest_debtor', 1, 'blacklist',
                   'C' || lpad(i::text, 6, '0'), 'critical', '{}'
            from generate_series(%(first)s::date, %(last)s::date, interval '1 day') day,
                 generate_series(7, %(n)s, 100) i""", params)
        conn.execute("""insert into scoring.model_registry (model_version, model_type, features, metrics,
                            artifact_sha256, artifact_path, status) values ('bench', 'scorecard', '[]', '{}', 'x', 'x',
                            'active')""")
        conn.execute("""
            insert into scoring.customer_scores (as_of_date, customer_id, model_version, is_shadow, pd, grade, points,
                                                 reason_codes)
            select day::date, 'C' || lpad(i::text, 6, '0'), 'bench', false, 0.01 + (i %% 10) / 100.0, 1 + i %% 10,
                   600 - i %% 100, '[]'
            from generate_series(%(last)s::date - 6, %(last)s::date, interval '1 day') day,
                 generate_series(1, %(n)s) i""", params)
        conn.execute("""
            insert into scoring.limit_proposals (as_of_date, customer_id, is_shadow, rule_set, rule_set_version,
                content_hash, rule_id, rule_version, currency, current_limit, proposed_limit, change, reason, evidence)
            select %(last)s, 'C' || lpad(i::text, 6, '0'), false, 'credit_policy', 'bench', 'bench', 'limit_formula', 1,
                   'CNY', 100000, 120000, 20000, 'base × factors', '{}'
            from generate_series(1, %(n)s) i""", params)
        counts = {table: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(*table.split("."))))
                  .fetchone()[0] for table in ("marts.dim_customers", "marts.customer_source_xref",
                                               "marts.fct_credit_exposure_daily", "scoring.alerts",
                                               "scoring.rule_hits", "scoring.customer_scores")}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return counts


def sample_ids(url: str, count: int = 5000) -> list[str]:
    """Customer references to ask for: half master ids, half ERP numbers, shuffled."""
    with psycopg.connect(url) as conn:
        masters = [r[0] for r in conn.execute("select customer_id from marts.dim_customers order by random() limit %s",
                                              (count // 2,))]
        erp = [r[0] for r in conn.execute("select source_record_id from marts.customer_source_xref "
                                          "where source_system = 'erp' order by random() limit %s", (count // 2,))]
    ids = masters + erp
    random.Random(42).shuffle(ids)
    return ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PRIORITY = -15  # --priority: the niceness of the benchmark's own processes


def _raise_priority() -> None:
    os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)


def prioritise_backends(url: str) -> int:
    """--priority: the warehouse backends serving the API's connections get the same priority (root only)."""
    with psycopg.connect(url) as conn:
        pids = [r[0] for r in conn.execute("select pid from pg_stat_activity where application_name = "
                                           "'credit-dw-api' and datname = current_database()")]
    done = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, PRIORITY)
            done += 1
    return done


def start_server(url: str, port: int, workers: int, *, priority: bool = False) -> tuple[subprocess.Popen, float]:
    """`credit-dw api` in a subprocess; returns it and the seconds until /health answered (publication loaded)."""
    env = {**os.environ, "CREDIT_DW_DATABASE_URL": url}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-c", "from credit_dw.commands.api import app; app()", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=_raise_priority if priority else None)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=60) as answer:
                answer.read()
            return server, time.perf_counter() - started
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the API did not start: {server.stderr.read().decode()[-2000:]}") from None
            if time.monotonic() > deadline:
                server.kill()
                raise SystemExit("the API did not answer /health within 120 s") from None
            time.sleep(0.2)


def run_wrk(port: int, *, token: str, ids_file: Path, seconds: int, connections: int, pause_ms: int,
            threads: int, priority: bool = False) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % {"ids": ids_file, "token": token, "pause_ms": pause_ms})
    try:
        result = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script.name,
             f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True,
            preexec_fn=_raise_priority if priority else None)
    finally:
        os.unlink(script.name)
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCH "))
    raw = json.loads(line[len("BENCH "):])
    return {
        "requests": raw["requests"], "non_2xx": raw["non_2xx"], "socket_errors": raw["socket_errors"],
        "throughput_rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        **{key.replace("_us", "_ms"): round(raw[key] / 1000, 2)
           for key in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us")},
    }


async def _open_loop(port: int, token: str, ids: list[str], *, rate: int, seconds: int) -> dict:
    """Requests due at fixed times (rate per second); each latency counts from when it was due."""
    import httpx

    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=5.0,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.1
        total = rate * seconds

        async def one(index: int) -> None:
            nonlocal failures
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                answer = await client.get(f"/customers/{ids[index % len(ids)]}/credit-status")
                failures += answer.status_code != 200
            except httpx.HTTPError:
                failures += 1
            latencies.append((loop.time() - due) * 1000)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = loop.time() - start
    latencies.sort()
    return {"requests": len(latencies), "non_2xx": failures, "throughput_rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(_percentile(latencies, 50), 2), "p90_ms": round(_percentile(latencies, 90), 2),
            "p99_ms": round(_percentile(latencies, 99), 2), "p999_ms": round(_percentile(latencies, 99.9), 2),
            "max_ms": round(latencies[-1], 2), "mean_ms": round(statistics.fmean(latencies), 2)}


def _percentile(values: list[float], percent: float) -> float:
    return values[min(len(values) - 1, max(0, round(percent / 100 * len(values)) - 1))]


class CpuMeter:
    """CPU seconds (user + system) used by the server's processes and by the warehouse backends serving it
    (application_name credit-dw-api, when the warehouse runs on this machine): the contention-free cost of
    a request, which wall-clock latency on a busy machine does not show."""

    def __init__(self, server: subprocess.Popen, url: str):
        import psutil

        self._psutil = psutil
        self._server = psutil.Process(server.pid)
        self._url = url

    def _processes(self):
        server = [self._server, *self._server.children(recursive=True)]
        with psycopg.connect(self._url) as conn:
            pids = [r[0] for r in conn.execute("select pid from pg_stat_activity where application_name = "
                                               "'credit-dw-api' and datname = current_database()")]
        backends = []
        for pid in pids:
            with contextlib.suppress(self._psutil.Error, PermissionError):
                backends.append(self._psutil.Process(pid))
        return server, backends

    def sample(self) -> dict[int, tuple[str, float]]:
        server, backends = self._processes()
        seconds = {}
        for kind, processes in (("server", server), ("warehouse", backends)):
            for process in processes:
                try:
                    times = process.cpu_times()
                    seconds[process.pid] = (kind, times.user + times.system)
                except (self._psutil.Error, PermissionError):
                    pass
        return seconds

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
        used = {"server": 0.0, "warehouse": 0.0}
        for pid, (kind, seconds) in after.items():
            used[kind] += seconds - before.get(pid, (kind, 0.0))[1]
        return {f"{kind}_cpu_ms_per_request": round(value * 1000 / max(requests, 1), 3) for kind, value in used.items()}


def server_side(url: str, since) -> dict:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select count(*), percentile_cont(0.5) within group (order by duration_ms),
                      percentile_cont(0.99) within group (order by duration_ms)
               from api.request_log where requested_at >= %s and path like '/customers/%%'""", (since,)).fetchone()
    return {"requests_logged": row[0], "server_p50_ms": round(float(row[1] or 0), 2),
            "server_p99_ms": round(float(row[2] or 0), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--database-url", help="an existing warehouse with a publication (default: synthetic)")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=int, default=200, help="target requests/s of the paced run")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=40, help="wrk connections of the paced run")
    parser.add_argument("--workers", type=int, default=2, help="server processes (one per core)")
    parser.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic database")
    parser.add_argument("--priority", action="store_true",
                        help=f"run the server, wrk and the API's warehouse backends at niceness {PRIORITY} (root): "
                             "on a shared machine, closer to dedicated cores")
    args = parser.parse_args()
    tool = "wrk" if args.load_tool == "wrk" or (args.load_tool == "auto" and shutil.which("wrk")) else "python"
    if tool == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH (apt-get install wrk), or use --load-tool python")

    scratch = None
    if args.database_url:
        url = args.database_url
    else:
        url = scratch = warehouse.libpq_url(scratch_database("credit_dw_api_bench"))
    report: dict = {"endpoint": "GET /customers/{id}/credit-status", "cpus": os.cpu_count(), "workers": args.workers,
                    "load_average_at_start": [round(x, 1) for x in os.getloadavg()]}
    server = None
    token_id = None
    try:
        if scratch:
            started = time.perf_counter()
            report["rows"] = synthetic_warehouse(url, args.customers, args.days)
            report["data_seconds"] = round(time.perf_counter() - started, 1)
        from api.db import prepare
        from api.tokens import create_token, revoke_token

        prepare(url)
        with psycopg.connect(url) as conn:
            token, row = create_token(conn, "benchmark", "read-status")
            token_id = row["token_id"]
        ids = sample_ids(url)
        port = free_port()
        server, report["startup_seconds"] = start_server(url, port, args.workers, priority=args.priority)
        report["priority"] = PRIORITY if args.priority else 0
        report["startup_seconds"] = round(report["startup_seconds"], 2)
        with tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False) as ids_file:
            ids_file.write("\n".join(ids) + "\n")
        try:
            if tool == "wrk":
                version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
                report["tool"] = f"{version.split(' [')[0]}, Lua script (paced connections; no constant-rate mode)"
                wrk = {"token": token, "ids_file": Path(ids_file.name), "threads": 2, "priority": args.priority}
                warm = run_wrk(port, seconds=5, connections=4, pause_ms=0, **wrk)  # warm-up; the pool grows
                if args.priority:
                    report["backends_prioritised"] = prioritise_backends(url)
                meter = CpuMeter(server, url)
                # wrk waits `pause` after each answer, so the rate is connections / (pause + latency): calibrate
                # the pause on short runs until the achieved rate is within 3% of the target
                pause = max(0, round(args.connections * 1000 / args.rate - warm["p50_ms"]))
                report["calibration"] = []
                for _ in range(4):
                    trial = run_wrk(port, seconds=5, connections=args.connections, pause_ms=pause, **wrk)
                    report["calibration"].append({"pause_ms": pause, "rps": trial["throughput_rps"]})
                    if abs(trial["throughput_rps"] - args.rate) <= 0.03 * args.rate:
                        break
                    latency = args.connections / max(trial["throughput_rps"], 1) - pause / 1000
                    pause = max(0, round((args.connections / args.rate - latency) * 1000))
                if args.priority:
                    report["backends_prioritised"] = prioritise_backends(url)
                since, cpu = _now(url), meter.sample()
                report["paced"] = {"target_rps": args.rate, "connections": args.connections, "pause_ms": pause,
                                   "seconds": args.seconds,
                                   **run_wrk(port, seconds=args.seconds, connections=args.connections, pause_ms=pause,
                                             **wrk)}
                report["paced"].update(server_side(url, since))
                report["paced"].update(meter.per_request(cpu, meter.sample(), report["paced"]["requests"]))
                cpu = meter.sample()
                report["max"] = {"connections": 8, "seconds": max(10, args.seconds // 2),
                                 **run_wrk(port, seconds=max(10, args.seconds // 2), connections=8, pause_ms=0, **wrk)}
                report["max"].update(meter.per_request(cpu, meter.sample(), report["max"]["requests"]))
            else:
                report["tool"] = "python asyncio open-loop generator (httpx), fixed send times"
                asyncio.run(_open_loop(port, token, ids, rate=args.rate, seconds=3))  # warm-up
                meter = CpuMeter(server, url)
                since, cpu = _now(url), meter.sample()
                report["paced"] = {"target_rps": args.rate, "seconds": args.seconds,
                                   **asyncio.run(_open_loop(port, token, ids, rate=args.rate, seconds=args.seconds))}
                report["paced"].update(server_side(url, since))
                report["paced"].update(meter.per_request(cpu, meter.sample(), report["paced"]["requests"]))
        finally:
            os.unlink(ids_file.name)
        report["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
        paced = report["paced"]
        report.update({"p50_ms": paced["p50_ms"], "p99_ms": paced["p99_ms"], "throughput_rps": paced["throughput_rps"],
                       "max_throughput_rps": report.get("max", {}).get("throughput_rps"),
                       "p99_under_50ms_at_target": paced["p99_ms"] < 50 and paced["throughput_rps"] >= 0.95 * args.rate
                       and paced["non_2xx"] == 0})
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        if scratch and not args.keep:
            drop_database(scratch)
        elif token_id is not None:
            with psycopg.connect(url) as conn:
                revoke_token(conn, token_id)
    if args.json:
        print(json.dumps(report, default=str))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")


def _now(url: str):
    with psycopg.connect(url) as conn:
        return conn.execute("select now()").fetchone()[0]


if __name__ == "__main__":
    main()
