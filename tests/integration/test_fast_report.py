"""The fast arrears report (one SQL query over the projection) equals the ledger engine.

Random portfolios — partial payments, overpayments, caps, grace days, a policy change
ahead, hardship periods before, around and after the projection day — are checked on
the projection day, days and years later (carried forward in SQL) and before it (the
engine fallback)."""
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from arrears.domain.policy import LateFeePolicy
from arrears.extensions import db
from arrears.models import HardshipStatus
from arrears.services.crypto import encrypt_text
from arrears.services.ledger import refresh_unit_balances
from arrears.services.postings import add_charge, add_payment, due_date_for
from arrears.services.property import (add_policy_version, add_unit, get_or_create_building,
                                       get_or_create_estate, get_or_create_fee_item)
from arrears.services.reports import arrears_by_unit, check_balances, engine_arrears, portfolio_report
from arrears.services.transaction import atomic

STATE_DAY = date(2026, 6, 15)


def build_portfolio(seed, units=25):
    rng = random.Random(seed)
    with atomic():
        estate = get_or_create_estate(f"随机花园{seed}", "test")
        if seed % 2:
            add_policy_version(estate, LateFeePolicy(effective_from=STATE_DAY + timedelta(days=40),
                                                     daily_rate=Decimal("0.0005"), grace_days=3,
                                                     cap_ratio=Decimal("0.8")), "test")
        if seed % 3 == 0:
            add_policy_version(estate, LateFeePolicy(effective_from=date(2025, 9, 1), daily_rate=Decimal("0.0007"),
                                                     grace_days=5, cap_ratio=None,
                                                     allocation="charge_by_charge"), "test")
        building = get_or_create_building(estate, "1栋", "test")
        item = get_or_create_fee_item(estate, "物业管理费", "test")
        made = []
        for number in range(units):
            unit = add_unit(building, f"{number:04d}", 10000, "业主", None, "test")
            for month in range(rng.randint(1, 14)):
                year, m = divmod(2025 * 12 + 4 + month, 12)
                period = f"{year}-{m + 1:02d}"
                add_charge(unit, item, period, rng.choice([9950, 25000, 30000, 100000]),
                           due_date_for(period, None), "test")
            for index in range(rng.randint(0, 6)):
                paid_on = date(2025, 5, 1) + timedelta(days=rng.randint(0, 420))
                add_payment(unit, rng.choice([5000, 25000, 30000, 77777, 200000]), paid_on, "cash",
                            f"R{seed}-{number}-{index}", "test")
            if rng.random() < 0.3:
                start = STATE_DAY + timedelta(days=rng.randint(-120, 60))
                db.session.add(HardshipStatus(unit_id=unit.id, start_on=start,
                                              end_on=start + timedelta(days=rng.randint(0, 90)),
                                              reason_encrypted=encrypt_text("失业"), requested_by="clerk",
                                              approved_by="manager"))
            made.append(unit)
        db.session.flush()
        for unit in made:
            refresh_unit_balances(unit, STATE_DAY)
    return estate


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_fast_report_equals_the_engine(app, seed):
    estate = build_portfolio(seed)
    for as_of in (STATE_DAY, STATE_DAY + timedelta(days=1), STATE_DAY + timedelta(days=39),
                  STATE_DAY + timedelta(days=45), STATE_DAY + timedelta(days=800), STATE_DAY - timedelta(days=30)):
        assert check_balances(as_of, estate.id) == [], as_of


def test_projection_carries_the_fee_forward_in_sql(app):
    """One unit, one charge of 300.00 due 2026-05-31, unpaid: the projection day is 2026-06-15
    (15 days accrued, 4.50); on 2026-07-15 the SQL carries it to 45 days: 13.50."""
    with atomic():
        estate = get_or_create_estate("单户花园", "test")
        unit = add_unit(get_or_create_building(estate, "1栋", "test"), "0101", 10000, "业主", None, "test")
        add_charge(unit, get_or_create_fee_item(estate, "物业管理费", "test"), "2026-05", 30000,
                   date(2026, 5, 31), "test")
        refresh_unit_balances(unit, STATE_DAY)
    rows = arrears_by_unit(date(2026, 7, 15))
    assert rows[unit.id].late_fee_outstanding_fen == 1350
    assert rows[unit.id].principal_outstanding_fen == 30000
    assert rows[unit.id] == engine_arrears(unit, date(2026, 7, 15))
    report = portfolio_report(date(2026, 7, 15), top=5)
    assert report["late_fee_outstanding_fen"] == 1350 and report["units_owing"] == 1


def test_a_new_policy_version_reaches_the_fast_report(app):
    """Projection built on 2026-06-15 under the default policy; then a version halving the
    rate from 2026-07-01 is added: on 2026-07-15 the fee is 30 days × 0.30 + 15 × 0.15 = 11.25."""
    with atomic():
        estate = get_or_create_estate("改价花园", "test")
        unit = add_unit(get_or_create_building(estate, "1栋", "test"), "0101", 10000, "业主", None, "test")
        add_charge(unit, get_or_create_fee_item(estate, "物业管理费", "test"), "2026-05", 30000,
                   date(2026, 5, 31), "test")
        refresh_unit_balances(unit, STATE_DAY)
    with atomic():
        add_policy_version(estate, LateFeePolicy(effective_from=date(2026, 7, 1), daily_rate=Decimal("0.0005")),
                           "test")
    as_of = date(2026, 7, 15)
    assert arrears_by_unit(as_of)[unit.id].late_fee_outstanding_fen == 30 * 30 + 15 * 15
    assert check_balances(as_of) == []


def test_a_future_policy_version_ends_the_projection_the_day_before(app):
    """A version taking effect in ten days leaves today's figures as they are (no rebuild)
    and makes the report compute days after it with the engine: 19 days on, the fee is
    9 days at 0.30 + 10 days at 0.15 more than today's."""
    from arrears.services.ledger import local_today
    today = local_today()
    with atomic():
        estate = get_or_create_estate("预告花园", "test")
        unit = add_unit(get_or_create_building(estate, "1栋", "test"), "0101", 10000, "业主", None, "test")
        add_charge(unit, get_or_create_fee_item(estate, "物业管理费", "test"), "2026-05", 30000,
                   date(2026, 5, 31), "test")
        refresh_unit_balances(unit, today)
    before = arrears_by_unit(today)[unit.id].late_fee_outstanding_fen
    with atomic():
        add_policy_version(estate, LateFeePolicy(effective_from=today + timedelta(days=10),
                                                 daily_rate=Decimal("0.0005")), "test")
    later = today + timedelta(days=19)
    assert arrears_by_unit(today)[unit.id].late_fee_outstanding_fen == before
    expected = min(30000, before + 9 * 30 + 10 * 15)
    assert arrears_by_unit(later)[unit.id].late_fee_outstanding_fen == expected
    assert check_balances(later) == [] and check_balances(today + timedelta(days=9)) == []


@pytest.mark.parametrize("seed", [1, 5])
def test_the_stale_units_are_rebuilt_so_that_the_report_needs_no_engine(app, seed, monkeypatch):
    """Seeds 1 and 5 have a policy version taking effect 40 days after the projection day:
    from that day every unit's projection has ended, and each read runs the engine for
    them until ``refresh_stale_balances`` (the worker's hourly job) rebuilds them."""
    from arrears.services import reports
    from arrears.services.reports import refresh_stale_balances, stale_unit_ids
    estate = build_portfolio(seed)
    later = STATE_DAY + timedelta(days=45)
    before = arrears_by_unit(later, estate.id)
    stale = stale_unit_ids(later.toordinal())
    assert len(stale) == 25
    assert stale_unit_ids(STATE_DAY.toordinal()) == set()

    assert refresh_stale_balances(later) == 25
    assert stale_unit_ids(later.toordinal()) == set()
    monkeypatch.setattr(reports, "engine_arrears", lambda *_: pytest.fail("the engine was run for a fresh unit"))
    assert arrears_by_unit(later, estate.id) == before
    assert refresh_stale_balances(later) == 0


def test_refresh_balances_stale_from_the_command_line(app, cli):
    estate = build_portfolio(1, units=5)
    assert estate is not None
    result = cli("refresh-balances", "--stale")
    assert result.exit_code == 0, result.output
    # Built for 2026-06-15, today is later and the version of day 40 has come: all stale.
    assert "balances rebuilt for 5 stale unit(s)" in result.output
    again = cli("refresh-balances", "--stale")
    assert "balances rebuilt for 0 stale unit(s)" in again.output


def test_the_workers_hourly_job_rebuilds_the_stale_units(app, monkeypatch):
    from arrears import jobs
    from arrears.services.ledger import local_today
    from arrears.services.reports import stale_unit_ids
    build_portfolio(1, units=5)
    today = local_today().toordinal()
    assert len(stale_unit_ids(today)) == 5
    monkeypatch.setattr(jobs, "_app", app)
    jobs.hourly_projection_refresh.call_local()
    assert stale_unit_ids(today) == set()
    due = {minute: [type(task).__name__ for task in jobs.huey.read_periodic(datetime(2026, 12, 2, 9, minute))]
           for minute in (2, 3)}
    assert "hourly_projection_refresh" in due[2] and "hourly_projection_refresh" not in due[3]
