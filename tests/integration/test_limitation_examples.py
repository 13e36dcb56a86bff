"""Issue 6's limitation examples, worked by hand (SPEC §7: three years after the later of
the due date and the last interruption; 29 February → 28 February), each read from
``statement --json``'s ``limitation_expires``.

Households of their own (5栋), with no payment, so that nothing but the act under test
interrupts; the clock stands at 2026-05-31 10:00 in Shanghai and moves forward for the
deliveries.

    unit  period   due         act                                        expires
    0501  2024-02  2024-02-29  none                                       2027-02-28
    0501  2025-06  2025-06-30  none                                       2028-06-30
    0502  2025-01  2025-01-31  demand issued 05-31 (no delivery yet)      2028-01-31
                               ... delivered by hand 2026-06-03           2029-06-03
    0503  2025-01  2025-01-31  registered letter refused at the
                               registered address 2026-06-05              2029-06-05
    0504  2025-01  2025-01-31  registered letter returned, not at the
                               registered address 2026-06-05              2028-01-31
    0505  2024-03  2024-03-31  lawsuit filed 2026-05-20 claiming it       2029-05-20
    0505  2024-04  2024-04-30  not claimed by the lawsuit                 2027-04-30
"""
import json
from datetime import date

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Charge
from arrears.services.cases import record_step
from arrears.services.collection import escalate
from arrears.services.ledger import find_unit
from arrears.services.notices import DeliveryInput, issue_notice, record_delivery
from arrears.services.users import create_user
from notice_helpers import ESTATE, clock  # noqa: F401  (fixture)


def ref(number):
    return f"{ESTATE}/5栋/{number}"


@pytest.fixture
def households(clock, cli, write_csv):
    units = ["estate,building,unit,area_m2,owner_name,owner_phone"]
    units += [f"{ESTATE},5栋,{n},90.00,业主{n},1390000{n}" for n in ("0501", "0502", "0503", "0504", "0505")]
    charges = ["estate,building,unit,period,fee_item,amount,due_date",
               f"{ESTATE},5栋,0501,2024-02,物业管理费,300.00,2024-02-29",
               f"{ESTATE},5栋,0501,2025-06,物业管理费,300.00,2025-06-30",
               f"{ESTATE},5栋,0502,2025-01,物业管理费,300.00,2025-01-31",
               f"{ESTATE},5栋,0503,2025-01,物业管理费,300.00,2025-01-31",
               f"{ESTATE},5栋,0504,2025-01,物业管理费,300.00,2025-01-31",
               f"{ESTATE},5栋,0505,2024-03,物业管理费,300.00,2024-03-31",
               f"{ESTATE},5栋,0505,2024-04,物业管理费,300.00,2024-04-30"]
    for kind, rows in (("units", units), ("charges", charges)):
        result = cli("import", kind, write_csv(f"{kind}.csv", "\n".join(rows) + "\n"))
        assert result.exit_code == 0, result.output


def expiries(cli, number, as_of="2026-05-31"):
    result = cli("statement", ref(number), "--as-of", as_of, "--json")
    assert result.exit_code == 0, result.output
    return {line["period"]: line["limitation_expires"] for line in json.loads(result.stdout)["charges"]}


def demand(number):
    return issue_notice(find_unit(ref(number)), "demand", date(2026, 5, 31), "clerk").serial


def test_a_charge_with_no_demand_expires_three_years_after_its_due_date(cli, households):
    # 2024-02-29 + 3 years: 2027 has no 29 February, so the last day of the month.
    assert expiries(cli, "0501") == {"2024-02": "2027-02-28", "2025-06": "2028-06-30"}


def test_a_delivered_demand_restarts_it_from_the_delivery_date(cli, households, clock):
    serial = demand("0502")
    assert expiries(cli, "0502") == {"2025-01": "2028-01-31"}  # issued is not delivered
    clock.move_to(date(2026, 6, 3))
    record_delivery(serial, DeliveryInput(method="hand_signed", outcome="delivered", attempted_on=date(2026, 6, 3),
                                          signer="业主0502", relation="owner"), "clerk", ())
    assert expiries(cli, "0502", "2026-06-03") == {"2025-01": "2029-06-03"}
    assert expiries(cli, "0502", "2026-06-02") == {"2025-01": "2028-01-31"}  # not before it happened


def test_a_refused_registered_letter_at_the_registered_address_restarts_it(cli, households, clock):
    serial = demand("0503")
    clock.move_to(date(2026, 6, 5))
    record_delivery(serial, DeliveryInput(method="registered_mail", outcome="refused", attempted_on=date(2026, 6, 5),
                                          tracking_no="XA100000001CN", at_registered_address=True), "clerk", ())
    assert expiries(cli, "0503", "2026-06-05") == {"2025-01": "2029-06-05"}


def test_a_returned_letter_not_at_the_registered_address_does_not(cli, households, clock):
    serial = demand("0504")
    clock.move_to(date(2026, 6, 5))
    record_delivery(serial, DeliveryInput(method="registered_mail", outcome="returned", attempted_on=date(2026, 6, 5),
                                          tracking_no="XA100000002CN", at_registered_address=False), "clerk", ())
    assert expiries(cli, "0504", "2026-06-05") == {"2025-01": "2028-01-31"}


def test_a_lawsuit_filed_restarts_it_for_the_charges_claimed_only(cli, households):
    unit = find_unit(ref("0505"))
    create_user("lawyer", "lawyer", "password123")
    escalate(unit, stage="legal", reason="three years unpaid", actor="manager")
    record_step(unit, "lawyer_assigned", date(2026, 5, 10), "manager", lawyer="lawyer")
    march = db.session.execute(select(Charge.id).where(Charge.unit_id == unit.id, Charge.period == "2024-03")
                               ).scalar_one()
    record_step(unit, "lawsuit_filed", date(2026, 5, 20), "manager", court="某区人民法院",
                case_number="(2026)沪0101民初1234号", amount_fen=30000, charge_ids=(march,))
    assert expiries(cli, "0505") == {"2024-03": "2029-05-20", "2024-04": "2027-04-30"}
    assert expiries(cli, "0505", "2026-05-19") == {"2024-03": "2027-03-31", "2024-04": "2027-04-30"}
