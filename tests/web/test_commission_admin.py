"""Commission schemes (提成方案): the service that stores versions and the admin screen.

Administrators only. A version is stored normalised with its evidence event; a bad
definition answers 422 with the message, in Chinese, next to the field at fault, and
stores nothing. The clock is frozen at 2026-05-15 in Shanghai.
"""
import html
import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.exc import DatabaseError

from arrears.domain.commission import Scheme, SchemeError, Tier
from arrears.extensions import db
from arrears.models import CommissionScheme, EvidenceEvent
from arrears.services import commission as schemes
from arrears.services.errors import ServiceError
from conftest import csrf_from

FROZEN = datetime(2026, 5, 15, 2, 0, tzinfo=timezone.utc)  # 2026-05-15 10:00 in Asia/Shanghai
PAGE = "/admin/commission"
ADD = "/admin/commission/schemes"
ISSUE_TIERS = {"tiers": [{"up_to": "100000.00", "rate": "0.04"}, {"up_to": "200000.00", "rate": "0.05"},
                         {"up_to": None, "rate": "0.06"}]}


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(FROZEN, tick=False):
        yield


@pytest.fixture
def admin(login):
    return login("admin")


def field_error(page, field_id):
    match = re.search(rf'<div class="invalid-feedback" id="{re.escape(field_id)}-error">([^<]*)</div>', page)
    return html.unescape(match.group(1)) if match else None


def stored_count():
    db.session.expire_all()
    return db.session.execute(select(func.count(CommissionScheme.id))).scalar_one()


def events(kind="commission_scheme_added"):
    rows = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == kind)
                              .order_by(EvidenceEvent.seq)).scalars().all()
    return [(row.actor, json.loads(row.data)) for row in rows]


def issue_form(**changes):
    """The issue's example as the admin types it: 4% to 100,000, 5% to 200,000, 6% above."""
    data = {"kind": "tiered_marginal", "effective_month": "2026-06", "rate": "",
            "up_to_1": "100,000", "tier_rate_1": "4", "up_to_2": "200000.00", "tier_rate_2": "5",
            "up_to_3": "", "tier_rate_3": "6", "up_to_4": "", "tier_rate_4": "", "up_to_5": "", "tier_rate_5": "",
            "bonus_every": "", "bonus_amount": "", "note": "  按公司2026年文件  "}
    data.update(changes)
    return data


def post_scheme(client, data):
    page = client.get(PAGE).get_data(as_text=True)
    return client.post(ADD, data=dict(data, csrf_token=csrf_from(page)))


# -- the service -----------------------------------------------------------------------------

def test_add_scheme_stores_the_normalised_definition_and_an_event(app):
    row = schemes.add_scheme("tiered_marginal", json.dumps({"tiers": [
        {"up_to": "100000", "rate": "0.040"}, {"up_to": "200000.0", "rate": "0.05"}, {"up_to": None, "rate": "0.06"}]}),
        date(2026, 6, 1), "boss", note="v2")
    db.session.expire_all()
    stored = db.session.get(CommissionScheme, row.id)
    assert json.loads(stored.definition) == ISSUE_TIERS
    assert (stored.kind, stored.effective_from, stored.note, stored.created_by) == (
        "tiered_marginal", date(2026, 6, 1), "v2", "boss")
    assert events() == [("boss", {"scheme_id": row.id, "kind": "tiered_marginal", "definition": ISSUE_TIERS,
                                  "effective_from": "2026-06-01", "note": "v2"})]


@pytest.mark.parametrize("kind, definition, day, message", [
    ("fixed", {"rate": "0.04"}, date(2026, 6, 15), "effective date 2026-06-15 must be the first day of a month"),
    ("fixed", {"rate": "-0.04"}, date(2026, 6, 1), "rate -0.04 must be between 0 and 1"),
    ("tiered_whole", {"tiers": [{"up_to": "200000.00", "rate": "0.04"}, {"up_to": "100000.00", "rate": "0.05"},
                                {"up_to": None, "rate": "0.06"}]}, date(2026, 6, 1),
     "tier 2: up to 100000.00 must be above tier 1's 200000.00"),
    ("bonus", {"rate": "0.04"}, date(2026, 6, 1), "kind 'bonus' must be one of fixed, tiered_marginal, tiered_whole"),
    ("fixed", "not json", date(2026, 6, 1), "definition is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
])
def test_add_scheme_refuses_with_the_message_and_stores_nothing(app, kind, definition, day, message):
    with pytest.raises(ServiceError) as refused:
        schemes.add_scheme(kind, definition, day, "boss")
    assert str(refused.value) == message
    assert stored_count() == 0 and events() == []


def test_a_new_version_does_not_change_earlier_months(app):
    assert schemes.scheme_in_force(date(2026, 5, 20)) is None
    may = schemes.add_scheme("fixed", {"rate": "0.04"}, date(2026, 5, 1), "boss")
    june = schemes.add_scheme("tiered_whole", ISSUE_TIERS, date(2026, 6, 1), "boss")
    row, scheme = schemes.scheme_in_force(date(2026, 5, 31))
    assert row.id == may.id and scheme == Scheme("fixed", Decimal("0.04"), (), None)
    assert schemes.scheme_in_force(date(2026, 4, 30)) is None
    assert schemes.scheme_in_force(date(2026, 6, 1))[0].id == june.id
    assert schemes.scheme_in_force(date(2027, 1, 1))[1].tiers[-1] == Tier(None, Decimal("0.06"))
    # Two versions for the same month: the one added later stands (a correction).
    fixed = schemes.add_scheme("fixed", {"rate": "0.05"}, date(2026, 6, 1), "boss", note="correction")
    assert schemes.scheme_in_force(date(2026, 6, 10))[0].id == fixed.id
    assert schemes.scheme_in_force(date(2026, 5, 10))[0].id == may.id
    assert [row.id for row in schemes.scheme_history()] == [fixed.id, june.id, may.id]


def test_a_stored_version_is_never_rewritten(app):
    row = schemes.add_scheme("fixed", {"rate": "0.04"}, date(2026, 6, 1), "boss")
    with pytest.raises(DatabaseError):
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE commission_schemes SET definition = '{{}}' WHERE id = {row.id}")
    db.session.expire_all()
    assert json.loads(db.session.get(CommissionScheme, row.id).definition) == {"rate": "0.04"}


# -- who may come in ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["clerk", "manager", "lawyer"])
def test_only_administrators_see_or_change_schemes(client, login, role):
    login(role)
    assert client.get(PAGE).status_code == 403
    assert client.get(PAGE + "?amount=100").status_code == 403
    page = client.get("/").get_data(as_text=True)
    response = client.post(ADD, data=dict(issue_form(), csrf_token=csrf_from(page)))
    assert response.status_code == 403
    assert stored_count() == 0


def test_logged_out_visitor_is_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_post_without_csrf_token_is_refused(client, admin):
    response = client.post(ADD, data=issue_form())
    assert response.status_code == 400
    assert stored_count() == 0


def test_the_admin_index_links_to_the_schemes(client, admin):
    page = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/commission"' in page and "提成方案" in page


# -- adding a version ----------------------------------------------------------------------------

def test_admin_adds_a_version_from_the_form(client, admin):
    page = client.get(PAGE).get_data(as_text=True)
    assert "尚未设置提成方案。" in page
    assert 'value="2026-06"' in page  # next month is offered
    response = post_scheme(client, issue_form())
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    db.session.expire_all()
    row = db.session.execute(select(CommissionScheme)).scalar_one()
    assert (row.kind, row.effective_from, row.note, row.created_by) == (
        "tiered_marginal", date(2026, 6, 1), "按公司2026年文件", "admin")
    assert json.loads(row.definition) == ISSUE_TIERS
    assert events() == [("admin", {"scheme_id": row.id, "kind": "tiered_marginal", "definition": ISSUE_TIERS,
                                   "effective_from": "2026-06-01", "note": "按公司2026年文件"})]
    page = client.get(PAGE).get_data(as_text=True)
    assert "提成方案 #1 已记录，自 2026年6月 起生效。" in page
    versions = page[page.index('data-testid="commission-versions"'):page.index('id="calculator"')]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.unescape(versions)))
    assert "2026年6月" in text and "超额累进" in text and "待生效" in text
    assert "0.00 – 100,000.00：4%" in text
    assert "100,000.00 – 200,000.00：5%" in text
    assert "200,000.00 以上：6%" in text


def test_fixed_rate_with_a_bonus(client, admin):
    response = post_scheme(client, issue_form(kind="fixed", rate="4.5", tier_rate_1="", up_to_1="", tier_rate_2="",
                                              up_to_2="", tier_rate_3="", effective_month="2026-05",
                                              bonus_every="50000", bonus_amount="500"))
    assert response.status_code == 302
    row = db.session.execute(select(CommissionScheme)).scalar_one()
    assert json.loads(row.definition) == {"rate": "0.045", "bonus": {"every": "50000.00", "amount": "500.00"}}
    page = client.get(PAGE).get_data(as_text=True)
    assert 'data-testid="commission-in-force"' in page
    assert "回款每满 50,000.00 奖励 500.00" in page


@pytest.mark.parametrize("changes, field, message", [
    # overlapping tiers: the third reaches back into the second
    ({"up_to_3": "150000", "tier_rate_3": "6", "up_to_4": "", "tier_rate_4": "7"}, "up_to_3",
     "第 3 档：上限 150000.00 必须高于第 2 档的 200000.00。"),
    # unordered
    ({"up_to_1": "200000", "up_to_2": "100000"}, "up_to_2", "第 2 档：上限 100000.00 必须高于第 1 档的 200000.00。"),
    ({"tier_rate_2": "-5"}, "tier_rate_2", "比例必须在 0 到 100（百分数）之间。"),
    ({"tier_rate_1": "abc"}, "tier_rate_1", "比例必须是百分数，例如 4 或 4.5。"),
    ({"tier_rate_1": "120"}, "tier_rate_1", "比例必须在 0 到 100（百分数）之间。"),
    ({"tier_rate_1": "4.00001"}, "tier_rate_1", "比例最多 4 位小数。"),
    ({"up_to_1": "十万"}, "up_to_1", "请输入金额，例如 100000.00。"),
    ({"up_to_1": "100000.123"}, "up_to_1", "金额最多两位小数。"),
    ({"up_to_1": "-100000"}, "up_to_1", "金额不能为负数。"),
    ({"up_to_2": "", "tier_rate_2": ""}, "tier_rate_1", None),  # fine: two tiers; checked below
    ({"up_to_3": "300000"}, "up_to_3", "最后一档的“上限”必须留空（不设上限），使任何金额都落在某一档内。"),
    ({"up_to_1": "", "up_to_2": ""}, "up_to_1", "只有最后一档的“上限”可以留空（不设上限）。"),
    ({"tier_rate_2": ""}, "tier_rate_2", "请输入这一档的比例。"),
    ({"effective_month": "2026-06-15"}, "effective_month",
     "请按 YYYY-MM 格式输入月份，例如 2026-06：提成方案从某月 1 日起生效。"),
    ({"effective_month": "2026-13"}, "effective_month",
     "请按 YYYY-MM 格式输入月份，例如 2026-06：提成方案从某月 1 日起生效。"),
    ({"effective_month": ""}, "effective_month", "请输入方案生效的月份，例如 2026-06。"),
    ({"rate": "4"}, "rate", "累进方案没有单一比例：请清空“比例”，或选择固定比例。"),
    ({"kind": "fixed", "rate": "4"}, None, "固定比例方案没有分档：请清空分档各行，或选择累进类型。"),
    ({"kind": "fixed"}, "rate", "请以百分数输入比例，例如 4。"),
    ({"kind": "bonus"}, "kind", "请选择方案类型。"),
    ({"bonus_every": "50000"}, "bonus_amount", "奖励步长和每步奖励须同时填写，或都不填。"),
    ({"bonus_every": "0", "bonus_amount": "500"}, "bonus_every", "步长必须大于 0.00。"),
    ({"bonus_every": "50000", "bonus_amount": "-1"}, "bonus_amount", "金额不能为负数。"),
    ({"note": "长" * 501}, "note", "最多 500 个字符。"),
])
def test_a_bad_definition_is_refused_next_to_its_field_and_nothing_stored(client, admin, changes, field, message):
    response = post_scheme(client, issue_form(**changes))
    if message is None:  # the control case: the form is fine
        assert response.status_code == 302
        return
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    if field is None:
        assert message in html.unescape(page)
    else:
        assert field_error(page, field) == message
    assert stored_count() == 0 and events() == []


def test_no_tiers_at_all_is_refused(client, admin):
    empty = {f"{name}_{n}": "" for name in ("up_to", "tier_rate") for n in range(1, 6)}
    response = post_scheme(client, issue_form(**empty))
    assert response.status_code == 422
    assert "请至少填写一档；最后一档的“上限”留空（不设上限）。" in html.unescape(response.get_data(as_text=True))
    assert stored_count() == 0


def test_blank_rows_between_tiers_are_skipped_and_errors_name_the_row(client, admin):
    # Tiers typed in rows 1, 3 and 5: the error about the second tier sits on row 3.
    response = post_scheme(client, issue_form(up_to_1="200000", tier_rate_1="4", up_to_2="", tier_rate_2="",
                                              up_to_3="100000", tier_rate_3="5", up_to_5="", tier_rate_5="6"))
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "up_to_3") == "第 2 档：上限 100000.00 必须高于第 1 档的 200000.00。"


# -- the calculator -------------------------------------------------------------------------------

def working_text(page):
    table = page[page.index('data-testid="commission-working"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>",
                                                                                      row, re.S)] for row in rows]


def test_the_calculator_shows_the_working_of_the_scheme_in_force(client, admin):
    schemes.add_scheme("tiered_marginal", dict(ISSUE_TIERS, bonus={"every": "50000.00", "amount": "500.00"}),
                       date(2026, 5, 1), "boss")
    response = client.get(PAGE + "?amount=250000&version=")
    assert response.status_code == 200
    assert working_text(response.get_data(as_text=True)) == [
        ["金额区间", "计提基数（元）", "提成比例", "提成（元）"],
        ["0.00 – 100,000.00", "100,000.00", "4%", "4,000.00"],
        ["100,000.00 – 200,000.00", "100,000.00", "5%", "5,000.00"],
        ["200,000.00 以上", "50,000.00", "6%", "3,000.00"],
        ["奖励：回款每满 50,000.00 奖励 500.00", "250,000.00", "5 × 500.00", "2,500.00"],
        ["提成合计", "14,500.00"],
    ]


def test_the_calculator_works_a_given_version(client, admin):
    may = schemes.add_scheme("fixed", {"rate": "0.04"}, date(2026, 5, 1), "boss")
    june = schemes.add_scheme("tiered_whole", ISSUE_TIERS, date(2026, 6, 1), "boss")
    page = client.get(PAGE + f"?amount=100000.01&version={june.id}").get_data(as_text=True)
    assert working_text(page)[1:] == [["100,000.00 – 200,000.00", "100,000.01", "5%", "5,000.00"],
                                      ["提成合计", "5,000.00"]]
    page = client.get(PAGE + "?amount=123456.78").get_data(as_text=True)  # May's, in force today
    assert working_text(page)[1:] == [["全部金额", "123,456.78", "4%", "4,938.27"], ["提成合计", "4,938.27"]]
    assert f"方案 #{may.id}（固定比例），自 2026年5月 起生效，回款 123,456.78：" in page


@pytest.mark.parametrize("query, field, message", [
    ("amount=abc", "amount", "请输入金额，例如 123456.78（最多两位小数，不能为负数）。"),
    ("amount=-5", "amount", "请输入金额，例如 123456.78（最多两位小数，不能为负数）。"),
    ("amount=100&version=999", "version", "没有这个版本，请从列表中选择。"),
    ("amount=100&version=x", "version", "没有这个版本，请从列表中选择。"),
])
def test_the_calculator_refuses_bad_input_clearly(client, admin, query, field, message):
    schemes.add_scheme("fixed", {"rate": "0.04"}, date(2026, 5, 1), "boss")
    response = client.get(PAGE + "?" + query)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), field) == message


def test_the_calculator_says_when_no_scheme_is_in_force(client, admin):
    schemes.add_scheme("fixed", {"rate": "0.04"}, date(2026, 6, 1), "boss")  # only from next month
    response = client.get(PAGE + "?amount=100")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "version") == "本月没有生效的提成方案：请先添加一个版本。"


def test_the_domain_error_is_a_value_error():
    assert issubclass(SchemeError, ValueError)


def test_adding_refuses_get(client, admin):
    assert client.get(ADD).status_code == 405


def test_the_page_reads_in_english_too(client, admin):
    schemes.add_scheme("tiered_whole", dict(ISSUE_TIERS, bonus={"every": "50000.00", "amount": "500.00"}),
                       date(2026, 5, 1), "boss")
    page = client.get("/").get_data(as_text=True)
    client.post("/language/en", data={"csrf_token": csrf_from(page), "next": "/"})
    page = html.unescape(client.get(PAGE + "?amount=150000").get_data(as_text=True))
    assert "Commission schemes" in page and "May 2026" in page
    assert working_text(page)[1:] == [["100,000.00 – 200,000.00", "150,000.00", "5%", "7,500.00"],
                                      ["Bonus: 500.00 for each full 50,000.00 recovered", "150,000.00",
                                       "3 × 500.00", "1,500.00"],
                                      ["Total commission", "9,000.00"]]


def test_a_scheme_cannot_take_effect_in_a_month_already_over(app):
    """May 2026 is running (the clock): April is over and is never computed again under new rules."""
    from arrears.services import commission as schemes
    with pytest.raises(schemes.PastMonth, match="2026-04, a month already over"):
        schemes.add_scheme("fixed", {"rate": "0.04"}, date(2026, 4, 1), "boss")
    assert schemes.scheme_history() == []
    assert schemes.add_scheme("fixed", {"rate": "0.04"}, date(2026, 5, 1), "boss").effective_from == date(2026, 5, 1)


def test_the_form_refuses_a_month_already_over(app, client, login):
    login("admin")
    page = client.get("/admin/commission").get_data(as_text=True)
    response = client.post("/admin/commission/schemes", data={
        "csrf_token": csrf_from(page), "kind": "fixed", "rate": "4", "effective_month": "2026-04"})
    assert response.status_code == 422
    assert "该月份已经过去" in response.get_data(as_text=True)
