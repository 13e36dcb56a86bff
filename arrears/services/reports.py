"""The portfolio arrears report: every unit's principal and late fee outstanding.

Figures come from the projection the engine keeps current (``charge_balances``), carried
forward to the as-of date in one SQL query. Units whose projection does not cover the
date (a policy change, a suspension boundary or a charge billed since, or a date before
the projection) are computed by the engine itself, so the report always equals what
``statement`` says; ``check_balances`` proves it unit by unit.

The pages read the day's figures through ``day_figures``: computed once per process and
kept under the evidence chain's head, so they are never older than the last act
recorded — any later event makes the next request compute again the households it
names, or every household when it names none (see ``day_figures``).
"""
import itertools
import threading
from dataclasses import dataclass, replace

from flask import current_app
from sqlalchemy import BigInteger, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from ..extensions import db
from ..models import Building, Charge, ChargeBalance, Estate, EvidenceEvent, Unit, UnitBalance
from .evidence import chain_head
from .ledger import MICRO, UnitHistory, local_today, refresh_unit_balances
from .transaction import atomic


@dataclass(frozen=True)
class UnitArrears:
    unit_id: int
    principal_outstanding_fen: int
    late_fee_outstanding_fen: int
    credit_fen: int
    oldest_due_day: int | None  # oldest charge with principal outstanding (ordinal)
    oldest_fee_due_day: int | None = None  # oldest charge with late fee outstanding (ordinal)

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


def arrears_by_unit(as_of, estate_id=None, unit_ids=None):
    """``{unit_id: UnitArrears}`` for every unit with a charge billed by ``as_of`` (of the
    estate ``estate_id``, or among ``unit_ids``, a few hundred at most, when given)."""
    day = as_of.toordinal()
    cb = ChargeBalance
    scope, unit_scope, balance_scope = [], [], []
    if estate_id is not None:
        scope = [cb.unit_id.in_(select(Unit.id).join(Building).where(Building.estate_id == estate_id))]
    if unit_ids is not None:
        unit_ids = sorted(set(unit_ids))
        if not unit_ids:
            return {}
        scope.append(cb.unit_id.in_(unit_ids))
        unit_scope = [Unit.id.in_(unit_ids)]
        balance_scope = [UnitBalance.unit_id.in_(unit_ids)]
    stale_units = stale_unit_ids(day, balance_scope, unit_scope)

    fee = fee_outstanding_expr(day)
    principal_due = case((cb.principal_outstanding_fen > 0, cb.due_day), else_=None)
    # Aggregate the charges per unit first (grouped by unit alone, so no sort of every
    # charge row by a second key), then join the 20k-row unit table.
    # Each charge's fee once (a subquery), then per unit: its sum and the oldest charge
    # still owing some.
    per_charge = select(cb.unit_id.label("unit_id"), cb.principal_outstanding_fen.label("principal"),
                        fee.label("fee"), principal_due.label("principal_due"),
                        cb.due_day.label("due_day")).where(*scope).subquery()
    fee_due = case((per_charge.c.fee > 0, per_charge.c.due_day), else_=None)
    per_unit = (select(per_charge.c.unit_id, func.sum(per_charge.c.principal).label("principal"),
                       func.sum(per_charge.c.fee).label("fee"), func.min(per_charge.c.principal_due).label("oldest"),
                       func.min(fee_due).label("oldest_fee"))
                .group_by(per_charge.c.unit_id).subquery())
    query = (select(per_unit.c.unit_id, per_unit.c.principal, per_unit.c.fee, per_unit.c.oldest,
                    per_unit.c.oldest_fee, UnitBalance.credit_fen)
             .join(UnitBalance, UnitBalance.unit_id == per_unit.c.unit_id)
             .where(UnitBalance.state_day <= day, UnitBalance.valid_through >= day))
    result = {}
    for unit_id, principal, fee_fen, oldest, oldest_fee, credit in db.session.execute(query):
        result[unit_id] = UnitArrears(unit_id, int(principal), int(fee_fen), int(credit), oldest, oldest_fee)
    for unit in _units(stale_units, estate_id):
        if unit_ids is None or unit.id in unit_ids:
            result[unit.id] = engine_arrears(unit, as_of)
    return result


def stale_unit_ids(day, balance_scope=(), unit_scope=()):
    """The ids of the units whose projection does not hold on ordinal ``day``: built for a
    later day, valid only until an earlier one (a policy version, a suspension's end, a
    plan's possible break came in between), or never built though the unit has charges."""
    stale = set(db.session.execute(
        select(UnitBalance.unit_id).where(or_(UnitBalance.state_day > day, UnitBalance.valid_through < day),
                                          *balance_scope)).scalars())
    # Units with charges but no projection yet (never refreshed) are stale too: one
    # index probe per unit, not a scan of every charge.
    stale |= set(db.session.execute(
        select(Unit.id).where(~select(UnitBalance.unit_id).where(UnitBalance.unit_id == Unit.id).exists(),
                              select(Charge.id).where(Charge.unit_id == Unit.id).exists(), *unit_scope)).scalars())
    return stale


# Units rebuilt per transaction by ``refresh_stale_balances``: SQLite has one writer, so a
# long rebuild must let the office's postings in between.
REFRESH_PER_TRANSACTION = 200


def refresh_stale_balances(as_of=None):
    """Rebuild the projection of every unit stale on ``as_of`` (default: today), a few
    hundred units per transaction; returns how many. The reports are right without it (a
    stale unit is computed by the engine on every read), only slower: the worker runs it
    every hour, so that a day on which many units' projections end (a policy version
    taking effect) costs the pages nothing."""
    as_of = as_of or local_today()
    unit_ids = sorted(stale_unit_ids(as_of.toordinal()))
    for start in range(0, len(unit_ids), REFRESH_PER_TRANSACTION):
        with atomic():
            for unit in _units(unit_ids[start:start + REFRESH_PER_TRANSACTION], None):
                refresh_unit_balances(unit, as_of)
    return len(unit_ids)


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
    fee_owed = [line.charge.due_date.toordinal() for line in statement.charges if line.late_fee_outstanding_fen > 0]
    return UnitArrears(unit.id, statement.principal_outstanding_fen, statement.late_fee_outstanding_fen,
                       statement.credit_fen, min(owed) if owed else None, min(fee_owed) if fee_owed else None)


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


# -- the day's figures, kept until the next evidence event ----------------------------------------

# Events that change no unit's figures: only these may pass without touching the cache.
# Any other event that names no unit (a policy change, a billing run, an import, one of a
# kind added later) recomputes every unit; an event that names a unit recomputes that unit.
FIGURE_NEUTRAL_EVENTS = frozenset({
    "login", "login_locked", "user_created", "user_deactivated", "user_reactivated", "password_reset",
    "role_changed", "estate_created", "building_created", "fee_item_created", "fee_item_activated",
    "fee_item_deactivated", "notice_batch_created", "notice_batch_finished",
    "households_exported", "checkpoint_written", "call_guides_seeded", "call_guide_edited",
    "visit_sheet_printed", "visit_outcomes_recorded", "payday_recorded", "performance_exported",
    "commission_scheme_added"})
# More households named by new events than this: recompute everyone in one query instead.
INCREMENTAL_LIMIT = 500


@dataclass(frozen=True)
class DayFigures:
    """Every unit's ``arrears_by_unit`` figures as of ``as_of``, at least as new as the
    evidence chain's head ``(head_seq, head_hash)``. ``by_unit`` is shared: never change it.
    ``token`` differs between any two snapshots of a process: it keys what is derived from them."""

    as_of: object
    head_seq: int
    head_hash: str
    by_unit: dict
    token: int
    how: str  # "full", "incremental" or "kept": how this request got it


class _DayCache:
    def __init__(self):
        self.lock = threading.Lock()
        self.snapshot = None
        self.derived = {}  # name -> (token, value)
        self.changes = {}  # token -> the units changed from token - 1 (None: computed afresh)
        self.unit_ids_by_ref = None
        self.tokens = itertools.count(1)


def _day_cache():
    return current_app.extensions.setdefault("arrears_day_figures", _DayCache())


def day_figures(as_of):
    """``DayFigures``: ``arrears_by_unit(as_of)`` for every unit, computed once per process
    and reused until the evidence chain moves on or the day changes.

    Every act that changes the ledger appends an evidence event in its own transaction,
    so the chain's head (sequence and hash) names the state of the ledger. The head is
    read *before* the figures, so they are never older than the head they are kept
    under. When the head has moved: the events since the kept head are read; if they
    continue the kept head (same hash at its sequence — a rolled-back or truncated chain
    does not) and each either names a unit or is of a kind that changes no figures
    (``FIGURE_NEUTRAL_EVENTS``), only the units named are computed again; otherwise every
    unit is. A change made to the ledger tables without an event (raw SQL) is not seen
    until the day changes or the process restarts."""
    cache = _day_cache()
    head_seq, head_hash = chain_head()
    kept = cache.snapshot
    if kept is not None and (kept.as_of, kept.head_seq, kept.head_hash) == (as_of, head_seq, head_hash):
        return replace(kept, how="kept")
    with cache.lock:
        kept = cache.snapshot
        if kept is not None and (kept.as_of, kept.head_seq, kept.head_hash) == (as_of, head_seq, head_hash):
            return replace(kept, how="kept")
        by_unit, how, changed = None, "full", None
        if kept is not None and kept.as_of == as_of and head_seq > kept.head_seq:
            changed = _units_changed_since(cache, kept, head_seq)
            if changed == set():  # only events that change no figures: keep them, and what derives from them
                cache.snapshot = replace(kept, head_seq=head_seq, head_hash=head_hash, how="kept")
                return cache.snapshot
            if changed is not None:
                by_unit = dict(kept.by_unit)
                for unit_id in changed:
                    by_unit.pop(unit_id, None)
                by_unit.update(arrears_by_unit(as_of, unit_ids=changed))
                how = "incremental"
        if by_unit is None:
            by_unit, changed = arrears_by_unit(as_of), None
            cache.derived, cache.changes = {}, {}
        snapshot = DayFigures(as_of, head_seq, head_hash, by_unit, next(cache.tokens), how)
        cache.changes[snapshot.token] = frozenset(changed) if changed is not None else None
        cache.snapshot = snapshot
        return snapshot


def _units_changed_since(cache, kept, head_seq):
    """The ids of the units named by the events after ``kept``'s head up to ``head_seq``,
    or None when every unit must be computed again."""
    events = db.session.execute(
        select(EvidenceEvent.seq, EvidenceEvent.hash, EvidenceEvent.kind, EvidenceEvent.unit)
        .where(EvidenceEvent.seq >= kept.head_seq, EvidenceEvent.seq <= head_seq)
        .order_by(EvidenceEvent.seq)).all()
    if kept.head_seq > 0 and (not events or (events[0].seq, events[0].hash) != (kept.head_seq, kept.head_hash)):
        return None  # the chain the figures were kept under is not this one
    refs = set()
    for event in events:
        if event.seq == kept.head_seq:
            continue
        if event.unit:
            refs.add(event.unit)
        elif event.kind not in FIGURE_NEUTRAL_EVENTS:
            return None
    if len(refs) > INCREMENTAL_LIMIT:
        return None
    if cache.unit_ids_by_ref is None or not refs <= cache.unit_ids_by_ref.keys():
        cache.unit_ids_by_ref = _unit_ids_by_ref()
        if not refs <= cache.unit_ids_by_ref.keys():
            return None
    return {cache.unit_ids_by_ref[ref] for ref in refs}


def _unit_ids_by_ref():
    rows = db.session.execute(select(Unit.id, Estate.name, Building.name, Unit.number)
                              .join(Building, Building.id == Unit.building_id)
                              .join(Estate, Estate.id == Building.estate_id))
    return {f"{estate}/{building}/{number}": unit_id for unit_id, estate, building, number in rows}


def derived_from(snapshot, name, compute, update=None):
    """``compute()``, kept with ``snapshot`` (a ``DayFigures``) under ``name``: for figures
    that change only when the day's figures do (the dashboard's rows, counts, watchlist and
    collection rate). When a value is kept for an earlier snapshot of the same day and
    every snapshot since was computed by units, ``update(value, changed unit ids)`` gives
    the new value instead (it must not change ``value``: other requests may be reading it)."""
    cache = _day_cache()
    entry = cache.derived.get(name)
    if entry is not None and entry[0] == snapshot.token:
        return entry[1]
    value = None
    if entry is not None and update is not None and entry[0] < snapshot.token:
        changes = [cache.changes.get(token) for token in range(entry[0] + 1, snapshot.token + 1)]
        if all(change is not None for change in changes):
            value = update(entry[1], frozenset().union(*changes))
    if value is None:
        value = compute()
    with cache.lock:
        if cache.snapshot is not None and cache.snapshot.token == snapshot.token:
            cache.derived[name] = (snapshot.token, value)
    return value
