"""Property tests of the ledger engine against a slow, obvious day-by-day oracle.

The oracle below is written from SPEC §3 alone, one calendar day at a time; the engine
works in spans between events. For random unit histories (charges, payments — some
naming periods —, waivers, hardship and plan suspensions, one or two policy versions)
they must agree on every figure of every charge, on the credit and on the allocations.
Relief histories add unit-wide hardship spans, waivers of both kinds and approved payment
plans: the engine gets each plan as the service builds it (``plans.plan_state`` as of the
statement's day, ``suspended_span``, a Suspension over the plan's charges), while the
oracle decides day by day, from the payments alone, whether a plan is in good standing.

The invariants the engine's docstring promises are checked on their own as well:
nothing outstanding is negative; the accrued fee never decreases as the as-of date
moves on; the cap holds; a payment never increases anything outstanding; money is
conserved.

Where the SPEC is silent the oracle makes the engine's documented choices (billed on
the first day of the period or the due date if earlier; on one day: the day's fee, then
billing, then waivers, then payments in the order given; each day under the policy in
force on that day; a lower cap never takes back a fee already accrued; a principal
waiver is limited to the principal outstanding, a late-fee waiver counts whole).

Due dates may fall in any order relative to billing: charges are settled and listed
oldest due date first (SPEC §3, §10).
"""
import calendar
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from arrears.domain.ledger import Charge, Payment, Suspension, Waiver, compute_statement
from arrears.domain.plans import Instalment, plan_state, suspended_span
from arrears.domain.policy import LateFeePolicy, PolicySchedule

ONE_DAY = timedelta(days=1)
FIRST_MONTH = (2023, 1)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


# --- the oracle ----------------------------------------------------------------------

@dataclass
class OracleLine:
    charge: Charge
    billed: bool = False
    principal_outstanding: int = 0
    principal_paid: int = 0
    principal_waived: int = 0
    accrued: Decimal = Decimal(0)
    fee_waived: int = 0
    fee_paid: int = 0
    last_payment_on: date | None = None

    def accrued_fen(self):
        # SPEC §1: ROUND_HALF_UP to the fen, once per charge per figure.
        return int(self.accrued.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def fee_outstanding(self):
        # SPEC §3.5: accrued − waived − paid, never below zero.
        return max(0, self.accrued_fen() - self.fee_waived - self.fee_paid)


@dataclass
class OracleResult:
    lines: dict = field(default_factory=dict)          # charge id -> OracleLine
    days_overdue: dict = field(default_factory=dict)   # charge id -> int
    credit: int = 0
    allocations: dict = field(default_factory=dict)    # (payer, charge id, day) -> [p, f]


def oracle_billed_on(charge):
    if charge.billed_on is not None:
        return charge.billed_on
    year, month = int(charge.period[:4]), int(charge.period[5:7])
    return min(date(year, month, 1), charge.due_date)


def oracle_plan_breaks_on(plan, payments):
    """The first day a plan is no longer in good standing (None: never), read from SPEC §4
    with the documented choices of arrears/domain/plans.py: every payment from the day of
    approval counts; instalment ``k`` still short of instalments 1..k at the end of
    ``due_on + tolerance_days`` breaks the plan the day after."""
    owed = 0
    for instalment in plan.instalments:
        owed += instalment.amount_fen
        last_day = instalment.due_on + timedelta(days=plan.tolerance_days)
        paid = sum(p.amount_fen for p in payments if plan.approved_on <= p.paid_on <= last_day)
        if paid < owed:
            return last_day + ONE_DAY
    return None


def oracle_plan_completed_on(plan, payments):
    """The day the payments from approval on reach what the plan covers (None: never):
    the plan's suspension ends that day."""
    covered, paid = sum(i.amount_fen for i in plan.instalments), 0
    for payment in sorted(payments, key=lambda p: p.paid_on):
        if payment.paid_on >= plan.approved_on:
            paid += payment.amount_fen
            if paid >= covered:
                return payment.paid_on
    return None


def oracle_statement(charges, payments, *, as_of, policies, waivers=(), suspensions=(), plans=()):
    """The statement as of ``as_of``, walking every calendar day. ``plans`` are
    ``PlanTerms``: a plan suspends its charges from approval while in good standing."""
    versions = sorted(policies, key=lambda policy: policy.effective_from)
    # A break on day b depends on payments before b only, so it is the same whatever
    # as_of is (a plan is judged on each day from what was paid by then).
    plan_windows = [(plan.charge_ids, plan.approved_on, oracle_plan_breaks_on(plan, payments),
                     oracle_plan_completed_on(plan, payments)) for plan in plans]

    def policy_on(day):
        in_force = versions[0]
        for policy in versions:
            if policy.effective_from <= day:
                in_force = policy
        return in_force

    def suspended(day, charge_id):
        if any(s.start <= day <= s.end and (s.charge_ids is None or charge_id in s.charge_ids)
               for s in suspensions):
            return True
        return any(charge_id in charge_ids and approved_on <= day
                   and (breaks_on is None or day < breaks_on) and (completed_on is None or day <= completed_on)
                   for charge_ids, approved_on, breaks_on, completed_on in plan_windows)

    oldest_due_first = sorted(charges, key=lambda c: (c.due_date, c.period, c.fee_item, str(c.id)))
    lines = {c.id: OracleLine(c) for c in oldest_due_first}
    result = OracleResult()

    def allocate(payer, amount, day, periods):
        policy = policy_on(day)
        on_record = [line for line in lines.values() if line.billed]
        left = amount

        def order(group):
            if policy.allocation == "charge_by_charge":
                for line in group:
                    yield "principal", line
                    yield "fee", line
            else:
                due = [line for line in group if line.charge.due_date <= day]
                for line in due:
                    yield "principal", line
                for line in due:
                    yield "fee", line
                for line in group:
                    if line.charge.due_date > day:
                        yield "principal", line

        groups = [on_record]
        if periods:
            groups.insert(0, [line for line in on_record if line.charge.period in periods])
        for group in groups:
            for what, line in order(group):
                if what == "principal":
                    take = min(left, line.principal_outstanding)
                    line.principal_outstanding -= take
                    line.principal_paid += take
                else:
                    take = min(left, line.fee_outstanding())
                    line.fee_paid += take
                left -= take
                if take:
                    key = (payer, line.charge.id, day)
                    parts = result.allocations.setdefault(key, [0, 0])
                    parts[0 if what == "principal" else 1] += take
        result.credit += left

    event_days = ([oracle_billed_on(c) for c in charges] + [p.paid_on for p in payments]
                  + [w.effective_on for w in waivers])
    event_days = [day for day in event_days if day <= as_of]
    day = min(event_days, default=as_of + ONE_DAY)
    while day <= as_of:
        policy = policy_on(day)
        # 1. The day's fee, on the principal outstanding at the start of the day.
        for line in lines.values():
            charge = line.charge
            if day < charge.due_date + timedelta(days=policy.grace_days + 1):
                continue
            if suspended(day, charge.id):
                continue
            fee = policy.daily_rate * line.principal_outstanding
            if policy.cap_ratio is None:
                line.accrued += fee
            else:
                cap = policy.cap_ratio * charge.amount_fen
                line.accrued = max(line.accrued, min(line.accrued + fee, cap))
        # 2. Billing: held credit settles the new charge.
        for line in lines.values():
            if oracle_billed_on(line.charge) == day:
                line.billed = True
                line.principal_outstanding = line.charge.amount_fen
                if result.credit:
                    held, result.credit = result.credit, 0
                    allocate(None, held, day, ())
        # 3. Waivers: principal ones limited to the principal outstanding; late-fee ones
        #    count whole, the floor at zero applying to accrued − waived − paid (SPEC §3.5).
        for waiver in waivers:
            line = lines.get(waiver.charge_id)
            if waiver.effective_on != day or line is None or not line.billed:
                continue
            if waiver.kind == "principal":
                amount = min(waiver.amount_fen, line.principal_outstanding)
                line.principal_outstanding -= amount
                line.principal_waived += amount
            else:
                line.fee_waived += waiver.amount_fen
        # 4. Payments, in the order given; each interrupts what is outstanding (SPEC §7).
        for payment in payments:
            if payment.paid_on != day:
                continue
            for line in lines.values():
                if line.billed and (line.principal_outstanding > 0 or line.fee_outstanding() > 0):
                    line.last_payment_on = day
            allocate(payment.id, payment.amount_fen, day, payment.periods)
        day += ONE_DAY

    result.lines = {cid: line for cid, line in lines.items() if line.billed}
    for cid, line in result.lines.items():
        due = line.charge.due_date
        result.days_overdue[cid] = ((as_of - due).days
                                    if line.principal_outstanding > 0 and as_of > due else 0)
    return result


# --- random unit histories -----------------------------------------------------------

@dataclass(frozen=True)
class PlanTerms:
    """An approved payment plan over ``charge_ids`` (SPEC §4)."""

    approved_on: date
    instalments: tuple          # of arrears.domain.plans.Instalment
    charge_ids: frozenset
    tolerance_days: int


# The open end of a plan in good standing, as in arrears/services/relief.py.
FAR_FUTURE = date(9999, 12, 30)


def service_plan_suspensions(plan, payments, as_of):
    """The engine suspension of a plan as known on ``as_of``, built as
    ``plan_suspensions`` in arrears/services/relief.py builds it."""
    if plan.approved_on > as_of:
        return []
    state = plan_state(plan.instalments, [(p.paid_on, p.amount_fen) for p in payments],
                       plan.approved_on, plan.tolerance_days, as_of)
    start, end = suspended_span(plan.approved_on, state)
    end = end or FAR_FUTURE
    return [Suspension(start, end, plan.charge_ids)] if end >= start else []


@dataclass(frozen=True)
class History:
    charges: tuple
    payments: tuple
    waivers: tuple
    suspensions: tuple
    policies: tuple
    as_of: date
    plans: tuple = ()

    def engine_suspensions(self):
        """Hardship and other spans as given, and each plan's as known on ``as_of``."""
        found = list(self.suspensions)
        for plan in self.plans:
            found += service_plan_suspensions(plan, self.payments, self.as_of)
        return tuple(found)

    def statement(self, **changes):
        history = replace(self, **changes)
        return compute_statement(history.charges, history.payments, as_of=history.as_of,
                                 policies=PolicySchedule(history.policies),
                                 waivers=history.waivers,
                                 suspensions=history.engine_suspensions())

    def oracle(self):
        return oracle_statement(self.charges, self.payments, as_of=self.as_of,
                                policies=self.policies, waivers=self.waivers,
                                suspensions=self.suspensions, plans=self.plans)


RATES = [Decimal("0.001"), Decimal("0.0005"), Decimal("0.000333"), Decimal("0.0003")]
CAPS = [None, Decimal("0.5"), Decimal("1.0"), Decimal("2.0"), Decimal("0.05")]


@st.composite
def policies(draw, effective_from=date(1970, 1, 1)):
    return LateFeePolicy(effective_from=effective_from,
                         daily_rate=draw(st.sampled_from(RATES)),
                         grace_days=draw(st.integers(0, 10)),
                         cap_ratio=draw(st.sampled_from(CAPS)),
                         allocation=draw(st.sampled_from(["principal_first", "charge_by_charge"])))


@st.composite
def histories(draw, max_payments=8):
    count = draw(st.integers(1, 6))
    month_index = draw(st.integers(0, 36))
    charges, previous_due = [], None
    for number in range(count):
        if number:
            month_index += draw(st.integers(1, 3))
        year, month = FIRST_MONTH[0] + month_index // 12, month_index % 12 + 1
        first_day = date(year, month, 1)
        if draw(st.booleans()):
            due = date(year, month, calendar.monthrange(year, month)[1])
        else:
            due = first_day + timedelta(days=draw(st.integers(-20, 60)))
        previous_due = due
        charges.append(Charge(f"c{number}", f"{year:04d}-{month:02d}", "物业管理费",
                              draw(st.integers(1, 100000)), due))

    start = min(oracle_billed_on(c) for c in charges)
    end = max(c.due_date for c in charges) + timedelta(days=120)
    span = (end - start).days

    def a_day():
        return start + timedelta(days=draw(st.integers(-15, span)))

    periods = [c.period for c in charges] + ["2099-01"]
    payments = []
    for number in range(draw(st.integers(0, max_payments))):
        named = ()
        if draw(st.integers(0, 3)) == 0:
            named = tuple(draw(st.lists(st.sampled_from(periods), min_size=1, max_size=2,
                                        unique=True)))
        # Amounts either anything or exactly a charge's amount (paying a bill in full).
        amount = draw(st.one_of(st.integers(1, 150000),
                                st.sampled_from([c.amount_fen for c in charges])))
        payments.append(Payment(f"p{number}", amount, a_day(), named))

    waivers = []
    for _ in range(draw(st.integers(0, 3))):
        waivers.append(Waiver(draw(st.sampled_from([c.id for c in charges])),
                              draw(st.sampled_from(["principal", "late_fee"])),
                              draw(st.integers(1, 50000)), a_day()))

    suspensions = []
    for _ in range(draw(st.integers(0, 2))):
        first = a_day()
        covered = None
        if draw(st.booleans()):
            covered = frozenset(draw(st.lists(st.sampled_from([c.id for c in charges]),
                                              min_size=1, unique=True)))
        suspensions.append(Suspension(first, first + timedelta(days=draw(st.integers(0, 60))),
                                      covered))

    versions = [draw(policies())]
    if draw(st.booleans()):
        versions.append(draw(policies(effective_from=start + timedelta(
            days=draw(st.integers(1, span))))))

    if draw(st.booleans()):
        as_of = start + timedelta(days=draw(st.integers(0, span + 400)))
    else:   # well after the last due date, where fees have grown and caps are reached
        as_of = end + timedelta(days=draw(st.integers(0, 700)))
    return History(tuple(charges), tuple(payments), tuple(waivers), tuple(suspensions),
                   tuple(versions), as_of)


# --- the oracle agrees with the engine -----------------------------------------------

def engine_allocations(statement):
    totals = defaultdict(lambda: [0, 0])
    for allocation in statement.allocations:
        parts = totals[(allocation.payment_id, allocation.charge_id, allocation.on)]
        parts[0] += allocation.principal_fen
        parts[1] += allocation.late_fee_fen
    return dict(totals)


def assert_agrees(history):
    statement = history.statement()
    expected = history.oracle()
    assert [line.charge.id for line in statement.charges] == list(expected.lines)
    for line in statement.charges:
        want = expected.lines[line.charge.id]
        got = (line.principal_paid_fen, line.principal_waived_fen, line.principal_outstanding_fen,
               line.days_overdue, line.accrued_exact, line.late_fee_accrued_fen,
               line.late_fee_waived_fen, line.late_fee_paid_fen, line.late_fee_outstanding_fen,
               line.last_payment_on)
        assert got == (want.principal_paid, want.principal_waived, want.principal_outstanding,
                       expected.days_overdue[line.charge.id], want.accrued, want.accrued_fen(),
                       want.fee_waived, want.fee_paid, want.fee_outstanding(),
                       want.last_payment_on), line.charge.id
    assert statement.credit_fen == expected.credit
    assert engine_allocations(statement) == expected.allocations


@PROPERTY_SETTINGS
@given(histories())
def test_engine_matches_the_day_by_day_oracle(history):
    assert_agrees(history)


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 90))
def test_engine_matches_the_oracle_on_earlier_dates_too(history, days_back):
    """Compare after the events too, not only at the end: the same history as of an
    earlier date (TigerBeetle's auditor compares after every step)."""
    assert_agrees(replace(history, as_of=history.as_of - timedelta(days=days_back)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_engine_matches_the_oracle_after_every_event(history):
    """The auditor's way: the same history as of every day something happens in it, and
    the day before."""
    days = {c.due_date for c in history.charges}
    days |= {p.paid_on for p in history.payments} | {w.effective_on for w in history.waivers}
    days |= {s.end for s in history.suspensions}
    days |= {day - ONE_DAY for day in days}
    for day in sorted(day for day in days if day <= history.as_of):
        assert_agrees(replace(history, as_of=day))


def test_oracle_reproduces_the_spec_example():
    """SPEC §10: 300.00 due 2026-01-31, 100.00 paid 2026-03-02, as of 2026-11-23 -> 62.20."""
    result = oracle_statement([Charge("c1", "2026-01", "物业管理费", 30000, date(2026, 1, 31))],
                              [Payment("p1", 10000, date(2026, 3, 2))],
                              as_of=date(2026, 11, 23), policies=[LateFeePolicy()])
    line = result.lines["c1"]
    assert (line.principal_outstanding, line.accrued_fen(), result.days_overdue["c1"],
            line.last_payment_on) == (20000, 6220, 296, date(2026, 3, 2))


# --- invariants -----------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(histories())
def test_nothing_outstanding_is_ever_negative(history):
    statement = history.statement()
    assert statement.credit_fen >= 0
    for line in statement.charges:
        assert line.principal_outstanding_fen >= 0
        assert line.late_fee_outstanding_fen >= 0
        assert line.late_fee_accrued_fen >= 0
        assert line.principal_paid_fen >= 0 and line.principal_waived_fen >= 0
        assert line.late_fee_paid_fen >= 0 and line.late_fee_waived_fen >= 0
        # every fen of principal is paid, waived or outstanding
        assert (line.principal_paid_fen + line.principal_waived_fen
                + line.principal_outstanding_fen) == line.charge.amount_fen
        # nobody pays more late fee than accrued (a waiver counts whole, so waived + paid
        # may exceed it when a waiver outgrew what a backdated payment left outstanding)
        assert line.late_fee_paid_fen <= line.late_fee_accrued_fen


@PROPERTY_SETTINGS
@given(histories(), st.integers(1, 400))
def test_accrued_fee_never_decreases_with_time(history, later_by):
    """With no new payments, moving as_of forward never lowers a charge's accrued fee."""
    history = replace(history, payments=tuple(p for p in history.payments
                                              if p.paid_on <= history.as_of))
    now = history.statement()
    later = history.statement(as_of=history.as_of + timedelta(days=later_by))
    for line in now.charges:
        then = later.charge(line.charge.id)
        assert then.accrued_exact >= line.accrued_exact
        assert then.late_fee_accrued_fen >= line.late_fee_accrued_fen


@PROPERTY_SETTINGS
@given(histories())
def test_the_cap_holds(history):
    statement = history.statement()
    caps = [policy.cap_ratio for policy in history.policies]
    if None in caps:
        return
    # With several versions a lower cap never takes back a fee accrued under a higher one,
    # so the bound is the highest cap; with one version it is that version's cap.
    highest = max(caps)
    for line in statement.charges:
        bound = highest * line.charge.amount_fen
        assert line.accrued_exact <= bound
        assert line.late_fee_accrued_fen <= int(bound.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@PROPERTY_SETTINGS
@given(histories(), st.sampled_from(CAPS[1:]))
def test_the_cap_of_a_single_policy_holds(history, cap):
    policy = replace(history.policies[0], cap_ratio=cap)
    statement = history.statement(policies=(policy,))
    for line in statement.charges:
        assert line.accrued_exact <= cap * line.charge.amount_fen


@PROPERTY_SETTINGS
@given(histories(max_payments=5), st.data())
def test_a_payment_never_increases_anything_outstanding(history, data):
    """Adding one more payment anywhere in the history (before, between or on the days of
    the others, naming a period or not) never raises any charge's principal or late fee
    outstanding. This holds under both allocations: a late fee is only ever paid once the
    charge's own principal is nil, so paying earlier only takes days away from accrual.

    Late-fee waivers count whole (the floor at zero applies once), so an earlier payment
    cannot shrink a waiver and raise what is owed after it (see
    test_backdated_payment_never_raises_the_late_fee_outstanding)."""
    start = min(c.due_date for c in history.charges) - timedelta(days=60)
    paid_on = start + timedelta(days=data.draw(st.integers(0, (history.as_of - start).days + 30)))
    named = data.draw(st.sampled_from([(), (), (history.charges[-1].period,),
                                       (history.charges[0].period,)]))
    extra = Payment("extra", data.draw(st.integers(1, 150000)), paid_on, named)
    position = data.draw(st.integers(0, len(history.payments)))
    with_extra = history.payments[:position] + (extra,) + history.payments[position:]

    without = history.statement()
    with_it = history.statement(payments=with_extra)
    for line in without.charges:
        other = with_it.charge(line.charge.id)
        assert other.principal_outstanding_fen <= line.principal_outstanding_fen
        assert other.late_fee_accrued_fen <= line.late_fee_accrued_fen
        assert other.late_fee_outstanding_fen <= line.late_fee_outstanding_fen


@PROPERTY_SETTINGS
@given(histories())
def test_money_is_conserved(history):
    statement = history.statement()
    counted = [p for p in history.payments if p.paid_on <= history.as_of]
    allocated = defaultdict(int)
    for allocation in statement.allocations:
        assert allocation.principal_fen >= 0 and allocation.late_fee_fen >= 0
        assert allocation.principal_fen + allocation.late_fee_fen > 0
        allocated[allocation.payment_id] += allocation.principal_fen + allocation.late_fee_fen
    # each payment: its allocations plus the credit it left equal it
    left_as_credit = 0
    for payment in counted:
        assert allocated[payment.id] <= payment.amount_fen
        left_as_credit += payment.amount_fen - allocated[payment.id]
    assert set(allocated) <= {p.id for p in counted} | {None}
    # credit used later shows as allocations with payment_id None
    assert left_as_credit - allocated[None] == statement.credit_fen
    # overall: what was paid is principal paid + late fee paid + credit
    assert sum(p.amount_fen for p in counted) == (
        sum(line.principal_paid_fen for line in statement.charges)
        + sum(line.late_fee_paid_fen for line in statement.charges)
        + statement.credit_fen)
    # per charge, the allocations add up to what the statement says was paid
    for line in statement.charges:
        mine = [a for a in statement.allocations if a.charge_id == line.charge.id]
        assert sum(a.principal_fen for a in mine) == line.principal_paid_fen
        assert sum(a.late_fee_fen for a in mine) == line.late_fee_paid_fen


@PROPERTY_SETTINGS
@given(histories())
def test_credit_only_when_nothing_is_outstanding(history):
    """Money is only left over when every charge on record is settled."""
    statement = history.statement()
    if statement.credit_fen:
        assert statement.total_outstanding_fen == 0


@PROPERTY_SETTINGS
@given(histories())
def test_the_order_of_arguments_does_not_matter_across_days(history):
    """Payments on different days may be given in any order; waivers and suspensions too."""
    assume(len({p.paid_on for p in history.payments}) == len(history.payments))
    forward = history.statement()
    backward = history.statement(payments=history.payments[::-1],
                                 suspensions=history.suspensions[::-1],
                                 charges=history.charges[::-1])
    assert forward.charges == backward.charges
    assert forward.credit_fen == backward.credit_fen


# --- relief: hardship spans, waivers and payment plans (SPEC §3, §4) ----------------------
#
# On top of a random history: unit-wide hardship spans (possibly overlapping, possibly
# reaching back before a charge is due), more waivers of both kinds, and approved plans
# over a subset of the charges with payments near their instalments so that some are
# kept and some break. The engine gets each plan as the service builds it (plan_state as
# of the statement's day -> suspended_span -> a charge-scoped Suspension); the oracle
# judges each day by itself whether a plan is in good standing.

@st.composite
def relief_histories(draw):
    history = draw(histories(max_payments=6))
    charges = history.charges
    ids = [c.id for c in charges]
    start = min(oracle_billed_on(c) for c in charges)
    end = max(c.due_date for c in charges) + timedelta(days=120)

    def a_day(before=15, after=0):
        return start + timedelta(days=draw(st.integers(-before, (end - start).days + after)))

    hardship = []
    for _ in range(draw(st.integers(0, 3))):
        first = a_day(before=60)
        hardship.append(Suspension(first, first + timedelta(days=draw(st.integers(0, 200)))))

    waivers = []
    for _ in range(draw(st.integers(0, 4))):
        waived = draw(st.sampled_from(charges))
        kind = draw(st.sampled_from(["principal", "late_fee"]))
        amount = draw(st.one_of(st.integers(1, 5000), st.integers(1, 50000),
                                st.just(waived.amount_fen)))
        waivers.append(Waiver(waived.id, kind, amount, a_day()))

    plans, payments = [], list(history.payments)
    # mostly one plan or two; none sometimes
    for _ in range(draw(st.sampled_from([1, 2, 0]))):
        covered = frozenset(draw(st.lists(st.sampled_from(ids), min_size=1, unique=True)))
        approved_on = a_day()
        count = draw(st.integers(1, 4))
        total = sum(c.amount_fen for c in charges if c.id in covered)
        if draw(st.booleans()):   # instalments splitting the principal covered, as drawn up
            cuts = sorted(draw(st.lists(st.integers(1, max(1, total - 1)), min_size=count - 1,
                                        max_size=count - 1, unique=True))) if total > count else []
            bounds = [0] + cuts + [total]
            amounts = [b - a for a, b in zip(bounds, bounds[1:]) if b > a] or [total]
        else:
            amounts = [draw(st.integers(1, 60000)) for _ in range(count)]
        due_on = approved_on + timedelta(days=draw(st.integers(0, 40)))
        instalments = []
        for number, amount in enumerate(amounts, start=1):
            if number > 1:
                due_on += timedelta(days=draw(st.integers(1, 45)))
            instalments.append(Instalment(number, due_on, amount))
            # the household pays this instalment: in full, short or over, early or late
            if draw(st.integers(0, 3)):
                paid = draw(st.sampled_from([amount, amount, amount - 1, amount + 1, amount // 2]))
                if paid > 0:
                    payments.append(Payment(f"i{len(payments)}", paid,
                                            due_on + timedelta(days=draw(st.integers(-10, 10)))))
        plans.append(PlanTerms(approved_on, tuple(instalments), covered,
                               draw(st.sampled_from([0, 3, 7]))))
    return replace(history, payments=tuple(payments), waivers=history.waivers + tuple(waivers),
                   suspensions=history.suspensions + tuple(hardship), plans=tuple(plans))


def relief_days(history):
    """Every day something happens or stops happening in a relief history, and the day
    before each."""
    days = {c.due_date for c in history.charges} | {oracle_billed_on(c) for c in history.charges}
    days |= {p.paid_on for p in history.payments} | {w.effective_on for w in history.waivers}
    days |= {s.start for s in history.suspensions} | {s.end for s in history.suspensions}
    for plan in history.plans:
        days.add(plan.approved_on)
        for instalment in plan.instalments:
            days |= {instalment.due_on, instalment.due_on + timedelta(days=plan.tolerance_days + 1)}
    days |= {day - ONE_DAY for day in days} | {day + ONE_DAY for day in days}
    return sorted(day for day in days if day <= history.as_of)


@PROPERTY_SETTINGS
@given(relief_histories())
def test_engine_matches_the_oracle_with_hardship_waivers_and_plans(history):
    assert_agrees(history)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(relief_histories())
def test_engine_matches_the_oracle_with_relief_after_every_event(history):
    """As of every day of the history where something starts, ends or breaks (a plan
    judged as known on that day), the day before and the day after."""
    for day in relief_days(history):
        assert_agrees(replace(history, as_of=day))


@PROPERTY_SETTINGS
@given(relief_histories())
def test_relief_never_raises_what_is_owed(history):
    """Taking away every hardship span, plan and waiver never lowers any charge's accrued
    fee or anything outstanding: relief only ever spares the household."""
    relieved = history.statement()
    without = history.statement(suspensions=(), plans=(), waivers=())
    for line in relieved.charges:
        other = without.charge(line.charge.id)
        assert line.accrued_exact <= other.accrued_exact
        assert line.principal_outstanding_fen <= other.principal_outstanding_fen
        assert line.late_fee_outstanding_fen <= other.late_fee_outstanding_fen


@PROPERTY_SETTINGS
@given(relief_histories())
def test_invariants_hold_with_relief(history):
    statement = history.statement()
    for line in statement.charges:
        assert line.principal_outstanding_fen >= 0 and line.late_fee_outstanding_fen >= 0
        assert (line.principal_paid_fen + line.principal_waived_fen
                + line.principal_outstanding_fen) == line.charge.amount_fen
        assert line.late_fee_paid_fen <= line.late_fee_accrued_fen
    counted = [p for p in history.payments if p.paid_on <= history.as_of]
    assert sum(p.amount_fen for p in counted) == (
        sum(line.principal_paid_fen + line.late_fee_paid_fen for line in statement.charges)
        + statement.credit_fen)


@PROPERTY_SETTINGS
@given(relief_histories())
def test_the_oracle_and_plans_agree_on_the_break(history):
    """plans.plan_state and the oracle's own reading of SPEC §4 find the same break day."""
    for plan in history.plans:
        state = plan_state(plan.instalments, [(p.paid_on, p.amount_fen) for p in history.payments],
                           plan.approved_on, plan.tolerance_days, history.as_of)
        breaks_on = oracle_plan_breaks_on(plan, history.payments)
        if breaks_on is not None and breaks_on <= history.as_of:
            assert (state.status, state.broken_on) == ("broken", breaks_on)
        else:
            assert state.status != "broken"
