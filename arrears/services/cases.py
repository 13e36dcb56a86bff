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
from datetime import date

from sqlalchemy import select

from ..domain.money import format_fen
from ..extensions import db
from ..models import CASE_STEPS, CaseClaim, CaseStep, Charge, Escalation, User
from .errors import NotFound, ServiceError
from .evidence import append_event
from .ledger import INTERRUPTION_SOURCES, local_today
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
        raise ServiceError(f"case step {kind!r} must be one of {', '.join(CASE_STEPS)}")
    with atomic():
        today = local_today(unit.building.estate.timezone)
        escalation = _last_escalation(unit.id)
        if escalation is None or escalation.stage != "legal":
            raise ServiceError(f"{unit.ref} is not escalated to legal; escalate it before recording its case")
        if on_date > today:
            raise ServiceError(f"the date {on_date} is in the future")
        steps = case_steps(unit.id)
        last = steps[-1].kind if steps else None
        if kind not in NEXT_STEPS[last]:
            raise ServiceError(f"a case whose last step is {last or 'none'} cannot go on with {kind}")
        if kind == "lawyer_assigned":
            user = db.session.execute(select(User).where(User.username == (lawyer or ""))).scalar_one_or_none()
            if user is None or user.role != "lawyer" or not user.active:
                raise ServiceError(f"{lawyer!r} is not an active lawyer's user name")
        if kind in FILINGS:
            if not (court or "").strip() or not (case_number or "").strip():
                raise ServiceError("a filing needs the court and the case number")
            if not charge_ids:
                raise ServiceError("a filing names the charges it claims")
            owned = set(db.session.execute(select(Charge.id).where(Charge.unit_id == unit.id,
                                                                   Charge.id.in_(list(charge_ids)))).scalars())
            if owned != set(charge_ids):
                raise ServiceError(f"charges {sorted(set(charge_ids) - owned)} are not charges of {unit.ref}")
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


def filing_interruptions(unit, as_of):
    """Limitation source (SPEC §7): a lawsuit or payment order filed interrupts the
    charges it claims, on its filing date."""
    found = {}
    rows = db.session.execute(
        select(CaseClaim.charge_id, CaseStep.on_date).join(CaseStep, CaseStep.id == CaseClaim.step_id)
        .where(CaseStep.unit_id == unit.id, CaseStep.kind.in_(FILINGS), CaseStep.on_date <= as_of)).all()
    for charge_id, on_date in rows:
        found.setdefault(charge_id, []).append(on_date if isinstance(on_date, date) else date.fromisoformat(str(on_date)))
    return found


INTERRUPTION_SOURCES.append(filing_interruptions)


def find_step(step_id):
    step = db.session.get(CaseStep, step_id)
    if step is None:
        raise NotFound(f"case step #{step_id} does not exist")
    return step
