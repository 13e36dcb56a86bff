"""Relief worked by hand: hardship, waivers, payment plans, a policy change (SPEC §3, §4).

Each case writes the hand computation next to its assertions and runs it through
``compute_statement``: days × principal × rate, summed per charge and rounded once
(ROUND_HALF_UP) to the fen. Unless a case says otherwise the policy is the default:
0.001 a day, no grace, cap 1.0 × amount, ``principal_first``; 0.001 on 300.00 is 0.30
a day.

Plans are turned into engine suspensions the way ``arrears/services/relief.py``
(``plan_suspensions``) does: ``plan_state`` of the plan over the unit's payments as of
the statement's day, ``suspended_span`` of that state, and a ``Suspension`` from approval
to the day before the break (or to a far future day) over the plan's charges.

Columns of ``table(statement)``, one row per charge in statement order:

    id, principal_paid, principal_waived, principal_outstanding, days_overdue,
        late_fee_accrued, late_fee_waived, late_fee_paid, late_fee_outstanding
"""
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from arrears.domain.ledger import Allocation, Charge, Payment, Suspension, Waiver, compute_statement
from arrears.domain.money import format_fen, parse_amount
from arrears.domain.plans import (
    ACTIVE, BROKEN, COMPLETED, Instalment, break_day, plan_state, suspended_span)
from arrears.domain.policy import LateFeePolicy, PolicySchedule

FEE = "物业管理费"
# the open end of a plan in good standing, as in arrears/services/relief.py
FAR_FUTURE = date(9999, 12, 30)


def d(text):
    return date.fromisoformat(text)


def fen(text):
    return parse_amount(text, allow_zero=True)


def charge(charge_id, period, amount, due):
    return Charge(charge_id, period, FEE, fen(amount), d(due))


def pay(payment_id, amount, paid_on):
    return Payment(payment_id, fen(amount), d(paid_on))


def table(statement):
    return [(line.charge.id,
             format_fen(line.principal_paid_fen), format_fen(line.principal_waived_fen),
             format_fen(line.principal_outstanding_fen), line.days_overdue,
             format_fen(line.late_fee_accrued_fen), format_fen(line.late_fee_waived_fen),
             format_fen(line.late_fee_paid_fen), format_fen(line.late_fee_outstanding_fen))
            for line in statement.charges]


def fees(statement):
    """``{charge id: late fee accrued}`` as text."""
    return {line.charge.id: format_fen(line.late_fee_accrued_fen) for line in statement.charges}


def accrual_days(line):
    """The days a charge's working says accrued."""
    return {span.start + timedelta(days=n) for span in line.working for n in range(span.days)}


JAN = charge("jan", "2026-01", "300.00", "2026-01-31")   # 0.30 a day from 2026-02-01
FEB = charge("feb", "2026-02", "300.00", "2026-02-28")   # 0.30 a day from 2026-03-01


# --- (a) hardship in the middle of a long arrears --------------------------------------

def test_hardship_in_the_middle_of_a_long_arrears():
    """
    jan 300.00 due 2026-01-31;  feb 200.00 due 2026-02-28;  hardship 2026-04-01..2026-06-30
    (unit-wide, 30 + 31 + 30 = 91 days);  p1 100.00 on 2026-05-15, inside the hardship ->
    jan principal (oldest due), jan owes 200.00 from 2026-05-16;  as of 2026-09-30

    jan  2026-02-01..03-31   28 + 31 = 59 days × 0.30 = 17.70   before: accrues
         2026-04-01..06-30                91 days       0.00   hardship: nothing
         2026-07-01..09-30   31+31+30 = 92 days × 0.20 = 18.40   after: on 200.00
                                                        -----
                                                        36.10
    feb  2026-03-01..03-31               31 days × 0.20 =  6.20
         2026-04-01..06-30               91 days          0.00
         2026-07-01..09-30               92 days × 0.20 = 18.40
                                                        -----
                                                        24.60
    days_overdue: jan 09-30 − 01-31 = 28+31+30+31+30+31+31+30 = 242;  feb 242 − 28 = 214

    Without the hardship: jan 02-01..05-15 104 × 0.30 = 31.20 + 05-16..09-30 138 × 0.20 =
    27.60 -> 58.80;  feb 214 × 0.20 = 42.80.
    """
    feb = charge("feb", "2026-02", "200.00", "2026-02-28")
    charges, payments = [JAN, feb], [pay("p1", "100.00", "2026-05-15")]
    hardship = [Suspension(d("2026-04-01"), d("2026-06-30"))]

    def statement(as_of, suspensions=hardship):
        return compute_statement(charges, payments, as_of=d(as_of), suspensions=suspensions,
                                 keep_working=True)

    final = statement("2026-09-30")
    assert table(final) == [
        ("jan", "100.00", "0.00", "200.00", 242, "36.10", "0.00", "0.00", "36.10"),
        ("feb", "0.00", "0.00", "200.00", 214, "24.60", "0.00", "0.00", "24.60")]
    assert final.charge("jan").accrued_exact == Decimal("3610")
    # the days before and after accrue, the days inside do not
    assert fees(statement("2026-03-31")) == {"jan": "17.70", "feb": "6.20"}
    assert fees(statement("2026-04-01")) == {"jan": "17.70", "feb": "6.20"}   # first day inside
    assert fees(statement("2026-06-30")) == {"jan": "17.70", "feb": "6.20"}   # last day inside
    assert fees(statement("2026-07-01")) == {"jan": "17.90", "feb": "6.40"}   # 0.20 + 0.20
    # the working explains it: jan accrued on exactly 59 + 92 days, none in the hardship
    inside = {d("2026-04-01") + timedelta(days=n) for n in range(91)}
    jan_days = accrual_days(final.charge("jan"))
    assert len(jan_days) == 151 and not jan_days & inside
    assert min(jan_days) == d("2026-02-01") and max(jan_days) == d("2026-09-30")
    assert not accrual_days(final.charge("feb")) & inside
    # and the hardship made the difference
    assert fees(statement("2026-09-30", suspensions=())) == {"jan": "58.80", "feb": "42.80"}


# --- (b) a late-fee waiver of part of the fee -------------------------------------------

def test_late_fee_waiver_of_part_of_the_fee():
    """
    c1 300.00 due 2026-01-31;  late-fee waiver 10.00 effective 2026-03-15;
    p1 310.00 on 2026-04-30

    as of 2026-03-14: 02-01..03-14 = 28 + 14 = 42 × 0.30 = 12.60 accrued, nothing waived yet
    as of 2026-03-31: 59 × 0.30 = 17.70 accrued; 10.00 waived -> 7.70 outstanding
    as of 2026-04-30: 89 × 0.30 = 26.70 accrued (the waiver does not slow accrual);
                      p1: principal 300.00, then late fee 26.70 − 10.00 = 16.70 owed,
                      10.00 of it paid -> 6.70 outstanding
    as of 2026-06-30: the same; no principal since 04-30, so no more fee
    """
    charges = [charge("c1", "2026-01", "300.00", "2026-01-31")]
    waiver = Waiver("c1", "late_fee", fen("10.00"), d("2026-03-15"))
    payments = [pay("p1", "310.00", "2026-04-30")]

    def statement(as_of, waivers=(waiver,)):
        return compute_statement(charges, payments, as_of=d(as_of), waivers=waivers)

    assert table(statement("2026-03-14")) == [
        ("c1", "0.00", "0.00", "300.00", 42, "12.60", "0.00", "0.00", "12.60")]
    assert table(statement("2026-03-31")) == [
        ("c1", "0.00", "0.00", "300.00", 59, "17.70", "10.00", "0.00", "7.70")]
    assert table(statement("2026-04-30")) == [
        ("c1", "300.00", "0.00", "0.00", 0, "26.70", "10.00", "10.00", "6.70")]
    final = statement("2026-06-30")
    assert table(final) == [
        ("c1", "300.00", "0.00", "0.00", 0, "26.70", "10.00", "10.00", "6.70")]
    assert final.allocations == (Allocation("p1", "c1", d("2026-04-30"), 30000, 1000),)
    # without the waiver the same money leaves 16.70 of fee; the fee accrued is the same
    unwaived = statement("2026-06-30", waivers=())
    assert table(unwaived) == [
        ("c1", "300.00", "0.00", "0.00", 0, "26.70", "0.00", "10.00", "16.70")]
    assert unwaived.charge("c1").accrued_exact == final.charge("c1").accrued_exact


# --- (c) a principal waiver stops accrual on what it waived -----------------------------

def test_principal_waiver_stops_accrual_on_what_it_waived_from_the_next_day():
    """
    jan 500.00 due 2026-01-31 (0.50 a day);  feb 100.00 due 2026-02-28 (0.10 a day);
    principal waiver of 200.00 on jan, effective 2026-03-10;  as of 2026-03-31

    jan  2026-02-01..03-10   28 + 10 = 38 × 0.50 = 19.00   (the waiver's own day on 500.00)
         2026-03-11..03-31             21 × 0.30 =  6.30   (on 500.00 − 200.00 = 300.00)
                                                  -----
                                                  25.30
    feb  2026-03-01..03-31             31 × 0.10 =  3.10   (the waiver is jan's only)

    then p1 300.00 on 2026-04-10 -> jan principal 300.00 (oldest due); as of 2026-04-30:
    jan 25.30 + 04-01..04-10 10 × 0.30 = 3.00 -> 28.30;  feb 61 × 0.10 = 6.10
    """
    charges = [charge("jan", "2026-01", "500.00", "2026-01-31"),
               charge("feb", "2026-02", "100.00", "2026-02-28")]
    waivers = [Waiver("jan", "principal", fen("200.00"), d("2026-03-10"))]
    payments = [pay("p1", "300.00", "2026-04-10")]

    def statement(as_of):
        return compute_statement(charges, payments, as_of=d(as_of), waivers=waivers)

    assert fees(statement("2026-03-10")) == {"jan": "19.00", "feb": "1.00"}
    assert fees(statement("2026-03-11")) == {"jan": "19.30", "feb": "1.10"}
    assert table(statement("2026-03-31")) == [
        ("jan", "0.00", "200.00", "300.00", 59, "25.30", "0.00", "0.00", "25.30"),
        ("feb", "0.00", "0.00", "100.00", 31, "3.10", "0.00", "0.00", "3.10")]
    assert table(statement("2026-04-30")) == [
        ("jan", "300.00", "200.00", "0.00", 0, "28.30", "0.00", "0.00", "28.30"),
        ("feb", "0.00", "0.00", "100.00", 61, "6.10", "0.00", "0.00", "6.10")]


# --- plans, built as the service builds them ----------------------------------------------

@dataclass(frozen=True)
class Plan:
    approved_on: date
    instalments: tuple
    charge_ids: frozenset
    tolerance_days: int = 7

    def state(self, payments, as_of):
        return plan_state(self.instalments, [(p.paid_on, p.amount_fen) for p in payments],
                          self.approved_on, self.tolerance_days, as_of)

    def suspensions(self, payments, as_of):
        """As ``plan_suspensions`` in arrears/services/relief.py."""
        if self.approved_on > as_of:
            return []
        start, end = suspended_span(self.approved_on, self.state(payments, as_of))
        end = end or FAR_FUTURE
        return [Suspension(start, end, self.charge_ids)] if end >= start else []


# approved 2026-04-01 over jan and feb's principal (600.00), three instalments of 200.00
PLAN = Plan(d("2026-04-01"),
            (Instalment(1, d("2026-04-30"), 20000),
             Instalment(2, d("2026-05-31"), 20000),
             Instalment(3, d("2026-06-30"), 20000)),
            frozenset({"jan", "feb"}))


def plan_statement(charges, payments, as_of, plan=PLAN):
    return compute_statement(charges, payments, as_of=as_of,
                             suspensions=plan.suspensions(payments, as_of))


# --- (d) a plan kept to the end ----------------------------------------------------------

def test_plan_kept_to_the_end_has_no_fee_during_it():
    """
    jan 300.00 due 2026-01-31, feb 300.00 due 2026-02-28; PLAN approved 2026-04-01
    p1 200.00 on 04-28 -> jan principal (jan owes 100.00)
    p2 200.00 on 05-31 -> jan 100.00, feb 100.00 (feb owes 200.00)
    p3 200.00 on 06-30 -> feb 200.00: the plan is completed on 2026-06-30

    before approval:  jan 02-01..03-31 59 × 0.30 = 17.70;  feb 03-01..03-31 31 × 0.30 = 9.30
    from 2026-04-01:  nothing, on any day, as of any day (the plan covered the principal
                      only, so the 27.00 of fee before it stays outstanding)

    Without the plan: jan 02-01..04-28 87 × 0.30 = 26.10 + 04-29..05-31 33 × 0.10 = 3.30
    -> 29.40;  feb 03-01..05-31 92 × 0.30 = 27.60 + 06-01..06-30 30 × 0.20 = 6.00 -> 33.60
    """
    charges = [JAN, FEB]
    payments = [pay("p1", "200.00", "2026-04-28"), pay("p2", "200.00", "2026-05-31"),
                pay("p3", "200.00", "2026-06-30")]
    for as_of in ["2026-04-01", "2026-04-28", "2026-05-15", "2026-05-31", "2026-06-29",
                  "2026-06-30", "2026-07-08", "2026-12-31"]:
        assert fees(plan_statement(charges, payments, d(as_of))) == {
            "jan": "17.70", "feb": "9.30"}, as_of
    assert fees(plan_statement(charges, payments, d("2026-03-31"))) == {
        "jan": "17.70", "feb": "9.30"}
    assert fees(plan_statement(charges, payments, d("2026-03-30"))) == {
        "jan": "17.40", "feb": "9.00"}

    # 2026-05-15: 104 and 76 days overdue, instalment 1 paid, instalment 2 next
    middle = plan_statement(charges, payments, d("2026-05-15"))
    assert table(middle) == [
        ("jan", "200.00", "0.00", "100.00", 104, "17.70", "0.00", "0.00", "17.70"),
        ("feb", "0.00", "0.00", "300.00", 76, "9.30", "0.00", "0.00", "9.30")]
    assert PLAN.state(payments, d("2026-05-15")).status == ACTIVE
    assert PLAN.state(payments, d("2026-05-15")).next_instalment.number == 2

    done = PLAN.state(payments, d("2026-12-31"))
    assert (done.status, done.completed_on, done.paid_fen) == (COMPLETED, d("2026-06-30"), 60000)
    # A completed plan's suspension ends on the day it was completed.
    assert PLAN.suspensions(payments, d("2026-12-31")) == [
        Suspension(d("2026-04-01"), d("2026-06-30"), frozenset({"jan", "feb"}))]
    assert table(plan_statement(charges, payments, d("2026-12-31"))) == [
        ("jan", "300.00", "0.00", "0.00", 0, "17.70", "0.00", "0.00", "17.70"),
        ("feb", "300.00", "0.00", "0.00", 0, "9.30", "0.00", "0.00", "9.30")]
    # the plan made the difference
    assert fees(compute_statement(charges, payments, as_of=d("2026-12-31"))) == {
        "jan": "29.40", "feb": "33.60"}


# --- (e) a plan broken on its third instalment -------------------------------------------

def test_plan_broken_on_its_third_instalment_resumes_the_fee_from_the_break_day():
    """
    jan, feb as above, and mar 100.00 due 2026-03-31, not in the plan (0.10 a day)
    p1 200.00 on 04-30 -> jan principal (jan owes 100.00)            instalment 1 kept
    p2 200.00 on 05-31 -> jan 100.00, feb 100.00 (feb owes 200.00)   instalment 2 kept
    p3  50.00 on 07-05 -> feb 50.00 (feb owes 150.00 from 07-06)     instalment 3 short:
                          450.00 of 600.00 at the end of 06-30 + 7 = 07-07
    break day of instalment 3 = 06-30 + 7 + 1 = 2026-07-08; suspension 04-01..07-07

    as of 07-07 (still in good standing): jan 17.70, feb 9.30 (as before the plan)
    as of 07-08: feb 9.30 + 1 × 0.15 = 9.45
    as of 07-31: feb 9.30 + 07-08..07-31 24 × 0.15 = 3.60 -> 12.90
                 (resuming from the due date, 07-01, would give 5 × 0.20 + 26 × 0.15 = 4.90)
                 mar, never suspended: 04-01..07-31 = 30+31+30+31 = 122 × 0.10 = 12.20
    days_overdue: feb 07-31 − 02-28 = 31+30+31+30+31 = 153;  mar 122
    """
    mar = charge("mar", "2026-03", "100.00", "2026-03-31")
    charges = [JAN, FEB, mar]
    payments = [pay("p1", "200.00", "2026-04-30"), pay("p2", "200.00", "2026-05-31"),
                pay("p3", "50.00", "2026-07-05")]
    assert break_day(PLAN.instalments[2], 7) == d("2026-07-08")

    on_the_eve = PLAN.state(payments, d("2026-07-07"))
    assert (on_the_eve.status, on_the_eve.paid_fen) == (ACTIVE, 45000)
    assert fees(plan_statement(charges, payments, d("2026-07-07"))) == {
        "jan": "17.70", "feb": "9.30", "mar": "9.80"}          # mar: 98 × 0.10
    for as_of in ["2026-05-08", "2026-06-08", "2026-06-30", "2026-07-01", "2026-07-05"]:
        statement = plan_statement(charges, payments, d(as_of))
        assert (fees(statement)["jan"], fees(statement)["feb"]) == ("17.70", "9.30"), as_of

    broken = PLAN.state(payments, d("2026-07-08"))
    assert (broken.status, broken.broken_on, broken.broken_instalment, broken.paid_fen) == (
        BROKEN, d("2026-07-08"), 3, 45000)
    assert PLAN.suspensions(payments, d("2026-07-08")) == [
        Suspension(d("2026-04-01"), d("2026-07-07"), frozenset({"jan", "feb"}))]
    assert fees(plan_statement(charges, payments, d("2026-07-08")))["feb"] == "9.45"

    assert table(plan_statement(charges, payments, d("2026-07-31"))) == [
        ("jan", "300.00", "0.00", "0.00", 0, "17.70", "0.00", "0.00", "17.70"),
        ("feb", "150.00", "0.00", "150.00", 153, "12.90", "0.00", "0.00", "12.90"),
        ("mar", "0.00", "0.00", "100.00", 122, "12.20", "0.00", "0.00", "12.20")]


# --- (f) a policy change mid-arrears -----------------------------------------------------

def test_policy_change_mid_arrears():
    """
    c1 300.00 due 2026-01-31;  0.001 a day, then 0.000333 from 2026-03-16;
    p1 100.00 on 2026-04-10;  as of 2026-04-30

    2026-02-01..03-15   28 + 15 = 43 days × 300.00 × 0.001    = 43 × 30    fen = 1290.00
    2026-03-16..04-10   16 + 10 = 26 days × 300.00 × 0.000333 = 26 × 9.99 fen =  259.74
    2026-04-11..04-30             20 days × 200.00 × 0.000333 = 20 × 6.66 fen =  133.20
                                                                          -------
                                                                          1682.94 -> 16.83
    (rounding each day to the fen would give 1290 + 26 × 10 + 20 × 7 = 1690 -> 16.90)
    as of 03-15: 12.90, the same as under the old policy alone;  as of 03-16: 1299.99 -> 13.00
    """
    charges = [charge("c1", "2026-01", "300.00", "2026-01-31")]
    payments = [pay("p1", "100.00", "2026-04-10")]
    old = LateFeePolicy()
    versions = PolicySchedule([old, LateFeePolicy(effective_from=d("2026-03-16"),
                                                  daily_rate=Decimal("0.000333"))])

    def statement(as_of, policies=versions):
        return compute_statement(charges, payments, as_of=d(as_of), policies=policies)

    final = statement("2026-04-30")
    assert table(final) == [
        ("c1", "100.00", "0.00", "200.00", 89, "16.83", "0.00", "0.00", "16.83")]
    assert final.charge("c1").accrued_exact == Decimal("1682.940")
    assert statement("2026-03-15").charge("c1").accrued_exact == Decimal("1290.000")
    assert table(statement("2026-03-15")) == table(statement("2026-03-15", PolicySchedule([old])))
    assert statement("2026-03-16").charge("c1").accrued_exact == Decimal("1299.990")
    assert fees(statement("2026-03-16")) == {"c1": "13.00"}
