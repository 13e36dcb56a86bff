"""Billing runs, payments and reversals through the command line, and the append-only
ledger in the database itself (SPEC §2, §8).

Invariants checked here: billing a period twice creates nothing twice; a payment
reference is posted once per estate and a repeat says so; a refused command writes
nothing; a reversal leaves the payment on record but out of the statement, and is
itself final; the database refuses UPDATE and DELETE on every append-only table,
whatever code path tries.
"""
import json
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from arrears.extensions import db
from arrears.models import APPEND_ONLY_TABLES, Charge, Estate, Payment, Reversal
from arrears.services.property import get_or_create_fee_item
from arrears.services.transaction import atomic

REF = "示例花园/3栋/1201"
METHODS = "cash, bank_transfer, wechat, alipay, bank_deduction, other"
AREAS = {"1201": "88.50", "1202": "33.33", "1203": "100.00"}

COUNTED_TABLES = ("billing_runs", "charges", "payments", "reversals", "waivers", "hardship_statuses",
                  "evidence_events", "charge_balances", "unit_balances", "payment_allocations")


@pytest.fixture(autouse=True)
def today():
    """Every test here runs on 2026-11-23 in Shanghai."""
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True):
        yield date(2026, 11, 23)


def snapshot(cli):
    counts = {table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
              for table in COUNTED_TABLES}
    chain = cli("verify-chain")
    assert chain.exit_code == 0, chain.output
    counts["verify-chain"] = int(re.search(r"intact: (\d+) event", chain.stdout).group(1))
    db.session.rollback()
    return counts


def statement_line(cli, ref, as_of, index=0):
    result = cli("statement", ref, "--as-of", as_of, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["charges"][index]


def expected_fen(area, price="2.50"):
    """round_half_up(area × price) to the fen, worked out here without the app's code."""
    return int((Decimal(area) * Decimal(price) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture
def estate(cli, write_csv):
    """示例花园/3栋 with units 1201 (88.50 m²), 1202 (33.33 m²), 1203 (100.00 m²) and a
    management fee of 2.50 per m² per month, due on the month's last day."""
    rows = "".join(f"示例花园,3栋,{number},{area},业主{number},\n" for number, area in AREAS.items())
    result = cli("import", "units", write_csv("units.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                              + rows))
    assert result.exit_code == 0, result.output
    with atomic():
        estate = db.session.execute(select(Estate).where(Estate.name == "示例花园")).scalar_one()
        get_or_create_fee_item(estate, "物业管理费", "test", basis="per_m2", price_fen=250)
    return estate


@pytest.fixture
def billed(cli, estate):
    result = cli("bill", "--period", "2026-10")
    assert result.exit_code == 0, result.output
    return result


def pay(cli, amount="100.00", paid_on="2026-11-01", method="wechat", reference="W1", ref=REF, *extra):
    return cli("pay", ref, "--amount", amount, "--paid-on", paid_on, "--method", method,
               "--reference", reference, *extra)


# -- billing ---------------------------------------------------------------------------

def test_billing_twice_creates_nothing_twice(cli, estate):
    first = cli("bill", "--period", "2026-10")
    assert first.exit_code == 0, first.output
    assert first.stdout == "billed 2026-10: 3 charge(s) created\n"
    charges = db.session.execute(select(Charge).order_by(Charge.id)).scalars().all()
    # 88.50 × 2.50 = 221.25; 33.33 × 2.50 = 83.325 -> 83.33 (half up, not to even); 100.00 × 2.50 = 250.00
    assert [(c.unit.number, c.period, c.amount_fen, c.due_date) for c in charges] == [
        ("1201", "2026-10", 22125, date(2026, 10, 31)),
        ("1202", "2026-10", 8333, date(2026, 10, 31)),
        ("1203", "2026-10", 25000, date(2026, 10, 31))]
    assert [c.amount_fen for c in charges] == [expected_fen(area) for area in AREAS.values()]
    before = snapshot(cli)

    second = cli("bill", "--period", "2026-10")
    assert second.exit_code == 0, second.output
    assert second.stdout == "billed 2026-10: nothing to create (already billed, or no active fee items)\n"
    assert snapshot(cli) == before
    assert before["charges"] == 3 and before["billing_runs"] == 1
    assert statement_line(cli, "示例花园/3栋/1202", "2026-10-31")["amount"] == "83.33"


def test_billing_again_bills_only_a_unit_added_since(cli, write_csv, billed):
    result = cli("import", "units", write_csv("more.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                              "示例花园,3栋,1204,120.01,业主1204,\n"))
    assert result.exit_code == 0, result.output
    again = cli("bill", "--period", "2026-10")
    assert again.stdout == "billed 2026-10: 1 charge(s) created\n"
    # 120.01 × 2.50 = 300.025 -> 300.03
    rows = db.session.execute(text("SELECT period, amount_fen FROM charges ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("2026-10", 22125), ("2026-10", 8333), ("2026-10", 25000),
                                        ("2026-10", 30003)]
    assert db.session.execute(text("SELECT count(*) FROM billing_runs")).scalar_one() == 2


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "26-10", "October"])
def test_billing_a_bad_period_is_a_clear_error(cli, estate, period):
    before = snapshot(cli)
    result = cli("bill", "--period", period)
    assert result.exit_code == 1
    assert result.stderr == f"error: period {period!r} must look like 2026-01\n"
    assert result.stdout == ""
    assert snapshot(cli) == before


@pytest.mark.parametrize("period", [" 2026-10", "2026-10 "])
def test_a_period_with_spaces_does_not_bill_the_month_twice(cli, billed, period):
    before = snapshot(cli)
    result = cli("bill", "--period", period)
    if result.exit_code == 0:
        assert result.stdout == "billed 2026-10: nothing to create (already billed, or no active fee items)\n"
    else:
        assert result.exit_code == 1 and result.stderr.startswith("error: period ")
    assert snapshot(cli) == before
    assert db.session.execute(text("SELECT DISTINCT period FROM charges")).scalars().all() == ["2026-10"]


@pytest.mark.parametrize("period", ["0000-01", "0001-01"])
def test_a_period_out_of_the_calendar_is_a_clear_error(runner, estate, period):
    from arrears.cli import arrears
    result = runner.invoke(arrears, ["bill", "--period", period])  # exceptions caught: a traceback shows here
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and period in result.stderr
    assert db.session.execute(text("SELECT count(*) FROM charges")).scalar_one() == 0


def test_billing_an_unknown_estate_is_a_clear_error(cli, estate):
    before = snapshot(cli)
    result = cli("bill", "--period", "2026-10", "--estate", "无名小区")
    assert result.exit_code == 1
    assert result.stderr == "error: estate 无名小区 does not exist\n"
    assert snapshot(cli) == before


# -- payments --------------------------------------------------------------------------

def test_the_same_reference_twice_posts_once_and_says_so(cli, billed):
    first = pay(cli)
    assert first.exit_code == 0, first.output
    payment_id = db.session.execute(select(Payment.id)).scalar_one()
    assert first.stdout == f"payment #{payment_id} posted: 100.00 for {REF}\n"
    before = snapshot(cli)

    again = pay(cli, amount="150.00", paid_on="2026-11-02", method="cash")
    assert again.exit_code == 0, again.output
    assert again.stdout == f"payment reference W1 is already posted (payment #{payment_id}); not posted again\n"
    assert snapshot(cli) == before
    assert statement_line(cli, REF, "2026-11-23")["principal_paid"] == "100.00"


def test_the_same_reference_elsewhere_in_the_estate_is_still_a_repeat(cli, billed):
    assert pay(cli).exit_code == 0
    before = snapshot(cli)
    again = pay(cli, ref="示例花园/3栋/1202")
    assert again.exit_code == 0
    assert "payment reference W1 is already posted" in again.stdout
    assert snapshot(cli) == before


@pytest.mark.parametrize("arguments, message", [
    ({"method": "paypal"}, f"error: payment method 'paypal' must be one of {METHODS}"),
    ({"paid_on": "2026-11-24"}, "error: paid_on 2026-11-24 is in the future"),
    ({"amount": "0.00"}, "error: amount must be greater than 0.00"),
    ({"amount": "0"}, "error: amount must be greater than 0.00"),
    ({"amount": "-5.00"}, "error: amount -5.00 is negative"),
    ({"amount": "1.005"}, "error: amount 1.005 has more than two decimals"),
    ({"reference": "  "}, "error: payment reference is empty"),
    ({"ref": "示例花园/3栋/9999"}, "error: unit 示例花园/3栋/9999 does not exist"),
], ids=["unknown-method", "future-date", "zero", "zero-integer", "negative", "three-decimals",
        "blank-reference", "unknown-unit"])
def test_a_refused_payment_writes_nothing(cli, billed, arguments, message):
    before = snapshot(cli)
    result = pay(cli, **arguments)
    assert result.exit_code == 1
    assert result.stderr == message + "\n"
    assert result.stdout == ""
    assert snapshot(cli) == before


def test_a_named_period_that_does_not_exist_is_refused(cli, billed):
    before = snapshot(cli)
    result = pay(cli, "100.00", "2026-11-01", "wechat", "W1", REF, "--periods", "2026-10,2025-01")
    assert result.exit_code == 1
    assert result.stderr == f"error: {REF} has no charge for period 2025-01\n"
    assert snapshot(cli) == before


def test_a_payment_on_today_is_accepted(cli, billed):
    result = pay(cli, paid_on="2026-11-23")
    assert result.exit_code == 0, result.output
    assert statement_line(cli, REF, "2026-11-23")["principal_outstanding"] == "121.25"


# -- reversals -------------------------------------------------------------------------

def test_reversal_keeps_the_payment_but_the_statement_no_longer_counts_it(cli, billed):
    assert pay(cli).exit_code == 0
    payment_id = db.session.execute(select(Payment.id)).scalar_one()
    # 221.25 due 2026-10-31; 100.00 paid 2026-11-01: 1 day at 221.25 + 22 days at 121.25
    # = 0.22125 + 2.6675 = 2.88875 -> 2.89.
    line = statement_line(cli, REF, "2026-11-23")
    assert (line["principal_paid"], line["principal_outstanding"], line["late_fee_accrued"]) == (
        "100.00", "121.25", "2.89")

    result = cli("reverse-payment", payment_id, "--reason", "银行退票")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"payment #{payment_id} (W1) reversed\n"
    payment = db.session.get(Payment, payment_id)
    assert (payment.amount_fen, payment.reference, payment.paid_on) == (10000, "W1", date(2026, 11, 1))
    reversal = db.session.execute(select(Reversal)).scalar_one()
    assert (reversal.payment_id, reversal.charge_id, reversal.reason, reversal.reversed_on) == (
        payment_id, None, "银行退票", date(2026, 11, 23))
    # Without the payment: 23 days at 221.25 = 5.08875 -> 5.09.
    line = statement_line(cli, REF, "2026-11-23")
    assert (line["principal_paid"], line["principal_outstanding"], line["late_fee_accrued"]) == (
        "0.00", "221.25", "5.09")


def test_a_second_reversal_is_refused(cli, billed):
    assert pay(cli).exit_code == 0
    payment_id = db.session.execute(select(Payment.id)).scalar_one()
    assert cli("reverse-payment", payment_id, "--reason", "银行退票").exit_code == 0
    before = snapshot(cli)
    again = cli("reverse-payment", payment_id, "--reason", "再次冲正")
    assert again.exit_code == 1
    assert again.stderr == f"error: payment #{payment_id} (W1) is already reversed\n"
    assert snapshot(cli) == before


def test_a_reversal_needs_a_reason(cli, billed):
    assert pay(cli).exit_code == 0
    payment_id = db.session.execute(select(Payment.id)).scalar_one()
    before = snapshot(cli)
    missing = cli("reverse-payment", payment_id)
    assert missing.exit_code == 2
    assert "Missing option '--reason'" in missing.stderr
    blank = cli("reverse-payment", payment_id, "--reason", "   ")
    assert blank.exit_code == 1
    assert blank.stderr == "error: a reversal needs a reason\n"
    assert snapshot(cli) == before


def test_reversing_an_unknown_payment_is_refused(cli, billed):
    before = snapshot(cli)
    result = cli("reverse-payment", 999, "--reason", "x")
    assert result.exit_code == 1
    assert result.stderr == "error: payment #999 does not exist\n"
    assert snapshot(cli) == before


# -- the database refuses UPDATE and DELETE on the ledger --------------------------------

# table -> (primary key, an assignment that would change the row)
CHANGES = {
    "charges": ("id", "amount_fen = amount_fen + 1"),
    "payments": ("id", "amount_fen = amount_fen + 1"),
    "reversals": ("id", "reason = 'edited'"),
    "waivers": ("id", "amount_fen = amount_fen + 1"),
    "hardship_statuses": ("id", "end_on = start_on"),
    "late_fee_policies": ("id", "daily_rate = '0.5'"),
    "billing_runs": ("id", "charges_created = 0"),
    "evidence_events": ("seq", "actor = 'mallory'"),
    "contacts": ("id", "outcome = 'edited'"),
    "promises": ("id", "amount_fen = amount_fen + 1"),
    "disputes": ("id", "subject = 'edited'"),
    "dispute_updates": ("id", "note = 'edited'"),
    "escalations": ("id", "reason = 'edited'"),
    "stored_files": ("sha256", "bytes = bytes + 1"),
    "notices": ("id", "total_fen = total_fen + 1"),
    "notice_charges": ("id", "principal_outstanding_fen = 0"),
    "deliveries": ("id", "outcome = 'refused'"),
    "delivery_proofs": ("id", "filename = 'edited'"),
    "receipts": ("id", "serial = 'SJ-2026-999999'"),
    "receipt_prints": ("id", "copy_no = copy_no + 5"),
    "hardship_requests": ("id", "end_on = start_on"),
    "waiver_requests": ("id", "reason = 'other'"),
    "payment_plans": ("id", "covered_fen = covered_fen + 1"),
    "plan_charges": ("id", "charge_id = charge_id"),
    "plan_instalments": ("id", "amount_fen = amount_fen + 1"),
    "decisions": ("id", "outcome = 'rejected'"),
    "waiver_reversals": ("id", "reason = 'edited'"),
    "plan_breaks": ("id", "instalment_number = 9"),
    "plan_agreements": ("id", "serial = 'FQ-2026-999999'"),
    "case_steps": ("id", "court = 'edited'"),
    "case_claims": ("id", "charge_id = charge_id"),
    "bundle_exports": ("id", "chain_seq = chain_seq + 1"),
    "call_guides": ("id", "opening = 'edited'"),
    "paydays": ("id", "day_of_month = 1"),
    "visit_sheets": ("id", "visit_on = '2027-01-01'"),
    "visit_sheet_items": ("id", "owed_fen = owed_fen + 1"),
    "commission_schemes": ("id", "definition = '{}'"),
}


def test_every_append_only_table_is_covered_here():
    assert set(CHANGES) == set(APPEND_ONLY_TABLES)


@pytest.fixture
def full_ledger(cli, write_csv, billed):
    """At least one row in every append-only table."""
    for name, role in (("clerk1", "clerk"), ("mgr1", "manager")):
        assert cli("create-user", name, "--role", role, input="password123\n").exit_code == 0
    assert pay(cli).exit_code == 0
    assert pay(cli, reference="W2").exit_code == 0
    assert cli("reverse-payment", 2, "--reason", "重复入账").exit_code == 0
    assert cli("import", "hardship", write_csv("hardship.csv",
               "estate,building,unit,start,end,reason,requested_by,approved_by\n"
               "示例花园,3栋,1202,2026-11-01,2026-11-30,失业,clerk1,mgr1\n")).exit_code == 0
    assert cli("import", "waivers", write_csv("waivers.csv",
               "estate,building,unit,period,kind,amount,reason,requested_by,approved_by,approved_on\n"
               "示例花园,3栋,1201,2026-10,principal,10.00,other,clerk1,mgr1,2026-11-10\n")).exit_code == 0
    from datetime import date, datetime, timezone
    from arrears.services import collection
    from arrears.services.ledger import find_unit
    unit = find_unit("示例花园/3栋/1201")
    collection.log_contact(unit, channel="phone", contacted_at=datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc),
                           reached="owner", outcome="答应月底缴费", actor="clerk1",
                           now=datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc))
    collection.record_promise(unit, amount_fen=1000, promised_on=date(2026, 11, 30), actor="clerk1",
                              made_on=date(2026, 11, 20))
    dispute = collection.open_dispute(unit, subject="电梯维修不及时", actor="clerk1")
    collection.update_dispute(unit, dispute_id=dispute.id, status="in_progress", actor="mgr1", note="已派单")
    collection.escalate(unit, stage="legal", reason="长期拒缴", actor="mgr1")
    notice_rows(unit)
    relief_rows(unit)
    craft_rows(unit)
    for table in CHANGES:
        assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0, table
    db.session.rollback()


def notice_rows(unit):
    """One row in each notice table, written as plain rows (issuing renders PDFs: slow)."""
    from datetime import date
    from arrears.models import (Charge, Delivery, DeliveryProof, Notice, NoticeCharge, Payment, Receipt,
                                ReceiptPrint, StoredFile)
    from arrears.services.transaction import atomic
    with atomic():
        charge = db.session.execute(select(Charge).where(Charge.unit_id == unit.id)).scalars().first()
        payment = db.session.execute(select(Payment)).scalars().first()
        db.session.add(StoredFile(sha256="a" * 64, bytes=10, content_type="application/pdf"))
        db.session.flush()
        notice = Notice(serial="SL-2026-000001", kind="demand", unit_id=unit.id, as_of=date(2026, 11, 23),
                        language="zh_CN", deadline_days=15, principal_outstanding_fen=100, late_fee_outstanding_fen=0,
                        total_fen=100, sha256="a" * 64, chain_seq=1, chain_hash="0" * 64, created_by="clerk1")
        # Posting the payment numbered its receipt; print it here as a plain row.
        receipt = db.session.execute(select(Receipt).where(Receipt.payment_id == payment.id)).scalar_one()
        db.session.add(notice)
        db.session.flush()
        delivery = Delivery(notice_id=notice.id, method="hand_signed", outcome="delivered",
                            attempted_on=date(2026, 11, 23), signer="张伟", relation="owner", created_by="clerk1")
        db.session.add_all([delivery, NoticeCharge(notice_id=notice.id, charge_id=charge.id, principal_outstanding_fen=100,
                                                   late_fee_outstanding_fen=0),
                            ReceiptPrint(receipt_id=receipt.id, copy_no=0, sha256="a" * 64, chain_seq=1,
                                         chain_hash="0" * 64, created_by="clerk1")])
        db.session.flush()
        db.session.add(DeliveryProof(delivery_id=delivery.id, sha256="a" * 64, filename="slip.png", created_by="clerk1"))


def relief_rows(unit):
    """One row in each relief table, written as plain rows (the triggers are what is tested)."""
    from datetime import date
    from arrears.models import (Charge, Decision, HardshipRequest, PaymentPlan, PlanAgreement, PlanBreak,
                                PlanCharge, PlanInstalment, Waiver, WaiverRequest, WaiverReversal)
    from arrears.services.transaction import atomic
    with atomic():
        charge = db.session.execute(select(Charge).where(Charge.unit_id == unit.id)).scalars().first()
        sha = db.session.execute(text("SELECT sha256 FROM stored_files")).scalars().first()
        db.session.add(HardshipRequest(unit_id=unit.id, start_on=date(2026, 11, 1), end_on=date(2026, 11, 30),
                                       reason_encrypted="x", requested_by="clerk1"))
        db.session.add(WaiverRequest(charge_id=charge.id, kind="late_fee", amount_fen=None, reason="hardship",
                                     requested_by="clerk1"))
        plan = PaymentPlan(unit_id=unit.id, covered_fen=100, drawn_on=date(2026, 11, 1), requested_by="clerk1")
        db.session.add(plan)
        db.session.flush()
        db.session.add_all([PlanCharge(plan_id=plan.id, charge_id=charge.id),
                            PlanInstalment(plan_id=plan.id, number=1, due_on=date(2026, 12, 1), amount_fen=100),
                            Decision(subject="plan", request_id=plan.id, outcome="approved", decided_on=date(2026, 11, 2),
                                     decided_by="mgr1"),
                            PlanBreak(plan_id=plan.id, broken_on=date(2026, 12, 9), instalment_number=1),
                            PlanAgreement(plan_id=plan.id, serial="FQ-2026-000001", sha256=sha, chain_seq=1,
                                          chain_hash="0" * 64, created_by="clerk1")])
        waiver = db.session.execute(select(Waiver)).scalars().first()
        db.session.add(WaiverReversal(waiver_id=waiver.id, reason="录入错误", reversed_on=date(2026, 11, 20),
                                      created_by="mgr1"))
        from arrears.models import BundleExport, CaseClaim, CaseStep
        step = CaseStep(unit_id=unit.id, kind="lawsuit_filed", on_date=date(2026, 11, 21), court="杭州市西湖区人民法院",
                        case_number="(2026)浙0106民初1号", created_by="mgr1")
        db.session.add(step)
        db.session.flush()
        db.session.add_all([CaseClaim(step_id=step.id, charge_id=charge.id),
                            BundleExport(unit_id=unit.id, sha256=sha, chain_seq=1, chain_hash="0" * 64,
                                         created_by="mgr1")])


def craft_rows(unit):
    """One row in each collection-craft table, written as plain rows."""
    from datetime import date
    from arrears.models import CallGuide, CommissionScheme, Payday, VisitSheet, VisitSheetItem
    from arrears.services.transaction import atomic
    with atomic():
        db.session.add_all([
            CallGuide(stage="demand", reason="opening", language="zh_CN", version=99, opening="您好", replies="-",
                      offer="-", never_say="-", created_by="admin"),
            Payday(unit_id=unit.id, day_of_month=10, created_by="clerk1"),
            CommissionScheme(kind="fixed", definition='{"rate": "0.04"}', effective_from=date(2026, 11, 1),
                             created_by="admin")])
        sheet = VisitSheet(estate_id=unit.building.estate_id, buildings=str(unit.building_id),
                           visit_on=date(2026, 11, 23), created_by="mgr1")
        db.session.add(sheet)
        db.session.flush()
        db.session.add(VisitSheetItem(sheet_id=sheet.id, unit_id=unit.id, position=1, owed_fen=100, stage="demand"))


def all_rows(table, key):
    return [tuple(row) for row in db.session.execute(text(f"SELECT * FROM {table} ORDER BY {key}")).all()]


@pytest.mark.parametrize("action", ["UPDATE", "DELETE"])
@pytest.mark.parametrize("table", sorted(CHANGES))
def test_the_database_refuses_changes_to_append_only_tables(full_ledger, table, action):
    key, assignment = CHANGES[table]
    before = all_rows(table, key)
    target = before[0][0]  # the primary key is each table's first column
    statement = (f"UPDATE {table} SET {assignment} WHERE {key} = :target" if action == "UPDATE"
                 else f"DELETE FROM {table} WHERE {key} = :target")
    with pytest.raises(DBAPIError) as refused:
        db.session.execute(text(statement), {"target": target})
        db.session.commit()
    assert f"append-only table {table}: {action} refused" in str(refused.value.orig)
    db.session.rollback()
    assert all_rows(table, key) == before
