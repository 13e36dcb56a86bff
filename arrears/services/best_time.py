"""Best-time hints and paydays (issue 7) for the work queue and the household page.

The rules are ``arrears.domain.best_time``'s; this module reads the history:
- a household's calls are its ``phone`` contacts of the last ``HISTORY_DAYS`` days, in the
  estate's local time; answered when the owner or a household member was reached;
- an estate's calls are all its households' (kept per process for the day, until the
  next contact is logged anywhere: the newest contact id is part of the key);
- a payday is the newest ``paydays`` row of the household; a row with no day clears it.
Recording a payday is an act with its evidence event, like every other.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import func, select

from ..domain.best_time import Attempt, hint_window, payday_days
from ..extensions import db
from ..models import Building, Contact, Payday, Unit
from .collection import InvalidAct, contact_policy, local_naive
from .evidence import append_event
from .transaction import atomic

HISTORY_DAYS = 365
ANSWERED = ("owner", "household_member")
_estate_cache = {}


@dataclass(frozen=True)
class Hint:
    window: object        # domain.best_time.Window or None
    payday: int | None    # day of the month the resident is paid, or None
    payday_days: tuple | None  # (first, last, payday) dates, or None
    now_is_good: bool     # now falls in the window (and the policy allows it)


def _attempts(rows, tz_name):
    return [Attempt(local_naive(moment, tz_name), reached in ANSWERED) for moment, reached in rows]


def household_calls(unit_ids, now):
    """``{unit_id: [Attempt]}`` for these households."""
    tz_name = current_app.config["ARREARS_TIMEZONE"]
    since = now.astimezone(timezone.utc) - timedelta(days=HISTORY_DAYS)
    found = {unit_id: [] for unit_id in unit_ids}
    ids = list(unit_ids)
    for start in range(0, len(ids), 900):
        for unit_id, moment, reached in db.session.execute(
                select(Contact.unit_id, Contact.contacted_at, Contact.reached)
                .where(Contact.unit_id.in_(ids[start:start + 900]), Contact.channel == "phone",
                       Contact.contacted_at > since)):
            found[unit_id].append(Attempt(local_naive(moment, tz_name), reached in ANSWERED))
    return found


def estate_calls(estate_id, now):
    """Every phone call to the estate's households in the history span (cached, see above)."""
    tz_name = current_app.config["ARREARS_TIMEZONE"]
    newest = db.session.execute(select(func.max(Contact.id))).scalar_one()
    key = (estate_id, local_naive(now, tz_name).date(), newest, db.engine.url.render_as_string())
    if key not in _estate_cache:
        since = now.astimezone(timezone.utc) - timedelta(days=HISTORY_DAYS)
        rows = db.session.execute(
            select(Contact.contacted_at, Contact.reached).join(Unit, Unit.id == Contact.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .where(Building.estate_id == estate_id, Contact.channel == "phone", Contact.contacted_at > since)).all()
        for stale in [k for k in _estate_cache if k[1:] != key[1:]]:  # another day or newer contacts
            del _estate_cache[stale]
        _estate_cache[key] = _attempts(rows, tz_name)
    return _estate_cache[key]


def paydays_of(unit_ids):
    """``{unit_id: day_of_month}`` for households whose newest payday row names a day."""
    ids = list(unit_ids)
    found = {}
    for start in range(0, len(ids), 900):
        newest = (select(Payday.unit_id, func.max(Payday.id).label("id"))
                  .where(Payday.unit_id.in_(ids[start:start + 900])).group_by(Payday.unit_id).subquery())
        for unit_id, day in db.session.execute(
                select(Payday.unit_id, Payday.day_of_month).join(newest, newest.c.id == Payday.id)):
            if day is not None:
                found[unit_id] = day
    return found


def hints_for(unit_ids, now):
    """``{unit_id: Hint}`` for these households (of any estates) at the moment ``now`` (aware)."""
    if not unit_ids:
        return {}
    tz_name = current_app.config["ARREARS_TIMEZONE"]
    policy = contact_policy()
    local_now = local_naive(now, tz_name)
    estates = dict(db.session.execute(select(Unit.id, Building.estate_id).join(Building, Building.id == Unit.building_id)
                                      .where(Unit.id.in_(list(unit_ids)))).all())
    own = household_calls(unit_ids, now)
    paydays = paydays_of(unit_ids)
    by_estate = {estate_id: estate_calls(estate_id, now) for estate_id in set(estates.values())}
    hints = {}
    for unit_id in unit_ids:
        window = hint_window(own.get(unit_id, []), by_estate[estates[unit_id]], policy)
        day = paydays.get(unit_id)
        hints[unit_id] = Hint(window, day, payday_days(day, local_now.date()) if day else None,
                              window is not None and window.contains(local_now))
    return hints


def record_payday(unit, day_of_month, actor, note=None):
    """Record the day of the month the resident says they are paid (``None`` clears it)."""
    if day_of_month is not None and not 1 <= day_of_month <= 31:
        raise InvalidAct("the payday %(day)s must be a day of the month from 1 to 31", field="day_of_month",
                         code="bad_payday", day=day_of_month)
    note = (note or "").strip() or None
    if note and len(note) > 200:
        raise InvalidAct("the note is longer than 200 characters", field="note", code="long_note")
    with atomic():
        row = Payday(unit_id=unit.id, day_of_month=day_of_month, note=note, created_by=actor,
                     created_at=datetime.now(timezone.utc))
        db.session.add(row)
        db.session.flush()
        append_event("payday_recorded", actor, unit.ref, {"payday_id": row.id, "day_of_month": day_of_month,
                                                          "note": note})
        return row
