"""The portfolio arrears report: every unit's principal and late fee outstanding.

Figures come from the projection the engine keeps current (``charge_balances``), carried
forward to the as-of date in one SQL query. Units whose projection does not cover the
date (a policy change, a suspension boundary or a charge billed since, or a date before
the projection) are computed by the engine itself, so the report always equals what
``statement`` says; ``check_balances`` proves it unit by unit.
"""
from dataclasses import dataclass

from sqlalchemy import BigInteger, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from ..extensions import db
from ..models import Building, Charge, ChargeBalance, Unit, UnitBalance
from .ledger import MICRO, UnitHistory


@dataclass(frozen=True)
class UnitArrears:
    unit_id: int
    principal_outstanding_fen: int
    late_fee_outstanding_fen: int
    credit_fen: int
    oldest_due_day: int | None

    @property
    def total_outstanding_fen(self):
        return self.principal_outstanding_fen + self.late_fee_outstanding_fen


class greatest(GenericFunction):
    """``GREATEST(a, b)``, each argument evaluated once (a ``CASE`` would evaluate the
    winner twice, and the nesting below multiplies that). Arguments must not be NULL:
    SQLite's ``max`` would return NULL where PostgreSQL's ``GREATEST`` ignores it."""
    type = BigInteger()
    inherit_cache = True


class least(GenericFunction):
    """``LEAST(a, b)``; the same caveat."""
    type = BigInteger()
    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element, compiler, **kw):
    return f"min({compiler.process(element.clauses, **kw)})"


def fee_outstanding_expr(day):
    """SQL for one charge's late fee outstanding (fen) on ordinal ``day``."""
    cb = ChargeBalance
    days = greatest(literal(day) - cb.accrual_from + 1, literal(0))
    grown = cb.accrued_micro + cb.accrual_micro_per_day * days
    capped = case((cb.cap_micro.is_(None), grown), else_=least(grown, cb.cap_micro))
    accrued_fen = (capped + MICRO // 2) // MICRO
    return greatest(accrued_fen - cb.fee_settled_fen, literal(0))


def arrears_by_unit(as_of, estate_id=None):
    """``{unit_id: UnitArrears}`` for every unit with a charge billed by ``as_of``."""
    day = as_of.toordinal()
    cb = ChargeBalance
    scope = []
    if estate_id is not None:
        scope = [cb.unit_id.in_(select(Unit.id).join(Building).where(Building.estate_id == estate_id))]
    stale_units = set(db.session.execute(
        select(UnitBalance.unit_id).where(or_(UnitBalance.state_day > day, UnitBalance.valid_through < day))
    ).scalars())
    # Units with charges but no projection yet (never refreshed) are stale too: one
    # index probe per unit, not a scan of every charge.
    stale_units |= set(db.session.execute(
        select(Unit.id).where(~select(UnitBalance.unit_id).where(UnitBalance.unit_id == Unit.id).exists(),
                              select(Charge.id).where(Charge.unit_id == Unit.id).exists())).scalars())

    fee = fee_outstanding_expr(day)
    principal_due = case((cb.principal_outstanding_fen > 0, cb.due_day), else_=None)
    # Aggregate the charges per unit first (grouped by unit alone, so no sort of every
    # charge row by a second key), then join the 20k-row unit table.
    per_unit = (select(cb.unit_id.label("unit_id"), func.sum(cb.principal_outstanding_fen).label("principal"),
                       func.sum(fee).label("fee"), func.min(principal_due).label("oldest"))
                .where(*scope).group_by(cb.unit_id).subquery())
    query = (select(per_unit.c.unit_id, per_unit.c.principal, per_unit.c.fee, per_unit.c.oldest,
                    UnitBalance.credit_fen)
             .join(UnitBalance, UnitBalance.unit_id == per_unit.c.unit_id)
             .where(UnitBalance.state_day <= day, UnitBalance.valid_through >= day))
    result = {}
    for unit_id, principal, fee_fen, oldest, credit in db.session.execute(query):
        result[unit_id] = UnitArrears(unit_id, int(principal), int(fee_fen), int(credit), oldest)
    for unit in _units(stale_units, estate_id):
        result[unit.id] = engine_arrears(unit, as_of)
    return result


def _units(unit_ids, estate_id):
    if not unit_ids:
        return []
    query = select(Unit).where(Unit.id.in_(unit_ids))
    if estate_id is not None:
        query = query.join(Building).where(Building.estate_id == estate_id)
    return db.session.execute(query).scalars().all()


def engine_arrears(unit, as_of):
    """The same figures straight from the engine (the reference)."""
    statement = UnitHistory(unit, as_of).statement()
    owed = [line.charge.due_date.toordinal() for line in statement.charges if line.principal_outstanding_fen > 0]
    return UnitArrears(unit.id, statement.principal_outstanding_fen, statement.late_fee_outstanding_fen,
                       statement.credit_fen, min(owed) if owed else None)


def portfolio_report(as_of, estate_id=None, top=100):
    """Totals and the ``top`` units by amount outstanding as of ``as_of``."""
    rows = arrears_by_unit(as_of, estate_id)
    owing = sorted((r for r in rows.values() if r.total_outstanding_fen > 0),
                   key=lambda r: (-r.total_outstanding_fen, r.unit_id))
    return {
        "as_of": as_of,
        "units": len(rows),
        "units_owing": len(owing),
        "principal_outstanding_fen": sum(r.principal_outstanding_fen for r in rows.values()),
        "late_fee_outstanding_fen": sum(r.late_fee_outstanding_fen for r in rows.values()),
        "top": owing[:top],
    }


def check_balances(as_of, estate_id=None):
    """Compare the fast figures with the engine for every unit; returns the mismatches."""
    fast = arrears_by_unit(as_of, estate_id)
    mismatches = []
    for unit in _units(set(fast), estate_id):
        reference = engine_arrears(unit, as_of)
        if reference != fast[unit.id]:
            mismatches.append((unit, fast[unit.id], reference))
    return mismatches
