"""Worked ledger examples, computed by hand (SPEC §3, §10).

Every case writes its inputs and the hand computation as a small table next to the
assertion, and asserts every figure of every charge in fen. Unless a case says
otherwise the policy is the default: 0.001 a day (1‰), no grace, cap 1.0 × amount,
``principal_first``. A fee of 0.001 a day on 300.00 is 0.30 (30 fen) a day.

Columns of ``table(statement)``, one row per charge in statement order:

    id, principal_paid, principal_waived, principal_outstanding, days_overdue,
        late_fee_accrued, late_fee_waived, late_fee_paid, late_fee_outstanding
"""
import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from arrears.domain.ledger import (
    Allocation, Charge, Payment, Suspension, Waiver, billed_on_for, compute_statement)
from arrears.domain.limitation import limitation_expiry
from arrears.domain.money import format_fen, parse_amount
from arrears.domain.policy import LateFeePolicy, PolicySchedule
from arrears.domain.statement import statement_document

EXAMPLES = Path("/work/shared/examples/ledger")
FEE = "物业管理费"


def d(text):
    return date.fromisoformat(text)


def fen(text):
    return parse_amount(text, allow_zero=True)


def charge(charge_id, period, amount, due, **extra):
    return Charge(charge_id, period, FEE, fen(amount), d(due), **extra)


def pay(payment_id, amount, paid_on, periods=()):
    return Payment(payment_id, fen(amount), d(paid_on), tuple(periods))


def schedule(**settings):
    return PolicySchedule([LateFeePolicy(**settings)])


def table(statement):
    return [(line.charge.id,
             format_fen(line.principal_paid_fen), format_fen(line.principal_waived_fen),
             format_fen(line.principal_outstanding_fen), line.days_overdue,
             format_fen(line.late_fee_accrued_fen), format_fen(line.late_fee_waived_fen),
             format_fen(line.late_fee_paid_fen), format_fen(line.late_fee_outstanding_fen))
            for line in statement.charges]


def assert_payments_balance(statement, payments):
    """Each payment's allocations plus the credit it left equal it; credit used later is
    an allocation with ``payment_id`` None (SPEC §3: money left over is a credit)."""
    allocated = {p.id: 0 for p in payments}
    from_credit = 0
    for allocation in statement.allocations:
        amount = allocation.principal_fen + allocation.late_fee_fen
        if allocation.payment_id is None:
            from_credit += amount
        else:
            allocated[allocation.payment_id] += amount
    left_over = sum(p.amount_fen - allocated[p.id] for p in payments if p.paid_on <= statement.as_of)
    assert all(allocated[p.id] <= p.amount_fen for p in payments)
    assert left_over - from_credit == statement.credit_fen


# --- SPEC §10 -------------------------------------------------------------------------

def test_spec_section_10_example():
    """
    charge 2026-01  300.00 due 2026-01-31;  paid 100.00 on 2026-03-02;  as of 2026-11-23

    days                     count  principal  fee/day  fee
    2026-02-01..2026-03-02      30     300.00     0.30   9.00   (payment day still accrues)
    2026-03-03..2026-11-23     266     200.00     0.20  53.20   (29+30+31+30+31+31+30+31+23)
                                                        -----
                                                        62.20
    days_overdue = 2026-11-23 − 2026-01-31 = 296; limitation 2026-03-02 + 3y = 2029-03-02
    """
    payment = pay("p1", "100.00", "2026-03-02")
    statement = compute_statement([charge("c1", "2026-01", "300.00", "2026-01-31")], [payment],
                                  as_of=d("2026-11-23"))
    assert table(statement) == [
        ("c1", "100.00", "0.00", "200.00", 296, "62.20", "0.00", "0.00", "62.20")]
    line = statement.charge("c1")
    assert line.accrued_exact == Decimal("6220")
    assert line.last_payment_on == d("2026-03-02")
    assert limitation_expiry(line.charge.due_date, [line.last_payment_on]) == d("2029-03-02")
    assert statement.credit_fen == 0
    assert (statement.principal_outstanding_fen, statement.late_fee_outstanding_fen,
            statement.total_outstanding_fen) == (20000, 6220, 26220)
    assert statement.allocations == (Allocation("p1", "c1", d("2026-03-02"), 10000, 0),)
    assert_payments_balance(statement, [payment])


def test_spec_section_3_paid_in_full_after_ten_days():
    """SPEC §3.2: due 2026-01-31, paid in full 2026-02-10 -> 10 days × 0.30 = 3.00."""
    statement = compute_statement([charge("c1", "2026-01", "300.00", "2026-01-31")],
                                  [pay("p1", "300.00", "2026-02-10")], as_of=d("2026-06-30"))
    assert table(statement) == [
        ("c1", "300.00", "0.00", "0.00", 0, "3.00", "0.00", "0.00", "3.00")]


# --- the cap --------------------------------------------------------------------------

NEVER_PAID = [charge("c1", "2024-01", "50.00", "2024-01-31")]   # 0.05 a day


@pytest.mark.parametrize("as_of, accrued", [
    # days from 2024-02-01: 335 (rest of 2024) + 365 (2025) + days of 2026
    ("2026-10-26", "49.95"),   #  999 days × 0.05
    ("2026-10-27", "50.00"),   # 1000 days: the cap, 1.0 × 50.00
    ("2026-10-28", "50.00"),   # no further
    ("2026-12-31", "50.00"),   # 1065 days would be 53.25
])
def test_cap_stops_the_fee_at_the_amount(as_of, accrued):
    statement = compute_statement(NEVER_PAID, [], as_of=d(as_of))
    days = (d(as_of) - d("2024-01-31")).days
    assert table(statement) == [
        ("c1", "0.00", "0.00", "50.00", days, accrued, "0.00", "0.00", accrued)]


def test_no_cap_keeps_growing():
    """cap_ratio None: 1065 days × 0.05 = 53.25, more than the amount."""
    statement = compute_statement(NEVER_PAID, [], as_of=d("2026-12-31"),
                                  policies=schedule(cap_ratio=None))
    assert table(statement) == [
        ("c1", "0.00", "0.00", "50.00", 1065, "53.25", "0.00", "0.00", "53.25")]


@pytest.mark.parametrize("as_of, accrued", [
    ("2025-06-13", "24.95"),   # 499 days (335 + 164)
    ("2025-06-14", "25.00"),   # 500 days: 0.5 × 50.00
    ("2026-12-31", "25.00"),
])
def test_half_cap(as_of, accrued):
    statement = compute_statement(NEVER_PAID, [], as_of=d(as_of),
                                  policies=schedule(cap_ratio=Decimal("0.5")))
    assert table(statement)[0][5] == accrued


# --- leap years -----------------------------------------------------------------------

def test_charge_due_on_29_february():
    """
    charge 2024-02  1000.00 due 2024-02-29 (billed 2024-02-01), 1.00 a day

    as of        days  accrued
    2024-02-28      0     0.00   (already billed, not yet due)
    2024-02-29      0     0.00   (due date itself)
    2024-03-01      1     1.00
    2024-03-31     31    31.00
    """
    leap = [charge("feb", "2024-02", "1000.00", "2024-02-29")]
    assert billed_on_for("2024-02", d("2024-02-29")) == d("2024-02-01")
    expected = {"2024-01-31": [],
                "2024-02-28": [("feb", "0.00", "0.00", "1000.00", 0, "0.00", "0.00", "0.00", "0.00")],
                "2024-02-29": [("feb", "0.00", "0.00", "1000.00", 0, "0.00", "0.00", "0.00", "0.00")],
                "2024-03-01": [("feb", "0.00", "0.00", "1000.00", 1, "1.00", "0.00", "0.00", "1.00")],
                "2024-03-31": [("feb", "0.00", "0.00", "1000.00", 31, "31.00", "0.00", "0.00", "31.00")]}
    for as_of, rows in expected.items():
        assert table(compute_statement(leap, [], as_of=d(as_of))) == rows, as_of
    assert limitation_expiry(d("2024-02-29")) == d("2027-02-28")


@pytest.mark.parametrize("due, as_of, days", [
    ("2024-01-31", "2024-03-01", 30),   # 29 days of February 2024 + 1 March
    ("2023-01-31", "2023-03-01", 29),   # 28 + 1
])
def test_days_across_february(due, as_of, days):
    statement = compute_statement([charge("c1", due[:7], "1000.00", due)], [], as_of=d(as_of))
    line = statement.charge("c1")
    assert (line.days_overdue, line.late_fee_accrued_fen) == (days, days * 100)


# --- payment timing -------------------------------------------------------------------

def test_paid_in_full_on_the_due_date_has_no_late_fee():
    statement = compute_statement([charge("c1", "2026-01", "300.00", "2026-01-31")],
                                  [pay("p1", "300.00", "2026-01-31")], as_of=d("2026-06-30"))
    assert table(statement) == [
        ("c1", "300.00", "0.00", "0.00", 0, "0.00", "0.00", "0.00", "0.00")]
    assert statement.charge("c1").last_payment_on == d("2026-01-31")


def test_paid_in_full_the_day_after_due_has_one_day_of_fee():
    """2026-02-01 is an accrual day on 300.00 (the payment counts from the next day): 0.30."""
    statement = compute_statement([charge("c1", "2026-01", "300.00", "2026-01-31")],
                                  [pay("p1", "300.00", "2026-02-01")], as_of=d("2026-06-30"))
    assert table(statement) == [
        ("c1", "300.00", "0.00", "0.00", 0, "0.30", "0.00", "0.00", "0.30")]


def test_principal_first_then_its_late_fee_in_a_later_payment():
    """
    charge 2026-01 300.00 due 2026-01-31
    p1 300.00 on 2026-02-10 -> principal 300.00 (principal before fee); fee 10 days = 3.00
    p2   3.00 on 2026-03-15 -> late fee 3.00; the fee stopped growing on 2026-02-10
    """
    charges = [charge("c1", "2026-01", "300.00", "2026-01-31")]
    payments = [pay("p1", "300.00", "2026-02-10"), pay("p2", "3.00", "2026-03-15")]
    between = compute_statement(charges, payments, as_of=d("2026-03-14"))
    assert table(between) == [
        ("c1", "300.00", "0.00", "0.00", 0, "3.00", "0.00", "0.00", "3.00")]
    after = compute_statement(charges, payments, as_of=d("2026-06-30"))
    assert table(after) == [
        ("c1", "300.00", "0.00", "0.00", 0, "3.00", "0.00", "3.00", "0.00")]
    assert after.allocations == (Allocation("p1", "c1", d("2026-02-10"), 30000, 0),
                                 Allocation("p2", "c1", d("2026-03-15"), 0, 300))
    # the late fee still outstanding made p2 an interruption too (SPEC §7)
    assert after.charge("c1").last_payment_on == d("2026-03-15")
    assert after.credit_fen == 0
    assert_payments_balance(after, payments)


def test_rate_is_rounded_once_per_charge_not_per_day():
    """0.000333 × 100.00 = 3.33 fen a day; 10 days = 33.3 -> 0.33 (per day it would be 0.30)."""
    statement = compute_statement([charge("c1", "2026-01", "100.00", "2026-01-31")], [],
                                  as_of=d("2026-02-10"),
                                  policies=schedule(daily_rate=Decimal("0.000333")))
    line = statement.charge("c1")
    assert line.accrued_exact == Decimal("33.300")
    assert line.late_fee_accrued_fen == 33


# --- credit ---------------------------------------------------------------------------

def test_overpayment_becomes_credit_that_settles_the_next_charge():
    """
    jan 2026-01 300.00 due 2026-01-31;  feb 2026-02 300.00 due 2026-02-28 (billed 2026-02-01)
    p1 500.00 on 2026-01-20: jan not yet due -> its principal 300.00; 200.00 credit
    2026-02-01 feb billed: credit 200.00 -> feb principal; credit 0; feb owes 100.00
    feb fee 2026-03-01..2026-03-31: 31 days × 0.10 = 3.10
    """
    charges = [charge("jan", "2026-01", "300.00", "2026-01-31"),
               charge("feb", "2026-02", "300.00", "2026-02-28")]
    payments = [pay("p1", "500.00", "2026-01-20")]

    before = compute_statement(charges, payments, as_of=d("2026-01-31"))
    assert table(before) == [
        ("jan", "300.00", "0.00", "0.00", 0, "0.00", "0.00", "0.00", "0.00")]
    assert before.credit_fen == 20000
    assert_payments_balance(before, payments)

    assert billed_on_for("2026-02", d("2026-02-28")) == d("2026-02-01")
    after = compute_statement(charges, payments, as_of=d("2026-03-31"))
    assert table(after) == [
        ("jan", "300.00", "0.00", "0.00", 0, "0.00", "0.00", "0.00", "0.00"),
        ("feb", "200.00", "0.00", "100.00", 31, "3.10", "0.00", "0.00", "3.10")]
    assert after.credit_fen == 0
    assert after.allocations == (Allocation("p1", "jan", d("2026-01-20"), 30000, 0),
                                 Allocation(None, "feb", d("2026-02-01"), 20000, 0))
    # credit is not a payment: it does not interrupt limitation for feb
    assert after.charge("feb").last_payment_on is None
    assert_payments_balance(after, payments)


def test_credit_larger_than_the_next_charge_is_kept():
    """p1 700.00 on 2026-01-20: jan 300.00, credit 400.00; feb billed takes 300.00; 100.00 left."""
    charges = [charge("jan", "2026-01", "300.00", "2026-01-31"),
               charge("feb", "2026-02", "300.00", "2026-02-28")]
    payments = [pay("p1", "700.00", "2026-01-20")]
    statement = compute_statement(charges, payments, as_of=d("2026-03-31"))
    assert table(statement) == [
        ("jan", "300.00", "0.00", "0.00", 0, "0.00", "0.00", "0.00", "0.00"),
        ("feb", "300.00", "0.00", "0.00", 0, "0.00", "0.00", "0.00", "0.00")]
    assert statement.credit_fen == 10000
    assert_payments_balance(statement, payments)


# --- grace ----------------------------------------------------------------------------

@pytest.mark.parametrize("as_of, days_overdue, accrued", [
    ("2026-02-05", 5, "0.00"),    # due + 1 .. due + 5 are grace days
    ("2026-02-06", 6, "0.30"),    # due + 6: the first accrual day
    ("2026-02-28", 28, "6.90"),   # 2026-02-06..2026-02-28 = 23 days × 0.30
])
def test_grace_days(as_of, days_overdue, accrued):
    statement = compute_statement([charge("c1", "2026-01", "300.00", "2026-01-31")], [],
                                  as_of=d(as_of), policies=schedule(grace_days=5))
    assert table(statement) == [
        ("c1", "0.00", "0.00", "300.00", days_overdue, accrued, "0.00", "0.00", accrued)]


# --- the two allocations --------------------------------------------------------------

TWO_MONTHS = [charge("jan", "2026-01", "300.00", "2026-01-31"),
              charge("feb", "2026-02", "300.00", "2026-02-28")]


def test_principal_first_settles_all_principal_before_any_fee():
    """
    p1 610.00 on 2026-03-31; fees as of that day: jan 59 days × 0.30 = 17.70, feb 31 × 0.30 = 9.30
    principal_first: jan principal 300.00, feb principal 300.00, then jan fee 10.00
    as of 2026-04-30 nothing accrues any more (no principal left)
    """
    statement = compute_statement(TWO_MONTHS, [pay("p1", "610.00", "2026-03-31")],
                                  as_of=d("2026-04-30"))
    assert table(statement) == [
        ("jan", "300.00", "0.00", "0.00", 0, "17.70", "0.00", "10.00", "7.70"),
        ("feb", "300.00", "0.00", "0.00", 0, "9.30", "0.00", "0.00", "9.30")]


def test_charge_by_charge_settles_each_charge_in_full_first():
    """
    same history, charge_by_charge: jan principal 300.00, jan fee 17.70, feb principal 292.30
    feb keeps 7.70 principal: 9.30 + 2026-04-01..2026-04-30 30 days × 0.0077 = 0.231 -> 9.531 -> 9.53
    days_overdue feb = 2026-04-30 − 2026-02-28 = 61
    """
    statement = compute_statement(TWO_MONTHS, [pay("p1", "610.00", "2026-03-31")],
                                  as_of=d("2026-04-30"),
                                  policies=schedule(allocation="charge_by_charge"))
    assert table(statement) == [
        ("jan", "300.00", "0.00", "0.00", 0, "17.70", "0.00", "17.70", "0.00"),
        ("feb", "292.30", "0.00", "7.70", 61, "9.53", "0.00", "0.00", "9.53")]
    assert statement.charge("feb").accrued_exact == Decimal("953.100")


# --- named periods --------------------------------------------------------------------

def test_payment_naming_a_later_period_settles_it_first():
    """
    p1 300.00 on 2026-03-10 naming 2026-02
    named:   feb principal 300.00; jan untouched
             jan 2026-02-01..2026-03-31 59 × 0.30 = 17.70;  feb 2026-03-01..03-10 10 × 0.30 = 3.00
    unnamed: jan principal 300.00
             jan 2026-02-01..2026-03-10 38 × 0.30 = 11.40;  feb 2026-03-01..03-31 31 × 0.30 = 9.30
    """
    named = compute_statement(TWO_MONTHS, [pay("p1", "300.00", "2026-03-10", ["2026-02"])],
                              as_of=d("2026-03-31"))
    assert table(named) == [
        ("jan", "0.00", "0.00", "300.00", 59, "17.70", "0.00", "0.00", "17.70"),
        ("feb", "300.00", "0.00", "0.00", 0, "3.00", "0.00", "0.00", "3.00")]
    unnamed = compute_statement(TWO_MONTHS, [pay("p1", "300.00", "2026-03-10")],
                                as_of=d("2026-03-31"))
    assert table(unnamed) == [
        ("jan", "300.00", "0.00", "0.00", 0, "11.40", "0.00", "0.00", "11.40"),
        ("feb", "0.00", "0.00", "300.00", 31, "9.30", "0.00", "0.00", "9.30")]


def test_named_period_settles_its_own_fee_before_the_rest():
    """
    p1 303.00 on 2026-03-10 naming 2026-02: feb principal 300.00, feb fee as of 03-10 3.00
    (10 days), nothing left for jan.
    """
    statement = compute_statement(TWO_MONTHS, [pay("p1", "303.00", "2026-03-10", ["2026-02"])],
                                  as_of=d("2026-03-31"))
    assert table(statement) == [
        ("jan", "0.00", "0.00", "300.00", 59, "17.70", "0.00", "0.00", "17.70"),
        ("feb", "300.00", "0.00", "0.00", 0, "3.00", "0.00", "3.00", "0.00")]


# --- waivers and suspensions ----------------------------------------------------------

ONE_CHARGE = [charge("c1", "2026-01", "300.00", "2026-01-31")]


def test_full_principal_waiver_stops_accrual_the_day_after():
    """Waived 300.00 effective 2026-02-10: 2026-02-01..02-10 accrue, 10 × 0.30 = 3.00."""
    statement = compute_statement(ONE_CHARGE, [], as_of=d("2026-06-30"),
                                  waivers=[Waiver("c1", "principal", 30000, d("2026-02-10"))])
    assert table(statement) == [
        ("c1", "0.00", "300.00", "0.00", 0, "3.00", "0.00", "0.00", "3.00")]


def test_partial_principal_waiver_lowers_the_daily_fee_from_the_next_day():
    """Waived 100.00 effective 2026-02-10: 10 × 0.30 + 2026-02-11..02-28 18 × 0.20 = 6.60."""
    statement = compute_statement(ONE_CHARGE, [], as_of=d("2026-02-28"),
                                  waivers=[Waiver("c1", "principal", 10000, d("2026-02-10"))])
    assert table(statement) == [
        ("c1", "0.00", "100.00", "200.00", 28, "6.60", "0.00", "0.00", "6.60")]


def test_late_fee_waiver_lowers_the_fee_outstanding_only():
    """Unpaid, as of 2026-03-31: 59 × 0.30 = 17.70 accrued; 10.00 waived on 2026-03-15 -> 7.70."""
    statement = compute_statement(ONE_CHARGE, [], as_of=d("2026-03-31"),
                                  waivers=[Waiver("c1", "late_fee", 1000, d("2026-03-15"))])
    assert table(statement) == [
        ("c1", "0.00", "0.00", "300.00", 59, "17.70", "10.00", "0.00", "7.70")]


def test_hardship_suspension_removes_exactly_its_days():
    """Hardship 2026-02-10..02-19 (10 days): 28 − 10 = 18 accrual days × 0.30 = 5.40."""
    statement = compute_statement(ONE_CHARGE, [], as_of=d("2026-02-28"),
                                  suspensions=[Suspension(d("2026-02-10"), d("2026-02-19"))])
    assert table(statement) == [
        ("c1", "0.00", "0.00", "300.00", 28, "5.40", "0.00", "0.00", "5.40")]


def test_hardship_starting_before_the_due_date_removes_only_accrual_days():
    """Hardship 2026-01-20..02-05 overlaps 2026-02-01..02-05: 23 days × 0.30 = 6.90."""
    statement = compute_statement(ONE_CHARGE, [], as_of=d("2026-02-28"),
                                  suspensions=[Suspension(d("2026-01-20"), d("2026-02-05"))])
    assert statement.charge("c1").late_fee_accrued_fen == 690


def test_hardship_covers_every_charge_of_the_unit():
    """
    hardship 2026-03-01..03-10, as of 2026-03-31
    jan: 28 (Feb) + 21 (03-11..03-31) = 49 × 0.30 = 14.70;  feb: 21 × 0.30 = 6.30
    """
    statement = compute_statement(TWO_MONTHS, [], as_of=d("2026-03-31"),
                                  suspensions=[Suspension(d("2026-03-01"), d("2026-03-10"))])
    assert table(statement) == [
        ("jan", "0.00", "0.00", "300.00", 59, "14.70", "0.00", "0.00", "14.70"),
        ("feb", "0.00", "0.00", "300.00", 31, "6.30", "0.00", "0.00", "6.30")]


def test_plan_suspension_covers_only_its_charges():
    """
    plan covering jan, in good standing 2026-03-01..03-31, as of 2026-03-31
    jan: February only, 28 × 0.30 = 8.40;  feb (not in the plan): 31 × 0.30 = 9.30
    """
    plan = Suspension(d("2026-03-01"), d("2026-03-31"), frozenset({"jan"}))
    statement = compute_statement(TWO_MONTHS, [], as_of=d("2026-03-31"), suspensions=[plan])
    assert table(statement) == [
        ("jan", "0.00", "0.00", "300.00", 59, "8.40", "0.00", "0.00", "8.40"),
        ("feb", "0.00", "0.00", "300.00", 31, "9.30", "0.00", "0.00", "9.30")]


# --- policy versions ------------------------------------------------------------------

def test_policy_change_does_not_touch_earlier_days():
    """
    0.001 until 2026-02-28, 0.0005 from 2026-03-01; 300.00 due 2026-01-31 unpaid
    February 28 × 0.30 = 8.40;  March 31 × 0.15 = 4.65;  as of 2026-03-31: 13.05
    """
    versions = PolicySchedule([LateFeePolicy(),
                               LateFeePolicy(effective_from=d("2026-03-01"),
                                             daily_rate=Decimal("0.0005"))])
    end_of_february = compute_statement(ONE_CHARGE, [], as_of=d("2026-02-28"), policies=versions)
    assert end_of_february.charge("c1").late_fee_accrued_fen == 840
    end_of_march = compute_statement(ONE_CHARGE, [], as_of=d("2026-03-31"), policies=versions)
    assert table(end_of_march) == [
        ("c1", "0.00", "0.00", "300.00", 59, "13.05", "0.00", "0.00", "13.05")]
    # the old policy alone would have given 59 × 0.30
    assert compute_statement(ONE_CHARGE, [], as_of=d("2026-03-31")).charge(
        "c1").late_fee_accrued_fen == 1770


def test_lower_cap_later_never_takes_back_accrued_fee():
    """
    cap 1.0 until 2026-03-31, then cap 0.05 (15.00) from 2026-04-01
    accrued by 2026-03-31: 59 × 0.30 = 17.70 (above the new cap): kept, and nothing more
    """
    versions = PolicySchedule([LateFeePolicy(),
                               LateFeePolicy(effective_from=d("2026-04-01"),
                                             cap_ratio=Decimal("0.05"))])
    statement = compute_statement(ONE_CHARGE, [], as_of=d("2026-06-30"), policies=versions)
    assert statement.charge("c1").late_fee_accrued_fen == 1770


# --- the shared worked examples (/work/shared/examples/ledger) ------------------------

def read_csv(name):
    with open(EXAMPLES / name, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def unit_ref(row):
    return f"{row['estate']}/{row['building']}/{row['unit']}"


def shared_histories():
    charges, payments = {}, {}
    for number, row in enumerate(read_csv("charges.csv"), start=2):
        charges.setdefault(unit_ref(row), []).append(
            Charge(f"line{number}", row["period"], row["fee_item"], fen(row["amount"]),
                   d(row["due_date"])))
    for row in read_csv("payments.csv"):
        payments.setdefault(unit_ref(row), []).append(
            Payment(row["reference"], fen(row["amount"]), d(row["paid_on"])))
    return charges, payments


SHARED_EXPECTED = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))


def test_shared_examples_are_all_here():
    units = [unit_ref(row) for row in read_csv("units.csv")]
    assert sorted(units) == sorted(SHARED_EXPECTED) and len(units) == 5


@pytest.mark.parametrize("unit", sorted(SHARED_EXPECTED))
def test_shared_example(unit):
    expected = SHARED_EXPECTED[unit]
    charges, payments = shared_histories()
    as_of = d(expected["as_of"])
    assert as_of == d("2026-05-31")
    statement = compute_statement(charges.get(unit, []), payments.get(unit, []), as_of=as_of)

    limitation = {line.charge.id: limitation_expiry(line.charge.due_date, [line.last_payment_on])
                  for line in statement.charges}
    document = statement_document(unit, statement, limitation)
    expected = {key: value for key, value in expected.items() if key != "note"}
    assert document == expected
    assert_payments_balance(statement, payments.get(unit, []))


def test_shared_example_0105_allocations():
    """Paid 350.00 on 2026-04-20 before the due date: 300.00 principal, 50.00 credit."""
    charges, payments = shared_histories()
    unit = "示例花园/1栋/0105"
    statement = compute_statement(charges[unit], payments[unit], as_of=d("2026-05-31"))
    assert [(a.payment_id, a.on, a.principal_fen, a.late_fee_fen) for a in statement.allocations] == [
        ("EX0005", d("2026-04-20"), 30000, 0)]
    assert statement.credit_fen == 5000


def test_shared_example_0104_allocations():
    """
    500.00 on 2026-03-10: feb (due) principal 300.00, feb fee as of 03-10 (10 × 0.30 = 3.00),
    then mar (not yet due) principal 197.00.
    """
    charges, payments = shared_histories()
    unit = "示例花园/1栋/0104"
    statement = compute_statement(charges[unit], payments[unit], as_of=d("2026-05-31"))
    assert [(a.payment_id, a.principal_fen, a.late_fee_fen) for a in statement.allocations] == [
        ("EX0004", 30000, 300), ("EX0004", 19700, 0)]


# --- where the engine and the SPEC disagree -------------------------------------------
#
# Both cases below need a charge whose due-date order differs from its billing order
# (billed_on = first day of the period, or the due date when earlier). The engine orders
# charges by due date, as SPEC §3 settles "oldest due date first" and SPEC §10 lists
# "oldest due first".

PREPAID = [charge("feb", "2026-02", "100.00", "2026-02-28"),   # billed 2026-02-01
           charge("mar", "2026-03", "100.00", "2026-02-20")]   # billed 2026-02-20, due first


def test_principal_first_settles_the_oldest_due_date_first():
    """
    p1 100.00 on 2026-03-05, as of 2026-03-05; both due; mar is due earlier (02-20)
    SPEC: mar principal paid; mar fee 2026-02-21..03-05 = 13 × 0.10 = 1.30
          feb unpaid; feb fee 2026-03-01..03-05 = 5 × 0.10 = 0.50
    """
    statement = compute_statement(PREPAID, [pay("p1", "100.00", "2026-03-05")],
                                  as_of=d("2026-03-05"))
    assert sorted(table(statement)) == [
        ("feb", "0.00", "0.00", "100.00", 5, "0.50", "0.00", "0.00", "0.50"),
        ("mar", "100.00", "0.00", "0.00", 0, "1.30", "0.00", "0.00", "1.30")]


def test_statement_lists_charges_oldest_due_first():
    statement = compute_statement(PREPAID, [], as_of=d("2026-03-05"))
    assert [line.charge.id for line in statement.charges] == ["mar", "feb"]


def test_charge_billed_after_its_due_date_accrues_from_the_due_date():
    """
    2026-01 100.00 due 2026-01-31, billed late on 2026-02-15, as of 2026-02-20
    SPEC §3.1: accrual days 2026-02-01..02-20 = 20 × 0.10 = 2.00
    """
    late = [charge("c1", "2026-01", "100.00", "2026-01-31", billed_on=d("2026-02-15"))]
    statement = compute_statement(late, [], as_of=d("2026-02-20"))
    assert table(statement) == [
        ("c1", "0.00", "0.00", "100.00", 20, "2.00", "0.00", "0.00", "2.00")]


def test_backdated_payment_never_raises_the_late_fee_outstanding():
    """
    100.00 due 2026-01-31, cap 0.05 (5.00); late-fee waiver of 5.00 effective 2026-04-30;
    as of 2026-06-30.

    without p1: 0.10 a day reaches the 5.00 cap on 2026-03-22; waiver 5.00 -> outstanding 0.00
    with p1 50.00 on 2026-02-01 (found later and posted with its date):
        2026-02-01 0.10; 02-02..04-30 88 days × 0.05 = 4.40 -> 4.50 by the waiver
        engine: waiver cut to 4.50; 05-01..05-10 another 0.50 up to the cap -> 0.50 outstanding
    SPEC §3.5: outstanding = accrued − waived − paid, never below zero
        = max(0, 5.00 − 5.00 − 0) = 0.00, so the payment cannot raise it.
    """
    capped = schedule(cap_ratio=Decimal("0.05"))
    waiver = [Waiver("c1", "late_fee", 500, d("2026-04-30"))]
    charges = [charge("c1", "2026-01", "100.00", "2026-01-31")]
    without = compute_statement(charges, [], as_of=d("2026-06-30"), policies=capped, waivers=waiver)
    assert table(without) == [
        ("c1", "0.00", "0.00", "100.00", 150, "5.00", "5.00", "0.00", "0.00")]
    with_payment = compute_statement(charges, [pay("p1", "50.00", "2026-02-01")],
                                     as_of=d("2026-06-30"), policies=capped, waivers=waiver)
    assert with_payment.charge("c1").late_fee_outstanding_fen == 0
