"""The dashboard's figures (issue 3, item 2): totals, aging, stages and classes,
collection rate, the limitation watchlist and today's work queue.

Invariants:
- every household figure comes from ``reports.arrears_by_unit`` — the engine's
  projection carried forward in one SQL query, the engine itself for units whose
  projection does not cover the day — so it is what ``statement --json`` says; the
  engine is never run per unit here (except for those few stale units);
- each owing household is counted exactly once in the aging chart and in the class
  counts, so their amounts add up to the total owed;
- stage and class come from ``households.household_stages``, as in the household list:
  the oldest unpaid charge (principal outstanding, else late fee outstanding), the
  amount outstanding, the last escalation and ``units_past_demand_deadline``;
- what depends only on the ledger and the day is kept with ``reports.day_figures`` and
  computed again, by household where it can be, after any evidence event;
- the limitation watchlist is exact: the SQL pre-filter only drops charges that cannot
  expire within the window, and each listed expiry is ``domain.limitation``'s
  (see ``limitation_watchlist``);
- the work queue never offers a household the contact policy does not allow today.
"""
import heapq
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from sqlalchemy import func, or_, select

from ..domain.contact_policy import in_quiet_hours, may_contact_today
from ..domain.limitation import add_years, expires_within, limitation_expiry
from ..domain.stages import CLASSES, STAGES
from ..extensions import db
from ..models import (Building, Charge, ChargeBalance, Contact, Estate, Owner, Ownership, Payment, Promise,
                      Reversal, Unit, UnitBalance, Waiver)
from .collection import contact_policy, local_naive
from .households import escalation_states, household_stages
from .ledger import INTERRUPTION_SOURCES, UnitHistory, unit_statement
from .reports import day_figures, derived_from

# Days overdue of a household's oldest charge with principal outstanding: (from, to).
# Households whose oldest such charge is not yet due, and those owing only late fee,
# have buckets of their own, so that every household owing is in exactly one.
AGING_BUCKETS = ((1, 30), (31, 90), (91, 180), (181, 365), (366, None))
NOT_YET_DUE = "not_due"
LATE_FEE_ONLY = "late_fee_only"
WATCH_DAYS = 90
WATCH_ROWS = 20
EXPIRED_ROWS = 10
QUEUE_SIZE = 20
COLLECTION_MONTHS = 12
# Stages a clerk works on; ``legal`` belongs to the lawyers, ``closed`` owes nothing.
QUEUE_STAGES = ("final", "demand", "reminder")
STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
# Households per IN (...) list: well under every database's limit on bound parameters.
CHUNK = 900


@dataclass(frozen=True)
class Household:
    """One unit's figures (fen) as of the dashboard's day, with its stage and class."""

    unit_id: int
    principal_fen: int
    late_fee_fen: int
    oldest_due: date | None  # oldest charge with principal outstanding
    days_overdue: int
    stage: str | None
    klass: str | None  # None when nothing is owed

    @property
    def total_fen(self):
        return self.principal_fen + self.late_fee_fen


@dataclass(frozen=True)
class Totals:
    households: int  # units with a charge billed
    owing: int  # ... of which owe something
    principal_fen: int
    late_fee_fen: int
    overdue: int = 0  # ... of which owe something past its due date (or late fee)

    @property
    def total_fen(self):
        return self.principal_fen + self.late_fee_fen


@dataclass(frozen=True)
class Waived:
    """What approved waivers took off the debt by the dashboard's day (fen): not owed, so
    not in ``Totals``, and shown apart."""

    households: int
    principal_fen: int
    late_fee_fen: int


@dataclass(frozen=True)
class AgingBucket:
    key: str  # NOT_YET_DUE, "1-30" … "366-", or LATE_FEE_ONLY
    low: int | None
    high: int | None
    households: int
    amount_fen: int


@dataclass(frozen=True)
class MonthRate:
    period: str  # YYYY-MM
    billed_fen: int
    collected_fen: int
    to_date: bool  # the month is not over yet

    @property
    def rate_percent(self):
        """Collected ÷ billed in percent, one decimal (``Decimal``); None when nothing was billed."""
        if not self.billed_fen:
            return None
        return (Decimal(self.collected_fen) * 100 / self.billed_fen).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class UnitLabel:
    ref: str
    owner_name: str


@dataclass(frozen=True)
class WatchItem:
    unit_id: int
    label: UnitLabel
    period: str
    due_date: date
    principal_fen: int
    expires: date
    days_left: int  # negative: expired that many days ago


@dataclass(frozen=True)
class Watchlist:
    expiring: list  # WatchItem, soonest first, at most WATCH_ROWS
    expiring_charges: int
    expiring_households: int
    expiring_principal_fen: int
    expired: list  # WatchItem, most recently expired first, at most EXPIRED_ROWS
    expired_charges: int
    expired_households: int
    expired_principal_fen: int


@dataclass(frozen=True)
class QueueItem:
    unit_id: int
    label: UnitLabel
    stage: str
    klass: str
    total_fen: int
    days_overdue: int
    recent_contacts: int  # attempts within the policy's window


@dataclass(frozen=True)
class WorkQueue:
    entries: list
    eligible: int  # households the policy allows today, of which ``entries`` are the first
    quiet_hours: bool  # now is inside the quiet hours: contacts wait until they end


@dataclass(frozen=True)
class Dashboard:
    as_of: date
    totals: Totals
    aging: list
    stages: dict  # stage (or None) -> households
    classes: dict  # "A"/"B"/"C" -> households
    collection: list
    watchlist: Watchlist
    queue: WorkQueue
    waived: Waived


# -- households -----------------------------------------------------------------------------

def households(as_of, escalations=None, snapshot=None):
    """Every unit with a charge billed by ``as_of``: its figures, stage and class.
    ``escalations``: each household's last escalation, when the caller has it already;
    ``snapshot``: the day's figures (``reports.day_figures``), likewise. The rows are kept
    with those figures for the same escalations, so a request that finds both kept builds
    nothing. (The demand deadlines that make a household ``final`` change only with a
    delivery or the day, and either brings new figures.)"""
    escalations = escalation_states() if escalations is None else escalations
    snapshot = day_figures(as_of) if snapshot is None else snapshot
    legal = frozenset(unit_id for unit_id, stage in escalations.items() if stage == "legal")
    figures = snapshot.by_unit

    def update(kept, changed):
        found = dict(kept)
        for unit_id in changed:
            found.pop(unit_id, None)
        found.update(_households(figures, as_of, escalations, [u for u in changed if u in figures]))
        return found

    by_unit = derived_from(snapshot, ("households", legal), lambda: _households(figures, as_of, escalations),
                           update)
    return tuple(by_unit.values())


def _households(figures, as_of, escalations, unit_ids=None):
    """``{unit_id: Household}`` for ``unit_ids`` (default: every unit of ``figures``)."""
    unit_ids = list(figures) if unit_ids is None else unit_ids
    stages = household_stages(figures, as_of, escalations, unit_ids)
    found = {}
    for unit_id in unit_ids:
        row = figures[unit_id]
        oldest = date.fromordinal(row.oldest_due_day) if row.oldest_due_day else None
        stage, klass = stages[unit_id]
        found[unit_id] = Household(
            unit_id=unit_id, principal_fen=row.principal_outstanding_fen,
            late_fee_fen=row.late_fee_outstanding_fen, oldest_due=oldest,
            days_overdue=max(0, (as_of - oldest).days) if oldest else 0, stage=stage, klass=klass)
    return found


def totals(rows):
    owing = [h for h in rows if h.total_fen > 0]
    return Totals(households=len(rows), owing=len(owing), principal_fen=sum(h.principal_fen for h in owing),
                  late_fee_fen=sum(h.late_fee_fen for h in owing),
                  overdue=sum(1 for h in owing if h.days_overdue > 0 or h.late_fee_fen > 0))


def aging(rows):
    """Owing households, each with everything it owes, by the days overdue of its oldest
    charge with principal outstanding; ``NOT_YET_DUE`` when that charge is not overdue
    yet, ``LATE_FEE_ONLY`` when no principal is outstanding."""
    counts = defaultdict(lambda: [0, 0])
    for household in rows:
        if household.total_fen > 0:
            bucket = counts[_aging_key(household)]
            bucket[0] += 1
            bucket[1] += household.total_fen
    buckets = [(NOT_YET_DUE, None, None)] + [(_range_key(low, high), low, high) for low, high in AGING_BUCKETS] \
        + [(LATE_FEE_ONLY, None, None)]
    return [AgingBucket(key, low, high, *counts[key]) for key, low, high in buckets]


def _range_key(low, high):
    return f"{low}-{high or ''}"


def _aging_key(household):
    if household.oldest_due is None:
        return LATE_FEE_ONLY
    if household.days_overdue == 0:
        return NOT_YET_DUE
    for low, high in AGING_BUCKETS:
        if high is None or household.days_overdue <= high:
            return _range_key(low, high)


def stage_counts(rows):
    """Households per stage; ``None`` counts those owing without a stage (nothing overdue
    yet, or late fee only). Stage ``closed`` owes nothing and is counted too."""
    counts = {stage: 0 for stage in STAGES}
    counts[None] = 0
    for household in rows:
        if household.stage is not None:
            counts[household.stage] += 1
        elif household.total_fen > 0:
            counts[None] += 1
    return counts


def class_counts(rows):
    counts = {klass: 0 for klass in CLASSES}
    for household in rows:
        if household.klass:
            counts[household.klass] += 1
    return counts


# -- collection rate ------------------------------------------------------------------------

def month_start(day, months_back=0):
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def collection_by_month(as_of, months=COLLECTION_MONTHS):
    """Per calendar month, the last ``months`` up to ``as_of``'s (to date): the amount
    billed (charges whose billing date falls in the month) and collected (payments dated
    in the month: any money received, late fees and older debts included), both leaving
    out what was reversed by ``as_of``."""
    first = month_start(as_of, months - 1)
    reversed_charges = select(Reversal.charge_id).where(Reversal.charge_id.is_not(None),
                                                        Reversal.reversed_on <= as_of)
    reversed_payments = select(Reversal.payment_id).where(Reversal.payment_id.is_not(None),
                                                          Reversal.reversed_on <= as_of)
    billed = db.session.execute(
        select(Charge.billed_on, func.sum(Charge.amount_fen))
        .where(Charge.billed_on >= first, Charge.billed_on <= as_of, Charge.id.not_in(reversed_charges))
        .group_by(Charge.billed_on)).all()
    collected = db.session.execute(
        select(Payment.paid_on, func.sum(Payment.amount_fen))
        .where(Payment.paid_on >= first, Payment.paid_on <= as_of, Payment.id.not_in(reversed_payments))
        .group_by(Payment.paid_on)).all()
    by_month = defaultdict(lambda: [0, 0])
    for day, amount in billed:
        by_month[_period(day)][0] += int(amount)
    for day, amount in collected:
        by_month[_period(day)][1] += int(amount)
    result = []
    for back in range(months - 1, -1, -1):
        period = month_start(as_of, back).strftime("%Y-%m")
        result.append(MonthRate(period, *by_month[period], to_date=back == 0))
    return result


def ledger_marks():
    """The newest charge, payment and reversal ids: the rows are append-only, so the
    collection rate cannot have changed while these stay the same (one indexed lookup each)."""
    return db.session.execute(select(select(func.max(Charge.id)).scalar_subquery(),
                                     select(func.max(Payment.id)).scalar_subquery(),
                                     select(func.max(Reversal.id)).scalar_subquery())).one()


def collection_kept(as_of):
    """``collection_by_month(as_of)``, computed again only when a charge, payment or
    reversal was added (or the day changed): an act that adds none (a contact, a notice,
    a promise) leaves the collection rate as it was, and the overview after it does not
    run the monthly sums again."""
    key = (as_of, tuple(ledger_marks()))
    kept = current_app.extensions.get("arrears_collection")
    if kept is not None and kept[0] == key:
        return kept[1]
    value = collection_by_month(as_of)
    current_app.extensions["arrears_collection"] = (key, value)
    return value


def _period(day):
    # SQLite hands back the grouped date as text.
    return day.strftime("%Y-%m") if isinstance(day, date) else str(day)[:7]


# -- limitation watchlist --------------------------------------------------------------------

def latest_due_expiring_by(horizon, years):
    """The latest due date whose plain limitation period (no interruption) ends by ``horizon``."""
    day = add_years(horizon, -years)
    while add_years(day + timedelta(days=1), years) <= horizon:
        day += timedelta(days=1)
    return day


def limitation_watchlist(as_of, rows, within_days=WATCH_DAYS, snapshot=None):
    """Charges with principal outstanding whose limitation expires within ``within_days``
    days of ``as_of``, and those already expired (SPEC §7).

    Expiry is ``limitation_years`` after the later of the due date and the last
    interruption. A payment interrupts every charge with anything outstanding at the
    time; a charge with principal outstanding now had some at every earlier payment
    since it was billed, so its last payment interruption is simply the unit's last
    payment (a payment before the charge was billed is earlier than its due date and
    changes nothing). So, without running the engine:
    1. the household's oldest charge with principal outstanding bounds the expiry of
       all its charges from below: households whose bound is past the window drop out;
    2. the last payment of the rest (one grouped query) tightens the bound;
    3. their charges due early enough come from the projection, and each expiry is
       ``limitation_expiry(due, [last payment, other interruptions])``. Other
       interruptions (``ledger.INTERRUPTION_SOURCES``: notices, plans, lawsuits) are
       asked only for these households. A household whose projection does not cover
       the day is read from the engine (``unit_statement``) instead.
    With ``snapshot`` (the ``DayFigures`` that ``rows`` come from) the charges found are
    kept with it; names and periods are read on every call.
    """
    if snapshot is None:
        found = _watch_lists(watch_charges(as_of, rows, within_days), as_of, within_days)
    else:
        def update(kept, changed):
            found = {unit_id: items for unit_id, items in kept.items() if unit_id not in changed}
            found.update(watch_charges(as_of, [h for h in rows if h.unit_id in changed], within_days))
            return found

        per_unit = derived_from(snapshot, ("watch charges", within_days),
                                lambda: watch_charges(as_of, rows, within_days), update)
        found = derived_from(snapshot, ("watchlist", within_days), lambda: _watch_lists(per_unit, as_of, within_days))
    expiring, expired, soonest, latest = found
    listed = soonest + latest
    labels = unit_labels({i[0] for i in listed}, as_of)
    periods = dict(db.session.execute(select(Charge.id, Charge.period)
                                      .where(Charge.id.in_([i[1] for i in listed]))).all()) if listed else {}

    def shown(found):
        return [WatchItem(unit_id, labels[unit_id], periods[charge_id], date.fromordinal(due_day), principal,
                          expires, (expires - as_of).days)
                for unit_id, charge_id, due_day, principal, expires in found]

    return Watchlist(
        expiring=shown(soonest), expiring_charges=len(expiring),
        expiring_households=len({i[0] for i in expiring}), expiring_principal_fen=sum(i[3] for i in expiring),
        expired=shown(latest), expired_charges=len(expired),
        expired_households=len({i[0] for i in expired}), expired_principal_fen=sum(i[3] for i in expired))


def watch_charges(as_of, rows, within_days):
    """``{unit_id: [(unit_id, charge_id, due day (ordinal), principal_fen, expires)]}``: the
    charges of the households ``rows`` that expire within the window or have expired.
    A household's charges depend on its own records only, so these can be kept by
    household and computed again for the households an act names."""
    years = current_app.config["ARREARS_LIMITATION_YEARS"]
    horizon = as_of + timedelta(days=within_days)
    cutoff = latest_due_expiring_by(horizon, years)
    oldest = {h.unit_id: h.oldest_due for h in rows if h.oldest_due is not None and h.oldest_due <= cutoff}
    last_paid = last_payments(list(oldest), as_of)
    candidates = [unit_id for unit_id, due in oldest.items()
                  if add_years(max(due, last_paid.get(unit_id, due)), years) <= horizon]
    day = as_of.toordinal()
    current = set()
    for chunk in _chunks(candidates):
        current.update(db.session.execute(
            select(UnitBalance.unit_id).where(UnitBalance.unit_id.in_(chunk), UnitBalance.state_day <= day,
                                              UnitBalance.valid_through >= day)).scalars())
    items = []  # (unit_id, charge_id, due day (ordinal), principal_fen, expires)
    expiries = {}  # thousands of charges share a few hundred (due day, interruptions)
    for chunk in _chunks(sorted(current)):
        charges = db.session.execute(
            select(ChargeBalance.unit_id, ChargeBalance.charge_id, ChargeBalance.due_day,
                   ChargeBalance.principal_outstanding_fen)
            .where(ChargeBalance.unit_id.in_(chunk), ChargeBalance.principal_outstanding_fen > 0,
                   ChargeBalance.due_day <= cutoff.toordinal())).all()
        others = _other_interruptions({unit_id for unit_id, *_ in charges}, as_of)
        for unit_id, charge_id, due_day, principal in charges:
            key = (due_day, last_paid.get(unit_id), *others.get(charge_id, ()))
            expires = expiries.get(key)
            if expires is None:
                expires = expiries[key] = limitation_expiry(date.fromordinal(due_day), key[1:], years)
            items.append((unit_id, charge_id, due_day, principal, expires))
    for unit in load_units(set(candidates) - current):
        statement, limitation = unit_statement(unit, as_of)
        items += [(unit.id, line.charge.id, line.charge.due_date.toordinal(), line.principal_outstanding_fen,
                   limitation[line.charge.id]) for line in statement.charges if line.principal_outstanding_fen > 0]

    found = defaultdict(list)
    for item in items:
        if item[4] < as_of or expires_within(item[4], as_of, within_days):
            found[item[0]].append(item)
    return dict(found)


def _watch_lists(per_unit, as_of, within_days):
    """``(expiring, expired, the WATCH_ROWS soonest, the EXPIRED_ROWS latest)`` from
    ``watch_charges``' households."""
    items = [item for found in per_unit.values() for item in found]
    expiring = [i for i in items if expires_within(i[4], as_of, within_days)]
    expired = [i for i in items if i[4] < as_of]
    soonest = heapq.nsmallest(WATCH_ROWS, expiring, key=lambda i: (i[4], i[2], i[0], i[1]))
    latest = heapq.nlargest(EXPIRED_ROWS, expired, key=lambda i: (i[4], -i[2], -i[0], -i[1]))
    return expiring, expired, soonest, latest


def last_payments(unit_ids, as_of):
    """``{unit_id: date}`` of each household's last payment by ``as_of`` that stands."""
    reversed_payments = select(Reversal.payment_id).where(Reversal.payment_id.is_not(None),
                                                          Reversal.reversed_on <= as_of)
    found = {}
    for chunk in _chunks(unit_ids):
        for unit_id, paid_on in db.session.execute(
                select(Payment.unit_id, func.max(Payment.paid_on))
                .where(Payment.unit_id.in_(chunk), Payment.paid_on <= as_of,
                       Payment.id.not_in(reversed_payments))
                .group_by(Payment.unit_id)):
            found[unit_id] = paid_on if isinstance(paid_on, date) else date.fromisoformat(str(paid_on))
    return found


def _other_interruptions(unit_ids, as_of):
    """``{charge_id: [dates]}`` from ``INTERRUPTION_SOURCES`` for these households."""
    found = defaultdict(list)
    for source in INTERRUPTION_SOURCES:
        for charge_id, dates in source(unit_ids, as_of).items():
            found[charge_id].extend(d for d in dates if d <= as_of)
    return found


# -- today's work queue ----------------------------------------------------------------------

def work_queue(as_of, now, rows, size=QUEUE_SIZE, policy=None):
    """The households due a contact today that the contact policy allows, the largest
    amount first (then the later stage). ``now`` is an aware datetime.

    Due a contact: stage ``reminder``, ``demand`` or ``final``; no promise to pay falling
    due today or later; not contacted yet today (local time). Allowed: fewer than the
    policy's attempts in its window (``may_contact_today``); ``policy`` defaults to the
    configured one."""
    policy = policy or contact_policy()
    tz_name = current_app.config["ARREARS_TIMEZONE"]
    local_now = local_naive(now, tz_name)
    candidates = sorted((h for h in rows if h.stage in QUEUE_STAGES),
                        key=lambda h: (-h.total_fen, -STAGE_RANK[h.stage], h.unit_id))
    promised = set(db.session.execute(select(Promise.unit_id).where(Promise.promised_on >= as_of)).scalars())
    since = now.astimezone(timezone.utc) - timedelta(days=policy.window_days)
    recent = defaultdict(list)
    for unit_id, contacted_at in db.session.execute(
            select(Contact.unit_id, Contact.contacted_at).where(Contact.contacted_at > since)):
        recent[unit_id].append(local_naive(contacted_at, tz_name))
    eligible = []
    uncontacted_allowed = may_contact_today(local_now, [], policy)  # most households: asked once
    for household in candidates:
        previous = recent.get(household.unit_id)
        if household.unit_id in promised:
            continue
        if previous is None:
            if uncontacted_allowed:
                eligible.append((household, 0))
            continue
        if any(moment.date() == local_now.date() for moment in previous):
            continue
        if may_contact_today(local_now, previous, policy):
            eligible.append((household, len(previous)))
    labels = unit_labels({h.unit_id for h, _ in eligible[:size]}, as_of)
    items = [QueueItem(h.unit_id, labels[h.unit_id], h.stage, h.klass, h.total_fen, h.days_overdue, count)
             for h, count in eligible[:size]]
    return WorkQueue(entries=items, eligible=len(eligible), quiet_hours=in_quiet_hours(local_now, policy))


# -- shared helpers -------------------------------------------------------------------------

def unit_labels(unit_ids, as_of):
    """``{unit_id: UnitLabel}``: the reference and the owner on ``as_of`` (name only)."""
    labels = {}
    for chunk in _chunks(sorted(unit_ids)):
        owners = {}
        for unit_id, name in db.session.execute(
                select(Ownership.unit_id, Owner.name).join(Owner, Owner.id == Ownership.owner_id)
                .where(Ownership.unit_id.in_(chunk), Ownership.start_on <= as_of,
                       or_(Ownership.end_on.is_(None), Ownership.end_on >= as_of))
                .order_by(Ownership.start_on)):
            owners[unit_id] = name
        for unit_id, estate, building, number in db.session.execute(
                select(Unit.id, Estate.name, Building.name, Unit.number)
                .join(Building, Building.id == Unit.building_id).join(Estate, Estate.id == Building.estate_id)
                .where(Unit.id.in_(chunk))):
            labels[unit_id] = UnitLabel(f"{estate}/{building}/{number}", owners.get(unit_id, ""))
    return labels


def load_units(unit_ids):
    units = []
    for chunk in _chunks(sorted(unit_ids)):
        units += db.session.execute(select(Unit).where(Unit.id.in_(chunk))).scalars().all()
    return units


def _chunks(ids, size=CHUNK):
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


# -- the page -------------------------------------------------------------------------------

def build_dashboard(as_of, now):
    """Everything the staff dashboard shows, as of the local day ``as_of`` and the
    moment ``now`` (aware; for the contact policy). What depends only on the ledger and
    the day (figures, stages, watchlist charges, collection rate) is kept with the day's
    figures (``reports.day_figures``) until the next evidence event; names, contacts and
    promises are read on every request."""
    snapshot = day_figures(as_of)
    escalations = escalation_states()
    rows = households(as_of, escalations, snapshot)
    legal = frozenset(unit_id for unit_id, stage in escalations.items() if stage == "legal")
    counted = derived_from(snapshot, ("counts", legal),
                           lambda: (totals(rows), aging(rows), stage_counts(rows), class_counts(rows)))
    collection = collection_kept(as_of)
    return Dashboard(as_of=as_of, totals=counted[0], aging=counted[1], stages=counted[2], classes=counted[3],
                     collection=collection, watchlist=limitation_watchlist(as_of, rows, snapshot=snapshot),
                     queue=work_queue(as_of, now, rows, policy=contact_policy()),
                     waived=waived_total(as_of, snapshot))


# -- relief ---------------------------------------------------------------------------------

def waived_by_unit(as_of, unit_ids=None):
    """``{unit_id: (principal_waived_fen, late_fee_waived_fen)}`` as the ledger engine
    counts them on ``as_of`` (a principal waiver no larger than the principal it found
    outstanding; undone waivers and waivers of reversed charges left out), for the units
    with an approved waiver (among ``unit_ids`` when given). Waivers are few, so the
    engine itself is run for each such unit: the same figures as their statements."""
    # From the waivers (few) to their charges, not a scan of every charge.
    query = select(Charge.unit_id).where(
        Charge.id.in_(select(Waiver.charge_id).where(Waiver.approved_on <= as_of))).distinct()
    found = {}
    for chunk in _chunks(sorted(unit_ids)) if unit_ids is not None else [None]:
        ids = db.session.execute(query if chunk is None else query.where(Charge.unit_id.in_(chunk))).scalars()
        for unit in load_units(ids):
            statement = UnitHistory(unit, as_of).statement()
            principal = sum(line.principal_waived_fen for line in statement.charges)
            late_fee = sum(line.late_fee_waived_fen for line in statement.charges)
            if principal or late_fee:
                found[unit.id] = (principal, late_fee)
    return found


def waived_total(as_of, snapshot=None):
    """``Waived``: the sum of ``waived_by_unit`` over every unit, kept with the day's figures
    (a waiver, its reversal and anything else that changes a unit's statement is an
    evidence event naming the unit)."""
    snapshot = snapshot or day_figures(as_of)

    def update(kept, changed):
        fresh = {unit_id: value for unit_id, value in kept.items() if unit_id not in changed}
        fresh.update(waived_by_unit(as_of, changed))
        return fresh

    per_unit = derived_from(snapshot, "waived", lambda: waived_by_unit(as_of), update)
    return Waived(households=len(per_unit), principal_fen=sum(p for p, _ in per_unit.values()),
                  late_fee_fen=sum(f for _, f in per_unit.values()))


def legal_totals(as_of, lawyer=None):
    """A lawyer's dashboard: totals over the households escalated to ``legal`` only and,
    with ``lawyer`` (a user name), assigned to them."""
    from .cases import assigned_unit_ids
    escalations = escalation_states()
    legal = assigned_unit_ids(lawyer)
    if not legal:
        return Totals(0, 0, 0, 0)
    return totals([h for h in households(as_of, escalations) if h.unit_id in legal])
