"""The household-member register and the contact policy (SPEC §5): reaching a household
member is within the policy only when the member is registered."""
import json

from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Contact, EvidenceEvent, HouseholdMember
from conftest import csrf_from
from household_helpers import Household, clock, examples, form_token  # noqa: F401  (fixtures)


def register(client, unit_id, name="李娜", relation="spouse", phone="13900001111"):
    page = client.get(f"/households/{unit_id}").get_data(as_text=True)
    return client.post(f"/households/{unit_id}/members", data={
        "csrf_token": csrf_from(page), "member-name": name, "member-relation": relation, "member-phone": phone})


def test_register_a_member_then_contact_them_within_the_policy(client, login, examples):
    login("clerk")
    unit_id = examples["0103"]
    assert register(client, unit_id).status_code == 302
    page = client.get(f"/households/{unit_id}").get_data(as_text=True)
    assert "李娜" in page and "139****1111" in page and "13900001111" not in page
    member = db.session.execute(select(HouseholdMember)).scalar_one()
    household = Household(client, unit_id)
    response = household.contact(reached="household_member", **{"contact-member": str(member.id)})
    assert response.status_code == 302
    contact = db.session.execute(select(Contact)).scalar_one()
    assert not contact.policy_breach
    event = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "contact_logged")).scalar_one()
    assert json.loads(event.data)["member"] == {"id": member.id, "name": "李娜", "relation": "spouse"}


def test_an_unregistered_household_member_breaks_the_policy(client, login, examples):
    login("clerk")
    household = Household(client, examples["0103"])
    response = household.contact(reached="household_member")
    assert response.status_code == 422
    assert "只能联系业主本人或登记的家庭成员" in response.get_data(as_text=True)
    assert db.session.execute(select(Contact)).first() is None


def test_a_removed_member_no_longer_counts(client, login, examples):
    login("clerk")
    unit_id = examples["0103"]
    register(client, unit_id)
    member = db.session.execute(select(HouseholdMember)).scalar_one()
    page = client.get(f"/households/{unit_id}").get_data(as_text=True)
    assert client.post(f"/households/{unit_id}/members/{member.id}/remove",
                       data={"csrf_token": csrf_from(page)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(HouseholdMember, member.id).removed_by == "clerk"
    response = Household(client, unit_id).contact(reached="household_member", **{"contact-member": str(member.id)})
    assert response.status_code == 422  # not a choice any more, or a breach: either way not recorded
    assert db.session.execute(select(Contact)).first() is None
    kinds = db.session.execute(select(EvidenceEvent.kind).where(EvidenceEvent.kind.like("household_member%"))
                               .order_by(EvidenceEvent.seq)).scalars().all()
    assert kinds == ["household_member_added", "household_member_removed"]


def test_bad_member_input_and_roles(client, login, examples):
    login("clerk")
    unit_id = examples["0103"]
    assert register(client, unit_id, name="", relation="spouse").status_code == 302
    assert register(client, unit_id, relation="cousin").status_code == 302
    assert register(client, unit_id, phone="call me").status_code == 302
    assert db.session.execute(select(HouseholdMember)).first() is None
    assert client.get(f"/households/{unit_id}/members").status_code == 405
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    login("lawyer")
    page = client.get("/").get_data(as_text=True)
    response = client.post(f"/households/{unit_id}/members", data={"csrf_token": csrf_from(page),
                                                                   "member-name": "x", "member-relation": "spouse"})
    assert response.status_code == 403
