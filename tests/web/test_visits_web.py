"""The visit sheet screens (arrears/web/visits.py): choosing buildings and a date, the
preview, printing and downloading the sheet, entering its outcomes; roles; bad input
answered with a message, never a 500."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import Building, Contact, Estate, EvidenceEvent, Promise, VisitSheet
from conftest import csrf_from

SHANGHAI = ZoneInfo("Asia/Shanghai")
ESTATE = "示例花园"


@pytest.fixture
def clock():
    with time_machine.travel(datetime(2026, 5, 31, 10, 0, tzinfo=SHANGHAI), tick=False) as traveller:
        yield traveller


@pytest.fixture
def estate(clock, cli, write_csv):
    units = "estate,building,unit,area_m2,owner_name,owner_phone\n" + "".join(
        f"{ESTATE},{b},{n},80.00,{o},13800001111\n" for b, n, o in (
            ("3栋", "1201", "张伟"), ("3栋", "0305", "李娜"), ("3栋", "B1-02", "王芳"), ("10栋", "0101", "周十"),
            ("8栋", "0101", "无欠"))) + "别的小区,9栋,0101,80.00,某人,13800002222\n"
    charges = "estate,building,unit,period,fee_item,amount,due_date\n" + "".join(
        f"{ESTATE},{b},{n},2026-03,物业管理费,{a},2026-03-31\n" for b, n, a in (
            ("3栋", "1201", "1300.00"), ("3栋", "0305", "150.50"), ("3栋", "B1-02", "80.00"), ("10栋", "0101", "120.00")))
    for kind, text in (("units", units), ("charges", charges)):
        result = cli("import", kind, write_csv(f"{kind}.csv", text))
        assert result.exit_code == 0, result.output
    return db.session.execute(select(Estate).where(Estate.name == ESTATE)).scalar_one()


def bid(name):
    return db.session.execute(select(Building.id).where(Building.name == name)).scalar_one()


def text(response):
    return response.get_data(as_text=True)


def preview_url(estate, *buildings, day="2026-06-01", **extra):
    query = [f"estate={estate.id}"] + [f"building={bid(b)}" for b in buildings] + [f"visit_on={day}"]
    query += [f"{key}={value}" for key, value in extra.items()]
    return "/visits/?" + "&".join(query)


def print_sheet(client, estate, *buildings, day="2026-06-01"):
    page = client.get(preview_url(estate, *buildings, day=day))
    data = {"csrf_token": csrf_from(text(page)), "estate": estate.id, "building": [bid(b) for b in buildings],
            "visit_on": day, "not_visited_days": "", "language": "zh_CN"}
    return client.post("/visits/sheets", data=data)


def test_roles(client, login, estate):
    login("lawyer")
    for url in ("/visits/", "/visits/sheets/1", "/visits/sheets/1.pdf", "/visits/sheets/1/outcomes"):
        assert client.get(url).status_code == 403, url
    assert client.post("/visits/sheets", data={}).status_code in (400, 403)  # CSRF first, then the role
    for role in ("clerk", "manager", "admin"):
        client.post("/logout", data={"csrf_token": csrf_from(text(client.get("/visits/", follow_redirects=True)))})
        login(role)
        assert client.get("/visits/").status_code == 200, role


def test_preview_lists_who_is_due_in_route_order_with_the_list_amounts(client, login, estate):
    login("clerk")
    page = text(client.get(preview_url(estate, "10栋", "3栋")))
    assert "2026年6月1日 应上门拜访 4 户" in page
    order = [page.index(ref) for ref in ("3栋/B1-02", "3栋/0305", "3栋/1201", "10栋/0101")]
    assert order == sorted(order)
    listing = text(client.get(f"/households/?building={bid('3栋')}"))
    # the list's first row (largest amount first) is 1201: its total as the list shows it
    amount = re.search(r'<td class="num fw-semibold">([^<]+)</td>', listing).group(1).strip()
    assert amount == "1,379.30" and amount in page
    assert "13800001111" not in page and "138****1111" not in page


def test_print_offers_the_pdf_and_the_outcomes(client, login, estate):
    login("clerk")
    response = print_sheet(client, estate, "3栋")
    assert response.status_code == 302
    sheet = db.session.execute(select(VisitSheet)).scalar_one()
    page = text(client.get(response.headers["Location"]))
    assert "外访单 WF-2026-000001 已生成：共 3 户。" in page
    assert f"/visits/sheets/{sheet.id}.pdf" in page and f"/visits/sheets/{sheet.id}/outcomes" in page
    pdf = client.get(f"/visits/sheets/{sheet.id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert pdf.headers["Content-Disposition"].startswith("attachment;") and "WF-2026-000001.pdf" in \
        pdf.headers["Content-Disposition"]
    assert "WF-2026-000001" in text(client.get("/visits/"))  # in the recent sheets
    assert client.get("/visits/sheets/999.pdf").status_code == 404


@pytest.mark.parametrize("query, message", [
    ("estate={estate}&visit_on=2026-06-01&building=", "请从列表中选择楼栋。"),
    ("estate={estate}&visit_on=2026-06-01&building=abc", "请从列表中选择楼栋。"),
    ("estate={estate}&visit_on=2026-05-30&building={b3}", "外访日期 2026年5月30日 已经过去。"),
    ("estate={estate}&visit_on=2026-13-01&building={b3}", "请填写外访日期"),
    ("estate={estate}&visit_on=2026-09-01&building={b3}", "距今超过 31 天"),
    ("estate={estate}&visit_on=2026-06-01&building={b9}", "9栋 不是示例花园的楼栋。"),
    ("estate={estate}&visit_on=2026-06-01&building={b8}", "8栋 在 2026年6月1日 没有应上门拜访的住户。"),
    ("estate={estate}&visit_on=2026-06-01&building={b3}&not_visited_days=x", "须填写 1 至 365 的数字"),
    ("estate={estate}&visit_on=2026-06-01&building={b3}&not_visited_days=999", "须填写 1 至 365 的数字"),
    ("estate=77&visit_on=2026-06-01&building={b3}", "请从列表中选择小区。"),
])
def test_bad_choices_get_a_message(client, login, estate, query, message):
    login("clerk")
    url = "/visits/?" + query.format(estate=estate.id, b3=bid("3栋"), b8=bid("8栋"), b9=bid("9栋"))
    response = client.get(url)
    assert response.status_code in (200, 422)
    assert message in text(response), text(response)


def test_printing_bad_choices_is_refused_with_a_message(client, login, estate):
    login("clerk")
    token = csrf_from(text(client.get("/visits/")))
    for data, message in (({"building": []}, "请至少选择一栋楼。"),
                          ({"building": [bid("8栋")]}, "没有应上门拜访的住户"),
                          ({"building": [bid("3栋")], "visit_on": "2026-05-01"}, "已经过去"),
                          ({"building": [bid("3栋")], "language": "fr"}, "请从列表中选择语言。")):
        payload = {"csrf_token": token, "estate": estate.id, "visit_on": "2026-06-01", "language": "zh_CN"}
        payload.update(data)
        response = client.post("/visits/sheets", data=payload)
        assert response.status_code == 422 and message in text(response), (data, text(response))
    assert db.session.execute(select(func.count()).select_from(VisitSheet)).scalar_one() == 0
    assert client.post("/visits/sheets", data={"estate": estate.id, "building": [bid("3栋")],
                                               "visit_on": "2026-06-01"}).status_code == 400  # no CSRF token


def outcomes_form(page, rows, default_time="14:30"):
    data = {"csrf_token": csrf_from(page), "default_time": default_time}
    for position, values in rows.items():
        for name, value in values.items():
            data[f"r{position}-{name}"] = value
    return data


def test_outcomes_all_or_nothing_then_once(client, login, estate, clock):
    login("clerk")
    print_sheet(client, estate, "3栋", day="2026-05-31")
    sheet = db.session.execute(select(VisitSheet)).scalar_one()
    url = f"/visits/sheets/{sheet.id}/outcomes"
    clock.move_to(datetime(2026, 5, 31, 18, 0, tzinfo=SHANGHAI))
    page = text(client.get(url))
    assert page.index("3栋/B1-02") < page.index("3栋/0305") < page.index("3栋/1201")
    rows = {1: {"reached": "owner", "outcome": "答应周五缴清", "promise_amount": "80.00", "promise_on": "2026-06-05"},
            2: {"reached": "owner", "outcome": "下月再说", "promise_amount": "100", "promise_on": "2026-05-01"},
            3: {"reached": "nobody"}}
    refused = client.post(url, data=outcomes_form(page, rows))
    body = text(refused)
    assert refused.status_code == 422
    assert "第 2 行（3栋/0305）：承诺日期 2026年5月1日 早于外访日期（2026年5月31日）" in body
    assert "下月再说" in body and "答应周五缴清" in body  # what was typed is kept
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 0
    rows[2]["promise_on"] = "2026-06-15"
    done = client.post(url, data=outcomes_form(page, rows))
    assert done.status_code == 302
    assert "已记录 3 次上门拜访，其中承诺还款 2 笔。" in text(client.get(done.headers["Location"]))
    contacts = db.session.execute(select(Contact).order_by(Contact.id)).scalars().all()
    assert [(c.channel, c.reached, c.outcome) for c in contacts] == [
        ("visit", "owner", "答应周五缴清"), ("visit", "owner", "下月再说"), ("visit", "nobody", "无人应门")]
    assert db.session.execute(select(func.count()).select_from(Promise)).scalar_one() == 2
    again = client.post(url, data=outcomes_form(page, rows))
    assert again.status_code == 302
    shown = text(client.get(again.headers["Location"]))
    assert "第 1, 2, 3 行此前已录入，未重复录入。" in shown and 'data-testid="entered-2"' in shown
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 3
    assert db.session.execute(select(func.count()).select_from(EvidenceEvent)
                              .where(EvidenceEvent.kind == "visit_outcomes_recorded")).scalar_one() == 1


def test_a_breach_asks_for_a_justification(client, login, estate, clock):
    login("clerk")
    print_sheet(client, estate, "3栋", day="2026-05-31")
    sheet = db.session.execute(select(VisitSheet)).scalar_one()
    url = f"/visits/sheets/{sheet.id}/outcomes"
    clock.move_to(datetime(2026, 5, 31, 22, 0, tzinfo=SHANGHAI))
    page = text(client.get(url))
    assert 'data-testid="justification-1"' not in page
    rows = {1: {"reached": "owner", "outcome": "晚上才在家", "visited_at": "21:15"}}
    refused = client.post(url, data=outcomes_form(page, rows, default_time=""))
    body = text(refused)
    assert refused.status_code == 422 and 'data-testid="justification-1"' in body
    assert "违反催收规范" in body
    rows[1]["justification"] = "业主只在晚上在家，约好的"
    assert client.post(url, data=outcomes_form(page, rows, default_time="")).status_code == 302
    contact = db.session.execute(select(Contact)).scalar_one()
    assert contact.policy_breach and contact.justification == "业主只在晚上在家，约好的"


def test_blank_sheet_and_bad_time_answer_with_messages(client, login, estate, clock):
    login("clerk")
    print_sheet(client, estate, "3栋", day="2026-05-31")
    sheet = db.session.execute(select(VisitSheet)).scalar_one()
    url = f"/visits/sheets/{sheet.id}/outcomes"
    page = text(client.get(url))
    blank = client.post(url, data=outcomes_form(page, {}))
    assert "未录入任何内容：所有行均为空。" in text(client.get(blank.headers["Location"]))
    bad = client.post(url, data=outcomes_form(page, {1: {"reached": "owner", "outcome": "ok"}}, default_time="noon"))
    assert bad.status_code == 422 and "请按 14:30 的格式填写到访时间。" in text(bad)
    member = client.post(url, data=outcomes_form(page, {1: {"reached": "household_member", "outcome": "ok"}}))
    assert member.status_code == 422 and "没有登记的家庭成员" in text(member)
    assert client.get("/visits/sheets/999/outcomes").status_code == 404
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 0
