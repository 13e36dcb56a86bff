"""The performance page, its XLSX export and the commission statement (issue 7), in Chinese,
with the clock frozen at 2026-06-20 12:00 in Shanghai.

May 2026, window 30 days, scheme ``fixed`` 4 % from 2026-01:

    person      contact           payment                     commission
    clerk2      0102 05-03 10:00  0102 1234.50 on 05-07       49.38
    clerk       0101 05-02 10:00  0101  300.00 on 05-06       12.00
    (nobody)                      0103   50.00 on 05-08       —
"""
import io
import json
import os
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import EvidenceEvent, Unit
from arrears.services.collection import log_contact
from arrears.services.commission import add_scheme
from arrears.services.postings import post_payment
from conftest import csrf_from

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def may(clock, cli, examples_dir, make_user):
    assert cli("import", "units", os.path.join(examples_dir, "units.csv")).exit_code == 0
    units = {u.number: u for u in db.session.execute(select(Unit)).scalars()}
    make_user("clerk")
    make_user("clerk", "clerk2")

    def contact(number, day, staff):
        log_contact(units[number], channel="phone", contacted_at=datetime(2026, 5, day, 10, 0, tzinfo=SHANGHAI),
                    reached="owner", outcome="answered", actor=staff)

    contact("0101", 2, "clerk")
    contact("0102", 3, "clerk2")
    post_payment(units["0101"], 30000, date(2026, 5, 6), "wechat", "W1", "clerk")
    post_payment(units["0102"], 123450, date(2026, 5, 7), "wechat", "W2", "clerk")
    post_payment(units["0103"], 5000, date(2026, 5, 8), "wechat", "W3", "clerk")
    add_scheme("fixed", {"rate": "0.04"}, date(2026, 1, 1), "admin", today=date(2026, 1, 1))
    return units


def html_of(response):
    return response.get_data(as_text=True)


def staff_rows(html):
    """``{data-staff: [cell texts]}`` of the table's rows."""
    found = {}
    for staff, body in re.findall(r'<tr data-testid="staff-row" data-staff="([^"]*)">(.*?)</tr>', html, re.S):
        found[staff] = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
    return found


def test_the_page_in_chinese_with_everyone(client, login, may):
    login("manager")
    response = client.get("/performance/?month=2026-05")
    assert response.status_code == 200
    html = html_of(response)
    assert "员工业绩" in html and "2026-05 业绩" in html
    assert "固定比例（按全部金额）" in html  # the scheme in force
    rows = staff_rows(html)
    assert list(rows) == ["clerk2", "clerk", ""]
    # person, contacts, breaches, promises, kept, broken, payments, recovered, cleared, commission, link
    assert rows["clerk2"][:10] == ["clerk2", "1", "0", "0", "0", "0", "1", "1,234.50", "0", "49.38"]
    assert rows["clerk"][:10] == ["clerk", "1", "0", "0", "0", "0", "1", "300.00", "0", "12.00"]
    assert rows[""][0] == "未归属" and rows[""][7] == "50.00" and rows[""][9] == "—"
    assert html.count("<svg") == 2
    assert re.search(r'<tr data-testid="month-2026-05"><td>2026-05</td>(<td class="num">[^<]*</td>){3}'
                     r'<td class="num">1,584.50</td>', html)
    assert 'href="/performance/statement?clerk=clerk2&amp;month=2026-05"' in html


def test_this_month_by_default(client, login, may):
    login("manager")
    html = html_of(client.get("/performance/"))
    assert 'name="month" value="2026-06"' in html and "2026-06 业绩" in html


def test_a_clerk_sees_only_their_own_row_and_statement(client, login, may):
    login("clerk")
    html = html_of(client.get("/performance/?month=2026-05"))
    assert list(staff_rows(html)) == ["clerk"]
    assert "clerk2" not in html and "1,234.50" not in html and "50.00" not in html
    assert client.get("/performance/statement?clerk=clerk2&month=2026-05").status_code == 403
    assert client.get("/performance/statement?clerk=ghost&month=2026-05").status_code == 403
    own = client.get("/performance/statement?month=2026-05")
    assert own.status_code == 200
    assert 'data-testid="commission-total">12.00<' in html_of(own)
    sheet = load_workbook(io.BytesIO(client.get("/performance/export.xlsx?month=2026-05").get_data())).active
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["人员", "clerk"]


def test_lawyers_are_refused(client, login, may):
    login("lawyer")
    for url in ("/performance/", "/performance/export.xlsx?month=2026-05",
                "/performance/statement?clerk=clerk&month=2026-05"):
        assert client.get(url).status_code == 403, url


def test_an_administrator_sees_everyone(client, login, may):
    login("admin")
    assert list(staff_rows(html_of(client.get("/performance/?month=2026-05")))) == ["clerk2", "clerk", ""]
    assert client.get("/performance/statement?clerk=clerk&month=2026-05").status_code == 200


def test_the_pages_need_a_login(client):
    for url in ("/performance/", "/performance/export.xlsx", "/performance/statement"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_xlsx_export_has_the_table_and_is_recorded(client, login, may):
    login("manager")
    response = client.get("/performance/export.xlsx?month=2026-05")
    assert response.status_code == 200
    assert "performance-2026-05-" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["人员", "催收次数", "违反催收规范", "取得承诺", "承诺已兑现", "承诺未兑现", "归属的收款",
                         "回款金额", "结清欠费户数", "提成"]
    assert values[1:] == [["clerk2", 1, 0, 0, 0, 0, 1, "1234.50", 0, "49.38"],
                          ["clerk", 1, 0, 0, 0, 0, 1, "300.00", 0, "12.00"],
                          ["未归属", 0, 0, 0, 0, 0, 1, "50.00", None, None]]
    events = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "performance_exported")).scalars()
    assert [(e.actor, json.loads(e.data)) for e in events] == [
        ("manager", {"format": "xlsx", "month": "2026-05", "rows": 3})]


def test_the_statement_shows_the_working_and_the_payments(client, login, may):
    login("manager")
    html = html_of(client.get("/performance/statement?clerk=clerk2&month=2026-05"))
    assert "提成结算单" in html and 'data-testid="staff">clerk2<' in html
    assert 'data-testid="recovered">1,234.50<' in html
    line = re.search(r'<tr data-testid="working-line" data-kind="rate">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", line, re.S)]
    assert cells == ["固定比例", "任何金额", "1,234.50", "4%", "", "49.38"]
    assert 'data-testid="commission-total">49.38<' in html
    credit = re.search(r'<tr data-testid="credit"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "示例花园/1栋/0102" in credit and "W2" in credit and "1,234.50" in credit and "2026年5月3日 10:00" in credit
    assert "@media print" in html


def test_a_month_without_a_scheme_says_so(client, login, may):
    login("manager")
    html = html_of(client.get("/performance/statement?clerk=clerk&month=2025-12"))
    assert "2025-12 没有适用的提成方案" in html and 'data-testid="commission-total"' not in html
    assert "2025-12 没有适用的提成方案：不计算提成" in html_of(client.get("/performance/?month=2025-12"))


@pytest.mark.parametrize("month", ["2026-13", "2026-5", "abc", "2026-00"])
def test_a_bad_month_is_refused_with_a_message(client, login, may, month):
    login("manager")
    for url in ("/performance/", "/performance/export.xlsx", "/performance/statement"):
        response = client.get(url, query_string={"month": month})
        assert response.status_code == 400, url
        assert f"“{month}”不是有效的月份" in html_of(response)
    assert db.session.execute(select(EvidenceEvent.seq).where(EvidenceEvent.kind == "performance_exported")).first() \
        is None


def test_a_month_not_begun_is_refused(client, login, may):
    login("manager")
    response = client.get("/performance/?month=2026-07")
    assert response.status_code == 400 and "2026-07 尚未开始" in html_of(response)


def test_an_unknown_person_gets_a_message(client, login, may):
    login("manager")
    response = client.get("/performance/statement?clerk=ghost&month=2026-05")
    assert response.status_code == 404
    assert "没有名为“ghost”的账号" in html_of(response)


def test_the_page_in_english(client, login, may):
    login("manager")
    html = html_of(client.get("/performance/?month=2026-05"))
    client.post("/language/en", data={"csrf_token": csrf_from(html), "next": "/performance/"})
    html = html_of(client.get("/performance/?month=2026-05"))
    assert "Staff performance" in html and "Unattributed" in html and "1,234.50" in html


def test_a_tiered_statement_numbers_its_tiers(client, login, may):
    add_scheme("tiered_marginal", {"tiers": [{"up_to": "1000.00", "rate": "0.04"}, {"up_to": None, "rate": "0.06"}]},
               date(2026, 5, 1), "admin", today=date(2026, 5, 1))
    login("manager")
    html = html_of(client.get("/performance/statement?clerk=clerk2&month=2026-05"))
    lines = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
             for body in re.findall(r'<tr data-testid="working-line"[^>]*>(.*?)</tr>', html, re.S)]
    # 1,000.00 × 4% = 40.00; 234.50 × 6% = 14.07.
    assert lines == [["第 1 档", "0.00 – 1,000.00", "1,000.00", "4%", "", "40.00"],
                     ["第 2 档", "1,000.00 以上", "234.50", "6%", "", "14.07"]]
    assert 'data-testid="commission-total">54.07<' in html
    assert staff_rows(html_of(client.get("/performance/?month=2026-05")))["clerk2"][9] == "54.07"
