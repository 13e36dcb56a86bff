"""The household list and one household's summary (issue 3, SPEC §4, §5, §9).

Invariants:
- the list reads the fast per-unit figures of ``reports.arrears_by_unit`` (one query for
  the whole portfolio); it never runs the engine per unit itself, and it loads names,
  owners, promises and disputes only for the rows it shows (or exports);
- the household page reads the engine (``unit_statement``), so its figures are exactly
  those of ``statement --json``;
- a phone number leaves this module masked (``138****5678``), never whole (SPEC §9);
- stage and class come from ``arrears.domain.stages``: the oldest charge with principal
  outstanding, the total outstanding, and the last escalation (``legal`` or not);
  notices arrive later, so no demand deadline has passed yet;
- promise statuses are derived from the payments that stand today (reversed ones left
  out), never stored.
"""
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, or_, select

from ..domain.disputes import is_active
from ..domain.promises import BROKEN, paid_towards, promise_status
from ..domain.stages import STAGES, household_class, household_stage
from ..extensions import db
from ..models import (Building, Contact, Dispute, DisputeUpdate, Escalation, Estate, HardshipStatus, Owner,
                      Ownership, Payment, Promise, Reversal, Unit)
from .evidence import iter_events
from .ledger import unit_statement
from .reports import day_figures

PAGE_SIZE = 50
SORTS = ("amount_desc", "amount_asc", "days_desc", "days_asc")
NO_STAGE = "none"
STAGE_FILTERS = STAGES + (NO_STAGE,)
CLASS_FILTERS = ("A", "B", "C")
MAX_SEARCH = 100


def mask_phone(phone):
    """``13812345678`` -> ``138****5678``; short numbers keep only their last two digits."""
    text = "".join((phone or "").split())
    if not text:
        return ""
    if len(text) >= 7:
        return f"{text[:3]}****{text[-4:]}"
    return "****" + text[-2:] if len(text) > 2 else "****"


@dataclass(frozen=True)
class ListQuery:
    """What the list shows: filters, search, sort and page. Build it with ``clean``."""

    estate_id: int | None = None
    building_id: int | None = None
    stage: str | None = None
    klass: str | None = None
    hardship: bool = False
    dispute: bool = False
    q: str = ""
    sort: str = "amount_desc"
    page: int = 1

    @classmethod
    def clean(cls, args):
        """From request arguments; anything unknown or malformed is ignored, never an error."""
        def number(name):
            value = (args.get(name) or "").strip()
            return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None

        stage = args.get("stage") or None
        klass = args.get("class") or None
        sort = args.get("sort") or "amount_desc"
        return cls(estate_id=number("estate"), building_id=number("building"),
                   stage=stage if stage in STAGE_FILTERS else None,
                   klass=klass if klass in CLASS_FILTERS else None,
                   hardship=args.get("hardship") in ("1", "on", "y"), dispute=args.get("dispute") in ("1", "on", "y"),
                   q=" ".join((args.get("q") or "").split())[:MAX_SEARCH],
                   sort=sort if sort in SORTS else "amount_desc", page=max(1, min(number("page") or 1, 10**6)))


@dataclass(frozen=True)
class HouseholdRow:
    unit_id: int
    ref: str
    owner_name: str
    phone: str  # masked
    principal_outstanding_fen: int
    late_fee_outstanding_fen: int
    credit_fen: int
    days_overdue: int
    stage: str | None
    klass: str | None
    hardship: bool
    open_disputes: int
    broken_promises: int

    @property
    def total_outstanding_fen(self):
        return self.principal_outstanding_fen + self.late_fee_outstanding_fen


@dataclass(frozen=True)
class HouseholdPage:
    rows: list
    count: int  # households matching, on every page
    total_outstanding_fen: int  # what they owe together
    page: int
    pages: int
    page_size: int = PAGE_SIZE


class _Ranked(tuple):
    """A candidate row before its names are loaded: only what filters and sorting need.
    A plain tuple (20,000 of them are built per request), with names for reading."""

    __slots__ = ()
    unit_id = property(lambda self: self[0])
    total_fen = property(lambda self: self[1])
    days_overdue = property(lambda self: self[2])
    principal_fen = property(lambda self: self[3])
    fee_fen = property(lambda self: self[4])
    credit_fen = property(lambda self: self[5])
    stage = property(lambda self: self[6])
    klass = property(lambda self: self[7])


# -- small sets the list and the page share ----------------------------------------------

def escalation_states(unit_ids=None):
    """``{unit_id: 'legal' | 'cleared'}``: each household's last escalation."""
    query = select(Escalation.unit_id, Escalation.stage).order_by(Escalation.id)
    if unit_ids is not None:
        query = query.where(Escalation.unit_id.in_(unit_ids))
    return {unit_id: stage for unit_id, stage in db.session.execute(query)}


def legal_unit_ids(lawyer=None):
    """Households escalated to ``legal``; with ``lawyer`` (a user name), only those whose
    current case is assigned to them (what that lawyer may see)."""
    from .cases import assigned_unit_ids
    return assigned_unit_ids(lawyer)


def hardship_unit_ids(today, unit_ids=None):
    """Households holding an approved hardship status that covers ``today``."""
    query = select(HardshipStatus.unit_id).where(HardshipStatus.start_on <= today, HardshipStatus.end_on >= today)
    if unit_ids is not None:
        query = query.where(HardshipStatus.unit_id.in_(unit_ids))
    return set(db.session.execute(query).scalars())


def open_dispute_counts(unit_ids=None):
    """``{unit_id: number of disputes still open or in progress}``."""
    query = (select(Dispute.id, Dispute.unit_id, DisputeUpdate.status)
             .outerjoin(DisputeUpdate, DisputeUpdate.dispute_id == Dispute.id)
             .order_by(Dispute.id, DisputeUpdate.id))
    if unit_ids is not None:
        query = query.where(Dispute.unit_id.in_(unit_ids))
    last = {}
    for dispute_id, unit_id, status in db.session.execute(query):
        last[dispute_id] = (unit_id, status)
    counts = defaultdict(int)
    for unit_id, status in last.values():
        if is_active(status):
            counts[unit_id] += 1
    return dict(counts)


def standing_payments(unit_ids, today):
    """``{unit_id: [(paid_on, amount_fen)]}`` of payments not reversed by ``today``."""
    reversed_ids = select(Reversal.payment_id).where(Reversal.payment_id.is_not(None), Reversal.reversed_on <= today)
    rows = db.session.execute(select(Payment.unit_id, Payment.paid_on, Payment.amount_fen)
                              .where(Payment.unit_id.in_(unit_ids), Payment.id.not_in(reversed_ids)))
    found = defaultdict(list)
    for unit_id, paid_on, amount in rows:
        found[unit_id].append((paid_on, amount))
    return found


def broken_promise_counts(unit_ids, today):
    """``{unit_id: promises broken as of today}`` (derived from the payments)."""
    unit_ids = list(unit_ids)
    if not unit_ids:
        return {}
    promises = db.session.execute(select(Promise).where(Promise.unit_id.in_(unit_ids))).scalars().all()
    if not promises:
        return {}
    payments = standing_payments({p.unit_id for p in promises}, today)
    counts = defaultdict(int)
    for promise in promises:
        if promise_status(promise.amount_fen, promise.made_on, promise.promised_on,
                          payments.get(promise.unit_id, ()), today) == BROKEN:
            counts[promise.unit_id] += 1
    return dict(counts)


def current_owners(unit_ids, today):
    """``{unit_id: Owner}`` of the owner whose ownership covers ``today`` (else the latest)."""
    rows = db.session.execute(select(Ownership, Owner).join(Owner, Owner.id == Ownership.owner_id)
                              .where(Ownership.unit_id.in_(unit_ids))
                              .order_by(Ownership.unit_id, Ownership.start_on, Ownership.id)).all()
    found, latest = {}, {}
    for ownership, owner in rows:
        latest[ownership.unit_id] = owner
        if ownership.start_on <= today and (ownership.end_on is None or today <= ownership.end_on):
            found[ownership.unit_id] = owner
    return {unit_id: found.get(unit_id, owner) for unit_id, owner in latest.items()}


def unit_refs(unit_ids):
    rows = db.session.execute(select(Unit.id, Estate.name, Building.name, Unit.number)
                              .join(Building, Building.id == Unit.building_id)
                              .join(Estate, Estate.id == Building.estate_id).where(Unit.id.in_(unit_ids)))
    return {unit_id: f"{estate}/{building}/{number}" for unit_id, estate, building, number in rows}


def units_past_demand_deadline(oldest_due, today):
    """The households of ``oldest_due`` (``{unit_id: date}``, the due date each one's
    stage counts from, see ``stage_due_day``) with a demand delivered whose deadline has
    passed by ``today`` — what makes a household over 90 days ``final`` (SPEC §5, §6).
    Every stage computation asks this function: ``household_stages`` (the list, the
    dashboard, the lawyer's totals) and ``household_summary`` (the household page).
    Only households past the demand stage's days can be ``final``: only they are looked up."""
    from ..domain.stages import StagePolicy
    from .notices import units_past_demand_deadline as delivered_and_past
    threshold = StagePolicy().demand_until_days
    return delivered_and_past({unit_id: due for unit_id, due in oldest_due.items()
                               if (today - due).days > threshold}, today)


def stage_due_day(oldest_principal_day, oldest_fee_day):
    """The ordinal due day a household's stage counts from: its oldest unpaid charge
    (SPEC §5) — the oldest with principal outstanding, or, when only late fee is owed,
    the oldest with late fee outstanding. None when neither."""
    return oldest_principal_day or oldest_fee_day or None


def household_stages(figures, today, escalations, unit_ids=None):
    """``{unit_id: (stage, class)}`` from fast figures (``{unit_id: UnitArrears}``) for
    ``unit_ids`` (default: every unit in ``figures``); ``escalations`` as from
    ``escalation_states``. A unit missing from ``figures`` (never billed) owes nothing.
    The stage depends only on the due day it counts from, whether anything is owed, the
    escalation and the demand deadline: memoised, so 20,000 households need a few hundred
    calls of ``household_stage``, not 20,000."""
    unit_ids = list(figures) if unit_ids is None else unit_ids
    due_days = {}
    for unit_id in unit_ids:
        row = figures.get(unit_id)
        if row is not None and row.total_outstanding_fen > 0:
            due_day = stage_due_day(row.oldest_due_day, row.oldest_fee_due_day)
            if due_day:
                due_days[unit_id] = int(due_day)
    past_deadline = units_past_demand_deadline(
        {unit_id: date.fromordinal(day) for unit_id, day in due_days.items() if today.toordinal() - day > 0},
        today)
    memo, found = {}, {}
    for unit_id in unit_ids:
        row = figures.get(unit_id)
        total = row.total_outstanding_fen if row else 0
        due_day = due_days.get(unit_id)
        key = (due_day, total > 0, escalations.get(unit_id) == "legal", unit_id in past_deadline)
        stage = memo.get(key, False)
        if stage is False:
            stage = memo[key] = household_stage(date.fromordinal(int(due_day)) if due_day else None, today,
                                                total_outstanding_fen=total, escalated=key[2],
                                                demand_deadline_passed=key[3])
        found[unit_id] = (stage, household_class(total) if total > 0 else None)
    return found


# -- the list -----------------------------------------------------------------------------

# How people write a unit when they do not type the whole reference: building and unit
# number with 栋/幢/号楼/#/-/space between ("2栋1601", "2-1601"); buildings are named
# "2栋", "2幢", "2号楼" or just "2".
SHORT_REF = re.compile(r"(\d+)\s*(?:栋|幢|号楼|号|#|-|－|/|\s)\s*(\d+)")
BUILDING_SUFFIXES = ("栋", "幢", "号楼", "")


def _candidate_ids(query, today, legal_only):
    """Units passing the filters SQL can apply (place, search, hardship, dispute, lawyer)."""
    select_ids = select(Unit.id).join(Building, Building.id == Unit.building_id)
    if query.estate_id is not None:
        select_ids = select_ids.where(Building.estate_id == query.estate_id)
    if query.building_id is not None:
        select_ids = select_ids.where(Unit.building_id == query.building_id)
    if query.q:
        text = query.q
        ref = Estate.name + "/" + Building.name + "/" + Unit.number
        owner_terms = [Owner.name.icontains(text, autoescape=True)]
        digits = "".join(ch for ch in text if ch.isdigit())
        if digits and len(digits) >= 4 and digits == text.replace("-", "").replace(" ", ""):
            owner_terms.append(Owner.phone.contains(digits, autoescape=True))
        owner_match = (select(Ownership.id).join(Owner, Owner.id == Ownership.owner_id)
                       .where(Ownership.unit_id == Unit.id, or_(*owner_terms)).exists())
        terms = [ref.icontains(text, autoescape=True), owner_match]
        short = SHORT_REF.fullmatch(text.strip())
        if short:  # "2-1601", "2栋1601", "2#1601": building 2, unit 1601
            building, number = short.groups()
            terms.append(and_(Building.name.in_([building + suffix for suffix in BUILDING_SUFFIXES]),
                              Unit.number == number))
        select_ids = (select_ids.join(Estate, Estate.id == Building.estate_id).where(or_(*terms)))
    ids = set(db.session.execute(select_ids).scalars())
    if legal_only:
        ids &= legal_unit_ids(None if legal_only is True else legal_only)
    if query.hardship:
        ids &= hardship_unit_ids(today)
    if query.dispute:
        ids &= set(open_dispute_counts())
    return ids


# Ties are broken by the other figure, then by the unit's id, so that pages are stable.
_SORT_KEYS = {
    "amount_desc": lambda r: (-r[1], -r[2], r[0]),
    "amount_asc": lambda r: (r[1], r[2], r[0]),
    "days_desc": lambda r: (-r[2], -r[1], r[0]),
    "days_asc": lambda r: (r[2], r[1], r[0]),
}


def _ranked(query, today, legal_only):
    ids = _candidate_ids(query, today, legal_only)
    if not ids:
        return []
    figures = day_figures(today).by_unit
    stages = household_stages(figures, today, escalation_states(), ids)
    today_day = today.toordinal()
    ranked = []
    for unit_id in ids:
        row = figures.get(unit_id)
        if row is None:
            principal = fee = credit = 0
            oldest = None
        else:
            principal, fee, credit = row.principal_outstanding_fen, row.late_fee_outstanding_fen, row.credit_fen
            oldest = int(row.oldest_due_day) if row.oldest_due_day else None
        total = principal + fee
        stage, klass = stages[unit_id]
        if query.stage is not None and (stage or NO_STAGE) != query.stage:
            continue
        if query.klass is not None and klass != query.klass:
            continue
        days = today_day - oldest if oldest and principal > 0 and today_day > oldest else 0
        ranked.append(_Ranked((unit_id, total, days, principal, fee, credit, stage, klass)))
    ranked.sort(key=_SORT_KEYS[query.sort])
    return ranked


def _rows(ranked, today):
    """Full rows for ``ranked`` (names, owners, badges), loaded in a few queries."""
    ids = [r.unit_id for r in ranked]
    if not ids:
        return []
    refs, owners = {}, {}
    hardship, disputes, broken = set(), {}, {}
    for start in range(0, len(ids), 5000):  # keep IN lists a sane size for an export
        chunk = ids[start:start + 5000]
        refs.update(unit_refs(chunk))
        owners.update(current_owners(chunk, today))
        hardship |= hardship_unit_ids(today, chunk)
        disputes.update(open_dispute_counts(chunk))
        broken.update(broken_promise_counts(chunk, today))
    rows = []
    for r in ranked:
        owner = owners.get(r.unit_id)
        rows.append(HouseholdRow(
            unit_id=r.unit_id, ref=refs.get(r.unit_id, "?"), owner_name=owner.name if owner else "",
            phone=mask_phone(owner.phone if owner else None), principal_outstanding_fen=r.principal_fen,
            late_fee_outstanding_fen=r.fee_fen, credit_fen=r.credit_fen, days_overdue=r.days_overdue,
            stage=r.stage, klass=r.klass, hardship=r.unit_id in hardship,
            open_disputes=disputes.get(r.unit_id, 0), broken_promises=broken.get(r.unit_id, 0)))
    return rows


def list_households(query, today, legal_only=False, page_size=PAGE_SIZE):
    """One page of the list for ``query`` as of ``today``. ``legal_only``: a lawyer's user
    name — lawyers see only the households escalated to legal and assigned to them
    (``True``: every household escalated to legal)."""
    ranked = _ranked(query, today, legal_only)
    pages = max(1, math.ceil(len(ranked) / page_size))
    page = min(query.page, pages)
    shown = ranked[(page - 1) * page_size:page * page_size]
    return HouseholdPage(rows=_rows(shown, today), count=len(ranked),
                         total_outstanding_fen=sum(r.total_fen for r in ranked), page=page, pages=pages,
                         page_size=page_size)


def all_households(query, today, legal_only=False):
    """Every row of the list for ``query`` (all pages), in the list's order: the export."""
    return _rows(_ranked(query, today, legal_only), today)


# -- one household ------------------------------------------------------------------------

@dataclass
class PromiseLine:
    promise: Promise
    status: str
    paid_fen: int


@dataclass
class DisputeLine:
    dispute: Dispute
    status: str
    active: bool


@dataclass
class PaymentLine:
    payment: Payment
    reversal: Reversal | None


@dataclass
class OwnerLine:
    owner: Owner
    ownership: Ownership
    phone: str  # masked
    current: bool


@dataclass
class HouseholdSummary:
    unit: Unit
    ref: str
    today: date
    statement: object
    limitation: dict
    stage: str | None
    klass: str | None
    escalation: Escalation | None
    owners: list
    hardships: list
    promises: list
    disputes: list
    payments: list
    contacts: list
    events: list = field(default_factory=list)

    @property
    def escalated(self):
        return self.escalation is not None and self.escalation.stage == "legal"

    @property
    def broken_promises(self):
        return sum(1 for p in self.promises if p.status == BROKEN)

    @property
    def open_disputes(self):
        return [d for d in self.disputes if d.active]

    @property
    def hardship_today(self):
        return any(h.start_on <= self.today <= h.end_on for h in self.hardships)

    @property
    def outstanding_periods(self):
        return [line.charge.period for line in self.statement.charges
                if line.principal_outstanding_fen or line.late_fee_outstanding_fen]

    @property
    def next_limitation(self):
        """``(date, period)`` of the earliest limitation expiry among charges with principal outstanding."""
        dates = [(self.limitation[line.charge.id], line.charge.period) for line in self.statement.charges
                 if line.principal_outstanding_fen > 0]
        return min(dates) if dates else None

    @property
    def days_overdue(self):
        return max((line.days_overdue for line in self.statement.charges), default=0)

    @property
    def standing_payments(self):
        return [line.payment for line in self.payments if line.reversal is None]


def household_summary(unit, today, with_events=True):
    """Everything the household page shows, as of ``today``: the engine's statement with
    the late-fee working, stage and class, owners, promises, disputes, payments,
    contacts and (newest first) the evidence events of the household."""
    statement, limitation = unit_statement(unit, today, keep_working=True)
    escalation = db.session.execute(select(Escalation).where(Escalation.unit_id == unit.id)
                                    .order_by(Escalation.id.desc()).limit(1)).scalar_one_or_none()
    owed = [line.charge.due_date for line in statement.charges if line.principal_outstanding_fen > 0]
    fee_owed = [line.charge.due_date for line in statement.charges if line.late_fee_outstanding_fen > 0]
    due = stage_due_day(min(owed).toordinal() if owed else None, min(fee_owed).toordinal() if fee_owed else None)
    total = statement.total_outstanding_fen
    stage = household_stage(date.fromordinal(due) if due else None, today, total_outstanding_fen=total,
                            escalated=escalation is not None and escalation.stage == "legal",
                            demand_deadline_passed=unit.id in units_past_demand_deadline(
                                {unit.id: date.fromordinal(due)} if due else {}, today))
    klass = household_class(total) if total > 0 else None

    owners = []
    for ownership in unit.ownerships:
        current = ownership.start_on <= today and (ownership.end_on is None or today <= ownership.end_on)
        owners.append(OwnerLine(ownership.owner, ownership, mask_phone(ownership.owner.phone), current))

    payments = db.session.execute(select(Payment).where(Payment.unit_id == unit.id)
                                  .order_by(Payment.paid_on.desc(), Payment.id.desc())).scalars().all()
    reversals = {r.payment_id: r for r in db.session.execute(
        select(Reversal).where(Reversal.payment_id.in_([p.id for p in payments]))).scalars()} if payments else {}
    payment_lines = [PaymentLine(p, reversals.get(p.id)) for p in payments]
    standing = [(p.paid_on, p.amount_fen) for p in payments
                if p.id not in reversals or reversals[p.id].reversed_on > today]

    promises = []
    for promise in db.session.execute(select(Promise).where(Promise.unit_id == unit.id)
                                      .order_by(Promise.promised_on.desc(), Promise.id.desc())).scalars():
        status = promise_status(promise.amount_fen, promise.made_on, promise.promised_on, standing, today)
        promises.append(PromiseLine(promise, status,
                                    paid_towards(promise.made_on, promise.promised_on, standing, today)))

    disputes = []
    for dispute in db.session.execute(select(Dispute).where(Dispute.unit_id == unit.id)
                                      .order_by(Dispute.id.desc())).scalars():
        status = dispute.updates[-1].status if dispute.updates else "open"
        disputes.append(DisputeLine(dispute, status, is_active(status)))

    hardships = db.session.execute(select(HardshipStatus).where(HardshipStatus.unit_id == unit.id)
                                   .order_by(HardshipStatus.start_on)).scalars().all()
    contacts = db.session.execute(select(Contact).where(Contact.unit_id == unit.id)
                                  .order_by(Contact.contacted_at.desc(), Contact.id.desc())).scalars().all()
    events = list(iter_events(unit=unit.ref))[::-1] if with_events else []
    return HouseholdSummary(unit=unit, ref=unit.ref, today=today, statement=statement, limitation=limitation,
                            stage=stage, klass=klass, escalation=escalation, owners=owners, hardships=hardships,
                            promises=promises, disputes=disputes, payments=payment_lines, contacts=contacts,
                            events=events)
