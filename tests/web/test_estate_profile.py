"""The estate's office profile (letterhead and ways to pay, printed on notices and
receipts): administrators only; each field one line within its column's length, the
message next to the field otherwise; every change an ``estate_profile_changed`` event
with the old and new value of each changed field."""
import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Estate
from arrears.services import admin as acts
from test_admin import admin, estate, events, field_error, frozen_clock  # noqa: F401

GOOD = {
    "office_name": "示例花园物业服务中心",
    "office_address": "浙江省杭州市西湖区文三路 588 号",
    "office_phone": "0571-8765 4321",
    "office_hours": "周一至周日 8:30–17:30",
    "bank_name": "中国工商银行杭州文三路支行",
    "bank_account_name": "杭州示例物业服务有限公司",
    "bank_account_no": "1202 0000 0000 0000 000",
    "wechat_payee": "杭州示例物业服务有限公司",
    "alipay_payee": "杭州示例物业服务有限公司",
    "relief_contact": "客服主管 王女士 0571-8765 4300",
}


def save(post_form, estate, **values):
    url = f"/admin/estates/{estate.id}"
    return post_form(url, f"{url}/profile", values)


def stored(estate_id):
    db.session.expire_all()
    row = db.session.get(Estate, estate_id)
    return {name: getattr(row, name) for name in acts.PROFILE_FIELDS}


def test_good_input_is_saved_with_an_event(client, admin, estate, post_form):
    page = client.get(f"/admin/estates/{estate.id}").get_data(as_text=True)
    assert "服务中心及缴费方式" in page and 'data-testid="profile-form"' in page
    response = save(post_form, estate, **{name: f"  {value} " for name, value in GOOD.items()})
    assert response.status_code == 302
    assert stored(estate.id) == GOOD
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已保存服务中心及缴费方式" in page and 'value="1202 0000 0000 0000 000"' in page
    [(actor, data)] = events("estate_profile_changed")
    assert actor == "admin" and data["estate"] == "示例花园"
    assert data["changed"] == {name: {"from": None, "to": value} for name, value in GOOD.items()}


def test_only_changed_fields_are_recorded_and_empty_clears(client, admin, estate, post_form):
    save(post_form, estate, **GOOD)
    changed = dict(GOOD, bank_account_no="6222 0000 0000 0000 111", alipay_payee="")
    assert save(post_form, estate, **changed).status_code == 302
    assert stored(estate.id) == dict(changed, alipay_payee=None)
    assert events("estate_profile_changed")[-1][1]["changed"] == {
        "bank_account_no": {"from": GOOD["bank_account_no"], "to": "6222 0000 0000 0000 111"},
        "alipay_payee": {"from": GOOD["alipay_payee"], "to": None}}
    # Saving the same again writes nothing.
    response = save(post_form, estate, **changed)
    assert response.status_code == 302 and len(events("estate_profile_changed")) == 2


@pytest.mark.parametrize("field, limit", [("office_name", 100), ("office_address", 200), ("office_phone", 50),
                                          ("bank_account_no", 50), ("relief_contact", 200)])
def test_too_long_is_refused_next_to_the_field(admin, estate, post_form, field, limit):
    response = save(post_form, estate, **dict(GOOD, **{field: "号" * (limit + 1)}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, field) == f"最多 {limit} 个字符（现有 {limit + 1} 个）。"
    assert 'data-testid="profile-form"' in page
    assert stored(estate.id) == {name: None for name in acts.PROFILE_FIELDS}
    assert events("estate_profile_changed") == []


def test_exactly_the_limit_is_accepted(admin, estate, post_form):
    assert save(post_form, estate, **dict(GOOD, office_address="址" * 200)).status_code == 302
    assert stored(estate.id)["office_address"] == "址" * 200


def test_a_line_break_is_refused(admin, estate, post_form):
    response = save(post_form, estate, **dict(GOOD, office_hours="周一至周五\r\n8:30–17:30"))
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "office_hours") == "请写在一行内。"


def test_the_service_refuses_what_the_form_would(estate):
    with pytest.raises(acts.InvalidProfile) as refused:
        acts.update_estate_profile(estate.id, {"bank_name": "行" * 101}, "admin")
    assert refused.value.field == "bank_name" and refused.value.limit == 100
    with pytest.raises(acts.InvalidProfile):
        acts.update_estate_profile(estate.id, {"owner_name": "x"}, "admin")


def test_clerk_is_refused(client, login, estate):
    login("clerk")
    page = client.get("/").get_data(as_text=True)
    from conftest import csrf_from
    response = client.post(f"/admin/estates/{estate.id}/profile",
                           data=dict(GOOD, csrf_token=csrf_from(page)))
    assert response.status_code == 403
    assert client.get(f"/admin/estates/{estate.id}").status_code == 403
    assert stored(estate.id)["office_name"] is None


def test_get_is_refused(admin, client, estate):
    assert client.get(f"/admin/estates/{estate.id}/profile").status_code == 405
