"""Customer master (entity resolution): the name normaliser, the clustering constraints, and the
whole step on a tiny sandbox loaded into a database of its own — deterministic USCC links, a name
variant linked probabilistically, the review queue, stable ids, full xref coverage and pairwise
precision/recall against the sandbox's ground truth."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import opencc
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from mdm import normalize
from mdm.cluster import Clusters
from mdm.evaluate import pairwise, read_truth
from mdm.resolve import Thresholds, record_steward_decision, resolve_entities
from mdm.sources import cited_invoices, invoice_suffixes

START, END = date(2026, 1, 1), date(2026, 1, 31)
SEED = 42

# --- the normaliser --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("華信電子（上海）有限公司", "华信电子有限公司"),  # traditional, region in brackets
        ("华信电子(上海)有限公司", "华信电子有限公司"),  # half-width brackets
        ("上海华信电子有限公司", "华信电子有限公司"),  # leading region
        ("广东省深圳市华信电子有限公司", "华信电子有限公司"),  # province and city
        (" 华信 电子有限责任公司 ", "华信电子股份有限公司"),  # stray spaces, another legal form
        ("华信电子有公限司", "华信电子有限公司"),  # a mistyped legal form
        ("上海华信电子有限责", "华信电子有限公司"),  # cut short by the bank
        ("ＡＢＣ　Ｃｏ．，Ｌｔｄ．", "ABC Co., Ltd."),  # full width
        ("MUELLER MASCHINENBAU GMBH /ACCT/DE20899383029293690035", "Müller Maschinenbau GmbH"),  # SWIFT
    ],
)
def test_name_variants_share_a_key(variant, canonical):
    assert normalize.name_key(variant) == normalize.name_key(canonical)


def test_name_keys_strip_legal_form_and_region_and_keep_them_apart():
    assert normalize.name_key("華信電子（上海）有限公司") == "华信电子"
    assert normalize.name_key("ＡＢＣ　Ｃｏ．，Ｌｔｄ．") == "abc"
    parts = normalize.name_parts("上海华信电子科技股份有限公司")
    assert (parts.key, parts.region, parts.legal_form) == ("华信电子科技", "上海", "股份有限公司")
    # a brand that looks like a city is not stripped when the region is in brackets
    assert normalize.name_key("金华电子（上海）有限公司") == "金华电子"
    # GmbH and AG are different companies; Limited and Ltd. the same form
    assert normalize.name_parts("Schmidt Antriebstechnik AG").legal_form == "ag"
    limited = normalize.name_parts("Harbour Trading Limited").legal_form
    assert limited == normalize.name_parts("HARBOUR TRADING LTD.").legal_form
    assert normalize.name_parts("Harbour Trading Co., Limited").legal_form == "coltd"


def test_homophone_typos_share_a_pinyin_spelling():
    assert set(normalize.pinyin_keys("恒祥化工")) & set(normalize.pinyin_keys("恒详化工"))
    assert set(normalize.pinyin_keys("盛昌建材")) & set(normalize.pinyin_keys("盛长建材"))  # 长: zhang or chang
    assert not set(normalize.pinyin_keys("恒祥化工")) & set(normalize.pinyin_keys("恒通化工"))


def test_cities_and_identifiers():
    assert normalize.city_key("上海市") == normalize.city_key("上海") == "上海"
    assert normalize.city_key("广东省深圳市") == "深圳"
    assert normalize.uscc_city("91440300MA5DC6QX9C") == "深圳"  # division 440300
    assert normalize.valid_uscc("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"
    assert normalize.valid_uscc("91350100M000100Y44") is None  # wrong check character
    assert normalize.ibans_in("INV 1 /ACCT/DE20899383029293690035") == ["DE20899383029293690035"]


def test_invoice_numbers_are_found_in_remittance_text():
    invoices = {"INV26010000123": "KH000001", "EXP250026394": "KH000100"}
    assert cited_invoices("货款 INV26010000123，谢谢", invoices) == ["INV26010000123"]
    assert cited_invoices("INV EXP250026394 /ACCT/GB21LOYD85821844631011", invoices) == ["EXP250026394"]
    assert cited_invoices("付款 ｉｎｖ２６０１００００１２３", invoices) == ["INV26010000123"]
    assert cited_invoices("货款", invoices) == []
    invoices = {"26312000000000123456": "KH000001", "26312000000000654321": "KH000002"}
    suffixes = invoice_suffixes(invoices)
    assert cited_invoices("货款 00123456", invoices, suffixes) == ["26312000000000123456"]
    assert cited_invoices("货款 26312000000000123456,26312000000000654321 等2张", invoices) == list(invoices)


def test_clusters_refuse_to_join_conflicting_identities():
    clusters = Clusters(["a", "b", "c"])
    clusters.add_identity("a", "USCC", "91350100M000100Y43")
    clusters.add_identity("b", "USCC", "91440300MA5DC6QX9C")
    assert clusters.conflict("a", "b") == "different USCC"
    assert clusters.conflict("a", "c") is None
    clusters.union("a", "c")
    assert clusters.conflict("c", "b") == "different USCC"
    clusters.add_cannot_link("b", "c")
    clusters2 = Clusters(["x", "y"])
    clusters2.add_cannot_link("x", "y")
    assert clusters2.conflict("x", "y") == "steward decided no match"


def test_pairwise_precision_and_recall():
    truth = {("erp", "1"): "T1", ("crm", "1"): "T1", ("bank", "1"): "T1", ("erp", "2"): "T2"}
    perfect = pairwise({("erp", "1"): "C1", ("crm", "1"): "C1", ("bank", "1"): "C1", ("erp", "2"): "C2"}, truth)
    assert (perfect["precision"], perfect["recall"]) == (1.0, 1.0)
    unmatched_bank = pairwise({("erp", "1"): "C1", ("crm", "1"): "C1", ("bank", "1"): None, ("erp", "2"): "C2"},
                              truth)
    assert unmatched_bank["precision"] == 1.0 and unmatched_bank["recall"] == pytest.approx(1 / 3, abs=1e-4)
    merged = pairwise({key: "C1" for key in truth}, truth)
    assert merged["precision"] == 0.5 and merged["recall"] == 1.0


# --- the whole step on a tiny sandbox ---------------------------------------------------------------


def _admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def _create(url: str, *, template: str | None = None) -> None:
    name = make_url(url).database
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        if template:
            conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                          sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def _drop(url: str) -> None:
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(
            sql.Identifier(make_url(url).database)))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    from sandbox.generator import generate

    out = tmp_path_factory.mktemp("mdm_sandbox")
    generate(out, start=START, end=END, seed=SEED, scale="tiny")
    return out


@pytest.fixture(scope="module")
def staged(sandbox, warehouse_url) -> str:
    """A database with the tiny sandbox ingested and the staging views built (a template for the
    databases the tests resolve in)."""
    from benchmarks.entity_resolution import load_sandbox

    url = make_url(warehouse_url).set(database=f"{make_url(warehouse_url).database}_mdm_base")
    url = url.render_as_string(hide_password=False)
    _create(url)
    try:
        load_sandbox(url, sandbox, END)
        yield url
    finally:
        _drop(url)


@pytest.fixture
def clone(staged):
    """A fresh copy of the staged database for one test."""
    url = make_url(staged).set(database=f"{make_url(staged).database}_{uuid.uuid4().hex[:6]}")
    url = url.render_as_string(hide_password=False)
    _create(url, template=make_url(staged).database)
    yield url
    _drop(url)


@pytest.fixture(scope="module")
def resolved(staged):
    url = make_url(staged).set(database=f"{make_url(staged).database}_resolved").render_as_string(hide_password=False)
    _create(url, template=make_url(staged).database)
    try:
        summary = resolve_entities(url, run_id="test-run-1")
        yield url, summary
    finally:
        _drop(url)


def _xref(url: str) -> dict[tuple[str, str], tuple]:
    with psycopg.connect(url) as conn:
        return {(s, r): (c, m, p) for s, r, c, m, p in conn.execute(
            "select source_system, source_record_id, customer_id, match_method, match_probability "
            "from mdm.customer_xref")}


def test_every_source_record_has_one_xref_row(resolved):
    url, summary = resolved
    with psycopg.connect(url) as conn:
        expected = dict(conn.execute(
            """select 'erp', count(*) from staging.stg_erp__customers
               union all select 'crm', count(*) from staging.stg_crm__accounts
               union all select 'bureau', count(*) from (
                   select subject_id from staging.stg_bureau__company_reports
                   union select subject_id from staging.stg_bureau__events) as subjects
               union all select 'bank', count(*) from staging.stg_bank__statement_entries where is_credit"""
        ).fetchall())
        actual = dict(conn.execute(
            "select source_system, count(*) from mdm.customer_xref group by 1").fetchall())
        bank_ids = {r for (r,) in conn.execute("select source_record_id from mdm.customer_xref "
                                               "where source_system = 'bank'")}
        credits = {r for (r,) in conn.execute("select bank_entry_id from staging.stg_bank__statement_entries "
                                              "where is_credit")}
        nulls = conn.execute("""select source_system, match_method, count(*) from mdm.customer_xref
                                where customer_id is null group by 1, 2""").fetchall()
    assert actual == expected and all(expected.values())
    assert bank_ids == credits
    # only bank entries may stay without a customer, and only as 'unmatched'
    assert all(system == "bank" and method == "unmatched" for system, method, _ in nulls)
    assert summary["records"] == sum(expected.values())


def test_records_sharing_a_valid_uscc_are_one_customer(resolved):
    url, _ = resolved
    with psycopg.connect(url) as conn:
        groups = conn.execute(
            """select r.uscc, array_agg(distinct x.customer_id), array_agg(distinct x.match_method),
                      min(x.match_probability), count(*)
               from mdm.source_records r join mdm.customer_xref x using (source_system, source_record_id)
               where r.uscc is not null group by r.uscc having count(*) > 1"""
        ).fetchall()
    assert len(groups) >= 10
    for uscc, customers, methods, probability, _ in groups:
        assert len(customers) == 1, uscc
        assert methods == ["uscc"] and probability == 1.0, uscc


def test_pairwise_precision_and_recall_on_the_tiny_sandbox(resolved, sandbox):
    url, _ = resolved
    truth = read_truth(sandbox / "ground_truth" / "entities.csv")
    predicted = {key: value[0] for key, value in _xref(url).items()}
    scores = pairwise(predicted, truth)
    assert scores["precision"] >= 0.99, scores
    assert scores["recall"] >= 0.97, scores


def _insert_crm_account(conn: psycopg.Connection, account_id: str, name: str, city: str | None) -> None:
    batch = conn.execute("select coalesce(max(_batch_id), 0) + 1 from raw.crm_accounts").fetchone()[0]
    conn.execute(
        """insert into raw.crm_accounts (account_id, account_name, uscc, city, industry, owner_id, created_date,
                                         _batch_id, _source_file, _source_line, _loaded_at)
           values (%s, %s, null, %s, null, null, null, %s, 'test_mdm', 2, %s)""",
        (account_id, name, city, batch, datetime.now(UTC)),
    )


def test_ids_are_stable_and_a_name_variant_joins_its_customer(clone):
    first = resolve_entities(clone, run_id="ids-1")
    before = _xref(clone)
    second = resolve_entities(clone, run_id="ids-2")
    assert second["new_customer_ids"] == 0 and second["customers"] == first["customers"]
    assert _xref(clone) == before

    # A CRM account for an ERP customer, keyed in traditional characters with the region in
    # brackets and no USCC; and a prospect nobody else knows.
    to_traditional = opencc.OpenCC("s2t")
    with psycopg.connect(clone) as conn:
        candidates = conn.execute(
            """select r.source_record_id, r.name, r.name_key, r.city_key, x.customer_id
               from mdm.source_records r join mdm.customer_xref x using (source_system, source_record_id)
               where r.source_system = 'erp' and r.uscc is not null and r.city_key is not null
               order by r.source_record_id"""
        ).fetchall()
        _, erp_name, key, city, customer_id = next(
            c for c in candidates
            if normalize.name_parts(c[1]).script == "cjk" and to_traditional.convert(c[2]) != c[2])
        variant = to_traditional.convert(f"{key}（{city}）有限公司")
        _insert_crm_account(conn, "TEST-VARIANT", variant, f"{city}市")
        prospect = "Ｚｙｘｗｖ　Ｑｕａｎｔｕｍ　Ｒｏｂｏｔｉｃｓ　Ｌｔｄ．"  # full width
        _insert_crm_account(conn, "TEST-PROSPECT", prospect, "Reykjavik")
    third = resolve_entities(clone, run_id="ids-3")
    after = _xref(clone)

    assert variant != erp_name
    variant_customer, method, probability = after[("crm", "TEST-VARIANT")]
    assert variant_customer == customer_id, (variant, erp_name)
    assert method == "probabilistic" and probability >= Thresholds().link
    prospect_customer, method, _ = after[("crm", "TEST-PROSPECT")]
    assert method == "singleton" and prospect_customer not in {v[0] for v in before.values()}
    assert third["new_customer_ids"] == 1
    # nothing that existed was renumbered
    assert all(after[key][0] == value[0] for key, value in before.items() if key[0] != "bank")
    with psycopg.connect(clone) as conn:
        statuses = dict(conn.execute("select status, count(*) from mdm.customer_ids group by 1").fetchall())
    assert statuses == {"active": third["customers"]}
    assert prospect_customer.startswith("CU") and len(prospect_customer) == 10


def test_grey_zone_pairs_are_queued_steward_decisions_apply_and_the_marts_build(clone):
    from credit_dw.dbt import build

    # With the link thresholds above every score, each candidate pair is grey: queued, not merged.
    summary = resolve_entities(clone, run_id="grey", thresholds=Thresholds(link=1.01, review=0.5,
                                                                               bank_link=1.01, bank_review=0.5))
    assert summary["review_queue"] > 0
    with psycopg.connect(clone) as conn:
        kinds = dict(conn.execute("select kind, count(*) from mdm.review_queue group by 1").fetchall())
        pair = conn.execute(
            """select review_id, left_source_system, left_source_record_id, right_source_system,
                      right_source_record_id, left_name, right_name, left_customer_id, right_customer_id,
                      match_probability, reasons, jsonb_array_length(reasons_json)
               from mdm.review_queue where kind = 'master_pair' and review_reason = 'grey zone'
               order by match_probability desc, review_id limit 1"""
        ).fetchone()
        entry = conn.execute(
            """select review_id, left_source_record_id, right_customer_id from mdm.review_queue
               where kind = 'bank_entry' order by match_probability desc, review_id limit 1""").fetchone()
        bank_methods = {m for (m,) in conn.execute(
            "select distinct match_method from mdm.customer_xref where source_system = 'bank'")}
    assert kinds.get("master_pair") and kinds.get("bank_entry")
    review_id, *keys, left_name, right_name, left_customer, right_customer, probability, reasons, n_reasons = pair
    assert left_name and right_name and left_customer != right_customer
    assert 0.5 <= probability < 1.01 and "name" in reasons.lower() and n_reasons >= 1
    assert bank_methods == {"unmatched"}

    # A steward says the top pair are different companies and the entry is not that customer's.
    record_steward_decision(clone, review_id, "no_match", "steward@example.com")
    record_steward_decision(clone, entry[0], "no_match", "steward@example.com")
    summary = resolve_entities(clone, run_id="after-review")
    xref = _xref(clone)
    assert xref[(keys[0], keys[1])][0] != xref[(keys[2], keys[3])][0]
    assert xref[("bank", entry[1])][0] != entry[2] or entry[2] is None

    build(END, database_url=clone, select="marts.customers")
    with psycopg.connect(clone) as conn:
        queue = conn.execute("select count(*) from marts.customer_match_review_queue").fetchone()[0]
        customers, distinct = conn.execute(
            "select count(*), count(distinct customer_id) from marts.dim_customers").fetchone()
        xref_customers = conn.execute(
            "select count(distinct customer_id) from marts.customer_source_xref").fetchone()[0]
        golden = conn.execute(
            """select d.customer_name, d.uscc, d.city from marts.dim_customers d
               join marts.customer_source_xref x on x.customer_id = d.customer_id and x.source_system = 'erp'
               join staging.stg_erp__customers e on e.customer_id = x.source_record_id
               where d.erp_record_count = 1 and e.uscc is not null limit 1""").fetchone()
    assert queue == summary["review_queue"]
    assert customers == distinct == xref_customers == summary["customers"]
    assert all(golden)


def test_the_customer_marts_build_empty_before_the_first_resolution(fresh_database_url):
    from credit_dw.dbt import build

    build(END, database_url=fresh_database_url, select="marts.customers")  # no mdm schema at all
    summary = resolve_entities(fresh_database_url, run_id="empty")  # no staging views either
    assert summary["records"] == 0 and summary["customers"] == 0
    build(END, database_url=fresh_database_url, select="marts.customers")
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select count(*) from marts.dim_customers").fetchone()[0] == 0
        assert conn.execute("select count(*) from marts.customer_source_xref").fetchone()[0] == 0
