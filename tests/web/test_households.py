"""The household list (issue 3 item 3): filters, search, sort, pages and export, from the
fast per-unit figures — never the engine per unit. Clock frozen at 2026-05-31, the as-of
date of the worked examples:

    unit   total   principal  days overdue  stage    class
    0103   400.00  200.00     1431          demand   C
    0104   109.28  103.00     61            demand   C
    0102    17.00    0.00     0             -        C
    0101     9.15    0.00     0             -        C
    0105     0.00    0.00     0             -        -      (50.00 credit)
"""
import csv
import io
import re

import pytest
from openpyxl import load_workbook

from arrears.services.households import ListQuery, mask_phone
from conftest import csrf_from
from household_helpers import Household, by_testid, clock, examples, ref  # noqa: F401


def rows(html):
    """The unit references of the list's rows, in order."""
    return re.findall(r'data-testid="household-row" data-unit-ref="([^"]+)"', html)


def numbers(html):
    return [r.rsplit("/", 1)[1] for r in rows(html)]


@pytest.fixture
def clerk(client, login, examples):
    login("clerk")
    return client


def page(client, query=""):
    response = client.get("/households/" + query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(" 138 1234 5678 ") == "138****5678"
    assert mask_phone("12345") == "****45"
    assert mask_phone(None) == "" and mask_phone("") == ""


def test_list_default_is_amount_descending_with_exact_figures(clerk):
    html = page(clerk)
    assert numbers(html) == ["0103", "0104", "0102", "0101", "0105"]
    assert "共 5 户，欠费合计 535.43 元" in html
    row = re.search(r'data-unit-ref="示例花园/1栋/0104">(.*?)</tr>', html, re.S).group(1)
    for figure in ("103.00", "6.28", "109.28", ">61<", "催告", ">C<", "136****0104"):
        assert figure in row, figure
    assert "13600000104" not in html  # phones only masked (SPEC §9)
    assert 'data-testid="household-search"' in html


def test_sort_by_days_overdue_and_ascending(clerk):
    assert numbers(page(clerk, "?sort=days_desc")) == ["0103", "0104", "0102", "0101", "0105"]
    assert numbers(page(clerk, "?sort=amount_asc")) == ["0105", "0101", "0102", "0104", "0103"]
    assert numbers(page(clerk, "?sort=days_asc"))[-2:] == ["0104", "0103"]


def test_filters_by_stage_and_class(clerk):
    # 0102 and 0101 owe only late fee: staged from their oldest charge with late fee outstanding.
    assert numbers(page(clerk, "?stage=demand")) == ["0103", "0104", "0102", "0101"]
    assert numbers(page(clerk, "?stage=none")) == ["0105"]
    assert numbers(page(clerk, "?class=C")) == ["0103", "0104", "0102", "0101"]
    assert numbers(page(clerk, "?class=A")) == []
    assert "没有符合条件的住户。" in page(clerk, "?class=A")


def test_filters_by_estate_and_building(clerk, examples):
    from arrears.extensions import db
    from arrears.models import Unit
    unit = db.session.get(Unit, examples["0101"])
    assert len(rows(page(clerk, f"?estate={unit.building.estate_id}"))) == 5
    assert len(rows(page(clerk, f"?building={unit.building_id}"))) == 5
    assert rows(page(clerk, f"?estate={unit.building.estate_id + 100}")) == []


def test_search_by_reference_owner_and_phone(clerk):
    assert numbers(page(clerk, "?q=0104")) == ["0104"]
    assert numbers(page(clerk, "?q=" + ref("0103"))) == ["0103"]
    assert numbers(page(clerk, "?q=业主0105")) == ["0105"]
    assert numbers(page(clerk, "?q=13600000101")) == ["0101"]
    assert numbers(page(clerk, "?q=136-0000-0102")) == ["0102"]
    assert rows(page(clerk, "?q=%25")) == []  # a LIKE wildcard is a plain character
    assert rows(page(clerk, "?q=nobody")) == []


@pytest.mark.parametrize("typed", ["1-0104", "1栋0104", "1栋 0104", "1#0104", "1号楼0104", "1/0104"])
def test_search_by_building_and_unit_as_people_write_them(clerk, typed):
    from urllib.parse import quote
    assert numbers(page(clerk, "?q=" + quote(typed))) == ["0104"]


def test_a_short_reference_names_the_building_too(clerk):
    assert rows(page(clerk, "?q=2-0104")) == []  # no building 2


def test_hardship_filter(clerk, cli, write_csv, make_user):
    make_user("manager")
    path = write_csv("hardship.csv", "estate,building,unit,start,end,reason,requested_by,approved_by\n"
                                     "示例花园,1栋,0103,2026-05-01,2026-06-30,laid off,clerk,manager\n"
                                     "示例花园,1栋,0104,2026-01-01,2026-02-28,ill,clerk,manager\n")
    assert cli("import", "hardship", path).exit_code == 0
    html = page(clerk, "?hardship=1")
    assert numbers(html) == ["0103"]  # 0104's status is over
    assert "困难户" in html and "难点户" not in html


def test_dispute_filter_and_badge(clerk, examples):
    household = Household(clerk, examples["0102"])
    household.post("disputes", {"dispute-subject": "water leak not repaired"}, token_form="dispute")
    html = page(clerk, "?dispute=1")
    assert numbers(html) == ["0102"]
    assert by_testid(html, "dispute-badge") == "争议"


def test_broken_promise_count_in_the_list(clerk, examples, clock):
    from datetime import datetime

    from household_helpers import SHANGHAI
    household = Household(clerk, examples["0104"])
    household.post("promises", {"promise-amount": "50.00", "promise-promised_on": "2026-06-01"},
                   token_form="promise")
    assert 'data-testid="broken-promises"' not in page(clerk)
    clock.move_to(datetime(2026, 6, 2, 9, 0, tzinfo=SHANGHAI))
    assert by_testid(page(clerk), "broken-promises") == "违约承诺 1 次"


def test_lawyer_sees_only_households_in_legal_assigned_to_them(client, login, examples, make_user):
    make_user("lawyer")
    make_user("lawyer", "lawyer2")
    login("manager")
    Household(client, examples["0103"]).post("escalation", {"escalate-stage": "legal", "escalate-lawyer": "lawyer",
                                                            "escalate-reason": "unpaid since 2022"})
    Household(client, examples["0104"]).post("escalation", {"escalate-stage": "legal",
                                                            "escalate-reason": "no lawyer yet"})
    html = page(client)
    assert numbers(html)[:2] == ["0103", "0104"] and "法务" in html
    assert numbers(page(client, "?stage=legal")) == ["0103", "0104"]
    login("lawyer2")
    assert numbers(page(client)) == []
    assert "0103" not in client.get("/households/export.csv").get_data(as_text=True)
    login("lawyer")
    html = page(client)
    assert numbers(html) == ["0103"] and "只显示已转交法务的住户。" in html
    text = client.get("/households/export.csv").get_data(as_text=True)
    assert "0103" in text and "0104" not in text


def test_pages_of_fifty(clerk, cli, write_csv):
    lines = ["estate,building,unit,area_m2,owner_name,owner_phone"]
    lines += [f"示例花园,9栋,{n:04d},80.00,住户{n},139{n:08d}" for n in range(1, 61)]
    assert cli("import", "units", write_csv("more.csv", "\n".join(lines))).exit_code == 0
    first = page(clerk)
    assert len(rows(first)) == 50 and "共 65 户" in first
    assert numbers(first)[:2] == ["0103", "0104"]
    second = page(clerk, "?page=2")
    assert len(rows(second)) == 15
    assert not set(rows(first)) & set(rows(second))
    assert rows(page(clerk, "?page=99")) == rows(second)  # past the end: the last page
    assert rows(page(clerk, "?page=abc")) == rows(first)
    assert 'href="/households/?page=2"' in first


def test_bad_query_arguments_are_ignored_not_an_error(clerk):
    html = page(clerk, "?stage=nonsense&class=Z&sort=drop+table&estate=x&building=-1&hardship=maybe&page=-3")
    assert numbers(html) == ["0103", "0104", "0102", "0101", "0105"]
    html = page(clerk, "?estate=²&building=１&page=²")
    assert numbers(html) == ["0103", "0104", "0102", "0101", "0105"]
    assert ListQuery.clean({"q": "x" * 500}).q == "x" * 100


def test_the_list_uses_the_fast_figures_not_the_engine_per_unit(clerk, monkeypatch):
    def engine_called(*args, **kwargs):
        raise AssertionError("the list ran the engine for a unit")
    monkeypatch.setattr("arrears.services.reports.engine_arrears", engine_called)
    monkeypatch.setattr("arrears.services.households.unit_statement", engine_called)
    assert numbers(page(clerk)) == ["0103", "0104", "0102", "0101", "0105"]
    assert clerk.get("/households/export.csv").status_code == 200


def test_export_csv_is_the_current_list(clerk):
    response = clerk.get("/households/export.csv?stage=demand&sort=amount_asc")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith("\ufeff".encode("utf-8"))  # Excel reads the BOM as UTF-8
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[0][:6] == ["房号", "业主", "电话", "欠缴本金", "欠缴滞纳金", "欠费合计"]
    assert [row[0] for row in table[1:]] == [ref("0101"), ref("0102"), ref("0104"), ref("0103")]
    assert table[3][1:9] == ["业主0104", "136****0104", "103.00", "6.28", "109.28", "0.00", "61", "催告"]


def test_export_xlsx_is_the_current_list(clerk):
    response = clerk.get("/households/export.xlsx?q=0105")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "房号"
    assert len(values) == 2
    assert values[1][:8] == [ref("0105"), "业主0105", "136****0105", "0.00", "0.00", "0.00", "50.00", 0]


def test_export_neutralises_spreadsheet_formulas(clerk, cli, write_csv):
    path = write_csv("evil.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                 "示例花园,1栋,0999,80.00,=HYPERLINK(\"x\"),\n")
    assert cli("import", "units", path).exit_code == 0
    text = clerk.get("/households/export.csv?q=0999").get_data().decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    sheet = load_workbook(io.BytesIO(clerk.get("/households/export.xlsx?q=0999").get_data())).active
    assert sheet["B2"].value.startswith("'=")


def test_list_and_export_need_a_login(client):
    for url in ("/households/", "/households/export.csv", "/households/export.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_english_list(clerk):
    html = page(clerk)
    clerk.post("/language/en", data={"csrf_token": csrf_from(html), "next": "/households/"})
    html = page(clerk)
    assert "5 households, owing 535.43 in total" in html and "Demand" in html


def test_every_export_is_recorded_in_the_evidence_chain(clerk):
    import json

    from sqlalchemy import select

    from arrears.extensions import db
    from arrears.models import EvidenceEvent
    clerk.get("/households/export.csv?stage=demand&sort=amount_asc")
    clerk.get("/households/export.xlsx?q=0105")
    events = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "households_exported")
                                .order_by(EvidenceEvent.seq)).scalars().all()
    assert [(e.actor, json.loads(e.data)) for e in events] == [
        ("clerk", {"format": "csv", "filters": {"stage": "demand", "sort": "amount_asc"}, "rows": 4}),
        ("clerk", {"format": "xlsx", "filters": {"q": "0105"}, "rows": 1})]
