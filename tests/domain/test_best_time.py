"""Best-time hints (issue 7): windows learned from a synthetic call history, never outside
the contact policy's hours; the days before a payday."""
from datetime import date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.best_time import (ESTATE, HOUSEHOLD, Attempt, allowed_hours, best_window, hint_window,
                                      payday_days)
from arrears.domain.contact_policy import ContactPolicy, in_quiet_hours

MONDAY = datetime(2026, 11, 2)


def calls(day_offset, hour, answered, minute=0):
    return Attempt(MONDAY + timedelta(days=day_offset, hours=hour, minutes=minute), answered)


def test_the_allowed_hours_are_those_wholly_outside_the_quiet_hours():
    assert allowed_hours() == list(range(8, 21))
    assert allowed_hours(ContactPolicy(quiet_from=time(20, 30), quiet_until=time(8, 15))) == list(range(9, 20))
    assert allowed_hours(ContactPolicy(quiet_from=time(12, 10), quiet_until=time(12, 20))) == \
        [h for h in range(24) if h != 12]


def test_the_household_answers_in_the_evening():
    # Mornings: 4 calls, 1 answered. Evenings 19:00-21:00: 4 calls, 3 answered.
    history = [calls(0, 9, False), calls(1, 10, False), calls(2, 9, True), calls(3, 10, False),
               calls(0, 19, True, 30), calls(1, 20, True), calls(7, 19, False), calls(8, 20, True, 15)]
    window = best_window(history)
    assert (window.start, window.end, window.source) == (time(19), time(21), HOUSEHOLD)
    # 19:30 Mon, 20:00 Tue, 19:00 Mon (not answered), 20:15 Tue: by weekday Tuesday 2/2 beats
    # the band's 3/4 (smoothed 3/4 > 4/6), so the window names Tuesday.
    assert window.weekday == 1 and (window.answered, window.calls) == (2, 2)


def test_one_lucky_call_does_not_outrank_a_steady_band():
    history = [calls(0, 8, True)] + [calls(d, 14, d != 3) for d in range(5)]  # 14:00: 4 of 5 answered
    window = best_window(history)
    assert window.answered == 4 and window.calls == 5
    # 13:00-15:00 holds the same calls as 14:00-16:00: the band starting at their hour wins.
    assert window.start == time(14)


def test_too_little_history_gives_no_window_and_the_estate_is_used():
    own = [calls(0, 10, True), calls(1, 10, True)]
    assert best_window(own) is None
    estate = [calls(d, 18, True) for d in range(6)]
    window = hint_window(own, estate)
    assert window.source == ESTATE and window.start == time(18)
    assert hint_window(own, own) is None


def test_nothing_answered_gives_no_window():
    assert best_window([calls(d, 10, False) for d in range(8)]) is None


def test_calls_made_in_quiet_hours_are_never_suggested():
    history = [calls(d, 22, True) for d in range(10)] + [calls(d, 7, True) for d in range(10)]
    assert best_window(history) is None
    history += [calls(0, 12, True), calls(1, 12, False), calls(2, 12, False)]
    window = best_window(history)
    assert window.start in (time(11), time(12)) and window.end <= time(21)


policies = st.builds(
    ContactPolicy,
    quiet_from=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    quiet_until=st.times().map(lambda t: t.replace(second=0, microsecond=0)))
histories = st.lists(st.builds(Attempt, st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)),
                               st.booleans()), max_size=60)


@settings(max_examples=300, deadline=None)
@given(histories, policies)
def test_no_window_is_ever_outside_the_policy_hours(history, policy):
    window = best_window(history, policy, min_calls=1)
    if window is None:
        return
    moment = datetime(2026, 11, 2, window.start.hour, window.start.minute)
    end = datetime(2026, 11, 2, window.end.hour, window.end.minute)
    while moment < end:
        assert not in_quiet_hours(moment, policy), (window, policy)
        moment += timedelta(minutes=1)
    assert window.answered >= 1 and window.answered <= window.calls


@settings(max_examples=200, deadline=None)
@given(histories)
def test_the_window_holds_the_calls_it_counts(history):
    window = best_window(history, min_calls=1)
    if window is None:
        return
    inside = [a for a in history if window.contains(a.at)]
    assert (sum(a.answered for a in inside), len(inside)) == (window.answered, window.calls)


def test_the_days_before_the_payday():
    assert payday_days(10, date(2026, 12, 1)) == (date(2026, 12, 8), date(2026, 12, 9), date(2026, 12, 10))
    # Inside the lead days: from today.
    assert payday_days(10, date(2026, 12, 9)) == (date(2026, 12, 9), date(2026, 12, 9), date(2026, 12, 10))
    # On the payday itself: next month's.
    assert payday_days(10, date(2026, 12, 10)) == (date(2027, 1, 8), date(2027, 1, 9), date(2027, 1, 10))
    # Day 31 in a short month is its last day.
    assert payday_days(31, date(2027, 2, 1)) == (date(2027, 2, 26), date(2027, 2, 27), date(2027, 2, 28))
    assert payday_days(1, date(2026, 12, 31)) == (date(2026, 12, 31), date(2026, 12, 31), date(2027, 1, 1))
