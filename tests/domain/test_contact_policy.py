from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.domain.contact_policy import ContactPolicy, breaches, in_quiet_hours, may_contact_today


@pytest.mark.parametrize("hour, minute, quiet", [(7, 59, True), (8, 0, False), (20, 59, False), (21, 0, True),
                                                  (23, 0, True), (0, 30, True)])
def test_quiet_hours(hour, minute, quiet):
    assert in_quiet_hours(datetime(2026, 11, 23, hour, minute)) is quiet


def test_fourth_attempt_in_seven_days_breaks_the_count():
    now = datetime(2026, 11, 23, 10, 0)
    previous = [now - timedelta(days=d) for d in (1, 3, 6)]
    assert breaches(now, previous, "owner") == ["too_many"]
    assert not may_contact_today(now, previous)
    older = [now - timedelta(days=d) for d in (1, 3, 7)]  # exactly 7 days ago is outside the window
    assert breaches(now, older, "owner") == []
    assert may_contact_today(now, older)


def test_night_call_to_a_stranger_breaks_two_rules():
    assert breaches(datetime(2026, 11, 23, 23, 0), [], "other") == ["quiet_hours", "not_household"]


def test_a_contact_entered_late_counts_with_the_ones_that_followed_it():
    """The audit's case: contacts at 23:00 the day before, 09:00 and 10:15; one entered
    afterwards for 09:30 is the 4th in 7 days though only two came before it."""
    recorded = [datetime(2026, 11, 22, 23, 0), datetime(2026, 11, 23, 9, 0), datetime(2026, 11, 23, 10, 15)]
    assert breaches(datetime(2026, 11, 23, 9, 30), recorded, "owner") == ["too_many"]
    # Until a week after the first all three share its window; then only the two of the 23rd.
    assert breaches(datetime(2026, 11, 29, 20, 59), recorded, "owner") == ["too_many"]
    assert breaches(datetime(2026, 11, 30, 8, 0), recorded, "owner") == []
    # Three others within 7 days before it (10:15 on the 23rd is 6 days 23:59 before): too many.
    later = recorded[1:] + [datetime(2026, 11, 27, 9, 0), datetime(2026, 11, 28, 9, 0)]
    assert breaches(datetime(2026, 11, 30, 10, 14), later, "owner") == ["too_many"]
    assert breaches(datetime(2026, 11, 30, 10, 15), later, "owner") == []


@given(st.lists(st.integers(min_value=0, max_value=24 * 20), max_size=8), st.integers(min_value=0, max_value=24 * 20),
       st.integers(min_value=1, max_value=4))
def test_too_many_exactly_when_some_seven_day_window_with_it_would_hold_more_than_allowed(hours, new, allowed):
    """Oracle: every window (end - 7 days, end] that holds the new attempt, ends stepped
    hour by hour (the attempts fall on whole hours)."""
    start = datetime(2026, 11, 1)
    policy = ContactPolicy(max_attempts=allowed)
    others = [start + timedelta(hours=h) for h in hours]
    moment = start + timedelta(hours=new)
    most = max(sum(1 for p in others if end - timedelta(days=7) < p <= end)
               for end in (moment + timedelta(hours=k) for k in range(7 * 24)))
    assert ("too_many" in breaches(moment, others, "owner", policy)) == (most >= allowed)
