"""Phone numbers on the household page (SPEC §9): masked (``136****0104``) unless a clerk
or a manager asks to see the number, which shows on the page that answers the request
only and leaves a ``personal_data_viewed`` event; never in the logs."""
import json
import logging
from datetime import date

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import EvidenceEvent, Unit
from arrears.services.cases import record_step
from arrears.services.collection import escalate
from arrears.services.personal_data import NoPhoneOnRecord, reveal_owner_phone
from conftest import csrf_from
from household_helpers import Household, by_testid, clock, examples  # noqa: F401

FULL = "13600000104"
MASKED = "136****0104"


def viewed_events():
    rows = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "personal_data_viewed")
                              .order_by(EvidenceEvent.seq)).scalars().all()
    return [(row.actor, row.unit, json.loads(row.data)) for row in rows]


def test_masked_by_default(client, login, examples):
    login("clerk")
    html = Household(client, examples["0104"]).page()
    assert by_testid(html, "owner-phone") == MASKED
    assert FULL not in html
    assert 'data-testid="reveal-phone"' in html
    assert viewed_events() == []


@pytest.mark.parametrize("role", ["clerk", "manager"])
def test_revealed_after_post_with_an_evidence_event(client, login, examples, role, caplog):
    login(role)
    page = Household(client, examples["0104"])
    caplog.set_level(logging.DEBUG)
    response = page.post("phone", {})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert by_testid(html, "owner-phone") == FULL
    assert viewed_events() == [(role, "示例花园/1栋/0104", {"field": "owner_phone"})]
    # Never in the logs.
    assert FULL not in caplog.text
    # The next visit is masked again, and the timeline says who looked.
    html = page.page()
    assert by_testid(html, "owner-phone") == MASKED and FULL not in html
    assert 'data-kind="personal_data_viewed"' in html
    assert "查看了完整的业主电话号码。" in html


def test_timeline_label_in_english(client, login, examples):
    login("clerk")
    page = Household(client, examples["0104"])
    page.post("phone", {})
    html = page.page()
    client.post("/language/en", data={"csrf_token": csrf_from(html),
                                      "next": page.url})
    assert "Viewed in full: the owner&#39;s phone number." in page.page()


def test_get_is_refused(client, login, examples):
    login("clerk")
    assert client.get(f"/households/{examples['0104']}/phone").status_code == 405
    assert viewed_events() == []


def test_post_without_csrf_is_refused(client, login, examples):
    login("clerk")
    response = client.post(f"/households/{examples['0104']}/phone", data={})
    assert response.status_code == 400
    assert viewed_events() == []


def test_lawyer_is_refused(client, login, examples, make_user):
    # Even on a household escalated to legal, which the lawyer may read.
    unit = db.session.get(Unit, examples["0104"])
    escalate(unit, stage="legal", reason="refuses to pay", actor="manager")
    make_user("lawyer")
    record_step(unit, "lawyer_assigned", date(2026, 5, 31), "manager", lawyer="lawyer")
    login("lawyer")
    page = Household(client, examples["0104"])
    html = page.page()
    assert by_testid(html, "owner-phone") == MASKED and 'data-testid="reveal-phone"' not in html
    assert page.post("phone", {}, html=html).status_code == 403
    assert viewed_events() == []


def test_logged_out_visitor_is_redirected_to_login(client, examples):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(f"/households/{examples['0104']}/phone", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert viewed_events() == []


def test_no_phone_on_record_records_nothing(app, examples):
    unit = db.session.get(Unit, examples["0104"])
    for ownership in unit.ownerships:
        ownership.owner.phone = None
    db.session.commit()
    with pytest.raises(NoPhoneOnRecord):
        reveal_owner_phone(unit, "clerk")
    assert viewed_events() == []
