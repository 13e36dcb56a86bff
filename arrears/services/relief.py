"""Relief (SPEC §3, §4, §7): hardship status, waivers, payment plans — requested by one
user, decided by a different user with the manager role.

Invariants:
- nothing changes any figure until a request is approved: a request is a row of its
  own; approval writes the ``HardshipStatus`` or ``Waiver`` the engine reads (a plan's
  suspension is read from its approval);
- a request is decided once: ``decisions`` has one row per request (a unique
  constraint), so a double submit, or two managers at once, take effect once — the
  second is told it was already decided;
- the decider is a manager (or admin) and never the requester;
- an approved waiver is undone only by a ``WaiverReversal`` with a reason;
- a plan's instalments add up exactly to what it covers; a broken plan's break is
  recorded once (``plan_breaks``), from the payments, when first seen;
- every request, decision, reversal and break is an evidence event, written in the same
  transaction as its rows, and the household's balances are rebuilt there too.
"""
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..domain import plans as plan_rules
from ..domain.money import format_fen
from ..extensions import db
from ..models import (WAIVER_KINDS, WAIVER_REASONS, Charge, Decision, HardshipRequest, HardshipStatus, PaymentPlan,
                      PlanAgreement, PlanBreak, PlanCharge, PlanInstalment, Unit, User, Waiver, WaiverRequest,
                      WaiverReversal)
from .crypto import decrypt_text, encrypt_text
from .errors import NotFound, ServiceError
from .evidence import append_event
from .files import check_upload, store_file
from .ledger import INTERRUPTION_SOURCES, UnitHistory, in_chunks, local_today, refresh_unit_balances  # noqa: I001
from .transaction import atomic

MAX_HARDSHIP_DAYS = 366 * 2


class AlreadyDecided(ServiceError):
    """The request has been approved or rejected already; this decision changed nothing."""


class NotAllowed(ServiceError):
    """The user may not decide this request (not a manager, or the requester)."""


# -- hardship --------------------------------------------------------------------------------

def request_hardship(unit, start_on, end_on, reason, actor, document=None, renews_id=None):
    """A clerk's request for hardship status from ``start_on`` to ``end_on`` inclusive.
    ``document``: ``(filename, bytes)`` of the supporting paper (PDF or image)."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("a hardship request needs a reason")
    if end_on < start_on:
        raise ServiceError("the hardship period ends (%(end)s) before it starts (%(start)s)", end=end_on,
                           start=start_on)
    if (end_on - start_on).days > MAX_HARDSHIP_DAYS:
        raise ServiceError("a hardship period may last at most two years; renew it when it ends")
    with atomic():
        sha = name = None
        if document is not None:
            name, data = document
            content_type = check_upload(name, data, current_app.config["ARREARS_MAX_UPLOAD_BYTES"])
            sha = store_file(data, content_type)
        if renews_id is not None:
            renewed = db.session.get(HardshipStatus, renews_id)
            if renewed is None or renewed.unit_id != unit.id:
                raise NotFound("hardship status #%(id)s of %(unit)s does not exist", id=renews_id, unit=unit.ref)
        request = HardshipRequest(unit_id=unit.id, start_on=start_on, end_on=end_on,
                                  reason_encrypted=encrypt_text(reason), document_sha256=sha,
                                  document_name=name[:200] if name else None, renews_id=renews_id,
                                  requested_by=actor)
        db.session.add(request)
        db.session.flush()
        # The reason is sensitive (SPEC §9): the chain records that there is one, not what it says.
        append_event("hardship_requested", actor, unit.ref, {
            "request_id": request.id, "start": start_on.isoformat(), "end": end_on.isoformat(),
            "document_sha256": sha, "renews_id": renews_id})
        return request


def hardship_reason(request_or_status):
    return decrypt_text(request_or_status.reason_encrypted)


# -- waivers ---------------------------------------------------------------------------------

def _outstanding(unit, charge_id, day):
    statement = UnitHistory(unit, day).statement()
    try:
        return statement.charge(charge_id)
    except KeyError:
        raise ServiceError("the charge is not billed yet on %(day)s", day=day) from None


def request_waiver(charge_id, kind, amount_fen, reason, actor, note=""):
    """Request a waiver of ``kind`` on one charge: ``amount_fen`` (None: all the late fee
    outstanding when approved). Refused when above what is outstanding today."""
    if kind not in WAIVER_KINDS:
        raise ServiceError("waiver kind %(kind)s must be one of %(allowed)s", kind=repr(kind),
                           allowed=", ".join(WAIVER_KINDS))
    if reason not in WAIVER_REASONS:
        raise ServiceError("waiver reason %(reason)s must be one of %(allowed)s", reason=repr(reason),
                           allowed=", ".join(WAIVER_REASONS))
    if amount_fen is None and kind != "late_fee":
        raise ServiceError("only a late-fee waiver can be for all of it; give the principal amount")
    if amount_fen is not None and amount_fen <= 0:
        raise ServiceError("the amount must be greater than 0.00")
    with atomic():
        charge = db.session.get(Charge, charge_id)
        if charge is None:
            raise NotFound("charge #%(id)s does not exist", id=charge_id)
        unit = db.session.get(Unit, charge.unit_id)
        line = _outstanding(unit, charge.id, local_today(unit.building.estate.timezone))
        room = line.principal_outstanding_fen if kind == "principal" else line.late_fee_outstanding_fen
        if room <= 0 and kind == "principal":
            raise ServiceError("the %(period)s charge has no principal outstanding to waive", period=charge.period)
        if room <= 0:
            raise ServiceError("the %(period)s charge has no late fee outstanding to waive", period=charge.period)
        if amount_fen is not None and amount_fen > room:
            figures = {"amount": format_fen(amount_fen), "period": charge.period, "room": format_fen(room)}
            if kind == "principal":
                raise ServiceError("%(amount)s is more than the principal outstanding on the %(period)s charge "
                                   "(%(room)s)", **figures)
            raise ServiceError("%(amount)s is more than the late fee outstanding on the %(period)s charge "
                               "(%(room)s)", **figures)
        request = WaiverRequest(charge_id=charge.id, kind=kind, amount_fen=amount_fen, reason=reason,
                                note=(note or "").strip() or None, requested_by=actor)
        db.session.add(request)
        db.session.flush()
        append_event("waiver_requested", actor, unit.ref, {
            "request_id": request.id, "period": charge.period, "kind": kind,
            "amount": format_fen(amount_fen) if amount_fen is not None else "all", "reason": reason})
        # Under the chain lock (taken by the event): a second request for the same charge and
        # kind while one awaits a decision would only be refused at approval.
        decided = select(Decision.request_id).where(Decision.subject == "waiver")
        waiting = db.session.execute(select(WaiverRequest.id).where(
            WaiverRequest.charge_id == charge.id, WaiverRequest.kind == kind, WaiverRequest.id != request.id,
            WaiverRequest.id.not_in(decided))).scalars().first()
        if waiting is not None:
            raise ServiceError("waiver request #%(id)s for the %(period)s charge awaits a decision already",
                               id=waiting, period=charge.period)
        return request


def reverse_waiver(waiver_id, reason, actor):
    """Undo an approved waiver from today, with a reason (managers)."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("undoing a waiver needs a reason")
    with atomic():
        _require_manager(actor)
        waiver = db.session.get(Waiver, waiver_id)
        if waiver is None:
            raise NotFound("waiver #%(id)s does not exist", id=waiver_id)
        if db.session.execute(select(WaiverReversal.id).where(WaiverReversal.waiver_id == waiver.id)).first():
            raise AlreadyDecided("waiver #%(id)s is already undone", id=waiver.id)
        charge = db.session.get(Charge, waiver.charge_id)
        unit = db.session.get(Unit, charge.unit_id)
        today = local_today(unit.building.estate.timezone)
        db.session.add(WaiverReversal(waiver_id=waiver.id, reason=reason, reversed_on=today, created_by=actor))
        try:
            db.session.flush()
        except IntegrityError:
            raise AlreadyDecided("waiver #%(id)s is already undone", id=waiver.id) from None
        append_event("waiver_reversed", actor, unit.ref, {
            "waiver_id": waiver.id, "period": charge.period, "kind": waiver.kind,
            "amount": format_fen(waiver.amount_fen), "reason": reason, "reversed_on": today.isoformat()})
        refresh_unit_balances(unit)


# -- payment plans ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanDraft:
    charge_ids: tuple
    include_late_fee: bool
    instalments: tuple  # of (due_on, amount_fen)
    note: str = ""


def plan_coverage(unit, charge_ids, include_late_fee, day):
    """What a plan over ``charge_ids`` covers on ``day`` (fen), and the charges' lines."""
    statement = UnitHistory(unit, day).statement()
    lines = []
    for charge_id in charge_ids:
        try:
            lines.append(statement.charge(charge_id))
        except KeyError:
            raise ServiceError("charge #%(id)s is not a charge of %(unit)s billed by %(day)s", id=charge_id,
                               unit=unit.ref, day=day) from None
    covered = sum(l.principal_outstanding_fen + (l.late_fee_outstanding_fen if include_late_fee else 0)
                  for l in lines)
    return covered, lines


def request_plan(unit, draft, actor):
    """Draw up a plan over named charges; refused unless its instalments add up exactly
    to what it covers today. Returns the ``PaymentPlan``."""
    if not draft.charge_ids:
        raise ServiceError("choose the charges the plan covers")
    with atomic():
        today = local_today(unit.building.estate.timezone)
        covered, lines = plan_coverage(unit, draft.charge_ids, draft.include_late_fee, today)
        if covered <= 0:
            raise ServiceError("the chosen charges have nothing outstanding")
        taken = _charges_in_plans_in_force(unit, today) & set(draft.charge_ids)
        if taken:
            periods = ", ".join(l.charge.period for l in lines if l.charge.id in taken)
            raise ServiceError("charges of %(periods)s are already in a plan in force or awaiting approval",
                               periods=periods)
        instalments = [plan_rules.Instalment(n, due, amount) for n, (due, amount) in enumerate(draft.instalments, 1)]
        problems = plan_rules.instalment_problems(instalments, covered, today)
        if problems:  # the domain's words (English): the screen checks the instalments in its own first
            said = "; ".join(problems)
            raise ServiceError(said)
        plan = PaymentPlan(unit_id=unit.id, include_late_fee=draft.include_late_fee, covered_fen=covered,
                           drawn_on=today, note=(draft.note or "").strip() or None, requested_by=actor)
        db.session.add(plan)
        db.session.flush()
        db.session.add_all(PlanCharge(plan_id=plan.id, charge_id=c) for c in draft.charge_ids)
        db.session.add_all(PlanInstalment(plan_id=plan.id, number=i.number, due_on=i.due_on, amount_fen=i.amount_fen)
                           for i in instalments)
        append_event("plan_requested", actor, unit.ref, {
            "plan_id": plan.id, "periods": [l.charge.period for l in lines], "covered": format_fen(covered),
            "include_late_fee": draft.include_late_fee,
            "instalments": [{"due_on": i.due_on.isoformat(), "amount": format_fen(i.amount_fen)} for i in instalments]})
        return plan


def _charges_in_plans_in_force(unit, day):
    """Charge ids of the unit's plans awaiting a decision or approved and not broken or completed."""
    found = set()
    for plan in db.session.execute(select(PaymentPlan).where(PaymentPlan.unit_id == unit.id)).scalars():
        decision = _decision("plan", plan.id)
        if decision is not None and decision.outcome == "rejected":
            continue
        if decision is not None:
            state = plan_state_of(plan, decision.decided_on, UnitHistory(unit, day).payments, day)
            if state.status != plan_rules.ACTIVE:
                continue
        found.update(c.charge_id for c in plan.charges)
    return found


def plan_instalments(plan):
    return [plan_rules.Instalment(i.number, i.due_on, i.amount_fen) for i in plan.instalments]


def tolerance_days():
    return current_app.config["ARREARS_PLAN_TOLERANCE_DAYS"]


def plan_state_of(plan, approved_on, engine_payments, as_of):
    return plan_rules.plan_state(plan_instalments(plan), [(p.paid_on, p.amount_fen) for p in engine_payments],
                                 approved_on, tolerance_days(), as_of)


def approved_plans(unit_id):
    """``[(plan, approved_on)]`` of the unit's approved plans."""
    rows = db.session.execute(
        select(PaymentPlan, Decision.decided_on).join(Decision, (Decision.subject == "plan")
                                                      & (Decision.request_id == PaymentPlan.id))
        .where(PaymentPlan.unit_id == unit_id, Decision.outcome == "approved").order_by(PaymentPlan.id)).all()
    return [(plan, approved_on) for plan, approved_on in rows]


def approved_plan_unit_ids():
    """Units with an approved plan whose break is not recorded yet."""
    broken = select(PlanBreak.plan_id)
    return sorted(set(db.session.execute(
        select(PaymentPlan.unit_id).join(Decision, (Decision.subject == "plan") & (Decision.request_id == PaymentPlan.id))
        .where(Decision.outcome == "approved", PaymentPlan.id.not_in(broken))).scalars()))


def record_plan_breaks(unit, today=None):
    """Record the break of every approved plan of the unit that has broken by ``today``
    and is not recorded yet; returns the plans newly recorded as broken. Runs in the
    caller's transaction when there is one that is writing, else in its own."""
    today = today or local_today(unit.building.estate.timezone)
    plans = approved_plans(unit.id)
    if not plans:
        return []
    recorded = set(db.session.execute(select(PlanBreak.plan_id).where(
        PlanBreak.plan_id.in_([p.id for p, _ in plans]))).scalars())
    history = UnitHistory(unit, today)
    found = []
    for plan, approved_on in plans:
        if plan.id in recorded:
            continue
        state = plan_state_of(plan, approved_on, history.payments, today)
        if state.status == plan_rules.BROKEN:
            found.append((plan, state))
    if not found:
        return []
    with atomic():
        for plan, state in found:
            db.session.add(PlanBreak(plan_id=plan.id, broken_on=state.broken_on,
                                     instalment_number=state.broken_instalment))
            append_event("plan_broken", "system", unit.ref, {
                "plan_id": plan.id, "broken_on": state.broken_on.isoformat(),
                "instalment": state.broken_instalment, "paid": format_fen(state.paid_fen),
                "covered": format_fen(state.covered_fen)})
        refresh_unit_balances(unit)
    return [plan for plan, _ in found]


# -- decisions ----------------------------------------------------------------------------------

REQUESTS = {"hardship": HardshipRequest, "waiver": WaiverRequest, "plan": PaymentPlan}


def _decision(subject, request_id):
    return db.session.execute(select(Decision).where(Decision.subject == subject,
                                                     Decision.request_id == request_id)).scalar_one_or_none()


def _require_manager(actor):
    user = db.session.execute(select(User).where(User.username == actor)).scalar_one_or_none()
    if user is None or not user.has_role("manager"):
        raise NotAllowed("%(actor)s is not a manager: only a manager can decide relief", actor=actor)
    return user


def decide(subject, request_id, outcome, actor, note=""):
    """Approve or reject a request. Raises ``NotAllowed`` (not a manager, or the
    requester), ``AlreadyDecided`` (decided before: nothing changes), ``ServiceError``
    (an approval that no longer fits the figures). Returns the ``Decision``."""
    if subject not in REQUESTS:
        raise ServiceError("unknown kind of request %(subject)s", subject=repr(subject))
    if outcome not in ("approved", "rejected"):
        raise ServiceError("a decision is approved or rejected, not %(outcome)s", outcome=repr(outcome))
    with atomic():
        _require_manager(actor)
        request = db.session.get(REQUESTS[subject], request_id)
        if request is None:
            raise NotFound("%(subject)s request #%(id)s does not exist", subject=subject, id=request_id)
        if request.requested_by == actor:
            raise NotAllowed("the same person cannot approve or reject their own request")
        if _decision(subject, request_id) is not None:
            raise AlreadyDecided("this %(subject)s request was already decided; nothing changed", subject=subject)
        unit = _unit_of(subject, request)
        today = local_today(unit.building.estate.timezone)
        decision = Decision(subject=subject, request_id=request.id, outcome=outcome,
                            note=(note or "").strip() or None, decided_on=today, decided_by=actor)
        db.session.add(decision)
        try:
            with db.session.begin_nested():
                db.session.flush()
        except IntegrityError:  # another manager decided it at the same moment
            raise AlreadyDecided("this %(subject)s request was already decided; nothing changed",
                                 subject=subject) from None
        details = {"request_id": request.id, "outcome": outcome, "note": decision.note}
        if outcome == "approved":
            details.update(_apply(subject, request, unit, actor, today))
        append_event(f"{subject}_{outcome}", actor, unit.ref, details)
        if outcome == "approved":
            refresh_unit_balances(unit)
        return decision


def _unit_of(subject, request):
    if subject == "waiver":
        return db.session.get(Unit, db.session.get(Charge, request.charge_id).unit_id)
    return db.session.get(Unit, request.unit_id)


def _apply(subject, request, unit, actor, today):
    """Write what an approval grants; returns the evidence details."""
    if subject == "hardship":
        status = HardshipStatus(unit_id=unit.id, start_on=request.start_on, end_on=request.end_on,
                                reason_encrypted=request.reason_encrypted, requested_by=request.requested_by,
                                approved_by=actor, request_id=request.id)
        db.session.add(status)
        db.session.flush()
        return {"hardship_id": status.id, "start": request.start_on.isoformat(), "end": request.end_on.isoformat(),
                "requested_by": request.requested_by, "approved_by": actor}
    if subject == "waiver":
        charge = db.session.get(Charge, request.charge_id)
        line = _outstanding(unit, charge.id, today)
        room = line.principal_outstanding_fen if request.kind == "principal" else line.late_fee_outstanding_fen
        amount = room if request.amount_fen is None else request.amount_fen
        if amount <= 0 and request.kind == "principal":
            raise ServiceError("the %(period)s charge has no principal outstanding now", period=charge.period)
        if amount <= 0:
            raise ServiceError("the %(period)s charge has no late fee outstanding now", period=charge.period)
        if amount > room:
            figures = {"amount": format_fen(amount), "period": charge.period, "room": format_fen(room)}
            if request.kind == "principal":
                raise ServiceError("%(amount)s is now more than the principal outstanding on the %(period)s charge "
                                   "(%(room)s); reject it and ask for a new request", **figures)
            raise ServiceError("%(amount)s is now more than the late fee outstanding on the %(period)s charge "
                               "(%(room)s); reject it and ask for a new request", **figures)
        waiver = Waiver(charge_id=charge.id, kind=request.kind, amount_fen=amount, reason=request.reason,
                        requested_by=request.requested_by, approved_by=actor, approved_on=today,
                        request_id=request.id)
        db.session.add(waiver)
        db.session.flush()
        return {"waiver_id": waiver.id, "period": charge.period, "kind": request.kind, "amount": format_fen(amount),
                "reason": request.reason, "requested_by": request.requested_by, "approved_by": actor,
                "approved_on": today.isoformat()}
    # A plan: approved as drawn up; it suspends accrual from today while in good standing.
    return {"plan_id": request.id, "covered": format_fen(request.covered_fen), "approved_on": today.isoformat(),
            "periods": [db.session.get(Charge, c.charge_id).period for c in request.charges]}


# -- what the engine and limitation read --------------------------------------------------------

def plan_suspensions(unit, as_of, engine_payments):
    """Engine suspensions of the unit's approved plans as known on ``as_of``, and the next
    day a plan may break (a change of the figures' course), or None."""
    from ..domain.ledger import Suspension
    found, next_change = [], None
    far = date(9999, 12, 30)
    for plan, approved_on in approved_plans(unit.id):
        if approved_on > as_of:
            continue
        state = plan_state_of(plan, approved_on, engine_payments, as_of)
        start, end = plan_rules.suspended_span(approved_on, state)
        end = end or far
        if end >= start:
            found.append(Suspension(start, end, frozenset(c.charge_id for c in plan.charges)))
        possible = plan_rules.next_possible_break(plan_instalments(plan), [(p.paid_on, p.amount_fen)
                                                                           for p in engine_payments],
                                                  approved_on, tolerance_days(), as_of)
        if possible and (next_change is None or possible < next_change):
            next_change = possible
    return found, next_change


def plan_interruptions(unit_ids, as_of):
    """Limitation source (SPEC §7): an approved (signed) plan interrupts its charges on
    the day of approval (for the units ``unit_ids``)."""
    found = {}
    approved = (Decision.subject == "plan") & (Decision.request_id == PaymentPlan.id)
    for chunk in in_chunks(unit_ids):
        for charge_id, approved_on in db.session.execute(
                select(PlanCharge.charge_id, Decision.decided_on)
                .join(PaymentPlan, PaymentPlan.id == PlanCharge.plan_id).join(Decision, approved)
                .where(PaymentPlan.unit_id.in_(chunk), Decision.outcome == "approved",
                       Decision.decided_on <= as_of)):
            found.setdefault(charge_id, []).append(approved_on)
    return found


INTERRUPTION_SOURCES.append(plan_interruptions)


def waiver_reversal_days(unit_id):
    """``{waiver_id: reversed_on}`` of the unit's undone waivers."""
    return dict(db.session.execute(
        select(WaiverReversal.waiver_id, WaiverReversal.reversed_on).join(Waiver, Waiver.id == WaiverReversal.waiver_id)
        .join(Charge, Charge.id == Waiver.charge_id).where(Charge.unit_id == unit_id)).all())


# -- the plan agreement -------------------------------------------------------------------------

def print_plan_agreement(plan_id, actor, language="zh_CN"):
    """The signed two-party agreement PDF of a plan (分期还款协议); every print is kept."""
    from .notices import _head, make_pdf, next_serial, office_context, verify_url
    plan = db.session.get(PaymentPlan, plan_id)
    if plan is None:
        raise NotFound("plan #%(id)s does not exist", id=plan_id)
    unit = db.session.get(Unit, plan.unit_id)
    decision = _decision("plan", plan.id)
    if decision is not None and decision.outcome == "rejected":
        raise ServiceError("plan #%(id)s was rejected; it has no agreement to print", id=plan.id)
    _covered, lines = plan_coverage(unit, [c.charge_id for c in plan.charges], plan.include_late_fee, plan.drawn_on)
    owner = unit.owner_on(plan.drawn_on)
    db.session.rollback()
    serial = next_serial("FQ", local_today().year)
    chain, seq, digest = _head()
    context = {
        "serial": serial, "issued_on": local_today(), "copy": False, "plan_id": plan.id,
        "office": office_context(unit.building.estate), "estate": unit.building.estate.name, "unit_ref": unit.ref,
        "owner_name": owner.name if owner else "", "drawn_on": plan.drawn_on,
        "approved_on": decision.decided_on if decision else None, "include_late_fee": plan.include_late_fee,
        "lines": [{"period": l.charge.period, "fee_item": l.charge.fee_item,
                   "principal": format_fen(l.principal_outstanding_fen),
                   "late_fee": format_fen(l.late_fee_outstanding_fen if plan.include_late_fee else 0)} for l in lines],
        "covered": format_fen(plan.covered_fen),
        "instalments": [{"number": i.number, "due_on": i.due_on, "amount": format_fen(i.amount_fen)}
                        for i in plan.instalments],
        "tolerance_days": tolerance_days(), "verify_url": verify_url(serial), "chain_head": chain,
    }
    pdf = make_pdf("plan.html", context, language, reason=f"分期还款协议 {serial}",
                   location=context["office"]["name"])
    with atomic():
        sha = store_file(pdf, "application/pdf")
        agreement = PlanAgreement(plan_id=plan.id, serial=serial, sha256=sha, chain_seq=seq, chain_hash=digest,
                                  created_by=actor)
        db.session.add(agreement)
        db.session.flush()
        append_event("plan_agreement_printed", actor, unit.ref, {"plan_id": plan.id, "serial": serial,
                                                                  "sha256": sha})
    return agreement


# -- read-only queries for the screens and the reports -------------------------------------------
# Nothing below writes: the relief screens, the household page's relief section and the
# relief reports read through these.

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


@dataclass(frozen=True)
class RequestLine:
    """A request of any kind with where it stands: ``state`` is pending, approved or rejected."""

    subject: str  # hardship, waiver or plan
    request: object
    unit: object
    decision: object | None
    charge: object | None = None  # a waiver request's charge

    @property
    def state(self):
        return PENDING if self.decision is None else self.decision.outcome


@dataclass(frozen=True)
class PlanLine:
    """An approved plan and its state on ``as_of`` (``plans.PlanState``), its break and prints."""

    plan: object
    unit: object
    approved_on: date
    state: object
    periods: tuple
    agreements: tuple
    as_of: date

    @property
    def days_late(self):
        """Days the next instalment is past its date (0 when not late or none is due)."""
        upcoming = self.state.next_instalment
        if self.state.status != plan_rules.ACTIVE or upcoming is None:
            return 0
        return max(0, (self.as_of - upcoming.due_on).days)


@dataclass(frozen=True)
class SuspendedPeriod:
    """Days ``start``..``end`` on which no late fee accrues: ``kind`` hardship (every charge;
    ``ref_id`` the status) or plan (``charge_ids``; ``ref_id`` the plan)."""

    start: date
    end: date
    kind: str
    ref_id: int
    charge_ids: frozenset | None = None

    def covers(self, charge_id):
        return self.charge_ids is None or charge_id in self.charge_ids


def decision_of(subject, request_id):
    """The ``Decision`` on a request, or None while it waits."""
    return _decision(subject, request_id)


def _decisions(subject, ids):
    if not ids:
        return {}
    return {d.request_id: d for d in db.session.execute(
        select(Decision).where(Decision.subject == subject, Decision.request_id.in_(ids))).scalars()}


def request_lines(unit_id=None, pending_only=False):
    """Requests of all three kinds (of one unit, or all), oldest first, with their decision."""
    lines = []
    for subject, model in REQUESTS.items():
        query = select(model)
        if subject == "waiver":
            query = query.join(Charge, Charge.id == model.charge_id)
            if unit_id is not None:
                query = query.where(Charge.unit_id == unit_id)
        elif unit_id is not None:
            query = query.where(model.unit_id == unit_id)
        if pending_only:
            query = query.where(model.id.not_in(select(Decision.request_id).where(Decision.subject == subject)))
        rows = db.session.execute(query.order_by(model.id)).scalars().all()
        decided = _decisions(subject, [r.id for r in rows])
        for row in rows:
            charge = db.session.get(Charge, row.charge_id) if subject == "waiver" else None
            unit = db.session.get(Unit, charge.unit_id if charge is not None else row.unit_id)
            lines.append(RequestLine(subject, row, unit, decided.get(row.id), charge))
    lines.sort(key=lambda l: (l.request.created_at, l.subject, l.request.id))
    return lines


def pending_requests():
    """Every household's requests awaiting a decision, oldest first."""
    return request_lines(pending_only=True)


def unit_hardship_statuses(unit_id):
    """The unit's approved hardship statuses, latest start first."""
    return db.session.execute(select(HardshipStatus).where(HardshipStatus.unit_id == unit_id)
                              .order_by(HardshipStatus.start_on.desc(), HardshipStatus.id.desc())).scalars().all()


def unit_waivers(unit_id):
    """``[(waiver, charge, reversal or None)]`` of the unit's approved waivers, newest first."""
    rows = db.session.execute(select(Waiver, Charge).join(Charge, Charge.id == Waiver.charge_id)
                              .where(Charge.unit_id == unit_id)
                              .order_by(Waiver.approved_on.desc(), Waiver.id.desc())).all()
    reversals = {r.waiver_id: r for r in db.session.execute(
        select(WaiverReversal).where(WaiverReversal.waiver_id.in_([w.id for w, _ in rows]))).scalars()} if rows else {}
    return [(waiver, charge, reversals.get(waiver.id)) for waiver, charge in rows]


def _plan_line(plan, approved_on, unit, payments, as_of):
    periods = tuple(db.session.get(Charge, c.charge_id).period for c in plan.charges)
    agreements = tuple(db.session.execute(select(PlanAgreement).where(PlanAgreement.plan_id == plan.id)
                                          .order_by(PlanAgreement.id)).scalars())
    return PlanLine(plan, unit, approved_on, plan_state_of(plan, approved_on, payments, as_of), periods,
                    agreements, as_of)


def unit_plan_lines(unit, as_of):
    """The unit's approved plans with their state on ``as_of``, newest first."""
    plans = approved_plans(unit.id)
    if not plans:
        return []
    payments = UnitHistory(unit, as_of).payments
    return [_plan_line(plan, approved_on, unit, payments, as_of) for plan, approved_on in reversed(plans)]


def plan_lines(as_of):
    """Every approved plan with its state on ``as_of``, by unit."""
    rows = db.session.execute(
        select(PaymentPlan, Decision.decided_on).join(Decision, (Decision.subject == "plan")
                                                      & (Decision.request_id == PaymentPlan.id))
        .where(Decision.outcome == "approved").order_by(PaymentPlan.unit_id, PaymentPlan.id)).all()
    lines, history = [], {}
    for plan, approved_on in rows:
        unit = db.session.get(Unit, plan.unit_id)
        if unit.id not in history:
            history[unit.id] = UnitHistory(unit, as_of).payments
        lines.append(_plan_line(plan, approved_on, unit, history[unit.id], as_of))
    return lines


def plan_periods(plan):
    return tuple(db.session.get(Charge, c.charge_id).period for c in plan.charges)


def suspended_periods(unit, as_of):
    """The days no late fee accrues on the unit's charges, as known on ``as_of``, with why:
    approved hardship statuses (every charge) and approved plans while in good standing
    (their charges; from approval to the day before the break, or to completion)."""
    found = [SuspendedPeriod(h.start_on, h.end_on, "hardship", h.id) for h in db.session.execute(
        select(HardshipStatus).where(HardshipStatus.unit_id == unit.id)).scalars()]
    plans = [(p, d) for p, d in approved_plans(unit.id) if d <= as_of]
    if plans:
        payments = UnitHistory(unit, as_of).payments
        for plan, approved_on in plans:
            start, end = plan_rules.suspended_span(approved_on, plan_state_of(plan, approved_on, payments, as_of))
            end = end or as_of
            if end >= start:
                found.append(SuspendedPeriod(start, end, "plan", plan.id,
                                             frozenset(c.charge_id for c in plan.charges)))
    return sorted(found, key=lambda p: (p.start, p.kind, p.ref_id))


def hardship_overview(today, within_days=30):
    """Every approved hardship status that has not ended before ``today``, soonest end
    first: ``[(status, unit, ending_soon, renewed)]``; ``ending_soon`` when it ends within
    ``within_days`` days of ``today``; ``renewed`` when a renewal has been requested."""
    rows = db.session.execute(select(HardshipStatus, Unit).join(Unit, Unit.id == HardshipStatus.unit_id)
                              .where(HardshipStatus.end_on >= today)
                              .order_by(HardshipStatus.end_on, HardshipStatus.id)).all()
    renewed = set(db.session.execute(select(HardshipRequest.renews_id).where(
        HardshipRequest.renews_id.is_not(None))).scalars())
    return [(status, unit, (status.end_on - today).days < within_days, status.id in renewed)
            for status, unit in rows]


def _month_key(day):
    return f"{day.year:04d}-{day.month:02d}"


def last_months(today, count=12):
    """The ``count`` months ending with ``today``'s, oldest first, as ``YYYY-MM``."""
    index = today.year * 12 + today.month - 1
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(index - count + 1, index + 1)]


def relief_granted_by_month(today, count=12):
    """Waivers granted per month of approval over the ``count`` months ending with
    ``today``'s, in fen: ``[{month, late_fee_fen, principal_fen, by_reason: {reason: fen},
    waivers}]``. A waiver undone by a reversal is not counted (it granted nothing in the end)."""
    months = last_months(today, count)
    first = date(int(months[0][:4]), int(months[0][5:]), 1)
    rows = db.session.execute(select(Waiver).where(
        Waiver.approved_on >= first, Waiver.approved_on <= today,
        Waiver.id.not_in(select(WaiverReversal.waiver_id)))).scalars()
    figures = {m: {"month": m, "late_fee_fen": 0, "principal_fen": 0, "by_reason": dict.fromkeys(WAIVER_REASONS, 0),
                   "waivers": 0} for m in months}
    for waiver in rows:
        month = figures[_month_key(waiver.approved_on)]
        month["late_fee_fen" if waiver.kind == "late_fee" else "principal_fen"] += waiver.amount_fen
        month["by_reason"][waiver.reason] += waiver.amount_fen
        month["waivers"] += 1
    return [figures[m] for m in months]


def plan_counts(as_of):
    """``{active, completed, broken, pending, rejected}``: how many plans stand so on ``as_of``."""
    counts = dict.fromkeys((plan_rules.ACTIVE, plan_rules.COMPLETED, plan_rules.BROKEN, PENDING, REJECTED), 0)
    for line in plan_lines(as_of):
        counts[line.state.status] += 1
    decided = select(Decision.request_id).where(Decision.subject == "plan")
    counts[PENDING] = db.session.execute(select(func.count()).select_from(PaymentPlan)
                                         .where(PaymentPlan.id.not_in(decided))).scalar_one()
    counts[REJECTED] = db.session.execute(select(func.count()).select_from(Decision).where(
        Decision.subject == "plan", Decision.outcome == "rejected")).scalar_one()
    return counts


def hardship_document(request_id):
    """``(request, unit)`` of a hardship request that carries a document; raises NotFound."""
    request = db.session.get(HardshipRequest, request_id)
    if request is None or not request.document_sha256:
        raise NotFound("hardship request #%(id)s has no document", id=request_id)
    return request, db.session.get(Unit, request.unit_id)
