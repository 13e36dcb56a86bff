from datetime import datetime, timedelta

import pytest

from arrears.domain.contact_policy import breaches, in_quiet_hours, may_contact_today


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
