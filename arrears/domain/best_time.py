"""Best-time hints (issue 7): when a household is most likely to answer, and the days
before a payday it mentioned.

Rules:
- The history is phone calls (local wall-clock times); a call is *answered* when the
  owner or a household member was reached.
- A window is ``WIDTH`` hours long and lies wholly inside the hours the contact policy
  allows: a band is a candidate only when none of its minutes is a quiet one. Calls made
  in quiet hours still count as history; they are never suggested.
- A band's score is its answer rate smoothed towards one half, ``(answered + 1) /
  (calls + 2)``, so that one lucky call does not outrank four answered out of five.
  Only bands with at least one answered call are candidates; the best score wins, then
  more calls, then more answered calls in the band's first hour (calls at 19:30 give
  19:00–21:00 rather than 18:00–20:00), then the earlier hour.
- A weekday is named only when calls on it were answered more often (smoothed) than
  the band's calls overall and it has at least ``MIN_DAY_CALLS`` calls in the band;
  otherwise the window holds on any day.
- A household's own history is used when it has at least ``MIN_CALLS`` calls; else the
  estate's (all its households' calls); else there is no hint.
- Payday: for a resident who mentioned being paid on day *d* of the month, the
  ``PAYDAY_LEAD`` days just before the next payday (day *d*, or the month's last day
  in shorter months) are suggested; on the payday itself the next month's are.
"""
import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from .contact_policy import ContactPolicy, in_quiet_hours

WIDTH = 2
MIN_CALLS = 5
MIN_DAY_CALLS = 2
PAYDAY_LEAD = 2
HOUSEHOLD, ESTATE = "household", "estate"


@dataclass(frozen=True)
class Attempt:
    at: datetime   # local, naive
    answered: bool


@dataclass(frozen=True)
class Window:
    start: time
    end: time
    weekday: int | None   # 0 = Monday; None = any day
    answered: int         # answered calls in the band (on the weekday when one is named)
    calls: int
    source: str           # HOUSEHOLD or ESTATE

    def contains(self, moment: datetime):
        in_band = self.start <= moment.time() < self.end
        return in_band and (self.weekday is None or moment.weekday() == self.weekday)


def allowed_hours(policy: ContactPolicy = ContactPolicy()):
    """Hours ``h`` such that no minute of ``[h:00, h+1:00)`` is in the quiet hours."""
    day = datetime(2000, 1, 3)
    return [hour for hour in range(24)
            if not any(in_quiet_hours(day.replace(hour=hour, minute=minute), policy) for minute in range(60))]


def _score(answered, calls):
    return Fraction(answered + 1, calls + 2)


def best_window(attempts, policy: ContactPolicy = ContactPolicy(), source=HOUSEHOLD, min_calls=MIN_CALLS):
    """The window with the best answer rate, or None (too little history, or nothing
    answered within the allowed hours)."""
    if len(attempts) < min_calls:
        return None
    allowed = set(allowed_hours(policy))
    best = None
    for start in range(24 - WIDTH + 1):
        if not all(hour in allowed for hour in range(start, start + WIDTH)):
            continue
        band = [a for a in attempts if start <= a.at.hour < start + WIDTH]
        answered = sum(a.answered for a in band)
        if not answered:
            continue
        first_hour = sum(a.answered for a in band if a.at.hour == start)
        key = (_score(answered, len(band)), len(band), first_hour, -start)
        if best is None or key > best[0]:
            best = (key, start, band, answered)
    if best is None:
        return None
    _, start, band, answered = best
    weekday, day_answered, day_calls = _best_weekday(band)
    if weekday is not None:
        answered, calls = day_answered, day_calls
    else:
        calls = len(band)
    return Window(time(start), time(start + WIDTH) if start + WIDTH < 24 else time(23, 59), weekday, answered,
                  calls, source)


def _best_weekday(band):
    overall = _score(sum(a.answered for a in band), len(band))
    best = (None, 0, 0)
    best_key = None
    for weekday in range(7):
        calls = [a for a in band if a.at.weekday() == weekday]
        answered = sum(a.answered for a in calls)
        if len(calls) < MIN_DAY_CALLS or _score(answered, len(calls)) <= overall:
            continue
        key = (_score(answered, len(calls)), len(calls), -weekday)
        if best_key is None or key > best_key:
            best_key, best = key, (weekday, answered, len(calls))
    return best


def hint_window(own, estate, policy: ContactPolicy = ContactPolicy()):
    """The household's own window when its history suffices, else the estate's, else None."""
    return best_window(own, policy, HOUSEHOLD) or best_window(estate, policy, ESTATE)


def payday_on(year, month, day_of_month):
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def payday_days(day_of_month, today: date, lead=PAYDAY_LEAD):
    """``(first, last, payday)``: the days just before the next payday, from today on."""
    payday = payday_on(today.year, today.month, day_of_month)
    if payday <= today:
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        payday = payday_on(year, month, day_of_month)
    first = max(payday - timedelta(days=lead), today)
    return first, payday - timedelta(days=1), payday
