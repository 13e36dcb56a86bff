"""Stages and classes (SPEC §5), at their boundaries."""
from datetime import date, timedelta

import pytest

from arrears.domain.stages import household_class, household_stage

AS_OF = date(2026, 11, 23)


@pytest.mark.parametrize("days, deadline_passed, expected", [
    (0, False, None), (1, False, "reminder"), (30, False, "reminder"), (31, False, "demand"),
    (90, False, "demand"), (91, False, "demand"), (91, True, "final"), (90, True, "demand"), (400, True, "final"),
])
def test_stage_by_days_overdue(days, deadline_passed, expected):
    due = AS_OF - timedelta(days=days)
    assert household_stage(due, AS_OF, total_outstanding_fen=100,
                           demand_deadline_passed=deadline_passed) == expected


def test_escalation_and_closing():
    due = AS_OF - timedelta(days=10)
    assert household_stage(due, AS_OF, total_outstanding_fen=100, escalated=True) == "legal"
    assert household_stage(None, AS_OF, total_outstanding_fen=0, escalated=True) == "closed"
    assert household_stage(None, AS_OF, total_outstanding_fen=0) is None


@pytest.mark.parametrize("fen, expected", [(500000, "A"), (499999, "B"), (100000, "B"), (99999, "C"), (0, "C")])
def test_class_boundaries(fen, expected):
    assert household_class(fen) == expected
