"""Staff performance and the monthly commission statement (issue 7, items 4 and 5).

A month is a calendar month of the estates' local dates (``ARREARS_TIMEZONE``, or an
estate's own zone): a contact belongs to the month of its local date, a payment and a
promise to the month of their date (``paid_on``, ``made_on``: local dates already).
The staff are the users named on contacts (``Contact.staff``), on promises
(``Promise.created_by``) and on the payments credited to them.

Attribution (credit for what is recovered) — the rule, and the invariants it keeps:
- a payment is credited to the member of staff whose most recent contact with that
  household (the same unit) was made on a local date on or before the payment's date and
  no more than ``ARREARS_RECOVERY_WINDOW_DAYS`` days (default 30) before it. A contact
  on the payment's own date counts, whatever the hour (a payment has a date, no time);
- every contact counts, whatever its channel and whether anybody was reached: the clerk
  tried. Contacts that broke the contact policy count too; they are counted apart as
  breaches;
- "most recent" is the latest ``contacted_at``; two contacts at the same moment: the
  lower contact id;
- a payment is credited once, wholly, to one person, or to nobody ("unattributed": no
  contact in the window); the credited amounts of a month add up, with the
  unattributed, to every payment of the month not reversed;
- a payment that has been reversed (whenever: a bounced transfer found later too) is
  credited to nobody and counted nowhere, so a month's figures can go down afterwards;
  every figure is as known on the day it is shown.

Other figures per person and month:
- contacts made, and of those the ones flagged as breaking the contact policy;
- promises obtained (made in the month by the person) and, of those, kept and broken
  as of today (``arrears.domain.promises``: derived from the payments not reversed);
- households cleared ("moved out of arrears"): households for which a day's payments
  credited to the person settled something overdue (principal of a charge due before
  that day, or late fee) and left nothing overdue — no principal outstanding on charges
  due before that day and no late fee outstanding — at the end of that day, by the
  engine's figures as of that day (reversed payments left out). Counted once per
  person, household and month. A household's payments of one day are always credited
  to the same person, so a day's clearing has exactly one owner.

Counting is done by the database (``GROUP BY``); attribution reads the month's
payments and the contacts that can be credited with them in two queries and matches
them household by household in one pass (comparing a UTC timestamp with a local date in
SQL would differ between SQLite and PostgreSQL). Only households cleared need the
engine, and only for the days with credited payments.

Money is integer fen throughout.
"""
import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, or_, select

from ..domain import ledger as engine
from ..domain.commission import commission
from ..domain.promises import BROKEN, KEPT, promise_status
from ..extensions import db
from ..models import Building, Contact, Estate, Payment, Promise, Reversal, Unit, User
from .errors import N_, NotFound, ServiceError
from .evidence import append_event
from .commission import scheme_in_force
from .households import standing_payments, unit_refs
from .ledger import UnitHistory
from .postings import PERIOD
from .transaction import atomic

DEFAULT_WINDOW_DAYS = 30
CHART_MONTHS = 12


class InvalidMonth(ServiceError):
    """A month that is not written like ``2026-05`` (``code`` ``format``) or that has not
    begun yet (``code`` ``future``)."""

    def __init__(self, text, code):
        if code == "format":
            super().__init__(N_("month %(month)s must look like 2026-05"), month=repr(text))
        else:
            super().__init__(N_("month %(month)s has not begun yet"), month=text)
        self.text = text
        self.code = code


class UnknownStaff(NotFound):
    """No user and no contact, promise or payment credit carries this name."""

    def __init__(self, name):
        super().__init__(N_("nobody named %(name)s works here"), name=repr(name))
        self.name = name


# -- months ---------------------------------------------------------------------------------------

def parse_month(text, today):
    """``"2026-05"`` -> ``date(2026, 5, 1)``. Raises ``InvalidMonth`` unless it is a month
    written like 2026-05, between 1900-01 and the month of ``today``."""
    cleaned = (text or "").strip()
    if not PERIOD.match(cleaned):
        raise InvalidMonth(text, "format")
    first = date(int(cleaned[:4]), int(cleaned[5:]), 1)
    if first > today:
        raise InvalidMonth(cleaned, "future")
    return first


def next_month(first):
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def months_back(first, count):
    """The first days of the ``count`` months ending with ``first``'s, oldest first."""
    index = first.year * 12 + first.month - 1
    return [date((index - back) // 12, (index - back) % 12 + 1, 1) for back in range(count - 1, -1, -1)]


def period_of(first):
    return first.strftime("%Y-%m")


def recovery_window_days(config=None):
    """``ARREARS_RECOVERY_WINDOW_DAYS``: days a contact may precede a payment credited to
    it (default 30). Raises ``ValueError`` for a setting below 0."""
    config = config if config is not None else current_app.config
    days = int(config.get("ARREARS_RECOVERY_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))
    if days < 0:
        raise ValueError(f"ARREARS_RECOVERY_WINDOW_DAYS must be 0 or more, not {days}")
    return days


def _utc_midnight(day, tz_name):
    """The UTC moment local midnight starts ``day`` in ``tz_name``."""
    return datetime.combine(day, time(0), ZoneInfo(tz_name)).astimezone(timezone.utc)


def _as_utc(moment):
    # SQLite hands back naive UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _timezones():
    zones = set(db.session.execute(select(Estate.timezone).distinct()).scalars())
    return sorted(zones) or [current_app.config["ARREARS_TIMEZONE"]]


def _local_days(column, first, end):
    """A condition: ``column`` (a timestamp of a contact joined to its estate) falls on a
    local date from ``first`` up to, not including, ``end``, in each estate's time zone."""
    return or_(*(and_(Estate.timezone == tz, column >= _utc_midnight(first, tz), column < _utc_midnight(end, tz))
                 for tz in _timezones()))


# -- attribution ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credit:
    """A payment not reversed, and whom it is credited to (``staff`` None: nobody)."""

    payment_id: int
    unit_id: int
    paid_on: date
    amount_fen: int
    reference: str
    staff: str | None
    contact_id: int | None
    contacted_at: datetime | None  # UTC
    channel: str | None
    reached: str | None


def credited_payments(first, last, window_days=None):
    """Every payment dated from ``first`` through ``last`` (local dates) that is not
    reversed, oldest first, each with the contact it is credited to under the rule of
    the module docstring (``window_days`` default: the configured window)."""
    window_days = recovery_window_days() if window_days is None else window_days
    reversed_payments = select(Reversal.payment_id).where(Reversal.payment_id.is_not(None))
    payments = db.session.execute(
        select(Payment.id, Payment.unit_id, Payment.paid_on, Payment.amount_fen, Payment.reference, Estate.timezone)
        .join(Unit, Unit.id == Payment.unit_id).join(Building, Building.id == Unit.building_id)
        .join(Estate, Estate.id == Building.estate_id)
        .where(Payment.paid_on >= first, Payment.paid_on <= last, Payment.id.not_in(reversed_payments))
        .order_by(Payment.paid_on, Payment.id)).all()
    if not payments:
        return []
    # Contacts that can be credited: local date from first - window to last, in any zone
    # (a day's margin each side); the exact local date is checked below.
    since = datetime.combine(first - timedelta(days=window_days + 1), time(0), timezone.utc)
    until = datetime.combine(last + timedelta(days=2), time(0), timezone.utc)
    contacts = defaultdict(list)
    for row in db.session.execute(
            select(Contact.id, Contact.unit_id, Contact.contacted_at, Contact.staff, Contact.channel,
                   Contact.reached)
            .where(Contact.contacted_at >= since, Contact.contacted_at < until)):
        contacts[row.unit_id].append(row)
    zones = {}
    timeline = {}  # unit -> (local dates, contacts), latest moment last

    def contacts_of(unit_id, tz_name):
        if unit_id not in timeline:
            zone = zones.setdefault(tz_name, ZoneInfo(tz_name))
            # At the same moment the lower id goes last: it wins.
            rows = sorted(contacts.get(unit_id, ()), key=lambda c: (_as_utc(c.contacted_at), -c.id))
            timeline[unit_id] = ([_as_utc(c.contacted_at).astimezone(zone).date() for c in rows], rows)
        return timeline[unit_id]

    credits = []
    for payment in payments:
        days, rows = contacts_of(payment.unit_id, payment.timezone)
        index = bisect.bisect_right(days, payment.paid_on) - 1
        chosen = rows[index] if index >= 0 and (payment.paid_on - days[index]).days <= window_days else None
        credits.append(Credit(
            payment_id=payment.id, unit_id=payment.unit_id, paid_on=payment.paid_on,
            amount_fen=int(payment.amount_fen), reference=payment.reference,
            staff=chosen.staff if chosen else None, contact_id=chosen.id if chosen else None,
            contacted_at=_as_utc(chosen.contacted_at) if chosen else None,
            channel=chosen.channel if chosen else None, reached=chosen.reached if chosen else None))
    return credits


def households_cleared(credits, as_of):
    """``{staff: {unit_id, …}}``: the households each person's credited payments moved
    out of arrears (see the module docstring). Payments credited to nobody are skipped."""
    days = defaultdict(lambda: defaultdict(set))  # unit -> day -> payment ids
    owner = {}
    for credit in credits:
        if credit.staff is not None:
            days[credit.unit_id][credit.paid_on].add(credit.payment_id)
            owner[(credit.unit_id, credit.paid_on)] = credit.staff
    found = defaultdict(set)
    if not days:
        return found
    units = {u.id: u for u in db.session.execute(select(Unit).where(Unit.id.in_(list(days)))).scalars()}
    for unit_id, by_day in days.items():
        history = UnitHistory(units[unit_id], as_of)  # reversals known today left out
        for day, payment_ids in sorted(by_day.items()):
            if _cleared_on(history, day, payment_ids):
                found[owner[(unit_id, day)]].add(unit_id)
    return found


def _cleared_on(history, day, payment_ids):
    statement = engine.compute_statement(history.charges, history.payments, as_of=day, policies=history.schedule,
                                         waivers=history.waivers, suspensions=history.suspensions)
    due = {line.charge.id: line.charge.due_date for line in statement.charges}
    left = statement.late_fee_outstanding_fen > 0 or any(
        line.principal_outstanding_fen > 0 and line.charge.due_date < day for line in statement.charges)
    if left:
        return False
    return any(a.on == day and a.payment_id in payment_ids
               and (a.late_fee_fen > 0 or (a.principal_fen > 0 and due[a.charge_id] < day))
               for a in statement.allocations)


# -- the month's figures --------------------------------------------------------------------------

@dataclass
class StaffFigures:
    """One person's month (``staff`` None: the payments credited to nobody)."""

    staff: str | None
    contacts: int = 0
    breaches: int = 0
    promises: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    payments: int = 0
    recovered_fen: int = 0
    households_cleared: int = 0
    commission_fen: int | None = None  # None: no scheme in force (and for the unattributed)


@dataclass
class MonthPerformance:
    month: date  # the first day
    as_of: date
    window_days: int
    staff: list  # StaffFigures, most recovered first
    unattributed: StaffFigures
    scheme: object = None  # (CommissionScheme row, Scheme) in force, or None
    credits: list = field(default_factory=list)

    @property
    def period(self):
        return period_of(self.month)

    @property
    def recovered_fen(self):
        return sum(row.recovered_fen for row in self.staff) + self.unattributed.recovered_fen


def month_performance(month, as_of, only=None, window_days=None):
    """Every person's figures for the month starting ``month`` as known on ``as_of``
    (today); ``only``: that person's row alone (a clerk sees only their own), and no
    unattributed payments. Commission per person from the scheme in force."""
    end = next_month(month)
    last = end - timedelta(days=1)
    window_days = recovery_window_days() if window_days is None else window_days
    rows = {}

    def row(name):
        if name not in rows:
            rows[name] = StaffFigures(name)
        return rows[name]

    contact_query = (select(Contact.staff, func.count(Contact.id),
                            func.sum(case((Contact.policy_breach, 1), else_=0)))
                     .join(Unit, Unit.id == Contact.unit_id).join(Building, Building.id == Unit.building_id)
                     .join(Estate, Estate.id == Building.estate_id)
                     .where(_local_days(Contact.contacted_at, month, end)).group_by(Contact.staff))
    if only is not None:
        contact_query = contact_query.where(Contact.staff == only)
    for staff, count, breaches in db.session.execute(contact_query):
        figures = row(staff)
        figures.contacts, figures.breaches = int(count), int(breaches or 0)

    promise_query = select(Promise).where(Promise.made_on >= month, Promise.made_on <= last)
    if only is not None:
        promise_query = promise_query.where(Promise.created_by == only)
    promises = db.session.execute(promise_query).scalars().all()
    paid = standing_payments({p.unit_id for p in promises}, as_of) if promises else {}
    for promise in promises:
        figures = row(promise.created_by)
        figures.promises += 1
        status = promise_status(promise.amount_fen, promise.made_on, promise.promised_on,
                                paid.get(promise.unit_id, ()), as_of)
        figures.promises_kept += status == KEPT
        figures.promises_broken += status == BROKEN

    credits = credited_payments(month, last, window_days)
    unattributed = StaffFigures(None)
    for credit in credits:
        if only is not None and credit.staff != only:
            continue
        figures = row(credit.staff) if credit.staff is not None else unattributed
        figures.payments += 1
        figures.recovered_fen += credit.amount_fen
    for staff, households in households_cleared([c for c in credits if only is None or c.staff == only],
                                                as_of).items():
        row(staff).households_cleared = len(households)

    if only is not None:
        row(only)
    scheme = scheme_in_force(month)
    if scheme is not None:
        for figures in rows.values():
            figures.commission_fen = _commission(scheme, figures.recovered_fen).total_fen
    staff = sorted(rows.values(), key=lambda f: (-f.recovered_fen, f.staff))
    return MonthPerformance(month=month, as_of=as_of, window_days=window_days, staff=staff,
                            unattributed=unattributed, scheme=scheme,
                            credits=[c for c in credits if only is None or c.staff == only])


def recovered_by_month(month, as_of, only=None, months=CHART_MONTHS, window_days=None):
    """``[(first day, {staff or None: fen})]`` for the ``months`` months ending with
    ``month``'s, oldest first: the amounts credited to each person (None: to nobody).
    ``only``: that person's amounts alone."""
    firsts = months_back(month, months)
    totals = {first: defaultdict(int) for first in firsts}
    for credit in credited_payments(firsts[0], next_month(month) - timedelta(days=1), window_days):
        if only is not None and credit.staff != only:
            continue
        totals[credit.paid_on.replace(day=1)][credit.staff] += credit.amount_fen
    return [(first, dict(totals[first])) for first in firsts]


# -- staff and the commission statement -----------------------------------------------------------

def known_staff():
    """Names of everyone who may have figures: the users, and the names on contacts and
    promises (imported or from a user since renamed)."""
    names = set(db.session.execute(select(User.username)).scalars())
    names |= set(db.session.execute(select(Contact.staff).distinct()).scalars())
    names |= set(db.session.execute(select(Promise.created_by).distinct()).scalars())
    return names


def check_staff(name):
    """``name`` stripped; raises ``UnknownStaff`` when nobody of that name is known."""
    cleaned = (name or "").strip()
    if not cleaned or cleaned not in known_staff():
        raise UnknownStaff(cleaned or name or "")
    return cleaned


@dataclass(frozen=True)
class CommissionStatement:
    staff: str
    month: date
    as_of: date
    window_days: int
    figures: StaffFigures
    credits: list  # Credit, oldest first
    unit_refs: dict  # unit_id -> ESTATE/BUILDING/UNIT
    scheme_row: object  # CommissionScheme or None
    scheme: object  # the domain Scheme or None
    working: object  # domain Working (lines, total_fen) or None: no scheme in force

    @property
    def period(self):
        return period_of(self.month)


def commission_statement(staff, month, as_of, window_days=None):
    """The month's commission statement of ``staff`` (a known name, see ``check_staff``):
    what was credited to them, payment by payment, and the commission the scheme in force
    for the month gives on the total, with its working. ``working`` is None when no
    scheme is in force. Raises ``UnknownStaff``."""
    staff = check_staff(staff)
    performance = month_performance(month, as_of, only=staff, window_days=window_days)
    figures = performance.staff[0]
    credits = performance.credits
    refs = unit_refs({c.unit_id for c in credits}) if credits else {}
    scheme = performance.scheme
    working = _commission(scheme, figures.recovered_fen) if scheme is not None else None
    return CommissionStatement(staff=staff, month=month, as_of=as_of, window_days=performance.window_days,
                               figures=figures, credits=credits, unit_refs=refs,
                               scheme_row=scheme[0] if scheme else None, scheme=scheme[1] if scheme else None,
                               working=working)


def _commission(scheme, recovered_fen):
    return commission(scheme[1], recovered_fen)


# -- export ---------------------------------------------------------------------------------------

def record_performance_export(actor, file_format, month, rows):
    """Record that ``actor`` exported the performance table of ``month`` (names and
    amounts leave the system): a ``performance_exported`` evidence event with the format,
    the month and the number of rows, before the file is handed out."""
    with atomic():
        append_event("performance_exported", actor, None,
                     {"format": file_format, "month": period_of(month), "rows": rows})
