"""Limitation periods (诉讼时效, SPEC §7).

A charge's claim expires ``years`` after the later of its due date and its last
interruption: the same month and day that many years on, or the last day of the
month where that day does not exist (29 February -> 28 February; Civil Code art. 202).
Interruptions come from payments (the engine reports them), delivered notices,
signed acknowledgements and plans, and lawsuits filed (later issues add those dates).
"""
import calendar
from datetime import date


def add_years(day, years):
    """``day`` moved ``years`` on; 29 February becomes the month's last day when needed."""
    year = day.year + years
    last = calendar.monthrange(year, day.month)[1]
    return date(year, day.month, min(day.day, last))


def limitation_expiry(due_date, interruptions=(), years=3):
    """The last day a claim for a charge due on ``due_date`` may be brought."""
    start = max([due_date, *[d for d in interruptions if d is not None]])
    return add_years(start, years)


def expires_within(expiry, as_of, days):
    """True when ``expiry`` falls within ``days`` days after ``as_of`` (not yet passed)."""
    return as_of <= expiry and (expiry - as_of).days <= days
