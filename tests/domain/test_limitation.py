"""Limitation periods (SPEC §7): three years after the later of the due date and the last
interruption; the same month and day, or the month's last day when that day does not
exist (Civil Code art. 202)."""
from datetime import date

import pytest

from arrears.domain.limitation import add_years, expires_within, limitation_expiry


@pytest.mark.parametrize("day, years, expected", [
    (date(2026, 1, 31), 3, date(2029, 1, 31)),
    (date(2026, 3, 2), 3, date(2029, 3, 2)),
    (date(2024, 2, 29), 3, date(2027, 2, 28)),   # no 29 Feb in 2027
    (date(2024, 2, 29), 1, date(2025, 2, 28)),
    (date(2024, 2, 29), 4, date(2028, 2, 29)),   # 2028 is a leap year again
    (date(2023, 2, 28), 1, date(2024, 2, 28)),   # not moved to the 29th
    (date(2025, 12, 31), 3, date(2028, 12, 31)),
    (date(2026, 5, 31), 0, date(2026, 5, 31)),
])
def test_add_years(day, years, expected):
    assert add_years(day, years) == expected


def test_expiry_without_interruptions_runs_from_the_due_date():
    assert limitation_expiry(date(2022, 6, 30)) == date(2025, 6, 30)
    assert limitation_expiry(date(2024, 2, 29)) == date(2027, 2, 28)


def test_expiry_runs_from_the_latest_interruption():
    due = date(2026, 1, 31)
    interruptions = [date(2026, 3, 2), date(2027, 8, 15), date(2026, 12, 1)]
    assert limitation_expiry(due, interruptions) == date(2030, 8, 15)


def test_interruptions_before_the_due_date_do_not_shorten_it():
    # SPEC examples 0104: paid 2026-03-10 while 2026-03 was not yet due (2026-03-31).
    assert limitation_expiry(date(2026, 3, 31), [date(2026, 3, 10)]) == date(2029, 3, 31)


def test_expiry_ignores_missing_interruptions():
    due = date(2026, 1, 31)
    assert limitation_expiry(due, [None]) == date(2029, 1, 31)
    assert limitation_expiry(due, [None, date(2026, 3, 2), None]) == date(2029, 3, 2)


def test_interruption_on_29_february():
    assert limitation_expiry(date(2023, 12, 31), [date(2024, 2, 29)]) == date(2027, 2, 28)


def test_limitation_years_is_configurable():
    assert limitation_expiry(date(2026, 1, 31), [date(2026, 3, 2)], years=2) == date(2028, 3, 2)


@pytest.mark.parametrize("as_of, within", [
    (date(2029, 3, 1), True),     # 1 day left
    (date(2028, 12, 2), True),    # exactly 90 days before
    (date(2028, 12, 1), False),   # 91 days before
    (date(2029, 3, 2), True),     # the last day itself
    (date(2029, 3, 3), False),    # already expired: not "expiring soon"
])
def test_expires_within_90_days(as_of, within):
    assert expires_within(date(2029, 3, 2), as_of, 90) is within
