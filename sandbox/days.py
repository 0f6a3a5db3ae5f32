"""Day arithmetic on ``date.toordinal()`` integers: business days are Monday to Friday (public
holidays are not modelled)."""

from __future__ import annotations

from datetime import date


def weekday(day: int) -> int:
    """0 Monday .. 6 Sunday (ordinal 1, 0001-01-01, was a Monday)."""
    return (day - 1) % 7


def is_business_day(day: int) -> bool:
    return weekday(day) < 5


def next_business_day(day: int) -> int:
    """The day itself if it is a business day, else the Monday after."""
    return day + max(0, 7 - weekday(day)) if weekday(day) >= 5 else day


def add_business_days(day: int, count: int) -> int:
    day = next_business_day(day)
    weeks, rest = divmod(count, 5)
    day += 7 * weeks
    return day + rest + (2 if weekday(day) + rest >= 5 else 0)


def is_month_end(day: int) -> bool:
    return date.fromordinal(day + 1).day == 1


def is_first_of_month(day: int) -> bool:
    return date.fromordinal(day).day == 1


def stamp(day: int) -> str:
    """YYYYMMDD, as in file names."""
    return date.fromordinal(day).strftime("%Y%m%d")
