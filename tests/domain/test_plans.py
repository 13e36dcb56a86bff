"""Payment plans by hand (SPEC §4, arrears/domain/plans.py).

Every case is computed by hand from the rules the module states: every payment from
the day of approval counts, in date order; instalment ``k`` is paid when the payments
add up to instalments 1..k; an instalment still short at the end of
``due_on + tolerance_days`` breaks the plan on ``due_on + tolerance_days + 1``; a plan
whose payments reach what it covers is completed on the day they do.

Unless a case says otherwise the plan below is used: approved 2026-04-01, tolerance 7
days, covering 600.00 in three instalments.

    number  due on       amount  cumulative  break day (due + 8)
         1  2026-04-30   200.00      200.00  2026-05-08
         2  2026-05-31   200.00      400.00  2026-06-08
         3  2026-06-30   200.00      600.00  2026-07-08
"""
from datetime import date

import pytest

from arrears.domain.plans import (
    ACTIVE, BROKEN, COMPLETED, Instalment, PlanState, break_day, instalment_problems,
    next_possible_break, plan_state, suspended_span)


def d(text):
    return date.fromisoformat(text)


APPROVED = d("2026-04-01")
TOLERANCE = 7
PLAN = (Instalment(1, d("2026-04-30"), 20000),
        Instalment(2, d("2026-05-31"), 20000),
        Instalment(3, d("2026-06-30"), 20000))


def state(payments, as_of, instalments=PLAN, approved_on=APPROVED, tolerance=TOLERANCE):
    return plan_state(instalments, [(d(day), fen) for day, fen in payments], approved_on,
                      tolerance, d(as_of))


# --- instalment_problems ----------------------------------------------------------------

def test_instalments_that_fit_have_no_problems():
    assert instalment_problems(PLAN, 60000, APPROVED) == []
    # the first instalment may fall on the first allowed day itself
    assert instalment_problems((Instalment(1, APPROVED, 60000),), 60000, APPROVED) == []


def test_instalments_that_do_not_add_up_name_both_totals():
    """200.00 + 200.00 + 150.00 = 550.00 against 600.00 covered; and 600.01 against 600.00."""
    short = PLAN[:2] + (Instalment(3, d("2026-06-30"), 15000),)
    assert instalment_problems(short, 60000, APPROVED) == [
        "the instalments add up to 550.00 but the plan covers 600.00"]
    over = PLAN[:2] + (Instalment(3, d("2026-06-30"), 20001),)
    assert instalment_problems(over, 60000, APPROVED) == [
        "the instalments add up to 600.01 but the plan covers 600.00"]


@pytest.mark.parametrize("second_due", ["2026-04-29", "2026-04-30"])
def test_instalment_dates_must_strictly_increase(second_due):
    """Earlier than, or on the same day as, the instalment before it."""
    unordered = (PLAN[0], Instalment(2, d(second_due), 20000), PLAN[2])
    assert instalment_problems(unordered, 60000, APPROVED) == [
        "instalment 2: its date must be after instalment 1's"]


def test_an_instalment_before_the_allowed_day_is_refused():
    early = (Instalment(1, d("2026-03-31"), 20000),) + PLAN[1:]
    assert instalment_problems(early, 60000, APPROVED) == [
        "instalment 1: its date is before 2026-04-01"]


@pytest.mark.parametrize("amount", [0, -100])
def test_an_instalment_of_nothing_is_refused(amount):
    """A zero (or negative) instalment; the total is also off then, and both are said."""
    zero = PLAN[:2] + (Instalment(3, d("2026-06-30"), amount),)
    problems = instalment_problems(zero, 40000 + amount, APPROVED)
    assert problems == ["instalment 3: the amount must be greater than 0.00"]
    assert instalment_problems(zero, 60000, APPROVED) == [
        "instalment 3: the amount must be greater than 0.00",
        f"the instalments add up to {'400.00' if amount == 0 else '399.00'} but the plan covers 600.00"]


def test_a_plan_needs_an_instalment():
    assert instalment_problems((), 60000, APPROVED) == ["a plan needs at least one instalment"]


# --- plan_state: good standing and completion ---------------------------------------------

def test_on_approval_nothing_is_paid_and_the_first_instalment_is_next():
    assert state([], "2026-04-01") == PlanState(ACTIVE, 0, 60000, next_instalment=PLAN[0])


def test_paid_early_in_one_go_completes_on_that_day():
    """600.00 on 2026-04-10, before the first instalment is even due: completed 2026-04-10."""
    assert state([("2026-04-10", 60000)], "2026-04-09") == PlanState(
        ACTIVE, 0, 60000, next_instalment=PLAN[0])
    done = state([("2026-04-10", 60000)], "2026-04-10")
    assert done == PlanState(COMPLETED, 60000, 60000, completed_on=d("2026-04-10"))
    assert done.remaining_fen == 0
    # and it stays completed, never breaking, long after the last instalment
    assert state([("2026-04-10", 60000)], "2027-01-01") == done


def test_completed_on_the_day_the_payments_reach_the_total_paid_fen_at_most_covered():
    """100.00 + 300.00 + 250.00 = 650.00; 600.00 is reached on the third payment (06-02)."""
    payments = [("2026-04-20", 10000), ("2026-04-25", 30000), ("2026-06-02", 25000)]
    assert state(payments, "2026-06-01") == PlanState(ACTIVE, 40000, 60000, next_instalment=PLAN[2])
    assert state(payments, "2026-06-30") == PlanState(COMPLETED, 60000, 60000,
                                                      completed_on=d("2026-06-02"))


def test_a_payment_before_approval_does_not_count():
    """200.00 on 2026-03-31 (the day before approval) is not towards the plan; the same on
    the day of approval is."""
    before = state([("2026-03-31", 20000)], "2026-05-07")
    assert before == PlanState(ACTIVE, 0, 60000, next_instalment=PLAN[0])
    assert state([("2026-03-31", 20000)], "2026-05-08") == PlanState(
        BROKEN, 0, 60000, broken_on=d("2026-05-08"), broken_instalment=1)
    on_the_day = state([("2026-04-01", 20000)], "2026-05-08")
    assert on_the_day == PlanState(ACTIVE, 20000, 60000, next_instalment=PLAN[1])


def test_payments_after_as_of_do_not_count_yet():
    assert state([("2026-04-30", 20000)], "2026-04-29").paid_fen == 0
    assert state([("2026-04-30", 20000)], "2026-04-30").paid_fen == 20000


def test_an_instalment_paid_late_within_tolerance_keeps_the_plan():
    """Instalment 1 (due 04-30) paid 2026-05-04, four days late but inside the 7 days."""
    payments = [("2026-05-04", 20000)]
    assert state(payments, "2026-05-03") == PlanState(ACTIVE, 0, 60000, next_instalment=PLAN[0])
    assert state(payments, "2026-05-31") == PlanState(ACTIVE, 20000, 60000, next_instalment=PLAN[1])


def test_overpaying_an_instalment_carries_to_the_next():
    """300.00 on 04-30 pays instalment 1 and 100.00 of instalment 2; 100.00 on 06-07 (the
    last day of instalment 2's tolerance: due 05-31 + 7) completes instalment 2: 400.00."""
    payments = [("2026-04-30", 30000), ("2026-06-07", 10000)]
    assert state(payments, "2026-05-31") == PlanState(ACTIVE, 30000, 60000, next_instalment=PLAN[1])
    assert state(payments, "2026-06-09") == PlanState(ACTIVE, 40000, 60000, next_instalment=PLAN[2])
    # without the carry, instalment 2 would have had only 100.00 and the plan would break
    assert state([("2026-04-30", 20000), ("2026-06-07", 10000)], "2026-06-09") == PlanState(
        BROKEN, 30000, 60000, broken_on=d("2026-06-08"), broken_instalment=2)


# --- plan_state: the break -------------------------------------------------------------------

def test_break_day_is_due_plus_tolerance_plus_one():
    assert break_day(PLAN[0], 7) == d("2026-05-08")
    assert break_day(PLAN[2], 7) == d("2026-07-08")
    assert break_day(PLAN[0], 0) == d("2026-05-01")


def test_unpaid_at_the_end_of_due_plus_seven_breaks_on_due_plus_eight():
    """Instalment 1 due 04-30, nothing paid: still active at the end of 05-07, broken 05-08."""
    assert state([], "2026-05-07") == PlanState(ACTIVE, 0, 60000, next_instalment=PLAN[0])
    assert state([], "2026-05-08") == PlanState(BROKEN, 0, 60000, broken_on=d("2026-05-08"),
                                                broken_instalment=1)


def test_paid_on_due_plus_seven_does_not_break():
    """The payment on the last day of tolerance (05-07) counts."""
    assert state([("2026-05-07", 20000)], "2026-05-08") == PlanState(
        ACTIVE, 20000, 60000, next_instalment=PLAN[1])


def test_paid_on_the_break_day_is_too_late():
    """Paid on 05-08: the plan broke that morning; the payment still counts in paid_fen."""
    assert state([("2026-05-08", 20000)], "2026-05-08") == PlanState(
        BROKEN, 20000, 60000, broken_on=d("2026-05-08"), broken_instalment=1)


def test_a_short_instalment_breaks_the_plan_even_when_partly_paid():
    """199.99 of 200.00 by 05-07: one fen short breaks it."""
    assert state([("2026-04-30", 19999)], "2026-05-08").status == BROKEN


def test_broken_on_the_third_instalment_reports_its_number_and_what_was_paid():
    """
    04-30 200.00 (inst. 1), 05-31 200.00 (inst. 2), 07-05 50.00 (inst. 3 short: 450.00 of 600.00)
    as of 07-07 active; as of 07-08 broken on 07-08, instalment 3, 450.00 paid;
    a later payment raises paid_fen but does not mend the plan
    """
    payments = [("2026-04-30", 20000), ("2026-05-31", 20000), ("2026-07-05", 5000)]
    assert state(payments, "2026-07-07") == PlanState(ACTIVE, 45000, 60000, next_instalment=PLAN[2])
    broken = state(payments, "2026-07-08")
    assert broken == PlanState(BROKEN, 45000, 60000, broken_on=d("2026-07-08"), broken_instalment=3)
    assert broken.remaining_fen == 15000
    later = state(payments + [("2026-07-20", 15000)], "2026-08-31")
    assert later == PlanState(BROKEN, 60000, 60000, broken_on=d("2026-07-08"), broken_instalment=3)


def test_the_first_break_is_the_one_reported():
    """Nothing paid at all: instalment 1 breaks it on 05-08, whatever happens later."""
    assert state([], "2026-12-31") == PlanState(BROKEN, 0, 60000, broken_on=d("2026-05-08"),
                                                broken_instalment=1)


def test_zero_tolerance_breaks_the_day_after_the_due_date():
    assert state([], "2026-04-30", tolerance=0).status == ACTIVE
    assert state([], "2026-05-01", tolerance=0) == PlanState(
        BROKEN, 0, 60000, broken_on=d("2026-05-01"), broken_instalment=1)


# --- next_possible_break and suspended_span ---------------------------------------------------

def next_break(payments, after):
    return next_possible_break(PLAN, [(d(day), fen) for day, fen in payments], APPROVED,
                               TOLERANCE, d(after))


def test_next_possible_break_follows_the_first_unpaid_instalment():
    assert next_break([], "2026-04-01") == d("2026-05-08")
    assert next_break([], "2026-05-07") == d("2026-05-08")
    # instalment 1 paid: the next break is instalment 2's
    assert next_break([("2026-04-30", 20000)], "2026-04-30") == d("2026-06-08")
    # 300.00 paid by 04-30: instalment 2 is still short, so its break day
    assert next_break([("2026-04-30", 30000)], "2026-04-30") == d("2026-06-08")
    # 400.00 paid: instalment 3's
    assert next_break([("2026-04-30", 40000)], "2026-04-30") == d("2026-07-08")
    # a payment after `after` is not known yet
    assert next_break([("2026-05-01", 20000)], "2026-04-30") == d("2026-05-08")


def test_no_next_break_once_broken_or_completed():
    assert next_break([], "2026-05-08") is None
    assert next_break([("2026-04-10", 60000)], "2026-04-10") is None


def test_suspended_span_runs_from_approval_to_the_break_or_the_completion():
    broken = state([], "2026-06-01")
    assert suspended_span(APPROVED, broken) == (APPROVED, d("2026-05-07"))
    assert suspended_span(APPROVED, state([], "2026-05-07")) == (APPROVED, None)
    completed = state([("2026-04-10", 60000)], "2026-06-01")
    assert suspended_span(APPROVED, completed) == (APPROVED, d("2026-04-10"))
