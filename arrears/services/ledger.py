"""Statements and balances from the one ledger engine.

Every figure the program shows comes from ``arrears.domain.ledger.compute_statement``
fed by ``unit_history``. ``refresh_unit_balances`` stores the engine's result as the
projection that fast reports read; it runs in the same transaction as every posting.
"""
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, select

from ..domain import ledger as engine
from ..domain.limitation import limitation_expiry
from ..domain.statement import statement_document
from ..domain.policy import LateFeePolicy, PolicySchedule
from ..extensions import db
from ..models import (Building, Charge, ChargeBalance, Estate, FeeItem, HardshipStatus,
                      LateFeePolicyVersion, Payment, PaymentAllocation, Reversal, Unit,
                      UnitBalance, Waiver)
from .errors import NotFound

MICRO = 1_000_000
FAR_FUTURE = date(9999, 12, 31).toordinal()

# Later capabilities (notices delivered, acknowledgements, plans, lawsuits) register
# here: each is ``source(unit, as_of) -> {charge_id: [dates]}`` of interruptions (SPEC §7).
# Limitation sources (SPEC §7) besides payments, registered by the modules that own them
# (notices delivered, plans approved, lawsuits filed): ``source(unit_ids, as_of)`` ->
# ``{charge_id: [dates]}`` for the charges of those units. They take many units at once
# because the limitation watchlist asks for hundreds of households.
INTERRUPTION_SOURCES = []
# Ids per ``IN (...)`` list: below every database's limit on bound parameters.
IDS_PER_QUERY = 900


def in_chunks(ids):
    """``ids`` sorted, in lists of at most ``IDS_PER_QUERY``."""
    ids = sorted(set(ids))
    for start in range(0, len(ids), IDS_PER_QUERY):
        yield ids[start:start + IDS_PER_QUERY]


def local_today(tz_name=None):
    tz = ZoneInfo(tz_name or current_app.config["ARREARS_TIMEZONE"])
    return datetime.now(tz).date()


def find_unit(ref):
    """The unit named ``ESTATE/BUILDING/UNIT``; raises ``NotFound`` with the reason."""
    parts = (ref or "").split("/")
    if len(parts) != 3 or not all(part.strip() for part in parts):
        raise NotFound("unit reference %(ref)s must look like 示例花园/3栋/1201", ref=repr(ref))
    estate_name, building_name, number = (part.strip() for part in parts)
    unit = db.session.execute(
        select(Unit).join(Building).join(Estate)
        .where(Estate.name == estate_name, Building.name == building_name, Unit.number == number)
    ).scalar_one_or_none()
    if unit is None:
        raise NotFound("unit %(ref)s does not exist", ref=ref)
    return unit


def policy_schedule(estate_id):
    rows = db.session.execute(select(LateFeePolicyVersion).where(LateFeePolicyVersion.estate_id == estate_id)
                              .order_by(LateFeePolicyVersion.effective_from)).scalars().all()
    if not rows:
        return PolicySchedule([default_policy()])
    return PolicySchedule([policy_from_row(row) for row in rows])


def default_policy(effective_from=date(1970, 1, 1)):
    config = current_app.config
    cap = str(config["ARREARS_CAP_RATIO"]).strip()
    return LateFeePolicy(effective_from=effective_from, daily_rate=Decimal(str(config["ARREARS_DAILY_RATE"])),
                         grace_days=int(config["ARREARS_GRACE_DAYS"]),
                         cap_ratio=Decimal(cap) if cap else None, allocation=config["ARREARS_ALLOCATION"])


def policy_from_row(row):
    return LateFeePolicy(effective_from=row.effective_from, daily_rate=Decimal(row.daily_rate),
                         grace_days=row.grace_days,
                         cap_ratio=Decimal(row.cap_ratio) if row.cap_ratio is not None else None,
                         allocation=row.allocation)


class UnitHistory:
    """What stands on a unit's record as of a date, in the engine's terms."""

    def __init__(self, unit, as_of):
        self.unit = unit
        self.as_of = as_of
        session = db.session
        payment_reversals = session.execute(
            select(Reversal.payment_id, Reversal.reversed_on).join(Payment, Payment.id == Reversal.payment_id)
            .where(Payment.unit_id == unit.id)).all()
        charge_reversals = session.execute(
            select(Reversal.charge_id, Reversal.reversed_on).join(Charge, Charge.id == Reversal.charge_id)
            .where(Charge.unit_id == unit.id)).all()
        reversed_payments = {target for target, day in payment_reversals if day <= as_of}
        reversed_charges = {target for target, day in charge_reversals if day <= as_of}
        self.later_reversals = [day for _, day in payment_reversals + charge_reversals if day > as_of]
        charge_rows = session.execute(
            select(Charge, FeeItem.name).join(FeeItem).where(Charge.unit_id == unit.id)).all()
        self.charge_rows = {row.id: row for row, _ in charge_rows if row.id not in reversed_charges}
        self.charges = [engine.Charge(row.id, row.period, name, row.amount_fen, row.due_date, row.billed_on)
                        for row, name in charge_rows if row.id not in reversed_charges]
        payment_rows = session.execute(select(Payment).where(Payment.unit_id == unit.id)
                                       .order_by(Payment.paid_on, Payment.id)).scalars().all()
        self.payment_rows = [p for p in payment_rows if p.id not in reversed_payments]
        self.payments = [engine.Payment(p.id, p.amount_fen, p.paid_on, p.period_list) for p in self.payment_rows]
        from .relief import plan_suspensions, waiver_reversal_days
        waiver_rows = session.execute(select(Waiver).join(Charge).where(Charge.unit_id == unit.id)
                                      .order_by(Waiver.approved_on, Waiver.id)).scalars().all()
        undone = waiver_reversal_days(unit.id)
        self.waivers = [engine.Waiver(w.charge_id, w.kind, w.amount_fen, w.approved_on)
                        for w in waiver_rows if w.charge_id in self.charge_rows
                        and not (w.id in undone and undone[w.id] <= as_of)]
        self.later_reversals += [day for day in undone.values() if day > as_of]
        hardship_rows = session.execute(select(HardshipStatus).where(HardshipStatus.unit_id == unit.id)).scalars()
        self.suspensions = [engine.Suspension(h.start_on, h.end_on) for h in hardship_rows]
        plan_spans, self.plan_change = plan_suspensions(unit, as_of, self.payments)
        self.suspensions += plan_spans
        self.schedule = policy_schedule(unit.building.estate_id)

    def next_change_after(self, day):
        """The first day after ``day`` on which anything on record changes the figures'
        course: a policy version, a suspension boundary, a charge billed, a payment, a
        waiver or a reversal. None when nothing is due to change."""
        days = [d for d in (self.schedule.next_change_after(day),) if d is not None]
        days += [c.billed for c in self.charges]
        days += [p.paid_on for p in self.payments]
        days += [w.effective_on for w in self.waivers]
        days += self.later_reversals
        if self.plan_change is not None:
            days.append(self.plan_change)
        for suspension in self.suspensions:
            days += [suspension.start, suspension.end + timedelta(days=1)]
        later = [d for d in days if d > day]
        return min(later) if later else None

    def statement(self, keep_working=False):
        return engine.compute_statement(self.charges, self.payments, as_of=self.as_of, policies=self.schedule,
                                        waivers=self.waivers, suspensions=self.suspensions,
                                        keep_working=keep_working)

    def interruptions(self, statement):
        """Every charge's interruption dates (SPEC §7) up to the as-of date."""
        found = {line.charge.id: [line.last_payment_on] for line in statement.charges}
        for source in INTERRUPTION_SOURCES:
            for charge_id, dates in source([self.unit.id], self.as_of).items():
                found.setdefault(charge_id, []).extend(d for d in dates if d <= self.as_of)
        return found


def unit_statement(unit, as_of, keep_working=False):
    """``(statement, limitation)``: the engine's statement and each charge's expiry date."""
    history = UnitHistory(unit, as_of)
    statement = history.statement(keep_working=keep_working)
    years = current_app.config["ARREARS_LIMITATION_YEARS"]
    interruptions = history.interruptions(statement)
    limitation = {line.charge.id: limitation_expiry(line.charge.due_date, interruptions[line.charge.id], years)
                  for line in statement.charges}
    return statement, limitation


def statement_json(unit, as_of):
    """The statement as SPEC §10 gives it for ``statement --json``."""
    statement, limitation = unit_statement(unit, as_of)
    return statement_document(unit.ref, statement, limitation)


# -- the projection -------------------------------------------------------------------

def refresh_unit_balances(unit, state_day=None):
    """Rebuild the unit's balance rows from the engine as of ``state_day`` (default:
    today in the estate's time zone). Call inside the posting's transaction."""
    state_day = state_day or local_today(unit.building.estate.timezone)
    history = UnitHistory(unit, state_day)
    statement = history.statement()
    rows, unit_row, allocations = balance_rows(unit.id, history, statement, state_day)
    session = db.session
    # The projection rows are never loaded as objects: skip matching them in the session.
    plain = {"synchronize_session": False}
    session.execute(delete(ChargeBalance).where(ChargeBalance.unit_id == unit.id), execution_options=plain)
    session.execute(delete(UnitBalance).where(UnitBalance.unit_id == unit.id), execution_options=plain)
    session.execute(delete(PaymentAllocation).where(PaymentAllocation.unit_id == unit.id), execution_options=plain)
    if rows:
        session.execute(ChargeBalance.__table__.insert(), rows)
    session.execute(UnitBalance.__table__.insert(), [unit_row])
    if allocations:
        session.execute(PaymentAllocation.__table__.insert(), allocations)
    return statement


def balance_rows(unit_id, history, statement, state_day):
    """The projection rows for one unit: ``(charge rows, unit row, allocation rows)``.
    Pure apart from its inputs, so the benchmark can build rows without a session."""
    schedule = history.schedule
    after = state_day + timedelta(days=1)
    # The linear carry-forward holds until the record or the rules next change.
    change = history.next_change_after(state_day)
    valid_through = (change - timedelta(days=1)).toordinal() if change else FAR_FUTURE
    suspended_tomorrow = set()
    for s in history.suspensions:
        if s.start <= after <= s.end:
            suspended_tomorrow.update([None] if s.charge_ids is None else s.charge_ids)
    policy = schedule.on(after)
    rows = []
    for line in statement.charges:
        charge = line.charge
        accrued_micro = int(line.accrued_exact * MICRO)
        cap = policy.cap_fen(charge.amount_fen)
        cap_micro = None if cap is None else int(cap * MICRO)
        suspended = None in suspended_tomorrow or charge.id in suspended_tomorrow
        per_day = int(policy.daily_rate * line.principal_outstanding_fen * MICRO)
        if suspended or (cap_micro is not None and accrued_micro >= cap_micro):
            per_day, cap_micro = 0, None
        accrual_from = max(after, charge.due_date + timedelta(days=policy.grace_days + 1))
        rows.append({
            "charge_id": charge.id, "unit_id": unit_id, "due_day": charge.due_date.toordinal(),
            "amount_fen": charge.amount_fen,
            "principal_outstanding_fen": line.principal_outstanding_fen,
            "fee_settled_fen": line.late_fee_waived_fen + line.late_fee_paid_fen,
            "accrued_micro": accrued_micro, "accrual_micro_per_day": per_day,
            "accrual_from": accrual_from.toordinal(), "cap_micro": cap_micro,
            "state_day": state_day.toordinal(), "valid_through": valid_through,
        })
    unit_row = {"unit_id": unit_id, "credit_fen": statement.credit_fen,
                "state_day": state_day.toordinal(), "valid_through": valid_through}
    allocations = [{"unit_id": unit_id, "payment_id": a.payment_id, "charge_id": a.charge_id,
                    "applied_on": a.on, "principal_fen": a.principal_fen, "late_fee_fen": a.late_fee_fen}
                   for a in statement.allocations]
    return rows, unit_row, allocations
