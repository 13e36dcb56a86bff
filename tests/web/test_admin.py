"""The administration screens: users, estates, fee items and late-fee policy versions.

Administrators only. Every act leaves an evidence event; every bad input answers 422
with the form again and the message next to the field (checked word for word, in
Chinese, the default language). The clock is frozen at 2026-03-02 00:30 in Shanghai,
which is still 2026-03-01 in UTC: "today" for a policy is the local date.
"""
import html
import json
import re
from datetime import date, datetime, timezone

import pytest
import time_machine
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Estate, EvidenceEvent, FeeItem, LateFeePolicyVersion, LoginSession, User
from arrears.services import admin as acts
from conftest import FreshContextClient, csrf_from

FROZEN = datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc)  # 2026-03-02 00:30 in Asia/Shanghai
TODAY = "2026-03-02"


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(FROZEN, tick=False):
        yield


@pytest.fixture
def admin(login):
    login("admin")
    return User.query.filter_by(username="admin").one()


@pytest.fixture
def estate(app):
    return acts.create_estate("示例花园", "setup")


def field_error(page, field_id):
    """The message shown next to a field, or None."""
    match = re.search(rf'<div class="invalid-feedback" id="{re.escape(field_id)}-error">([^<]*)</div>', page)
    return html.unescape(match.group(1)) if match else None


def events(kind):
    rows = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == kind)
                              .order_by(EvidenceEvent.seq)).scalars().all()
    return [(row.actor, json.loads(row.data)) for row in rows]


def fresh(model, **where):
    db.session.expire_all()
    return db.session.execute(select(model).filter_by(**where)).scalar_one_or_none()


def other_client(app, username, password="password123"):
    """A second browser, logged in as ``username``."""
    second = app.test_client()
    assert isinstance(second, FreshContextClient)
    page = second.get("/login").get_data(as_text=True)
    response = second.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    return second


# -- who may come in -------------------------------------------------------------------------

def admin_pages(estate, user_id):
    return ["/admin/", "/admin/users", f"/admin/users/{user_id}", f"/admin/estates/{estate.id}"]


def test_logged_out_visitor_is_sent_to_login(client, estate, make_user):
    user = make_user("clerk")
    for url in admin_pages(estate, user.id):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


@pytest.mark.parametrize("role", ["clerk", "manager", "lawyer"])
def test_only_administrators_get_in(client, login, estate, role):
    login(role)
    user = User.query.filter_by(username=role).one()
    for url in admin_pages(estate, user.id):
        assert client.get(url).status_code == 403, url
    token = csrf_from(client.get("/").get_data(as_text=True))
    for url, data in [("/admin/users", {"username": "x1", "role": "admin", "password": "longenough",
                                        "confirm": "longenough"}),
                      (f"/admin/users/{user.id}/role", {"role": "admin"}),
                      (f"/admin/users/{user.id}/password", {"password": "longenough", "confirm": "longenough"}),
                      (f"/admin/users/{user.id}/deactivate", {}),
                      ("/admin/estates", {"name": "新小区"}),
                      (f"/admin/estates/{estate.id}/policies", {"effective_from": TODAY, "daily_rate": "0.5",
                                                                "grace_days": "0", "cap_ratio": "",
                                                                "allocation": "principal_first"})]:
        assert client.post(url, data=dict(data, csrf_token=token)).status_code == 403, url
    assert fresh(User, username=role).role == role
    assert fresh(User, username="x1") is None
    assert fresh(Estate, name="新小区") is None
    assert len(acts.policy_versions(estate.id)) == 1


def test_administrator_sees_every_page_and_the_nav_link(client, admin, estate):
    for url in admin_pages(estate, admin.id):
        assert client.get(url).status_code == 200, url
    home = client.get("/").get_data(as_text=True)
    assert 'href="/admin/"' in home and "系统管理" in home


def test_the_nav_link_is_hidden_from_a_manager(client, login):
    login("manager")
    assert 'href="/admin/"' not in client.get("/").get_data(as_text=True)


def test_unknown_records_are_404(client, admin, estate, make_user):
    other = acts.create_estate("别的小区", "setup")
    item = acts.add_fee_item(other.id, "停车费", "fixed", 15000, None, "setup")
    assert client.get("/admin/users/999").status_code == 404
    assert client.get("/admin/estates/999").status_code == 404
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    # A fee item is found only under its own estate.
    response = client.post(f"/admin/estates/{estate.id}/fee-items/{item.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 404
    assert fresh(FeeItem, id=item.id).active is True


# -- users -----------------------------------------------------------------------------------

def new_user(post_form, **changes):
    data = {"username": "wang.li", "role": "clerk", "password": "s3cret-pass", "confirm": "s3cret-pass"}
    data.update(changes)
    return post_form("/admin/users", "/admin/users", data)


def test_create_user(client, admin, post_form):
    response = new_user(post_form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "已创建用户 wang.li。" in page and "wang.li" in page
    user = fresh(User, username="wang.li")
    assert user.role == "clerk" and user.active
    assert events("user_created")[-1] == ("admin", {"username": "wang.li", "role": "clerk"})
    other_client(client.application, "wang.li", "s3cret-pass")  # the new user can log in


@pytest.mark.parametrize("changes, field, message", [
    ({"username": "admin"}, "username", "用户 admin 已存在。"),
    ({"username": "Admin"}, "username", "用户 Admin 已存在。"),  # logins are exact: too easily confused
    ({"username": ""}, "username", "请输入用户名。"),
    ({"username": "wang li"}, "username", "用户名为 2 至 50 个汉字、字母、数字或 . _ @ -，不能有空格。"),
    ({"password": "short12", "confirm": "short12"}, "password", "密码至少需要 8 个字符。"),
    ({"confirm": "something-else"}, "confirm", "两次输入的密码不一致。"),
    ({"role": "superuser"}, "role", "未知角色，请从列表中选择。"),
])
def test_create_user_refuses_bad_input(admin, post_form, changes, field, message):
    before = db.session.query(User).count()
    response = new_user(post_form, **changes)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, field) == message
    assert 'data-testid="user-form"' in page  # the form again, with what was typed
    assert db.session.query(User).count() == before


def test_deactivate_user_ends_their_sessions(client, admin, make_user, post_form, app):
    clerk = make_user("clerk")
    clerk_browser = other_client(app, "clerk")
    assert clerk_browser.get("/").status_code == 200
    response = post_form(f"/admin/users/{clerk.id}", f"/admin/users/{clerk.id}/deactivate", {})
    assert response.status_code == 302
    assert "用户 clerk 已停用，所有登录已退出。" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(User, username="clerk").active is False
    assert clerk_browser.get("/").status_code == 302  # logged out at once
    assert db.session.query(LoginSession).filter_by(user_id=clerk.id, revoked_at=None).count() == 0
    assert events("user_deactivated") == [("admin", {"username": "clerk", "role": "clerk"})]
    # Reactivated, the user logs in again, but the old session stays dead.
    response = post_form(f"/admin/users/{clerk.id}", f"/admin/users/{clerk.id}/reactivate", {})
    assert response.status_code == 302
    assert "用户 clerk 已恢复，可以重新登录。" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(User, username="clerk").active is True
    assert clerk_browser.get("/").status_code == 302
    assert other_client(app, "clerk").get("/").status_code == 200
    assert events("user_reactivated") == [("admin", {"username": "clerk", "role": "clerk"})]


def test_nobody_deactivates_themselves(client, admin, post_form):
    response = post_form(f"/admin/users/{admin.id}", f"/admin/users/{admin.id}/deactivate", {})
    assert response.status_code == 422
    assert '<div class="alert alert-danger" role="alert" id="access-error">不能停用自己的账号，请联系其他管理员。</div>' \
        in response.get_data(as_text=True)
    assert fresh(User, username="admin").active is True
    assert client.get("/admin/").status_code == 200
    assert events("user_deactivated") == []


def test_the_last_active_admin_is_never_removed(client, admin, post_form, make_user):
    response = post_form(f"/admin/users/{admin.id}", f"/admin/users/{admin.id}/role", {"role": "manager"})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "role") == \
        "admin 是最后一名在用的管理员，请先将另一名用户设为管理员。"
    assert fresh(User, username="admin").role == "admin"
    # Nor by deactivation, from wherever it comes (the web refuses self-deactivation first).
    with pytest.raises(acts.LastActiveAdmin):
        acts.deactivate_user(admin.id, "cli")
    # A deactivated admin does not count.
    other = make_user("admin", "admin2")
    acts.deactivate_user(other.id, "admin")
    with pytest.raises(acts.LastActiveAdmin):
        acts.change_role(admin.id, "clerk", "cli")
    # With a second active admin, one may step down (and leaves the admin screens).
    acts.reactivate_user(other.id, "admin")
    response = post_form(f"/admin/users/{admin.id}", f"/admin/users/{admin.id}/role", {"role": "manager"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert fresh(User, username="admin").role == "manager"
    assert client.get("/admin/").status_code == 403


def test_change_role(client, admin, make_user, post_form):
    clerk = make_user("clerk")
    response = post_form(f"/admin/users/{clerk.id}", f"/admin/users/{clerk.id}/role", {"role": "manager"})
    assert response.status_code == 302
    assert "clerk 的角色现为：主管。" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(User, username="clerk").role == "manager"
    assert events("role_changed") == [("admin", {"username": "clerk", "from": "clerk", "to": "manager"})]


def test_change_role_refuses_an_unknown_role(admin, make_user, post_form):
    clerk = make_user("clerk")
    response = post_form(f"/admin/users/{clerk.id}", f"/admin/users/{clerk.id}/role", {"role": "root"})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "role") == "未知角色，请从列表中选择。"
    assert fresh(User, username="clerk").role == "clerk"
    assert events("role_changed") == []


def test_reset_password(client, admin, make_user, post_form, app):
    clerk = make_user("clerk")
    clerk_browser = other_client(app, "clerk")
    response = post_form(f"/admin/users/{clerk.id}", f"/admin/users/{clerk.id}/password",
                         {"password": "brand-new-pass", "confirm": "brand-new-pass"})
    assert response.status_code == 302
    assert "已重置 clerk 的密码。" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert clerk_browser.get("/").status_code == 302  # the old session ended
    stale = app.test_client()
    page = stale.get("/login").get_data(as_text=True)
    assert stale.post("/login", data={"username": "clerk", "password": "password123",
                                      "csrf_token": csrf_from(page)}).status_code == 200  # refused
    other_client(app, "clerk", "brand-new-pass")
    assert events("password_reset") == [("admin", {"username": "clerk"})]  # never the password


@pytest.mark.parametrize("data, field, message", [
    ({"password": "1234567", "confirm": "1234567"}, "password", "密码至少需要 8 个字符。"),
    ({"password": "", "confirm": ""}, "password", "密码至少需要 8 个字符。"),
    ({"password": "long-enough-1", "confirm": "long-enough-2"}, "confirm", "两次输入的密码不一致。"),
])
def test_reset_password_refuses_bad_input(admin, make_user, post_form, data, field, message):
    clerk = make_user("clerk")
    hash_before = clerk.password_hash
    response = post_form(f"/admin/users/{clerk.id}", f"/admin/users/{clerk.id}/password", data)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), field) == message
    assert fresh(User, username="clerk").password_hash == hash_before
    assert events("password_reset") == []


def test_an_admin_resetting_their_own_password_stays_logged_in(client, admin, post_form):
    response = post_form(f"/admin/users/{admin.id}", f"/admin/users/{admin.id}/password",
                         {"password": "my-new-pass", "confirm": "my-new-pass"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# -- estates ---------------------------------------------------------------------------------

def test_create_estate_with_the_default_policy(client, admin, post_form):
    response = post_form("/admin/", "/admin/estates", {"name": " 翠苑小区 "})
    estate = fresh(Estate, name="翠苑小区")
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/estates/{estate.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已创建小区 翠苑小区，采用默认滞纳金政策。" in page
    [version] = acts.policy_versions(estate.id)
    assert (version.effective_from, version.daily_rate, version.cap_ratio) == (date(1970, 1, 1), "0.001", "1.0")
    assert events("estate_created") == [("admin", {"estate": "翠苑小区"})]
    assert events("policy_changed")[-1][0] == "admin"
    assert "翠苑小区" in client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("name, message", [
    ("示例花园", "小区 示例花园 已存在。"),
    ("   ", "请输入小区名称。"),
    ("东区/西区", "名称不能包含“/”：它用于分隔房号引用的各部分（小区/楼栋/房号）。"),
    ("长" * 101, "名称最多 100 个字符。"),
])
def test_create_estate_refuses_bad_input(admin, estate, post_form, name, message):
    response = post_form("/admin/", "/admin/estates", {"name": name})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "name") == message
    assert db.session.query(Estate).count() == 1


# -- fee items -------------------------------------------------------------------------------

def add_item(post_form, estate, **changes):
    data = {"name": "物业管理费", "basis": "per_m2", "price": "2.35", "due_day": "15"}
    data.update(changes)
    url = f"/admin/estates/{estate.id}"
    return post_form(url, f"{url}/fee-items", data)


def test_add_fee_items(client, admin, estate, post_form):
    response = add_item(post_form, estate)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已添加收费项目 物业管理费，此后出账时计收。" in page
    assert "2.35 每平方米" in page and "每月 15 日" in page
    add_item(post_form, estate, name="车位管理费", basis="fixed", price="80", due_day="")
    fee = fresh(FeeItem, name="物业管理费")
    parking = fresh(FeeItem, name="车位管理费")
    assert (fee.basis, fee.price_fen, fee.due_day, fee.active) == ("per_m2", 235, 15, True)
    assert (parking.basis, parking.price_fen, parking.due_day, parking.active) == ("fixed", 8000, None, True)
    assert "80.00 每户" in client.get(f"/admin/estates/{estate.id}").get_data(as_text=True)
    assert [data for _, data in events("fee_item_created")] == [
        {"estate": "示例花园", "fee_item": "物业管理费", "basis": "per_m2", "price": "2.35", "due_day": 15,
         "active": True},
        {"estate": "示例花园", "fee_item": "车位管理费", "basis": "fixed", "price": "80.00", "due_day": None,
         "active": True}]


@pytest.mark.parametrize("changes, field, message", [
    ({"price": "2.355"}, "price", "单价最多两位小数，例如 2.35。"),
    ({"price": "-2.35"}, "price", "单价不能为负数。"),
    ({"price": "0"}, "price", "单价必须大于 0.00。"),
    ({"price": "两块"}, "price", "单价必须是数字，例如 2.35。"),
    ({"price": ""}, "price", "请输入单价。"),
    ({"name": ""}, "name", "请输入收费项目名称。"),
    ({"basis": "per_person"}, "basis", "请选择计费方式。"),
    ({"due_day": "32"}, "due_day", "缴费截止日必须是 1 至 31 日之一，或当月最后一天。"),
    ({"due_day": "x"}, "due_day", "缴费截止日必须是 1 至 31 日之一，或当月最后一天。"),
])
def test_add_fee_item_refuses_bad_input(admin, estate, post_form, changes, field, message):
    response = add_item(post_form, estate, **changes)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), field) == message
    assert db.session.query(FeeItem).count() == 0


def test_add_fee_item_refuses_a_name_the_estate_has(admin, estate, post_form):
    add_item(post_form, estate)
    response = add_item(post_form, estate, price="3.00")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "name") == "本小区已有名为 物业管理费 的收费项目。"
    assert fresh(FeeItem, name="物业管理费").price_fen == 235
    # Another estate may use the same name.
    other = acts.create_estate("别的小区", "setup")
    assert add_item(post_form, other).status_code == 302


def test_deactivate_and_activate_a_fee_item(client, admin, estate, post_form):
    from arrears.services.postings import bill_period
    from arrears.services.property import add_unit, get_or_create_building
    with db.session.begin_nested():
        add_unit(get_or_create_building(estate, "1栋", "setup"), "101", 10000, "张三", None, "setup")
    db.session.commit()
    item = acts.add_fee_item(estate.id, "物业管理费", "per_m2", 200, None, "setup")
    url = f"/admin/estates/{estate.id}"
    response = post_form(url, f"{url}/fee-items/{item.id}/deactivate", {})
    assert response.status_code == 302
    assert "收费项目 物业管理费 已停用，出账时不再计收；已出账的应收不变。" in \
        client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(FeeItem, id=item.id).active is False
    assert bill_period("2026-02", "setup") == 0  # billing skips it
    response = post_form(url, f"{url}/fee-items/{item.id}/activate", {})
    assert "收费项目 物业管理费 已启用，出账时计收。" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(FeeItem, id=item.id).active is True
    assert bill_period("2026-02", "setup") == 1
    expected = {"estate": "示例花园", "fee_item": "物业管理费", "basis": "per_m2", "price": "2.00", "due_day": None}
    assert events("fee_item_deactivated") == [("admin", expected)]
    assert events("fee_item_activated") == [("admin", expected)]


# -- late-fee policy versions ---------------------------------------------------------------

def add_version(post_form, estate, **changes):
    data = {"effective_from": "2026-04-01", "daily_rate": "0.0005", "grace_days": "10", "cap_ratio": "0.5",
            "allocation": "charge_by_charge"}
    data.update(changes)
    url = f"/admin/estates/{estate.id}"
    return post_form(url, f"{url}/policies", data)


def policy_rows(page):
    table = page.split('data-testid="policy-versions"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr[^>]*>.*?</tr>", table, re.S)[1:]:
        cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                 for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows.append((cells, 'data-testid="policy-in-force"' in row))
    return rows


def test_add_a_policy_version_for_a_later_date(client, admin, estate, post_form):
    first = db.session.execute(select(LateFeePolicyVersion)).scalar_one()
    before = (first.effective_from, first.daily_rate, first.grace_days, first.cap_ratio, first.allocation)
    response = add_version(post_form, estate)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已记录自 2026年4月1日 起生效的滞纳金政策，本小区余额已重新计算。" in page
    rows = policy_rows(page)
    assert [(cells[:6], cells[7], in_force) for cells, in_force in rows] == [
        (["1970年1月1日", "1‰", "36.5%", "0", "100%", "先还本金"], "今日生效", True),
        (["2026年4月1日", "0.5‰", "18.25%", "10", "50%", "逐笔结清"], "待生效", False)]
    first = fresh(LateFeePolicyVersion, id=first.id)
    assert (first.effective_from, first.daily_rate, first.grace_days, first.cap_ratio, first.allocation) == before
    new = fresh(LateFeePolicyVersion, effective_from=date(2026, 4, 1))
    assert (new.daily_rate, new.grace_days, new.cap_ratio, new.allocation, new.created_by) == \
        ("0.0005", 10, "0.5", "charge_by_charge", "admin")
    assert events("policy_changed")[-1] == ("admin", {
        "estate": "示例花园", "effective_from": "2026-04-01", "daily_rate": "0.0005", "grace_days": 10,
        "cap_ratio": "0.5", "allocation": "charge_by_charge"})


def test_a_version_from_today_is_in_force_today(client, admin, estate, post_form):
    response = add_version(post_form, estate, effective_from=TODAY, daily_rate="0.00030", cap_ratio="")
    assert response.status_code == 302
    rows = policy_rows(client.get(f"/admin/estates/{estate.id}").get_data(as_text=True))
    assert [(cells[0], cells[1], cells[4], cells[7], in_force) for cells, in_force in rows] == [
        ("1970年1月1日", "1‰", "100%", "已被取代", False),
        ("2026年3月2日", "0.3‰", "不设上限", "今日生效", True)]
    assert fresh(LateFeePolicyVersion, effective_from=date(2026, 3, 2)).cap_ratio is None


@pytest.mark.parametrize("changes, field, message", [
    # 2026-03-01 is still today in UTC, but yesterday in Shanghai.
    ({"effective_from": "2026-03-01"}, "effective_from",
     "2026年3月1日 已经过去。新政策只能从今天（2026年3月2日）或以后生效，已计收的滞纳金不受影响。"),
    ({"effective_from": "2026-13-01"}, "effective_from", "请按 YYYY-MM-DD 格式输入日期，例如 2026-01-01。"),
    ({"effective_from": ""}, "effective_from", "请输入政策生效日期。"),
    ({"daily_rate": "0.1%"}, "daily_rate", "日费率必须是小数，例如 0.0005。"),
    ({"daily_rate": "abc"}, "daily_rate", "日费率必须是小数，例如 0.0005。"),
    ({"daily_rate": "-0.001"}, "daily_rate", "日费率不能为负数。"),
    ({"daily_rate": "0.0000005"}, "daily_rate", "日费率最多 6 位小数。"),
    ({"daily_rate": "1.5"}, "daily_rate", "日费率不能大于 1。"),
    ({"daily_rate": ""}, "daily_rate", "请输入日费率。"),
    ({"cap_ratio": "all"}, "cap_ratio", "上限必须是小数，例如 1.0；留空表示不设上限。"),
    ({"cap_ratio": "-1"}, "cap_ratio", "上限不能为负数。"),
    ({"cap_ratio": "0.12345"}, "cap_ratio", "上限最多 4 位小数。"),
    ({"grace_days": "-1"}, "grace_days", "宽限天数不能为负数。"),
    ({"grace_days": "1.5"}, "grace_days", "宽限天数必须是整数。"),
    ({"grace_days": "3651"}, "grace_days", "宽限天数不能超过 3650。"),
    ({"grace_days": ""}, "grace_days", "请输入宽限天数（无宽限填 0）。"),
    ({"allocation": "newest_first"}, "allocation", "请选择缴款冲抵顺序。"),
])
def test_add_policy_version_refuses_bad_input(admin, estate, post_form, changes, field, message):
    response = add_version(post_form, estate, **changes)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, field) == message
    assert 'data-testid="policy-form"' in page
    assert len(acts.policy_versions(estate.id)) == 1
    assert len(events("policy_changed")) == 1  # the estate's default only


def test_two_versions_on_one_day_are_refused(admin, estate, post_form):
    assert add_version(post_form, estate).status_code == 302
    response = add_version(post_form, estate, daily_rate="0.0008")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "effective_from") == \
        "2026年4月1日 已有一个生效的政策版本，请选择其他日期。"
    assert fresh(LateFeePolicyVersion, effective_from=date(2026, 4, 1)).daily_rate == "0.0005"


def test_the_service_refuses_the_past_and_a_taken_date_too(admin, estate):
    from decimal import Decimal
    today = date(2026, 3, 2)
    with pytest.raises(acts.PolicyInPast):
        acts.add_late_fee_policy(estate.id, date(2026, 3, 1), Decimal("0.001"), 0, None, "principal_first",
                                 "cli", today)
    with pytest.raises(acts.PolicyDateTaken):
        acts.add_late_fee_policy(estate.id, date(1970, 1, 1), Decimal("0.001"), 0, None, "principal_first",
                                 "cli", date(1970, 1, 1))
    assert len(acts.policy_versions(estate.id)) == 1


def test_a_new_version_changes_late_fees_only_from_its_date(client, admin, estate, post_form):
    """The projection is rebuilt: the report's late fee follows the new rate from its day."""
    from arrears.services.ledger import refresh_unit_balances, unit_statement
    from arrears.services.postings import add_charge
    from arrears.services.property import add_unit, get_or_create_building, get_or_create_fee_item
    from arrears.services.reports import check_balances
    from arrears.services.transaction import atomic
    with atomic():
        unit = add_unit(get_or_create_building(estate, "3栋", "setup"), "1201", 10000, "张三", None, "setup")
        item = get_or_create_fee_item(estate, "物业管理费", "setup", "fixed", 30000)
        add_charge(unit, item, "2026-01", 30000, date(2026, 1, 31), "setup")
        refresh_unit_balances(unit)
    before, _ = unit_statement(unit, date(2026, 3, 31))
    assert check_balances(date(2026, 3, 31)) == []
    assert add_version(post_form, estate, effective_from="2026-03-11", daily_rate="0", grace_days="0",
                       cap_ratio="1.0", allocation="principal_first").status_code == 302
    after, _ = unit_statement(fresh(type(unit), id=unit.id), date(2026, 3, 31))
    # 1‰ of 300.00 a day: 59 days to 2026-03-31 before; only the 38 days to 2026-03-10 after.
    assert before.charges[0].late_fee_accrued_fen == 1770
    assert after.charges[0].late_fee_accrued_fen == 1140
    assert check_balances(date(2026, 3, 31)) == []
    assert check_balances(date(2026, 3, 2)) == []


def test_admin_home_lists_estates_with_the_rate_in_force(client, admin, estate, post_form):
    add_version(post_form, estate)
    page = client.get("/admin/").get_data(as_text=True)
    row = page.split("示例花园</a>", 1)[1].split("</tr>", 1)[0]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["0", "0", "1", "2026年4月1日"]


def test_messages_in_english(client, admin, estate, post_form):
    page = client.get("/admin/").get_data(as_text=True)
    client.post("/language/en", data={"csrf_token": csrf_from(page), "next": "/admin/"})
    response = add_version(post_form, estate, daily_rate="0.0000005", effective_from="2026-03-01")
    page = response.get_data(as_text=True)
    assert field_error(page, "daily_rate") == "The daily rate may have at most 6 decimal places."
    assert field_error(page, "effective_from") == ("1 Mar 2026 is in the past. A new policy takes effect today "
                                                   "(2 Mar 2026) or later, so that days already charged keep "
                                                   "their late fee.")
    page = client.get(f"/admin/estates/{estate.id}").get_data(as_text=True)
    assert "Rate (% per year)" in page and "In force today" in page


def test_an_admin_form_without_its_csrf_token_is_refused(client, admin, make_user):
    clerk = make_user("clerk")
    response = client.post(f"/admin/users/{clerk.id}/deactivate", data={})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert fresh(User, username="clerk").active is True
