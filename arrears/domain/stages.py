"""Stages and classes of households in arrears (SPEC §5).

A household's stage comes from its oldest unpaid charge — the oldest with principal
outstanding or, when it owes only late fee, the oldest with late fee outstanding — and
its history: ``reminder`` (1–30 days overdue), ``demand`` (31–90; also beyond 90 until a
demand has been delivered and its deadline has passed), ``final`` (over 90 days with a
delivered demand whose deadline has passed), ``legal`` (escalated by a manager, while
anything is owed), ``closed`` (escalated before, nothing owed now). A household with
nothing owed and no case has no stage (``None``); so has one whose oldest charge is
not yet overdue. The class comes from the amount outstanding: ``A`` ≥ 5000.00,
``B`` ≥ 1000.00, else ``C``. Thresholds are a ``StagePolicy``.
"""
from dataclasses import dataclass
from datetime import date

STAGES = ("reminder", "demand", "final", "legal", "closed")
CLASSES = ("A", "B", "C")


@dataclass(frozen=True)
class StagePolicy:
    reminder_until_days: int = 30
    demand_until_days: int = 90
    class_a_fen: int = 500000
    class_b_fen: int = 100000


def household_stage(oldest_outstanding_due: date | None, as_of: date, *, total_outstanding_fen: int,
                    escalated: bool = False, demand_deadline_passed: bool = False,
                    policy: StagePolicy = StagePolicy()):
    """The stage on ``as_of``, or None. ``oldest_outstanding_due`` is the due date of the
    oldest charge with principal or late fee outstanding."""
    if total_outstanding_fen <= 0:
        return "closed" if escalated else None
    if escalated:
        return "legal"
    if oldest_outstanding_due is None:
        return None
    days = (as_of - oldest_outstanding_due).days
    if days <= 0:
        return None
    if days <= policy.reminder_until_days:
        return "reminder"
    if days > policy.demand_until_days and demand_deadline_passed:
        return "final"
    return "demand"


def household_class(total_outstanding_fen: int, policy: StagePolicy = StagePolicy()):
    """``A``, ``B`` or ``C`` by the amount outstanding (fen)."""
    if total_outstanding_fen >= policy.class_a_fen:
        return "A"
    if total_outstanding_fen >= policy.class_b_fen:
        return "B"
    return "C"
