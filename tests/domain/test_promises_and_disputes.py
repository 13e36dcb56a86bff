"""Promises (kept/broken derived from payments) and the dispute lifecycle, pair by pair."""
from datetime import date

import pytest

from arrears.domain.disputes import DISPUTE_STATUSES, is_active, may_move
from arrears.domain.promises import BROKEN, KEPT, PENDING, paid_towards, promise_status

MADE, DUE = date(2026, 5, 10), date(2026, 5, 20)


@pytest.mark.parametrize("payments, as_of, expected", [
    # (paid_on, fen) pairs                         as of             status
    ([], date(2026, 5, 15), PENDING),
    ([], DUE, PENDING),                             # the promised day itself: still time
    ([], date(2026, 5, 21), BROKEN),
    ([(date(2026, 5, 12), 10000)], date(2026, 5, 12), KEPT),    # kept early
    ([(date(2026, 5, 12), 6000), (DUE, 4000)], date(2026, 5, 21), KEPT),
    ([(date(2026, 5, 12), 6000)], date(2026, 5, 21), BROKEN),   # partly paid
    ([(date(2026, 5, 9), 10000)], date(2026, 5, 21), BROKEN),   # before the promise
    ([(date(2026, 5, 21), 10000)], date(2026, 5, 22), BROKEN),  # too late
    ([(date(2026, 5, 15), 10000)], date(2026, 5, 14), PENDING),  # not yet paid on the as-of date
])
def test_promise_status(payments, as_of, expected):
    assert promise_status(10000, MADE, DUE, payments, as_of) == expected


def test_paid_towards_counts_the_window_only():
    payments = [(date(2026, 5, 9), 1), (MADE, 10), (DUE, 100), (date(2026, 5, 21), 1000)]
    assert paid_towards(MADE, DUE, payments, date(2026, 6, 1)) == 110


ALLOWED = {("open", "in_progress"), ("open", "resolved"), ("open", "rejected"),
           ("in_progress", "resolved"), ("in_progress", "rejected"),
           ("resolved", "open"), ("rejected", "open")}


@pytest.mark.parametrize("current", DISPUTE_STATUSES)
@pytest.mark.parametrize("new", DISPUTE_STATUSES)
def test_dispute_transitions_pair_by_pair(current, new):
    assert may_move(current, new) == ((current, new) in ALLOWED)


def test_open_disputes():
    assert [s for s in DISPUTE_STATUSES if is_active(s)] == ["open", "in_progress"]
    assert is_active(None)
