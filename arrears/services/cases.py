"""Legal cases (SPEC §7, §8; issue 6): the steps of a household's case after a manager
escalates it to ``legal``.

Invariants:
- a case step is recorded only for a household escalated to ``legal``;
- every step is an evidence event, written with its rows in one transaction;
- the steps follow the order of ``NEXT_STEPS``; ``closed`` ends the case (a new
  escalation starts a new one);
- a lawsuit or payment-order filing names the charges it claims, and interrupts the
  limitation period of those charges only (SPEC §7), on its filing date;
- a lawyer sees a household only while it is escalated to ``legal`` and assigned to them
  (the last ``lawyer_assigned`` step names them).
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select

from ..domain.limitation import add_years, expires_within
from ..domain.money import format_fen
from ..extensions import db
from ..models import CASE_STEPS, CaseClaim, CaseStep, Charge, Escalation, User
from .errors import NotFound, ServiceError
from .evidence import append_event
from .ledger import INTERRUPTION_SOURCES, in_chunks, local_today
from .transaction import atomic

FILINGS = ("lawsuit_filed", "payment_order_filed")
# Which step may follow which (None: the case has no step yet).
NEXT_STEPS = {
    None: {"lawyer_assigned", "lawsuit_filed", "payment_order_filed", "settlement", "closed"},
    "lawyer_assigned": {"lawyer_assigned", "lawsuit_filed", "payment_order_filed", "settlement", "closed"},
    "payment_order_filed": {"lawyer_assigned", "lawsuit_filed", "settlement", "enforcement", "closed"},
    "lawsuit_filed": {"lawyer_assigned", "hearing", "judgment", "settlement", "closed"},
    "hearing": {"lawyer_assigned", "hearing", "judgment", "settlement", "closed"},
    "judgment": {"lawyer_assigned", "enforcement", "settlement", "closed"},
    "settlement": {"lawyer_assigned", "enforcement", "closed"},
    "enforcement": {"lawyer_assigned", "enforcement", "settlement", "closed"},
    "closed": set(),
}


def case_steps(unit_id):
    """The steps of the household's current case (since its last escalation to legal)."""
    escalation = _last_escalation(unit_id)
    if escalation is None or escalation.stage != "legal":
        return []
    return db.session.execute(select(CaseStep).where(CaseStep.unit_id == unit_id,
                                                     CaseStep.created_at >= escalation.created_at)
                              .order_by(CaseStep.id)).scalars().all()


def _last_escalation(unit_id):
    return db.session.execute(select(Escalation).where(Escalation.unit_id == unit_id)
                              .order_by(Escalation.id.desc()).limit(1)).scalar_one_or_none()


def assigned_lawyer(unit_id):
    """The user name of the lawyer on the household's current case, or None."""
    for step in reversed(case_steps(unit_id)):
        if step.kind == "lawyer_assigned":
            return step.lawyer
    return None


def record_step(unit, kind, on_date, actor, *, lawyer=None, court=None, case_number=None, amount_fen=None,
                note=None, charge_ids=()):
    """Record one step of the household's case; raises ``ServiceError`` saying what is wrong."""
    if kind not in CASE_STEPS:
        raise ServiceError("case step %(kind)s must be one of %(allowed)s", kind=repr(kind),
                           allowed=", ".join(CASE_STEPS))
    with atomic():
        today = local_today(unit.building.estate.timezone)
        escalation = _last_escalation(unit.id)
        if escalation is None or escalation.stage != "legal":
            raise ServiceError("%(unit)s is not escalated to legal; escalate it before recording its case",
                               unit=unit.ref)
        if on_date > today:
            raise ServiceError("the date %(day)s is in the future", day=on_date)
        steps = case_steps(unit.id)
        last = steps[-1].kind if steps else None
        if kind not in NEXT_STEPS[last]:
            raise ServiceError("a case whose last step is %(last)s cannot go on with %(kind)s", last=last or "none",
                               kind=kind)
        if kind == "lawyer_assigned":
            user = db.session.execute(select(User).where(User.username == (lawyer or ""))).scalar_one_or_none()
            if user is None or user.role != "lawyer" or not user.active:
                raise ServiceError("%(lawyer)s is not an active lawyer's user name", lawyer=repr(lawyer))
        if kind in FILINGS:
            if not (court or "").strip() or not (case_number or "").strip():
                raise ServiceError("a filing needs the court and the case number")
            if not charge_ids:
                raise ServiceError("a filing names the charges it claims")
            owned = set(db.session.execute(select(Charge.id).where(Charge.unit_id == unit.id,
                                                                   Charge.id.in_(list(charge_ids)))).scalars())
            if owned != set(charge_ids):
                raise ServiceError("charges %(ids)s are not charges of %(unit)s", ids=sorted(set(charge_ids) - owned),
                                   unit=unit.ref)
        if amount_fen is not None and amount_fen < 0:
            raise ServiceError("an amount cannot be negative")
        step = CaseStep(unit_id=unit.id, kind=kind, on_date=on_date, lawyer=lawyer if kind == "lawyer_assigned" else None,
                        court=(court or "").strip() or None, case_number=(case_number or "").strip() or None,
                        amount_fen=amount_fen, note=(note or "").strip() or None, created_by=actor)
        db.session.add(step)
        db.session.flush()
        periods = []
        if kind in FILINGS:
            db.session.add_all(CaseClaim(step_id=step.id, charge_id=c) for c in charge_ids)
            periods = sorted(db.session.execute(select(Charge.period).where(Charge.id.in_(list(charge_ids))))
                             .scalars())
        append_event(f"case_{kind}", actor, unit.ref, {
            "step_id": step.id, "on": on_date.isoformat(), "lawyer": step.lawyer, "court": step.court,
            "case_number": step.case_number, "amount": format_fen(amount_fen) if amount_fen is not None else None,
            "note": step.note, "claims": periods})
        return step


def filing_interruptions(unit_ids, as_of):
    """Limitation source (SPEC §7): a lawsuit or payment order filed interrupts the
    charges it claims, on its filing date (for the units ``unit_ids``)."""
    found = {}
    for chunk in in_chunks(unit_ids):
        rows = db.session.execute(
            select(CaseClaim.charge_id, CaseStep.on_date).join(CaseStep, CaseStep.id == CaseClaim.step_id)
            .where(CaseStep.unit_id.in_(chunk), CaseStep.kind.in_(FILINGS), CaseStep.on_date <= as_of)).all()
        for charge_id, on_date in rows:
            found.setdefault(charge_id, []).append(on_date if isinstance(on_date, date)
                                                   else date.fromisoformat(str(on_date)))
    return found


INTERRUPTION_SOURCES.append(filing_interruptions)


def find_step(step_id):
    step = db.session.get(CaseStep, step_id)
    if step is None:
        raise NotFound("case step #%(id)s does not exist", id=step_id)
    return step


# -- reading the cases (the screens) ----------------------------------------------------------

def assigned_unit_ids(lawyer=None, unit_ids=None):
    """Households escalated to ``legal`` now; with ``lawyer`` (a user name), only those
    whose current case's last ``lawyer_assigned`` step names them — what a lawyer may see.
    Two queries, whatever the number of households (``assigned_lawyer`` for many)."""
    query = select(Escalation.unit_id, Escalation.stage, Escalation.created_at).order_by(Escalation.id)
    if unit_ids is not None:
        query = query.where(Escalation.unit_id.in_(list(unit_ids)))
    last = {}
    for unit_id, stage, created_at in db.session.execute(query):
        last[unit_id] = (stage, created_at)
    legal = {unit_id: created_at for unit_id, (stage, created_at) in last.items() if stage == "legal"}
    if lawyer is None or not legal:
        return set(legal)
    assigned = {}
    for unit_id, name, created_at in db.session.execute(
            select(CaseStep.unit_id, CaseStep.lawyer, CaseStep.created_at)
            .where(CaseStep.kind == "lawyer_assigned", CaseStep.unit_id.in_(list(legal)))
            .order_by(CaseStep.id)):
        if created_at >= legal[unit_id]:  # a step of the current case (as ``case_steps`` reads it)
            assigned[unit_id] = name
    return {unit_id for unit_id, name in assigned.items() if name == lawyer}


def active_lawyers():
    """User names of the active users with role ``lawyer``, by name."""
    return db.session.execute(select(User.username).where(User.role == "lawyer", User.active.is_(True))
                              .order_by(User.username)).scalars().all()


def next_kinds(unit_id):
    """The step kinds the household's case may go on with (in ``CASE_STEPS`` order); empty
    when the household is not escalated to legal or its case is closed."""
    if not _in_legal(unit_id):
        return []
    steps = case_steps(unit_id)
    allowed = NEXT_STEPS[steps[-1].kind if steps else None]
    return [kind for kind in CASE_STEPS if kind in allowed]


def _in_legal(unit_id):
    escalation = _last_escalation(unit_id)
    return escalation is not None and escalation.stage == "legal"


def claimed_periods(steps):
    """``{step_id: [period, ...]}``: the charges each filing among ``steps`` claims."""
    ids = [step.id for step in steps if step.kind in FILINGS]
    if not ids:
        return {}
    found = defaultdict(list)
    for step_id, period in db.session.execute(
            select(CaseClaim.step_id, Charge.period).join(Charge, Charge.id == CaseClaim.charge_id)
            .where(CaseClaim.step_id.in_(ids)).order_by(Charge.due_date, Charge.id)):
        found[step_id].append(period)
    return dict(found)


# -- the weekly limitation view ---------------------------------------------------------------

WATCH_WEEKS = 13
PAYMENT, NOTICE, PLAN, FILING, OTHER = "payment", "notice", "plan", "filing", "other"
SOURCE_RANK = {FILING: 0, NOTICE: 1, PLAN: 2, PAYMENT: 3, OTHER: 4}


@dataclass(frozen=True)
class LimitationItem:
    """A charge with principal outstanding (fen) and its limitation expiry; ``interrupted_on``
    and ``interruption`` (``PAYMENT``, ``NOTICE``, ``PLAN``, ``FILING``) name the last
    interruption the expiry runs from, or are None when it runs from the due date."""

    unit_id: int
    ref: str
    owner_name: str
    charge_id: int
    period: str
    due_date: date
    principal_fen: int
    expires: date
    interrupted_on: date | None
    interruption: str | None


@dataclass(frozen=True)
class LimitationWeek:
    monday: date  # the ISO week's first day
    iso_week: tuple  # (ISO year, week number)
    items: list  # LimitationItem, soonest first

    @property
    def principal_fen(self):
        return sum(item.principal_fen for item in self.items)


@dataclass(frozen=True)
class LimitationView:
    as_of: date
    until: date  # the last day of the last week shown
    weeks: list  # LimitationWeek, every week of the window (empty ones too), in order
    expired: list  # LimitationItem, most recently expired first

    @property
    def expiring_count(self):
        return sum(len(week.items) for week in self.weeks)


def _source_kinds():
    """The kind of each limitation source in ``ledger.INTERRUPTION_SOURCES``."""
    from .notices import delivered_notice_interruptions
    from .relief import plan_interruptions
    return {delivered_notice_interruptions: NOTICE, plan_interruptions: PLAN, filing_interruptions: FILING}


def limitation_weeks(as_of, weeks=WATCH_WEEKS):
    """What to demand before it is lost (SPEC §7, issue 6): the charges with principal
    outstanding whose limitation expires from ``as_of`` to the Sunday ending the
    ``weeks``-th ISO week (the current week is the first), grouped by ISO week, and the
    charges already expired.

    The charges and their expiries are the dashboard's watchlist computation
    (``dashboard.watch_charges``: ``domain.limitation`` over the unit's last payment and
    ``INTERRUPTION_SOURCES``), over a window of whole weeks; the last interruption of each
    is read from the same sources, one kind at a time."""
    from .dashboard import last_payments, watch_charges, households, unit_labels
    from .reports import day_figures
    years = current_app.config["ARREARS_LIMITATION_YEARS"]
    first_monday = as_of - timedelta(days=as_of.weekday())
    until = first_monday + timedelta(weeks=weeks, days=-1)
    within_days = (until - as_of).days
    snapshot = day_figures(as_of)
    per_unit = watch_charges(as_of, households(as_of, snapshot=snapshot), within_days)
    items = [item for found in per_unit.values() for item in found]
    labels = unit_labels({item[0] for item in items}, as_of)
    periods = {}
    if items:
        periods = dict(db.session.execute(select(Charge.id, Charge.period)
                                          .where(Charge.id.in_([item[1] for item in items]))).all())
    last_paid = last_payments(list(per_unit), as_of)
    kinds = _source_kinds()
    by_charge = defaultdict(list)  # charge_id -> [(date, kind)]
    for source in INTERRUPTION_SOURCES:
        for charge_id, dates in source(list(per_unit), as_of).items():
            by_charge[charge_id] += [(d, kinds.get(source, OTHER)) for d in dates if d <= as_of]

    found = []
    for unit_id, charge_id, due_day, principal, expires in items:
        due = date.fromordinal(due_day)
        candidates = list(by_charge.get(charge_id, ()))
        if unit_id in last_paid:
            candidates.append((last_paid[unit_id], PAYMENT))
        # The interruption the expiry runs from: the latest after the due date giving that
        # expiry (on one day, a filing before a notice, a plan, a payment); none when the
        # expiry runs from the due date.
        giving = sorted((c for c in candidates if c[0] > due and add_years(c[0], years) == expires),
                        key=lambda c: (-c[0].toordinal(), SOURCE_RANK[c[1]]))
        interrupted_on, interruption = giving[0] if giving else (None, None)
        label = labels[unit_id]
        found.append(LimitationItem(unit_id, label.ref, label.owner_name, charge_id, periods[charge_id], due,
                                    principal, expires, interrupted_on, interruption))

    expiring = sorted((i for i in found if expires_within(i.expires, as_of, within_days)),
                      key=lambda i: (i.expires, i.ref, i.due_date, i.charge_id))
    by_week = defaultdict(list)
    for item in expiring:
        by_week[item.expires - timedelta(days=item.expires.weekday())].append(item)
    shown = [LimitationWeek(monday, tuple(monday.isocalendar())[:2], by_week.get(monday, []))
             for monday in (first_monday + timedelta(weeks=n) for n in range(weeks))]
    expired = sorted((i for i in found if i.expires < as_of),
                     key=lambda i: (-i.expires.toordinal(), i.ref, i.due_date, i.charge_id))
    return LimitationView(as_of=as_of, until=until, weeks=shown, expired=expired)
