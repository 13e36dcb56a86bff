"""Relief in the browser (issue 5): requests from the household page, decisions on the
Relief screen, the two-person rule, once-only approvals, bad input next to its field,
the hardship reason for managers only, and the days that did not accrue, explained.

The household (notice_helpers): 3栋/1201 owes 200.00 of 2026-01 (due 2026-01-31,
100.00 paid 2026-03-02) and 300.00 of 2026-04 (due 2026-04-30), as of 2026-05-31.
"""
import io
import re
from datetime import date

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Charge, HardshipRequest, PlanAgreement, Unit, Waiver
from arrears.services import relief
from arrears.services.ledger import find_unit
from conftest import csrf_from
from notice_helpers import REF, clock, count, household  # noqa: F401  (fixtures)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
PDF = b"%PDF-1.7\n" + b"x" * 40


@pytest.fixture
def staff(make_user, household):
    for name, role in (("clerk", "clerk"), ("boss", "manager"), ("boss2", "manager"), ("lawyer", "lawyer")):
        make_user(role, name)


def unit_id():
    return db.session.execute(select(Unit.id).where(Unit.number == "1201")).scalar_one()


def charge_id(period):
    return db.session.execute(select(Charge.id).where(Charge.period == period)).scalar_one()


def page_url():
    return f"/households/{unit_id()}"


def by_testid(html, name):
    match = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert match, f"no data-testid={name}"
    return match.group(1).strip()


def figures(client):
    html = client.get(page_url()).get_data(as_text=True)
    return {name: by_testid(html, f"balance-{name}") for name in ("total", "principal", "late-fee")}


def errors(html, field):
    return [m.strip() for m in re.findall(rf'data-testid="error-{field}"[^>]*>([^<]*)<', html)]


@pytest.fixture
def as_user(client, login):
    """``as_user("boss", "manager")``: log the test client in as that user (a fresh session)."""
    def switch(name, role):
        client.delete_cookie("session")
        login(role, name)
        return client
    return switch


def post_hardship(client, start="2026-05-11", end="2026-05-31", reason="家庭成员重病", document=("证明.png", PNG),
                  renews=""):
    page = client.get(page_url()).get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "hardship-start_on": start, "hardship-end_on": end,
            "hardship-reason": reason, "hardship-renews_id": renews}
    if document is not None:
        data["hardship-document"] = (io.BytesIO(document[1]), document[0])
    return client.post(f"{page_url()}/relief/hardship", data=data, content_type="multipart/form-data")


def post_waiver(client, period="2026-01", kind="late_fee", amount="1.00", reason="non_malicious"):
    page = client.get(page_url()).get_data(as_text=True)
    return client.post(f"{page_url()}/relief/waivers", data={
        "csrf_token": csrf_from(page), "waiver-charge": str(charge_id(period)), "waiver-kind": kind,
        "waiver-amount": amount, "waiver-reason": reason, "waiver-note": ""})


def post_plan(client, rows, periods=("2026-01", "2026-04"), action="save", count_=3, first="2026-06-10",
              late_fee=False):
    page = client.get(page_url()).get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "plan-charges": [str(charge_id(p)) for p in periods],
            "plan-count": str(count_), "plan-first_on": first, "plan-action": action, "plan-note": ""}
    if late_fee:
        data["plan-include_late_fee"] = "y"
    for index, (due_on, amount) in enumerate(rows):
        data[f"plan-instalments-{index}-due_on"] = due_on
        data[f"plan-instalments-{index}-amount"] = amount
    return client.post(f"{page_url()}/relief/plans", data=data)


def decide(client, subject, request_id, outcome="approved", note=""):
    page = client.get("/relief/").get_data(as_text=True)
    return client.post(f"/relief/decisions/{subject}/{request_id}/{outcome}", data={
        "csrf_token": csrf_from(page), f"decide-{subject}-{request_id}-note": note})


def flashed(client, response):
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return client.get(response.headers["Location"]).get_data(as_text=True)


# -- requests change nothing; a different manager's approval changes the figures ---------------

def test_a_waiver_request_is_pending_until_another_manager_approves_it(client, staff, as_user):
    as_user("clerk", "clerk")
    before = figures(client)
    html = flashed(client, post_waiver(client, amount="5.00"))
    assert 'data-subject="waiver" data-state="pending"' in html
    assert figures(client) == before
    request_id = 1
    as_user("boss", "manager")
    queue = client.get("/relief/").get_data(as_text=True)
    assert 'data-testid="queue-row" data-subject="waiver"' in queue
    html = flashed(client, decide(client, "waiver", request_id))
    assert 'data-testid="queue-empty"' in html
    after = figures(client)
    assert after["late-fee"] != before["late-fee"]
    # 5.00 less late fee, the principal unchanged.
    to_fen = lambda text: int(text.replace(",", "").replace(".", ""))  # noqa: E731
    assert to_fen(before["late-fee"]) - to_fen(after["late-fee"]) == 500
    assert after["principal"] == before["principal"]
    household_page = client.get(page_url()).get_data(as_text=True)
    assert 'data-testid="waiver-row" data-state="approved"' in household_page


def test_a_manager_cannot_approve_their_own_request(client, staff, as_user):
    as_user("boss", "manager")
    post_waiver(client, amount="5.00")
    html = flashed(client, decide(client, "waiver", 1))
    assert "另一位主管" in html
    assert count("decisions") == 0 and count("waivers") == 0
    queue = client.get("/relief/").get_data(as_text=True)
    assert 'data-testid="own-request"' in queue


def test_a_clerk_gets_403_on_decisions_and_reversals_and_a_lawyer_gets_nothing(client, staff, as_user):
    as_user("clerk", "clerk")
    post_waiver(client, amount="5.00")
    page = client.get(page_url()).get_data(as_text=True)
    token = csrf_from(page)
    assert client.post("/relief/decisions/waiver/1/approved", data={"csrf_token": token}).status_code == 403
    assert client.post("/relief/waivers/1/reversal", data={"csrf_token": token, "reverse-1-reason": "x"}
                       ).status_code == 403
    assert client.get("/relief/").status_code == 200  # clerks see the lists, without decision buttons
    assert 'data-testid="approve"' not in client.get("/relief/").get_data(as_text=True)
    as_user("lawyer", "lawyer")
    assert client.get("/relief/").status_code == 403
    assert client.get(page_url()).status_code == 404  # not in legal: lawyers see nothing of it
    assert client.post(f"{page_url()}/relief/waivers", data={"csrf_token": token}).status_code in (400, 403)
    assert count("decisions") == 0


def test_a_double_approval_takes_effect_once(client, staff, as_user):
    as_user("clerk", "clerk")
    post_waiver(client, amount="5.00")
    as_user("boss", "manager")
    first = decide(client, "waiver", 1)
    second = decide(client, "waiver", 1)
    assert first.status_code == second.status_code == 302
    assert "已经处理" in client.get(second.headers["Location"]).get_data(as_text=True)
    assert count("decisions") == 1 and count("waivers") == 1
    as_user("boss2", "manager")
    assert "已经处理" in flashed(client, decide(client, "waiver", 1, "rejected"))
    assert count("decisions") == 1


def test_a_rejection_with_a_note_changes_nothing(client, staff, as_user):
    as_user("clerk", "clerk")
    before = figures(client)
    post_waiver(client, kind="principal", amount="50.00", reason="dispute_settlement")
    as_user("boss", "manager")
    html = flashed(client, decide(client, "waiver", 1, "rejected", note="理由不足"))
    assert "已驳回" in html or "驳回" in html
    assert figures(client) == before
    household_page = client.get(page_url()).get_data(as_text=True)
    assert 'data-subject="waiver" data-state="rejected"' in household_page and "理由不足" in household_page


# -- hardship: the reason for managers only; suspended days explained ---------------------------

def test_hardship_requested_by_a_clerk_approved_by_a_manager_and_explained(client, staff, as_user):
    as_user("clerk", "clerk")
    before = figures(client)
    html = flashed(client, post_hardship(client))
    assert 'data-subject="hardship" data-state="pending"' in html
    assert "家庭成员重病" not in html  # a clerk never sees the reason
    assert figures(client) == before
    as_user("boss", "manager")
    queue = client.get("/relief/").get_data(as_text=True)
    assert "家庭成员重病" in queue
    document = client.get("/relief/hardship/1/document")
    assert document.data == PNG and document.headers["Content-Disposition"].startswith("attachment;")
    flashed(client, decide(client, "hardship", 1))
    html = client.get(page_url()).get_data(as_text=True)
    assert by_testid(html, "hardship-reason") == "家庭成员重病"
    # 2026-04 (due 2026-04-30): 9.30 before, 3.00 after (1–10 May); 2026-01 loses 21 days × 0.20.
    assert figures(client) != before
    # One row: both charges, 11–31 May (21 days), for the hardship status.
    rows = re.findall(r'data-testid="suspended-row" data-periods="([^"]+)" data-kind="hardship"', html)
    assert rows == ["2026-01 2026-04"]
    assert 'data-testid="working-suspended"' in html
    assert "2026年5月11日" in html and "困难户认定 #1" in html
    as_user("clerk", "clerk")
    clerk_page = client.get(page_url()).get_data(as_text=True)
    assert "家庭成员重病" not in clerk_page and 'data-testid="hardship-status"' in clerk_page
    assert client.get("/relief/hardship/1/document").status_code == 403


@pytest.mark.parametrize("fields, field, message", [
    ({"start": "2026-06-01", "end": "2026-05-01"}, "hardship-end_on", "早于开始日期"),
    ({"document": ("证明.pdf", b"MZ\x90\x00 not a pdf")}, "hardship-document", "不是 JPEG、PNG 或 PDF 文件"),
    ({"document": None}, "hardship-document", "请附上"),
    ({"reason": "  "}, "hardship-reason", "请说明"),
])
def test_bad_hardship_requests_come_back_with_the_message_next_to_the_field(client, staff, as_user, fields,
                                                                           field, message):
    as_user("clerk", "clerk")
    response = post_hardship(client, **fields)
    assert response.status_code == 422
    found = errors(response.get_data(as_text=True), field)
    assert found and message in " ".join(found), found
    assert count("hardship_requests") == 0 and count("stored_files") == 0


def test_an_oversized_document_is_refused_with_its_size(app, client, staff, as_user):
    app.config["ARREARS_MAX_UPLOAD_BYTES"] = 1024 * 1024
    as_user("clerk", "clerk")
    response = post_hardship(client, document=("大文件.pdf", b"%PDF-1.7" + b"x" * (2 * 1024 * 1024)))
    assert response.status_code == 422
    assert "上限为 1 MB" in " ".join(errors(response.get_data(as_text=True), "hardship-document"))
    assert count("hardship_requests") == 0


def test_a_renewal_is_prefilled_and_linked(client, staff, as_user):
    as_user("clerk", "clerk")
    post_hardship(client, start="2026-05-01", end="2026-06-20")
    as_user("boss", "manager")
    decide(client, "hardship", 1)
    listing = client.get("/relief/").get_data(as_text=True)
    assert 'data-testid="hardship-row" data-ending-soon="1"' in listing  # ends 2026-06-20: 20 days left
    link = re.search(r'href="([^"]*renew=1[^"]*)"', listing).group(1).replace("&amp;", "&")
    as_user("clerk", "clerk")
    form = client.get(link).get_data(as_text=True)
    assert 'value="2026-06-21"' in form and 'name="hardship-renews_id" type="hidden" value="1"' in form
    flashed(client, post_hardship(client, start="2026-06-21", end="2026-08-09", renews="1"))
    assert db.session.execute(select(HardshipRequest.renews_id).where(HardshipRequest.id == 2)).scalar_one() == 1


# -- waivers ---------------------------------------------------------------------------------------

def test_a_waiver_above_what_is_outstanding_comes_back_next_to_the_amount(client, staff, as_user):
    as_user("clerk", "clerk")
    response = post_waiver(client, kind="principal", amount="200.01")
    assert response.status_code == 422
    assert "超过" in " ".join(errors(response.get_data(as_text=True), "waiver-amount"))
    response = post_waiver(client, kind="late_fee", amount="")
    assert response.status_code == 422 and errors(response.get_data(as_text=True), "waiver-amount")
    assert count("waiver_requests") == 0


def test_all_the_late_fee_is_resolved_at_approval_and_a_reversal_undoes_it(client, staff, as_user, clock):
    as_user("clerk", "clerk")
    before = figures(client)
    flashed(client, post_waiver(client, period="2026-04", kind="late_fee_all", amount=""))
    as_user("boss", "manager")
    decide(client, "waiver", 1)
    waiver = db.session.execute(select(Waiver)).scalar_one()
    assert waiver.amount_fen == 930  # 31 days × 300.00 × 0.1% on the day of approval
    page = client.get("/relief/").get_data(as_text=True)
    assert f'data-waiver="{waiver.id}"' in page
    response = client.post(f"/relief/waivers/{waiver.id}/reversal", data={
        "csrf_token": csrf_from(page), f"reverse-{waiver.id}-reason": "录入错误"})
    assert "已撤销" in flashed(client, response)
    assert figures(client) == before
    again = client.post(f"/relief/waivers/{waiver.id}/reversal", data={
        "csrf_token": csrf_from(page), f"reverse-{waiver.id}-reason": "再次"})
    assert "已经撤销" in flashed(client, again)
    assert count("waiver_reversals") == 1


# -- plans -----------------------------------------------------------------------------------------

def test_the_plan_form_is_prefilled_so_that_it_adds_up(client, staff, as_user):
    as_user("clerk", "clerk")
    html = client.get(page_url()).get_data(as_text=True)
    amounts = re.findall(r'name="plan-instalments-\d+-amount"[^>]*value="([^"]+)"', html)
    assert len(amounts) == 6 and sum(int(a.replace(".", "")) for a in amounts) == 50000
    preview = post_plan(client, [], action="preview", count_=3)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    amounts = re.findall(r'name="plan-instalments-\d+-amount"[^>]*value="([^"]+)"', html)
    dates = re.findall(r'name="plan-instalments-\d+-due_on"[^>]*value="([^"]+)"', html)
    assert amounts == ["166.66", "166.66", "166.68"] and dates == ["2026-06-10", "2026-07-10", "2026-08-10"]
    assert count("payment_plans") == 0


def test_instalments_that_do_not_add_up_come_back_next_to_the_instalments(client, staff, as_user):
    as_user("clerk", "clerk")
    response = post_plan(client, [("2026-06-10", "100.00"), ("2026-07-10", "100.00")])
    assert response.status_code == 422
    message = " ".join(errors(response.get_data(as_text=True), "plan-instalments"))
    assert "200.00" in message and "500.00" in message
    assert count("payment_plans") == 0 and count("plan_instalments") == 0


def test_a_plan_approved_suspends_accrual_prints_its_agreement_and_breaks(client, staff, as_user, clock):
    as_user("clerk", "clerk")
    rows = [("2026-06-10", "166.66"), ("2026-07-10", "166.66"), ("2026-08-10", "166.68")]
    html = flashed(client, post_plan(client, rows))
    assert 'data-subject="plan" data-state="pending"' in html
    as_user("boss", "manager")
    flashed(client, decide(client, "plan", 1))
    html = client.get(page_url()).get_data(as_text=True)
    assert 'data-testid="plan" data-plan="1" data-status="active"' in html
    page = client.get(page_url()).get_data(as_text=True)
    printed = client.post("/relief/plans/1/agreement", data={"csrf_token": csrf_from(page)})
    assert printed.status_code == 302
    pdf = client.get(printed.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    serial = db.session.execute(select(PlanAgreement.serial)).scalar_one()
    assert serial in client.get(page_url()).get_data(as_text=True)
    # Nothing paid: broken on 2026-06-18; the fee resumes from that day, explained.
    clock.move_to(date(2026, 6, 20))
    relief.record_plan_breaks(find_unit(REF))
    html = client.get(page_url()).get_data(as_text=True)
    assert 'data-status="broken"' in html
    assert re.search(r'data-testid="suspended-row" data-periods="2026-01 2026-04" data-kind="plan"', html)
    assert "2026年6月17日" in html  # the last day without fee
    listing = client.get("/relief/").get_data(as_text=True)
    assert 'data-testid="plan-count" data-status="broken" data-count="1"' in listing


def test_the_household_page_shows_the_relief_section_to_a_lawyer_read_only(client, staff, as_user, monkeypatch):
    as_user("clerk", "clerk")
    post_hardship(client)
    # Which households a lawyer may see is the legal hand-off's rule (web/access.py): let
    # this one through, to see what the relief section shows a lawyer.
    import arrears.web.household as household_views
    monkeypatch.setattr(household_views, "get_unit", lambda unit_id: db.session.get(Unit, unit_id))
    as_user("lawyer", "lawyer")
    response = client.get(page_url())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="relief"' in html and 'data-subject="hardship" data-state="pending"' in html
    assert 'data-testid="hardship-form"' not in html and 'data-testid="plan-form"' not in html
    assert "家庭成员重病" not in html


def test_every_new_state_changing_route_refuses_get(client, staff, as_user):
    as_user("boss", "manager")
    uid = unit_id()
    for url in (f"/households/{uid}/relief/hardship", f"/households/{uid}/relief/waivers",
                f"/households/{uid}/relief/plans", "/relief/decisions/waiver/1/approved",
                "/relief/waivers/1/reversal", "/relief/plans/1/agreement"):
        assert client.get(url).status_code == 405, url


def test_a_post_without_the_csrf_token_is_refused(client, staff, as_user):
    as_user("clerk", "clerk")
    response = client.post(f"{page_url()}/relief/waivers", data={
        "waiver-charge": str(charge_id("2026-01")), "waiver-kind": "late_fee", "waiver-amount": "1.00",
        "waiver-reason": "other"})
    assert response.status_code == 400 and count("waiver_requests") == 0


# -- the dashboard shows waived amounts apart ----------------------------------------------------

def dashboard_figures(client):
    html = client.get("/").get_data(as_text=True)
    owed = {name: by_testid(html, name) for name in ("total-owed", "principal", "late-fee")}
    waived = re.search(r'data-testid="waived"[^>]*>(.*?)</p>', html, re.S).group(1)
    return owed, " ".join(waived.split())


def test_the_dashboard_shows_what_approved_waivers_took_off_apart_from_what_is_owed(client, staff, as_user, clock):
    as_user("boss", "manager")
    owed, waived = dashboard_figures(client)
    assert "本金 0.00 元，滞纳金 0.00 元，涉及 0 户" in waived
    as_user("clerk", "clerk")
    flashed(client, post_waiver(client, period="2026-01", kind="late_fee", amount="1.00"))
    flashed(client, post_waiver(client, period="2026-04", kind="principal", amount="50.00"))
    as_user("boss", "manager")
    assert dashboard_figures(client) == (owed, waived)  # requested only: nothing changes
    decide(client, "waiver", 1)
    decide(client, "waiver", 2)
    after, waived = dashboard_figures(client)
    assert "本金 50.00 元，滞纳金 1.00 元，涉及 1 户" in waived
    def fen(text):
        return int(text.replace(",", "").replace(".", ""))
    assert fen(after["principal"]) == fen(owed["principal"]) - 5000
    assert fen(after["late-fee"]) == fen(owed["late-fee"]) - 100  # on the day of approval
    assert fen(after["total-owed"]) == fen(owed["total-owed"]) - 5100
    statement = relief._outstanding(db.session.get(Unit, unit_id()), charge_id("2026-04"), date(2026, 5, 31))
    assert statement.principal_waived_fen == 5000
    page = client.get("/relief/").get_data(as_text=True)
    first = db.session.execute(select(Waiver).where(Waiver.kind == "late_fee")).scalar_one()
    flashed(client, client.post(f"/relief/waivers/{first.id}/reversal", data={
        "csrf_token": csrf_from(page), f"reverse-{first.id}-reason": "录入错误"}))
    _after, waived = dashboard_figures(client)
    assert "本金 50.00 元，滞纳金 0.00 元，涉及 1 户" in waived
    client.post("/language/en", data={"csrf_token": csrf_from(page), "next": "/"})
    html = client.get("/").get_data(as_text=True)
    assert "principal 50.00, late fee 0.00, for 1 households" in " ".join(html.split())
