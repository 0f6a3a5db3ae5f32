from datetime import date
from decimal import Decimal

import pytest

from ingestion.feeds import feed_named
from ingestion.validation import InvalidValue, parse_amount, parse_date, validate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50", "1234.50"),
        ("１２３，４５６．７８", "123456.78"),
        (" 12 ", "12"),
        ("￥88.00", "88.00"),
        ("-5.1", "-5.1"),
    ],
)
def test_amounts_as_exports_write_them(text, expected):
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["12.345", "abc", "NaN", "1e20", "", "1e30", "1" * 29])
def test_bad_amounts_are_rejected(text):
    with pytest.raises(InvalidValue):
        parse_amount(text)


@pytest.mark.parametrize("text", ["2026-10-01", "2026/10/01", "20261001", "2026年10月1日", "２０２６-１０-０１"])
def test_dates_as_exports_write_them(text):
    assert parse_date(text) == date(2026, 10, 1)


def test_a_row_is_typed_or_rejected_with_field_and_reason():
    feed = feed_named("erp_invoices")
    good = {"invoice_id": "INV1", "customer_id": "C1", "invoice_date": "2026-10-01",
            "due_date": "2026-10-31", "currency": "cny", "amount": "1,000.00"}
    values, rejection = validate(feed, good)
    assert rejection is None
    assert values == ["INV1", "C1", None, date(2026, 10, 1), date(2026, 10, 31), None, "CNY", Decimal("1000.00")]

    _, rejection = validate(feed, {**good, "currency": "XXY"})
    assert rejection.field == "currency" and "ISO 4217" in rejection.reason
    _, rejection = validate(feed, {**good, "invoice_date": "31/31/2026"})
    assert rejection.field == "invoice_date"
    _, rejection = validate(feed, {**good, "customer_id": " "})
    assert rejection.field == "customer_id" and "missing" in rejection.reason


def test_unified_social_credit_codes_are_checked():
    feed = feed_named("erp_customers")
    row = {"customer_id": "C1", "customer_name": "上海某某有限公司", "uscc": "91310000MA1FL8TQ36",
           "payment_terms": "NET30", "credit_limit": "100000", "currency": "CNY"}
    from stdnum.cn import uscc

    valid = "9131000069" + "1234567"
    row["uscc"] = valid + uscc.calc_check_digit(valid)
    assert validate(feed, row)[1] is None
    broken_check = valid + ("0" if uscc.calc_check_digit(valid) != "0" else "1")
    assert validate(feed, {**row, "uscc": broken_check})[1].field == "uscc"


def test_vat_numbers_from_outside_the_eu_are_quarantined_not_crashing():
    feed = feed_named("erp_customers")
    row = {"customer_id": "C9", "customer_name": "Acme Ltd", "payment_terms": "NET30", "credit_limit": "1000",
           "currency": "GBP", "vat_number": "GB123456789"}
    assert validate(feed, row)[1].field == "vat_number"
    assert validate(feed, {**row, "vat_number": "DE136695976"})[1] is None


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "-inf", "sNaN", "1e10", "-12345678901", "1e400"])
def test_rates_that_are_not_finite_or_do_not_fit_are_rejected(text):
    feed = feed_named("erp_fx_rates")
    values, rejection = validate(feed, {"rate_date": "2026-10-05", "currency": "USD", "cny_per_unit": text})
    assert values is None and rejection.field == "cny_per_unit"
    assert rejection.kind in {"cny_per_unit: not a rate", "cny_per_unit: rate out of range"}
    assert validate(feed, {"rate_date": "2026-10-05", "currency": "USD", "cny_per_unit": "7.1234"})[1] is None


@pytest.mark.parametrize("text", ["2026-01-05Tgarbage", "2026-01-05T", "2026-01-05T25:00", "20260105TX"])
def test_text_after_a_t_must_be_a_time_of_day(text):
    with pytest.raises(InvalidValue, match="not a date"):
        parse_date(text)


@pytest.mark.parametrize("text", ["2026-01-05T08:30:00", "2026-01-05T08:30:00+08:00", "2026-01-05T08:30:00.123Z"])
def test_iso_datetimes_give_their_date(text):
    assert parse_date(text) == date(2026, 1, 5)


def test_reasons_group_by_a_stable_kind_and_keep_the_value_in_the_reason():
    feed = feed_named("erp_invoices")
    row = {"invoice_id": "INV1", "customer_id": "C1", "invoice_date": "2026-10-01",
           "due_date": "2026-10-31", "currency": "CNY", "amount": "1.00"}
    first = validate(feed, {**row, "amount": "abc"})[1]
    second = validate(feed, {**row, "amount": "x.y"})[1]
    assert first.kind == second.kind == "amount: not an amount"
    assert first.reason == "not an amount: 'abc'"
