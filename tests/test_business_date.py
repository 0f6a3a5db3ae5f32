from datetime import UTC, date, datetime

from credit_dw.orchestrator import logical_date_for
from credit_dw.pipeline import business_date_for


def test_the_0200_run_closes_the_previous_business_day():
    # 02:00 in Shanghai on 1 Nov is 18:00 UTC on 31 Oct.
    logical = datetime(2026, 10, 31, 18, 0, tzinfo=UTC)
    assert business_date_for(logical) == date(2026, 10, 31)


def test_a_requested_business_date_wins():
    assert business_date_for(datetime(2026, 1, 1, tzinfo=UTC), "2025-12-01") == date(2025, 12, 1)


def test_logical_date_and_business_date_round_trip():
    for day in (date(2026, 1, 1), date(2026, 2, 28), date(2026, 12, 31)):
        assert business_date_for(logical_date_for(day)) == day
