"""Incremental extraction from an ERP reachable as a database: a real PostgreSQL schema stands in
for the ERP; only rows changed since the watermark come across, and a rerun brings nothing."""

import psycopg

from credit_dw.warehouse import sqlalchemy_url
from ingestion.database_source import TableExtract, extract_incrementally

EXTRACT = TableExtract(source="erp_db", table="erp_src.customers")


def test_extracts_only_what_changed_since_the_watermark(fresh_database_url):
    with psycopg.connect(fresh_database_url, autocommit=True) as erp:
        erp.execute("""
            create schema erp_src;
            create table erp_src.customers (
                customer_id text primary key, customer_name text, credit_limit numeric(18, 2),
                is_blocked boolean, updated_at timestamptz not null);
            insert into erp_src.customers values
                ('C1', '上海华信电子科技有限公司', 500000, false, '2026-10-01 09:00+08'),
                ('C2', '北京恒通建材有限公司', 200000, false, '2026-10-02 09:00+08');
        """)
    source = sqlalchemy_url(fresh_database_url)

    first = extract_incrementally(source, EXTRACT, database_url=fresh_database_url)
    assert first.rows == 2

    with psycopg.connect(fresh_database_url, autocommit=True) as erp:
        erp.execute("update erp_src.customers set credit_limit = 250000, updated_at = '2026-10-03 10:00+08' "
                    "where customer_id = 'C2'")
        erp.execute("insert into erp_src.customers values ('C3', '深圳鼎盛新能源有限公司', 80000, true, "
                    "'2026-10-03 11:00+08')")
    second = extract_incrementally(source, EXTRACT, database_url=fresh_database_url)
    third = extract_incrementally(source, EXTRACT, database_url=fresh_database_url)

    assert second.rows == 2 and second.watermark_from == first.watermark_to
    assert third.rows == 0
    with psycopg.connect(fresh_database_url) as conn:
        versions = conn.execute(
            "select customer_id, credit_limit, is_blocked from raw.erp_db_customers order by _batch_id, customer_id"
        ).fetchall()
        manifest = conn.execute(
            "select count(*), sum(rows_loaded) from raw.load_manifest where format = 'database'"
        ).fetchone()
        location = conn.execute("select distinct _source_file from raw.erp_db_customers").fetchone()[0]
    assert versions == [("C1", 500000, False), ("C2", 200000, False), ("C2", 250000, False), ("C3", 80000, True)]
    assert manifest == (2, 4)
    assert location.endswith("#erp_src.customers")
