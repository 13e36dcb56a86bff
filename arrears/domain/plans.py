"""Payment plans (分期还款协议, SPEC §4): instalments, good standing, and the break.

A plan covers named charges (their principal, and their late fee when it says so) with
instalments whose amounts add up exactly to what it covers. From its approval it is in
good standing, and no late fee accrues on its charges (SPEC §3), until an instalment is
still unpaid ``tolerance_days`` after its date: the plan breaks the next day, and
accrual resumes from that day (not before).

Choices where the SPEC is silent (also in docs/relief.md):
- every payment of the household on or after the day of approval counts towards the
  plan, in date order, whatever the payer named; instalment ``k`` is paid when those
  payments add up to instalments 1..k;
- the break day of instalment ``k`` is ``due_on + tolerance_days + 1``: with the default
  7 days, an instalment due on 10 June breaks the plan on 18 June if it is still short at
  the end of 17 June;
- a plan whose payments reach what it covers is ``completed`` on the day they do; its
  suspension ends that day.

Pure functions of dates and integer fen.
"""
from dataclasses import dataclass
from datetime import date, timedelta

ACTIVE, COMPLETED, BROKEN = "active", "completed", "broken"


@dataclass(frozen=True)
class Instalment:
    number: int
    due_on: date
    amount_fen: int


@dataclass(frozen=True)
class PlanState:
    """Where a plan stands on ``as_of``."""

    status: str
    paid_fen: int  # paid towards the plan by ``as_of`` (at most what it covers)
    covered_fen: int
    broken_on: date | None = None
    broken_instalment: int | None = None
    completed_on: date | None = None
    next_instalment: Instalment | None = None  # the first not fully paid, while active

    @property
    def remaining_fen(self):
        return self.covered_fen - self.paid_fen


def instalment_problems(instalments, covered_fen, first_allowed):
    """Why ``instalments`` cannot make a plan covering ``covered_fen`` fen (empty: they can).
    Dates must be strictly increasing and none before ``first_allowed``."""
    problems = []
    if not instalments:
        return ["a plan needs at least one instalment"]
    for item in instalments:
        if item.amount_fen <= 0:
            problems.append(f"instalment {item.number}: the amount must be greater than 0.00")
    for before, after in zip(instalments, instalments[1:]):
        if after.due_on <= before.due_on:
            problems.append(f"instalment {after.number}: its date must be after instalment {before.number}'s")
    if instalments[0].due_on < first_allowed:
        problems.append(f"instalment {instalments[0].number}: its date is before {first_allowed.isoformat()}")
    total = sum(item.amount_fen for item in instalments)
    if total != covered_fen:
        problems.append(f"the instalments add up to {_yuan(total)} but the plan covers {_yuan(covered_fen)}")
    return problems


def _yuan(fen):
    return f"{fen // 100}.{fen % 100:02d}"


def break_day(instalment, tolerance_days):
    """The day an instalment still short breaks the plan."""
    return instalment.due_on + timedelta(days=tolerance_days + 1)


def plan_state(instalments, payments, approved_on, tolerance_days, as_of):
    """The plan's state on ``as_of``. ``payments`` are ``(paid_on, amount_fen)`` of the
    household's payments that stand; those from ``approved_on`` on count."""
    covered = sum(item.amount_fen for item in instalments)
    counted = sorted((day, fen) for day, fen in payments if approved_on <= day <= as_of)

    def paid_by(day):
        return sum(fen for paid_on, fen in counted if paid_on <= day)

    due_so_far = 0
    for item in instalments:
        due_so_far += item.amount_fen
        breaks = break_day(item, tolerance_days)
        if breaks <= as_of and paid_by(breaks - timedelta(days=1)) < due_so_far:
            return PlanState(BROKEN, min(paid_by(as_of), covered), covered, broken_on=breaks,
                             broken_instalment=item.number)
    running = 0
    for paid_on, fen in counted:
        running += fen
        if running >= covered:
            return PlanState(COMPLETED, covered, covered, completed_on=paid_on)
    paid = paid_by(as_of)
    due_so_far = 0
    upcoming = None
    for item in instalments:
        due_so_far += item.amount_fen
        if paid < due_so_far:
            upcoming = item
            break
    return PlanState(ACTIVE, paid, covered, next_instalment=upcoming)


def next_possible_break(instalments, payments, approved_on, tolerance_days, after):
    """The first day after ``after`` on which the plan would break if no more money came:
    when the figures' course may change. None when it cannot break any more."""
    state = plan_state(instalments, payments, approved_on, tolerance_days, after)
    if state.status != ACTIVE or state.next_instalment is None:
        return None
    return max(break_day(state.next_instalment, tolerance_days), after + timedelta(days=1))


def suspended_span(approved_on, state):
    """``(start, end)`` of the days the plan suspends accrual on its charges, as known on
    the state's day: from approval to the day before the break, to the day it was
    completed, or open-ended (``None``) while it runs. Ending at completion matters when
    the household's payments went to older charges outside the plan: whatever the plan's
    charges still owe then accrues again."""
    if state.status == BROKEN:
        return approved_on, state.broken_on - timedelta(days=1)
    if state.status == COMPLETED:
        return approved_on, state.completed_on
    return approved_on, None
