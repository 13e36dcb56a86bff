"""The day's figures kept between requests (``reports.day_figures``) and the stage of a
household owing only late fee, on the worked examples as of 2026-05-31 (see
test_dashboard.py's docstring for the figures).

The cache must never show figures older than the ledger: every act appends an evidence
event, and a page after the act shows the new figures. Acts that name a household
recompute that household only; other ledger acts recompute everyone; acts that change
no figures (a login) keep everything.
"""
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from arrears.domain.policy import LateFeePolicy
from arrears.extensions import db
from arrears.models import Estate
from arrears.services import households as households_service
from arrears.services.property import add_policy_version
from arrears.services.reports import arrears_by_unit, day_figures
from household_helpers import FROZEN, SHANGHAI, Household, by_testid, clock, examples, ref  # noqa: F401

AS_OF = FROZEN.date()


@pytest.fixture
def clerk(client, login, examples):
    login("clerk")
    return client


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def total_owed(client):
    return by_testid(get(client, "/"), "total-owed")


def list_row(client, number):
    """``(principal, late fee, total)`` texts of a household's row in the list."""
    html = get(client, "/households/?q=" + number)
    row = re.search(rf'data-unit-ref="{re.escape(ref(number))}">(.*?)</tr>', html, re.S).group(1)
    return re.findall(r"\d+\.\d\d", row)[:3]


def test_a_payment_shows_at_once_on_the_dashboard_and_the_list(clerk, examples, app):
    assert total_owed(clerk) == "535.43"
    assert list_row(clerk, "0104") == ["103.00", "6.28", "109.28"]
    kept = day_figures(AS_OF)
    assert get(clerk, "/") and day_figures(AS_OF).token == kept.token  # nothing changed: kept

    response = Household(clerk, examples["0104"]).pay("50.00", "CACHE-1")
    assert response.status_code == 302
    assert total_owed(clerk) == "485.43"
    assert list_row(clerk, "0104") == ["53.00", "6.28", "59.28"]
    after = day_figures(AS_OF)
    assert after.token != kept.token and after.head_seq > kept.head_seq
    # Only the household paid for was computed again; every figure equals a fresh report.
    assert after.by_unit == arrears_by_unit(AS_OF)


def test_acts_recompute_the_household_named_or_everyone(clerk, examples, app, login):
    first = day_figures(AS_OF)
    Household(clerk, examples["0103"]).pay("10.00", "CACHE-2")
    assert day_figures(AS_OF).how == "incremental"
    login("manager")  # a login changes no figures
    kept = day_figures(AS_OF)
    assert kept.how == "kept" and kept.head_seq > first.head_seq
    # A policy version in force already (no unit named) rebuilds every unit: recompute all.
    estate = db.session.execute(db.select(Estate)).scalar_one()
    add_policy_version(estate, LateFeePolicy(effective_from=date(2026, 5, 1), daily_rate=Decimal("0.001"),
                                             grace_days=0, cap_ratio=None), "test")
    db.session.commit()
    changed = day_figures(AS_OF)
    assert changed.how == "full" and changed.by_unit == arrears_by_unit(AS_OF)
    assert changed.by_unit != kept.by_unit


def test_another_day_or_another_chain_is_computed_afresh(clerk, examples, app, clock):
    kept = day_figures(AS_OF)
    assert day_figures(AS_OF + timedelta(days=1)).how == "full"
    # The chain the figures were kept under is not this one (rolled back, or emptied and
    # grown again to the same length): its hash at the kept head differs.
    cache = app.extensions["arrears_day_figures"]
    cache.snapshot = type(kept)(AS_OF, kept.head_seq - 1, "0" * 64, {}, 999, "full")
    again = day_figures(AS_OF)
    assert again.how == "full" and again.by_unit == arrears_by_unit(AS_OF)
    # The next morning the dashboard shows that day's late fee.
    clock.move_to(datetime(2026, 6, 1, 10, 0, tzinfo=SHANGHAI))
    assert total_owed(clerk) != "535.43"
    assert day_figures(date(2026, 6, 1)).by_unit == arrears_by_unit(date(2026, 6, 1))


# -- the stage of a household owing only late fee (SPEC §5) ----------------------------------

def test_late_fee_only_households_are_staged_from_their_oldest_charge_with_fee_outstanding(clerk, examples):
    # 0101: principal paid, 9.15 late fee on the charge due 2025-12-31 (151 days ago).
    figures = arrears_by_unit(AS_OF)[examples["0101"]]
    assert (figures.principal_outstanding_fen, figures.oldest_due_day) == (0, None)
    assert figures.oldest_fee_due_day == date(2025, 12, 31).toordinal()
    assert by_testid(Household(clerk, examples["0101"]).page(), "stage") == "催告"
    assert "0101" in [r.rsplit("/", 1)[1] for r in re.findall(
        r'data-testid="household-row" data-unit-ref="([^"]+)"', get(clerk, "/households/?stage=demand"))]
    # Days overdue still count principal only (SPEC §10): 0 for a household owing late fee only.
    stages = households_service.household_stages(arrears_by_unit(AS_OF), AS_OF, {})
    assert stages[examples["0101"]] == ("demand", "C") and stages[examples["0105"]] == (None, None)


def test_stage_due_day():
    assert households_service.stage_due_day(739000, 738000) == 739000  # principal owed: its oldest
    assert households_service.stage_due_day(None, 738000) == 738000  # late fee only
    assert households_service.stage_due_day(None, None) is None


def test_every_stage_asks_whether_the_demand_deadline_passed(clerk, examples, monkeypatch):
    asked = []

    def all_passed(oldest_due, today):
        asked.append(dict(oldest_due))
        return set(oldest_due)

    monkeypatch.setattr(households_service, "units_past_demand_deadline", all_passed)
    # Over 90 days with the deadline passed: final — on the page, the list and the dashboard.
    assert by_testid(Household(clerk, examples["0103"]).page(), "stage") == "最后通知"
    assert asked[-1] == {examples["0103"]: date(2022, 6, 30)}
    assert "0103" in get(clerk, "/households/?stage=final")
    html = get(clerk, "/")
    final = re.search(r'<tr data-testid="stage-final"[^>]*>(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", final, re.S)]
    assert cells[1] == "3"  # 0103, 0101 and 0102
    # 0104 (61 days) is not over 90 days: demand whatever the deadline.
    assert by_testid(Household(clerk, examples["0104"]).page(), "stage") == "催告"


def test_what_the_dashboard_keeps_and_updates_by_household_equals_a_fresh_computation(clerk, examples, app):
    from arrears.services.dashboard import build_dashboard
    get(clerk, "/")  # everything the dashboard derives is kept now
    Household(clerk, examples["0103"]).pay("100.00", "CACHE-3")  # 0103's expired charge changes
    Household(clerk, examples["0104"]).pay("3.00", "CACHE-4")
    kept = build_dashboard(AS_OF, FROZEN)
    assert day_figures(AS_OF).how == "kept"
    app.extensions.pop("arrears_day_figures")
    fresh = build_dashboard(AS_OF, FROZEN)
    assert day_figures(AS_OF).how == "kept" and kept == fresh
    assert fresh.totals.total_fen == 53543 - 10300


def test_the_collection_rate_is_summed_again_only_when_money_or_bills_were_added(clerk, examples, monkeypatch):
    from arrears.services import dashboard
    calls = []
    real = dashboard.collection_by_month
    monkeypatch.setattr(dashboard, "collection_by_month", lambda as_of: calls.append(as_of) or real(as_of))
    get(clerk, "/")
    assert len(calls) == 1
    page = Household(clerk, examples["0104"])
    assert page.contact().status_code == 302  # a contact adds no money: the sums stand
    get(clerk, "/")
    assert len(calls) == 1
    assert page.pay("50.00", "RATE-1").status_code == 302
    html = get(clerk, "/")
    assert len(calls) == 2
    row = re.search(r'data-testid="rate-2026-05">(.*?)</tr>', html, re.S).group(1)
    assert "50.00" in row or "50.00" in " ".join(row.split())
