"""Posting to the ledger: billing runs, charges, payments and reversals.

Invariants: a billing run is idempotent (one charge per unit, fee item and period);
a payment reference is posted at most once per estate; nothing is edited or removed,
a mistake is reversed with a reason; every posting appends its evidence event and
rebuilds the unit's balances in the same transaction.
"""
import calendar
import re
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from ..domain.ledger import billed_on_for
from ..domain.money import format_fen, round_fen
from ..extensions import db
from ..models import PAYMENT_METHODS, BillingRun, Charge, Estate, FeeItem, Payment, Reversal, Unit
from .errors import DuplicatePayment, NotFound, ServiceError
from .evidence import append_event
from .ledger import local_today, refresh_unit_balances
from .transaction import atomic

PERIOD = re.compile(r"^(19\d\d|2\d\d\d)-(0[1-9]|1[0-2])$")


def parse_period(text):
    """``" 2026-01"`` -> ``"2026-01"``; raises ``ServiceError`` unless it is a month
    between 1900-01 and 2999-12 written like 2026-01."""
    period = (text or "").strip()
    if not PERIOD.match(period):
        raise ServiceError("period %(period)s must look like 2026-01", period=repr(text))
    return period


def period_month(period):
    """``"2026-01"`` -> ``(2026, 1)``."""
    year, month = parse_period(period).split("-")
    return int(year), int(month)


def due_date_for(period, due_day):
    year, month = period_month(period)
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(due_day or last, last))


def charge_amount_fen(item, unit):
    """A month's amount for ``unit``: price × area (rounded once, half up) or the fixed price."""
    if item.basis == "per_m2":
        return round_fen(Decimal(item.price_fen) * unit.area_centi_m2 / 100)
    return item.price_fen


def add_charge(unit, fee_item, period, amount_fen, due_date, actor, billing_run=None, via="billing"):
    """Write one charge and its event (no balance refresh, no commit)."""
    year, month = period_month(period)
    owner = unit.owner_on(date(year, month, 1)) or unit.owner_on(due_date)
    charge = Charge(unit_id=unit.id, fee_item_id=fee_item.id, owner_id=owner.id if owner else None,
                    period=period, amount_fen=amount_fen, due_date=due_date,
                    billed_on=billed_on_for(period, due_date), billing_run_id=billing_run.id if billing_run else None,
                    created_by=actor)
    db.session.add(charge)
    db.session.flush()
    append_event("charge_billed", actor, unit.ref, {
        "charge_id": charge.id, "period": period, "fee_item": fee_item.name,
        "amount": format_fen(amount_fen), "due_date": due_date.isoformat(), "via": via})
    return charge


def bill_period(period, actor, estate_name=None, state_day=None):
    """Billing run for ``period``: one charge per unit and active fee item that has none.
    Returns the number of charges created (0 when the period is already billed)."""
    period = parse_period(period)
    with atomic():
        estates = db.session.execute(select(Estate).order_by(Estate.name)).scalars().all()
        if estate_name is not None:
            estates = [e for e in estates if e.name == estate_name]
            if not estates:
                raise NotFound("estate %(name)s does not exist", name=estate_name)
        created = 0
        for estate in estates:
            items = db.session.execute(select(FeeItem).where(FeeItem.estate_id == estate.id,
                                                             FeeItem.active.is_(True))).scalars().all()
            if not items:
                continue
            billed = set(db.session.execute(
                select(Charge.unit_id, Charge.fee_item_id).join(FeeItem)
                .where(FeeItem.estate_id == estate.id, Charge.period == period)).all())
            todo = [(unit, item) for building in estate.buildings for unit in building.units for item in items
                    if (unit.id, item.id) not in billed and charge_amount_fen(item, unit) > 0]
            if not todo:
                continue
            run = BillingRun(estate_id=estate.id, period=period, charges_created=len(todo), created_by=actor)
            db.session.add(run)
            db.session.flush()
            for unit, item in todo:
                add_charge(unit, item, period, charge_amount_fen(item, unit), due_date_for(period, item.due_day),
                           actor, run)
            append_event("billing_run", actor, None, {"estate": estate.name, "period": period,
                                                      "charges_created": len(todo)})
            created += len(todo)
            touched = [unit for unit, _ in todo]
            for unit in dict.fromkeys(touched):
                refresh_unit_balances(unit, state_day)
        return created


def check_payment(unit, amount_fen, paid_on, method, reference, periods, today):
    """Validate a payment before it is written; raises ``ServiceError``/``DuplicatePayment``."""
    if method not in PAYMENT_METHODS:
        raise ServiceError("payment method %(method)s must be one of %(allowed)s", method=repr(method),
                           allowed=", ".join(PAYMENT_METHODS))
    if amount_fen <= 0:
        raise ServiceError("payment amount must be greater than 0.00")
    if paid_on > today:
        raise ServiceError("paid_on %(day)s is in the future", day=paid_on)
    reference = (reference or "").strip()
    if not reference:
        raise ServiceError("payment reference is empty")
    existing = db.session.execute(select(Payment.id).where(
        Payment.estate_id == unit.building.estate_id, Payment.reference == reference)).scalar_one_or_none()
    if existing is not None:
        raise DuplicatePayment(reference, existing)
    if periods:
        known = set(db.session.execute(select(Charge.period).where(Charge.unit_id == unit.id)).scalars())
        unknown = [p for p in periods if p not in known]
        if unknown:
            raise ServiceError("%(unit)s has no charge for period %(periods)s", unit=unit.ref,
                               periods=", ".join(unknown))
    return reference


# How long before a unit's first bill the office may date a payment (paying ahead).
PREPAY_DAYS = 366


def check_payment_year(unit, paid_on):
    """Refuse a payment taken at the office dated more than ``PREPAY_DAYS`` before the
    unit's first bill: a mistyped year (1999 for 2025) would otherwise sit as credit from
    then and quietly cancel years of late fee. Imports of old records are not held to it."""
    first = db.session.execute(select(func.min(Charge.billed_on)).where(Charge.unit_id == unit.id)).scalar()
    if first is not None and not isinstance(first, date):
        first = date.fromisoformat(str(first))
    if first is not None and paid_on < first - timedelta(days=PREPAY_DAYS):
        raise ServiceError("the payment date %(day)s is more than a year before the first bill of %(unit)s "
                           "(%(first)s): check the year", day=paid_on, unit=unit.ref, first=first)


def add_payment(unit, amount_fen, paid_on, method, reference, actor, periods=()):
    """Write one validated payment (no event, no balance refresh, no commit): the caller
    refreshes the balances and then writes ``record_payment_event`` with the allocations."""
    payment = Payment(estate_id=unit.building.estate_id, unit_id=unit.id, amount_fen=amount_fen, paid_on=paid_on,
                      method=method, reference=reference, periods=",".join(periods) or None, created_by=actor)
    db.session.add(payment)
    db.session.flush()
    return payment


def record_payment_event(payment, unit, actor, statement, via, receipt=None):
    allocations = [{"period": _period_of(statement, a.charge_id), "principal": format_fen(a.principal_fen),
                    "late_fee": format_fen(a.late_fee_fen)}
                   for a in statement.allocations if a.payment_id == payment.id]
    append_event("payment_posted", actor, unit.ref, {
        "payment_id": payment.id, "amount": format_fen(payment.amount_fen), "paid_on": payment.paid_on.isoformat(),
        "method": payment.method, "reference": payment.reference, "periods": list(payment.period_list),
        "allocations": allocations, "via": via, **({"receipt": receipt} if receipt else {})})


def _period_of(statement, charge_id):
    return statement.charge(charge_id).charge.period


def post_payment(unit, amount_fen, paid_on, method, reference, actor, periods=()):
    """Post a payment. Raises ``DuplicatePayment`` when the reference is already posted
    for the estate (nothing is written), ``ServiceError`` for bad input."""
    with atomic():
        today = local_today(unit.building.estate.timezone)
        reference = check_payment(unit, amount_fen, paid_on, method, reference, periods, today)
        check_payment_year(unit, paid_on)
        payment = add_payment(unit, amount_fen, paid_on, method, reference, actor, periods)
        statement = refresh_unit_balances(unit)
        from .notices import number_receipt
        receipt = number_receipt(payment, actor, today)
        record_payment_event(payment, unit, actor, statement, "office", receipt.serial)
        return payment


def reverse_payment(payment_id, reason, actor, reversed_on=None):
    """Reverse a payment from ``reversed_on`` (default today). The payment row stays;
    the reversal points to it and carries the reason."""
    with atomic():
        payment = db.session.get(Payment, payment_id)
        if payment is None:
            raise NotFound("payment #%(id)s does not exist", id=payment_id)
        unit = db.session.get(Unit, payment.unit_id)
        if not (reason or "").strip():
            raise ServiceError("a reversal needs a reason")
        if db.session.execute(select(Reversal.id).where(Reversal.payment_id == payment.id)).first():
            raise ServiceError("payment #%(id)s (%(reference)s) is already reversed", id=payment.id,
                               reference=payment.reference)
        reversed_on = reversed_on or local_today(unit.building.estate.timezone)
        if reversed_on < payment.paid_on:
            raise ServiceError("a reversal on %(day)s cannot precede the payment on %(paid_on)s", day=reversed_on,
                               paid_on=payment.paid_on)
        db.session.add(Reversal(payment_id=payment.id, reason=reason.strip(), reversed_on=reversed_on,
                                created_by=actor))
        db.session.flush()
        append_event("payment_reversed", actor, unit.ref, {
            "payment_id": payment.id, "reference": payment.reference, "amount": format_fen(payment.amount_fen),
            "reason": reason.strip(), "reversed_on": reversed_on.isoformat()})
        refresh_unit_balances(unit)
        return payment
