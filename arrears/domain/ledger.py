"""The ledger engine: a unit's charges, payments and waivers as of a date (SPEC §3, §10).

Everything here is a pure function of its inputs. Amounts are ``int`` fen; rates are
``Decimal``. The late fee is computed over spans between events (billing, payments,
waivers, suspension boundaries, policy changes), not day by day; the tests hold it
equal to a day-by-day oracle.

Invariants the engine keeps:
- nothing outstanding is ever negative;
- a payment never increases anything outstanding;
- money is conserved: each payment's allocations plus the credit it leaves equal it;
- the accrued late fee of a charge never exceeds ``cap_ratio × amount`` and, with no
  new payments, never decreases as the as-of date moves on;
- a payment or waiver dated ``d`` lowers the principal from ``d + 1``: the fee for day
  ``d`` is still charged on the principal outstanding at the start of ``d``.

Choices where the SPEC is silent (also in docs/ledger.md):
- a charge counts as billed on the first day of its period, or on its due date when
  that is earlier; credit held then settles it at once;
- on one day, charges are billed first, then waivers take effect, then payments are
  applied in the order given;
- a payment that names periods settles those charges first (with the policy's own
  ordering, restricted to them), then the rest as usual;
- when policies change, each day uses the policy in force on that day (rate, grace
  and cap); a lower cap never takes back a fee already accrued;
- charges are settled and listed oldest due date first, whatever order they were
  billed in; a charge counts as billed no later than its due date;
- a late-fee waiver counts at its full approved amount (approval refuses more than is
  outstanding then); a principal waiver is limited to the principal outstanding.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from .money import round_fen
from .policy import PolicySchedule

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Charge:
    """A charge of ``amount_fen`` for ``period`` (``YYYY-MM``), due on ``due_date``."""

    id: object
    period: str
    fee_item: str
    amount_fen: int
    due_date: date
    billed_on: date | None = None

    @property
    def billed(self):
        """The day the charge enters the ledger; never after its due date, so that every
        accrual day of SPEC §3 is counted."""
        if self.billed_on is not None:
            return min(self.billed_on, self.due_date)
        return billed_on_for(self.period, self.due_date)


def billed_on_for(period, due_date):
    """The day a charge for ``period`` counts as billed: its period's first day, or its
    due date when that is earlier."""
    year, month = (int(part) for part in period.split("-"))
    return min(date(year, month, 1), due_date)


@dataclass(frozen=True)
class Payment:
    """A payment of ``amount_fen`` on ``paid_on``; ``periods`` names the periods the payer
    said it is for (empty: none named)."""

    id: object
    amount_fen: int
    paid_on: date
    periods: tuple = ()


@dataclass(frozen=True)
class Waiver:
    """An approved waiver of ``amount_fen`` on one charge, effective on ``effective_on``.
    ``kind`` is ``late_fee`` or ``principal``."""

    charge_id: object
    kind: str
    amount_fen: int
    effective_on: date


@dataclass(frozen=True)
class Suspension:
    """Days ``start``..``end`` inclusive on which no late fee accrues, for the charges in
    ``charge_ids`` (``None``: every charge of the unit, as for hardship)."""

    start: date
    end: date
    charge_ids: frozenset | None = None

    def covers(self, charge_id):
        return self.charge_ids is None or charge_id in self.charge_ids


@dataclass(frozen=True)
class AccrualSpan:
    """Days ``start``..``end`` at ``principal_fen`` and ``daily_rate``: ``fee`` in Decimal fen
    (after the cap)."""

    start: date
    end: date
    principal_fen: int
    daily_rate: Decimal
    days: int
    fee: Decimal


@dataclass(frozen=True)
class Allocation:
    """Part of a payment (``payment_id``; ``None`` for held credit) applied on ``on``."""

    payment_id: object
    charge_id: object
    on: date
    principal_fen: int
    late_fee_fen: int


@dataclass(frozen=True)
class ChargeStatement:
    charge: Charge
    principal_paid_fen: int
    principal_waived_fen: int
    principal_outstanding_fen: int
    days_overdue: int
    late_fee_accrued_fen: int
    late_fee_waived_fen: int
    late_fee_paid_fen: int
    late_fee_outstanding_fen: int
    accrued_exact: Decimal
    last_payment_on: date | None
    working: tuple = ()


@dataclass(frozen=True)
class Statement:
    as_of: date
    charges: tuple
    credit_fen: int
    allocations: tuple = ()

    @property
    def principal_outstanding_fen(self):
        return sum(c.principal_outstanding_fen for c in self.charges)

    @property
    def late_fee_outstanding_fen(self):
        return sum(c.late_fee_outstanding_fen for c in self.charges)

    @property
    def total_outstanding_fen(self):
        return self.principal_outstanding_fen + self.late_fee_outstanding_fen

    def charge(self, charge_id):
        for line in self.charges:
            if line.charge.id == charge_id:
                return line
        raise KeyError(charge_id)


@dataclass
class _Running:
    """Mutable state of one charge while the engine walks the timeline."""

    charge: Charge
    order: int
    principal_out: int
    principal_paid: int = 0
    principal_waived: int = 0
    accrued: Decimal = Decimal(0)
    fee_waived: int = 0
    fee_paid: int = 0
    last_payment_on: date | None = None
    working: list = field(default_factory=list)

    def fee_outstanding(self):
        return max(0, round_fen(self.accrued) - self.fee_waived - self.fee_paid)

    def outstanding(self):
        return self.principal_out + self.fee_outstanding()


_BILL, _WAIVE, _PAY = 0, 1, 2


def compute_statement(charges, payments=(), *, as_of, policies=None, waivers=(),
                      suspensions=(), keep_working=False):
    """The unit's statement as of ``as_of``.

    ``charges``, ``payments``, ``waivers`` and ``suspensions`` are what stands on the
    record (reversed items already left out by the caller); anything dated after
    ``as_of`` is ignored. ``policies`` is a ``PolicySchedule`` (default policy when
    ``None``). With ``keep_working`` each charge carries its accrual spans.
    """
    schedule = policies or PolicySchedule()
    timeline = []
    for order, charge in enumerate(sorted(charges, key=_charge_key)):
        if charge.billed <= as_of:
            timeline.append((charge.billed, _BILL, order, (order, charge)))
    for order, waiver in enumerate(waivers):
        if waiver.effective_on <= as_of:
            timeline.append((waiver.effective_on, _WAIVE, order, waiver))
    for order, payment in enumerate(payments):
        if payment.paid_on <= as_of:
            timeline.append((payment.paid_on, _PAY, order, payment))
    timeline.sort(key=lambda item: item[:3])

    engine = _Engine(schedule, suspensions, keep_working)
    for day, kind, _, item in timeline:
        engine.accrue_through(day)
        if kind == _BILL:
            engine.bill(*item, day)
        elif kind == _WAIVE:
            engine.waive(item)
        else:
            engine.pay(item)
    engine.accrue_through(as_of)

    lines = []
    for run in sorted(engine.running.values(), key=lambda r: r.order):
        charge = run.charge
        overdue = (as_of - charge.due_date).days if run.principal_out > 0 and as_of > charge.due_date else 0
        accrued_fen = round_fen(run.accrued)
        lines.append(ChargeStatement(
            charge=charge,
            principal_paid_fen=run.principal_paid,
            principal_waived_fen=run.principal_waived,
            principal_outstanding_fen=run.principal_out,
            days_overdue=overdue,
            late_fee_accrued_fen=accrued_fen,
            late_fee_waived_fen=run.fee_waived,
            late_fee_paid_fen=run.fee_paid,
            late_fee_outstanding_fen=run.fee_outstanding(),
            accrued_exact=run.accrued,
            last_payment_on=run.last_payment_on,
            working=tuple(run.working),
        ))
    return Statement(as_of=as_of, charges=tuple(lines), credit_fen=engine.credit,
                     allocations=tuple(engine.allocations))


def _charge_key(charge):
    return (charge.due_date, charge.period, charge.fee_item, str(charge.id))


class _Engine:
    def __init__(self, schedule, suspensions, keep_working):
        self.schedule = schedule
        self.suspensions = tuple(suspensions)
        self.keep_working = keep_working
        self.running = {}
        self.credit = 0
        self.allocations = []
        self.accrued_through = None
        boundaries = set(schedule.change_days)
        for suspension in self.suspensions:
            boundaries.add(suspension.start)
            boundaries.add(suspension.end + ONE_DAY)
        self.boundaries = sorted(boundaries)

    # -- accrual ---------------------------------------------------------------
    def accrue_through(self, day):
        """Accrue the late fee of every day after the last one accrued, up to ``day``."""
        if self.accrued_through is None:
            self.accrued_through = day - ONE_DAY
        if day <= self.accrued_through:
            return
        start = self.accrued_through + ONE_DAY
        for boundary in self.boundaries:
            if start < boundary <= day:
                self._accrue_span(start, boundary - ONE_DAY)
                start = boundary
        self._accrue_span(start, day)
        self.accrued_through = day

    def _accrue_span(self, start, end):
        """Days ``start``..``end``, inside which policy and suspensions do not change."""
        policy = self.schedule.on(start)
        suspended = [s for s in self.suspensions if s.start <= start and end <= s.end]
        for run in self.running.values():
            if run.principal_out <= 0:
                continue
            charge = run.charge
            first = max(start, charge.due_date + timedelta(days=policy.grace_days + 1))
            if first > end or any(s.covers(charge.id) for s in suspended):
                continue
            days = (end - first).days + 1
            add = policy.daily_rate * run.principal_out * days
            cap = policy.cap_fen(charge.amount_fen)
            before = run.accrued
            if cap is None:
                run.accrued = before + add
            else:
                run.accrued = max(before, min(before + add, cap))
            if self.keep_working and run.accrued != before:
                run.working.append(AccrualSpan(first, end, run.principal_out, policy.daily_rate,
                                               days, run.accrued - before))

    # -- events ----------------------------------------------------------------
    def bill(self, order, charge, day):
        """``order`` is the charge's rank by due date: the order of settling and listing."""
        self.running[charge.id] = _Running(charge=charge, order=order, principal_out=charge.amount_fen)
        if self.credit:
            held, self.credit = self.credit, 0
            self._apply(None, held, day, ())

    def waive(self, waiver):
        run = self.running.get(waiver.charge_id)
        if run is None:
            return
        if waiver.kind == "principal":
            amount = min(waiver.amount_fen, run.principal_out)
            run.principal_out -= amount
            run.principal_waived += amount
        else:
            # Kept whole: the floor at zero applies once, to accrued − waived − paid
            # (SPEC §3.5), so a backdated payment never raises what is owed.
            run.fee_waived += waiver.amount_fen

    def pay(self, payment):
        for run in self.running.values():
            if run.outstanding() > 0:
                run.last_payment_on = payment.paid_on
        self._apply(payment.id, payment.amount_fen, payment.paid_on, payment.periods)

    def _apply(self, payment_id, amount, day, periods):
        """Settle ``amount`` fen on ``day`` in the policy's order; the rest becomes credit."""
        policy = self.schedule.on(day)
        billed = sorted(self.running.values(), key=lambda r: r.order)
        remaining = [amount]
        settled = {}

        def principal(run):
            take = min(remaining[0], run.principal_out)
            if take:
                run.principal_out -= take
                run.principal_paid += take
                remaining[0] -= take
                settled.setdefault(run.charge.id, [0, 0])[0] += take

        def fee(run):
            take = min(remaining[0], run.fee_outstanding())
            if take:
                run.fee_paid += take
                remaining[0] -= take
                settled.setdefault(run.charge.id, [0, 0])[1] += take

        def settle(runs):
            if policy.allocation == "charge_by_charge":
                for run in runs:
                    principal(run)
                    fee(run)
                return
            due = [r for r in runs if r.charge.due_date <= day]
            for run in due:
                principal(run)
            for run in due:
                fee(run)
            for run in runs:
                if run.charge.due_date > day:
                    principal(run)

        if periods:
            settle([r for r in billed if r.charge.period in periods])
        settle(billed)
        self.credit += remaining[0]
        for run in billed:
            if run.charge.id in settled:
                principal_fen, fee_fen = settled[run.charge.id]
                self.allocations.append(Allocation(payment_id, run.charge.id, day, principal_fen, fee_fen))
