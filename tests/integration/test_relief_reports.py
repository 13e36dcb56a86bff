"""The relief reports (issue 5 item 6) on a small case worked by hand.

The household 3栋/1201 (notice_helpers) owes 2026-01 (300.00 due 2026-01-31, 100.00
paid 2026-03-02) and 2026-04 (300.00 due 2026-04-30). Acts, each on its day:

| day        | act                                                                  |
|------------|----------------------------------------------------------------------|
| 2026-02-20 | hardship 2026-02-01..2026-02-10 approved (ended: not listed)          |
| 2026-03-15 | late-fee waiver 3.00 on 2026-01, reason other, approved               |
| 2026-03-15 | plan A over 2026-01, one instalment due 2026-03-20, approved; unpaid  |
|            | → broken on 2026-03-28                                                |
| 2026-04-20 | late-fee waiver 2.00 on 2026-01 approved, then undone the same day   |
| 2026-05-31 | late-fee waiver 10.00 on 2026-01, non_malicious, approved             |
| 2026-05-31 | principal waiver 50.00 on 2026-04, hardship, approved                 |
| 2026-05-31 | plan D over 2026-01 rejected; plan B over 2026-01 approved (active);  |
|            | plan C over 2026-04 pending                                           |
| 2026-05-31 | hardship 2026-05-01..2026-06-20 and 2026-06-21..2026-12-31 approved   |

Relief granted per month (waivers approved and not undone): 2026-03 late fee 3.00
(other 3.00); 2026-04 nothing (the 2.00 was undone); 2026-05 late fee 10.00 and
principal 50.00 (non_malicious 10.00, hardship 50.00); every other month of the twelve
ending 2026-05 nothing. Totals: late fee 13.00, principal 50.00.
Plans: active 1, completed 0, broken 1, pending 1, rejected 1.
Hardship: one household, two statuses not ended; the one ending 2026-06-20 (20 days
on) ends within 30 days, the other does not.
"""
import re
from datetime import date

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Charge, Waiver
from arrears.services import relief
from arrears.services.ledger import find_unit
from notice_helpers import REF, clock, household  # noqa: F401  (fixtures)


@pytest.fixture
def staff(make_user):
    for name, role in (("clerk", "clerk"), ("boss", "manager")):
        make_user(role, name)


def charge_id(period):
    return db.session.execute(select(Charge.id).where(Charge.period == period)).scalar_one()


def waive(period, kind, fen, reason):
    request = relief.request_waiver(charge_id(period), kind, fen, reason, "clerk")
    relief.decide("waiver", request.id, "approved", "boss")
    return db.session.execute(select(Waiver).where(Waiver.request_id == request.id)).scalar_one()


def plan(period, instalments, outcome="approved"):
    unit = find_unit(REF)
    request = relief.request_plan(unit, relief.PlanDraft((charge_id(period),), False, instalments), "clerk")
    if outcome:
        relief.decide("plan", request.id, outcome, "boss")
    return request


def hardship(start, end, renews_id=None):
    request = relief.request_hardship(find_unit(REF), start, end, "失业", "clerk", renews_id=renews_id)
    relief.decide("hardship", request.id, "approved", "boss")


@pytest.fixture
def case(household, staff, clock):
    clock.move_to(date(2026, 2, 20))
    hardship(date(2026, 2, 1), date(2026, 2, 10))
    clock.move_to(date(2026, 3, 15))
    waive("2026-01", "late_fee", 300, "other")
    plan("2026-01", ((date(2026, 3, 20), 20000),))
    clock.move_to(date(2026, 4, 20))
    undone = waive("2026-01", "late_fee", 200, "non_malicious")
    relief.reverse_waiver(undone.id, "录入错误", "boss")
    relief.record_plan_breaks(find_unit(REF))
    clock.move_to(date(2026, 5, 31))
    waive("2026-01", "late_fee", 1000, "non_malicious")
    waive("2026-04", "principal", 5000, "hardship")
    plan("2026-01", ((date(2026, 6, 30), 20000),), outcome="rejected")
    plan("2026-01", ((date(2026, 6, 30), 20000),))
    plan("2026-04", ((date(2026, 6, 30), 25000),), outcome=None)
    hardship(date(2026, 5, 1), date(2026, 6, 20))
    status = relief.unit_hardship_statuses(find_unit(REF).id)[0]
    hardship(date(2026, 6, 21), date(2026, 12, 31), renews_id=status.id)
    return date(2026, 5, 31)


def test_relief_granted_per_month_by_hand(case):
    months = relief.relief_granted_by_month(case)
    assert [m["month"] for m in months] == [f"2025-{n:02d}" for n in range(6, 13)] + [
        f"2026-{n:02d}" for n in range(1, 6)]
    figures = {m["month"]: (m["late_fee_fen"], m["principal_fen"], m["waivers"]) for m in months}
    assert figures["2026-03"] == (300, 0, 1)
    assert figures["2026-04"] == (0, 0, 0)
    assert figures["2026-05"] == (1000, 5000, 2)
    assert all(value == (0, 0, 0) for month, value in figures.items() if month not in ("2026-03", "2026-05"))
    may = next(m for m in months if m["month"] == "2026-05")
    assert may["by_reason"] == {"hardship": 5000, "non_malicious": 1000, "dispute_settlement": 0, "other": 0}
    march = next(m for m in months if m["month"] == "2026-03")
    assert march["by_reason"]["other"] == 300


def test_plan_counts_and_hardship_expiries_by_hand(case):
    counts = relief.plan_counts(case)
    assert counts == {"active": 1, "completed": 0, "broken": 1, "pending": 1, "rejected": 1}
    listed = relief.hardship_overview(case)
    assert [(s.start_on, s.end_on, soon) for s, _unit, soon, _renewed in listed] == [
        (date(2026, 5, 1), date(2026, 6, 20), True), (date(2026, 6, 21), date(2026, 12, 31), False)]
    assert [renewed for *_rest, renewed in listed] == [True, False]


def test_the_relief_screen_shows_the_same_figures(case, client, login):
    from arrears.services.users import create_user
    create_user("boss2", "manager", "password123")
    login("manager", "boss2")
    html = client.get("/relief/").get_data(as_text=True)
    assert 'data-month="2026-03" data-late-fee="300" data-principal="0"' in html
    assert 'data-month="2026-04" data-late-fee="0" data-principal="0"' in html
    assert 'data-month="2026-05" data-late-fee="1000" data-principal="5000"' in html
    assert 'data-testid="relief-total" data-late-fee="1300" data-principal="5000"' in html
    for status, number in (("active", 1), ("completed", 0), ("broken", 1), ("pending", 1), ("rejected", 1)):
        assert f'data-testid="plan-count" data-status="{status}" data-count="{number}"' in html
    assert 'data-households="1" data-ending-soon="1"' in html
    assert re.search(r"<svg[^>]*class=\"chart\"", html)
    assert "60.00" in html  # 2026-05's column: 10.00 + 50.00
    # The broken plan shows with its day; the queue holds plan C.
    assert 'data-testid="plan-row" data-status="broken"' in html
    assert 'data-testid="queue-row" data-subject="plan"' in html
