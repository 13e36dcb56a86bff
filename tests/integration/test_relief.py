"""Relief through the services (SPEC §3, §4, §7): requests change nothing until a different
manager approves them; approvals take effect once; plans suspend accrual while in good
standing, break from the payments, and interrupt limitation."""
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Decision, EvidenceEvent, HardshipStatus, PlanBreak, Waiver
from arrears.services import relief
from arrears.services.errors import ServiceError
from arrears.services.ledger import find_unit
from notice_helpers import REF, count, clock, household  # noqa: F401  (fixtures)


@pytest.fixture
def staff(make_user):
    for name, role in (("clerk", "clerk"), ("clerk2", "clerk"), ("boss", "manager"), ("boss2", "manager")):
        make_user(role, name)


def figures(cli, as_of="2026-05-31"):
    result = cli("statement", REF, "--as-of", as_of, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def line(document, period):
    return next(l for l in document["charges"] if l["period"] == period)


def charge_id(period):
    from arrears.models import Charge
    return db.session.execute(select(Charge.id).where(Charge.period == period)).scalar_one()


def events(kind):
    return [json.loads(e.data) for e in db.session.execute(
        select(EvidenceEvent).where(EvidenceEvent.kind == kind).order_by(EvidenceEvent.seq)).scalars()]


# -- the two-person rule ---------------------------------------------------------------------

def test_a_waiver_changes_nothing_until_a_different_manager_approves_it(cli, household, staff):
    before = figures(cli)
    request = relief.request_waiver(charge_id("2026-01"), "late_fee", 1000, "non_malicious", "clerk")
    assert figures(cli) == before
    with pytest.raises(relief.NotAllowed, match="not a manager"):
        relief.decide("waiver", request.id, "approved", "clerk2")
    assert figures(cli) == before
    relief.decide("waiver", request.id, "approved", "boss")
    after = line(figures(cli), "2026-01")
    assert after["late_fee_waived"] == "10.00"
    assert after["late_fee_outstanding"] == f"{float(line(before, '2026-01')['late_fee_outstanding']) - 10:.2f}"
    assert [e["outcome"] for e in events("waiver_approved")] == ["approved"]
    assert events("waiver_requested")[0]["amount"] == "10.00"


def test_nobody_approves_their_own_request(cli, household, staff):
    request = relief.request_waiver(charge_id("2026-01"), "late_fee", 500, "hardship", "boss")
    with pytest.raises(relief.NotAllowed, match="their own request"):
        relief.decide("waiver", request.id, "approved", "boss")
    assert count("decisions") == 0 and count("waivers") == 0


def test_an_approval_applied_twice_takes_effect_once(cli, household, staff, monkeypatch):
    request = relief.request_waiver(charge_id("2026-01"), "late_fee", 500, "hardship", "clerk")
    relief.decide("waiver", request.id, "approved", "boss")
    with pytest.raises(relief.AlreadyDecided):
        relief.decide("waiver", request.id, "approved", "boss")  # a double submit
    # Two managers at once: the second one's check saw no decision yet; the database refuses it.
    monkeypatch.setattr(relief, "_decision", lambda subject, request_id: None)
    with pytest.raises(relief.AlreadyDecided):
        relief.decide("waiver", request.id, "rejected", "boss2")
    assert count("decisions") == 1 and count("waivers") == 1
    assert len(events("waiver_approved")) == 1 and not events("waiver_rejected")


def test_a_rejected_request_changes_nothing(cli, household, staff):
    before = figures(cli)
    request = relief.request_waiver(charge_id("2026-01"), "principal", 5000, "dispute_settlement", "clerk")
    relief.decide("waiver", request.id, "rejected", "boss", note="no grounds")
    assert figures(cli) == before
    assert db.session.execute(select(Decision.outcome)).scalar_one() == "rejected"
    assert events("waiver_rejected")[0]["note"] == "no grounds"


def test_an_approved_waiver_is_undone_only_by_a_reversal_with_a_reason(cli, household, staff):
    before = figures(cli)
    request = relief.request_waiver(charge_id("2026-01"), "late_fee", None, "hardship", "clerk")
    relief.decide("waiver", request.id, "approved", "boss")
    assert line(figures(cli), "2026-01")["late_fee_outstanding"] == "0.00"
    with pytest.raises(ServiceError, match="needs a reason"):
        relief.reverse_waiver(db.session.execute(select(Waiver.id)).scalar_one(), " ", "boss")
    with pytest.raises(relief.NotAllowed):
        relief.reverse_waiver(db.session.execute(select(Waiver.id)).scalar_one(), "mistake", "clerk")
    relief.reverse_waiver(db.session.execute(select(Waiver.id)).scalar_one(), "录入错误", "boss")
    assert figures(cli) == before
    assert count("waivers") == 1 and events("waiver_reversed")[0]["reason"] == "录入错误"


# -- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, amount, message", [
    ("late_fee", 10**8, "is more than the late fee outstanding"),
    ("principal", 30001, "is more than the principal outstanding"),
    ("principal", None, "only a late-fee waiver can be for all of it"),
    ("late_fee", 0, "greater than 0.00"),
    ("gift", 100, "waiver kind 'gift'"),
])
def test_bad_waiver_requests_are_refused(cli, household, staff, kind, amount, message):
    chain = count("evidence_events")
    with pytest.raises(ServiceError, match=message):
        relief.request_waiver(charge_id("2026-04"), kind, amount, "hardship", "clerk")
    assert count("waiver_requests") == 0 and count("evidence_events") == chain


def test_a_second_request_for_the_same_charge_and_kind_waits_for_the_first(cli, household, staff, clock):
    first = relief.request_waiver(charge_id("2026-04"), "late_fee", None, "hardship", "clerk")
    chain = count("evidence_events")
    with pytest.raises(ServiceError, match=f"waiver request #{first.id} for the 2026-04 charge awaits a decision"):
        relief.request_waiver(charge_id("2026-04"), "late_fee", 100, "hardship", "clerk2")
    assert count("waiver_requests") == 1 and count("evidence_events") == chain
    relief.request_waiver(charge_id("2026-04"), "principal", 100, "hardship", "clerk2")  # another kind: fine
    relief.decide("waiver", first.id, "rejected", "boss")
    relief.request_waiver(charge_id("2026-04"), "late_fee", 100, "hardship", "clerk2")  # decided: may ask again
    assert count("waiver_requests") == 3


def test_a_hardship_period_ending_before_it_starts_is_refused(household, staff):
    unit = find_unit(REF)
    with pytest.raises(ServiceError, match="ends .* before it starts"):
        relief.request_hardship(unit, date(2026, 5, 1), date(2026, 4, 1), "失业", "clerk")
    assert count("hardship_requests") == 0


@pytest.mark.parametrize("document, message", [
    (("证明.pdf", b"MZ\x90\x00 not a pdf"), "is not a JPEG, PNG or PDF file"),
    (("证明.pdf", b""), "is empty"),
])
def test_a_hardship_document_must_be_a_pdf_or_image(household, staff, document, message):
    unit = find_unit(REF)
    with pytest.raises(ServiceError, match=message):
        relief.request_hardship(unit, date(2026, 5, 1), date(2026, 8, 31), "失业", "clerk", document=document)
    assert count("hardship_requests") == 0 and count("stored_files") == 0


def test_an_oversized_hardship_document_is_refused(app, household, staff):
    app.config["ARREARS_MAX_UPLOAD_BYTES"] = 100
    with pytest.raises(ServiceError, match="the limit is"):
        relief.request_hardship(find_unit(REF), date(2026, 5, 1), date(2026, 8, 31), "失业", "clerk",
                                document=("证明.pdf", b"%PDF-1.7" + b"x" * 200))
    assert count("hardship_requests") == 0


def plan(charges=("2026-01", "2026-04"), instalments=None, include_late_fee=False):
    unit = find_unit(REF)
    ids = tuple(charge_id(p) for p in charges)
    covered, _ = relief.plan_coverage(unit, ids, include_late_fee, date(2026, 5, 31))
    if instalments is None:
        third = covered // 3
        instalments = ((date(2026, 6, 10), third), (date(2026, 7, 10), third), (date(2026, 8, 10), covered - 2 * third))
    return relief.request_plan(unit, relief.PlanDraft(ids, include_late_fee, instalments), "clerk"), covered


def test_a_plan_whose_instalments_do_not_add_up_is_refused(household, staff):
    with pytest.raises(ServiceError, match="add up to 100.00 but the plan covers 500.00"):
        plan(instalments=((date(2026, 6, 10), 10000),))
    with pytest.raises(ServiceError, match="must be after instalment 1"):
        plan(instalments=((date(2026, 7, 10), 25000), (date(2026, 6, 10), 25000)))
    assert count("payment_plans") == 0 and count("plan_instalments") == 0


def test_hardship_suspends_accrual_once_approved(cli, household, staff):
    before = line(figures(cli), "2026-04")
    request = relief.request_hardship(find_unit(REF), date(2026, 5, 11), date(2026, 5, 31), "家庭成员重病", "clerk",
                                      document=("证明.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20))
    assert line(figures(cli), "2026-04") == before
    relief.decide("hardship", request.id, "approved", "boss")
    after = line(figures(cli), "2026-04")
    # Due 2026-04-30: 31 days at 300.00 × 0.1% = 9.30 before; 10 days (1–10 May) = 3.00 after.
    assert (before["late_fee_accrued"], after["late_fee_accrued"]) == ("9.30", "3.00")
    status = db.session.execute(select(HardshipStatus)).scalar_one()
    assert (status.request_id, status.requested_by, status.approved_by) == (request.id, "clerk", "boss")
    assert relief.hardship_reason(status) == "家庭成员重病"
    assert "家庭成员重病" not in json.dumps(events("hardship_requested"), ensure_ascii=False)


# -- plans ----------------------------------------------------------------------------------

def test_a_plan_in_good_standing_suspends_accrual_and_interrupts_limitation(cli, household, staff, clock):
    request, covered = plan()
    assert covered == 50000  # 200.00 + 300.00 of principal
    relief.decide("plan", request.id, "approved", "boss")
    clock.move_to(date(2026, 6, 9))
    frozen = figures(cli, "2026-06-09")
    assert line(frozen, "2026-04")["late_fee_accrued"] == line(figures(cli, "2026-05-31"), "2026-04")["late_fee_accrued"]
    # A signed plan acknowledges the debt: limitation runs from its approval (2026-05-31).
    assert line(frozen, "2026-01")["limitation_expires"] == "2029-05-31"


def test_a_broken_plan_resumes_accrual_from_the_break_day_and_is_recorded_once(cli, household, staff, clock):
    request, covered = plan()
    relief.decide("plan", request.id, "approved", "boss")
    # The first instalment (2026-06-10) is never paid: broken on 2026-06-18 (7 days' tolerance).
    clock.move_to(date(2026, 6, 20))
    unit = find_unit(REF)
    assert [p.id for p in relief.record_plan_breaks(unit)] == [request.id]
    assert relief.record_plan_breaks(unit) == []
    recorded = db.session.execute(select(PlanBreak)).scalar_one()
    assert (recorded.broken_on, recorded.instalment_number) == (date(2026, 6, 18), 1)
    fee_at_approval = line(figures(cli, "2026-05-31"), "2026-04")["late_fee_accrued"]
    # From 18 June: 3 days (18–20 June) at 300.00 × 0.1% = 0.90 more than at approval.
    after = line(figures(cli, "2026-06-20"), "2026-04")["late_fee_accrued"]
    assert f"{float(fee_at_approval) + 0.90:.2f}" == after
    assert events("plan_broken")[0]["broken_on"] == "2026-06-18"
