"""The dashboard: totals, aging, collection rate, stages and classes, the limitation
watchlist and today's work queue, on the shared examples with the clock frozen at
2026-05-31 12:00 in Shanghai (SPEC §5, §7, §9).

The examples as of 2026-05-31 (shared/examples/ledger/expected.json):

    unit  principal  late fee   total   oldest unpaid principal      stage   class
    0101       0.00      9.15    9.15   —  (late fee only)            demand  C
    0102       0.00     17.00   17.00   —  (late fee only)            demand  C
    0103     200.00    200.00  400.00   2022-06-30, 1431 days         demand  C
    0104     103.00      6.28  109.28   2026-03-31, 61 days           demand  C
    0105       0.00      0.00    0.00   —  (50.00 credit)             —       —
    total    303.00    232.43  535.43
"""
import json
import os
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine

from arrears.extensions import db
from arrears.models import Contact, Escalation, Promise, Unit
from arrears.services.ledger import find_unit

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 5, 31, 12, 0, tzinfo=SHANGHAI)
REF = "示例花园/1栋/{}"


@pytest.fixture
def clock():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def examples(clock, cli, examples_dir):
    for kind in ("units", "charges", "payments"):
        result = cli("import", kind, os.path.join(examples_dir, f"{kind}.csv"))
        assert result.exit_code == 0, result.output


@pytest.fixture
def page(client, login):
    """``page(role)``: the dashboard's HTML for a user of that role."""
    def get(role="clerk"):
        login(role)
        response = client.get("/")
        assert response.status_code == 200
        return response.get_data(as_text=True)
    return get


def cell_texts(html, testid):
    """The text of each cell of the row marked ``data-testid=testid``."""
    row = re.search(rf'<tr data-testid="{re.escape(testid)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row {testid}"
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def figure(html, testid):
    match = re.search(rf'data-testid="{re.escape(testid)}">([^<]*)<', html)
    assert match, f"no figure {testid}"
    return match.group(1).strip()


def rows_of(html, testid):
    """``[(unit ref, period or None, cells)]`` of the rows marked ``data-testid=testid``."""
    found = []
    for attributes, body in re.findall(rf'<tr data-testid="{testid}"([^>]*)>(.*?)</tr>', html, re.S):
        unit = re.search(r'data-unit="([^"]+)"', attributes).group(1)
        period = re.search(r'data-period="([^"]+)"', attributes)
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
        found.append((unit, period.group(1) if period else None, cells))
    return found


def add_contacts(number, *local_times):
    unit = find_unit(REF.format(number))
    for moment in local_times:
        db.session.add(Contact(unit_id=unit.id, channel="phone", contacted_at=moment.astimezone(timezone.utc),
                               staff="clerk", reached="owner", outcome="no answer"))
    db.session.commit()


def statement(cli, number, as_of="2026-05-31"):
    result = cli("statement", REF.format(number), "--as-of", as_of, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- totals, aging, stages, classes -------------------------------------------------------------

def test_totals_are_the_statements_totals(examples, page, cli):
    html = page()
    assert figure(html, "total-owed") == "535.43"
    assert figure(html, "principal") == "303.00"
    assert figure(html, "late-fee") == "232.43"
    assert figure(html, "households-owing") == "4 / 5"
    assert "其中已逾期 4 户" in html  # 0101 and 0102 owe late fee only: past due all the same
    documents = [statement(cli, number) for number in ("0101", "0102", "0103", "0104", "0105")]
    assert sum(float(d["totals"]["total_outstanding"]) for d in documents) == pytest.approx(535.43)


def test_aging_buckets(examples, page):
    html = page()
    expected = {"not_due": ("0", "0.00"), "1-30": ("0", "0.00"), "31-90": ("1", "109.28"),
                "91-180": ("0", "0.00"), "181-365": ("0", "0.00"), "366-": ("1", "400.00"),
                "late_fee_only": ("2", "26.15")}
    for key, (households, amount) in expected.items():
        assert cell_texts(html, f"aging-{key}")[1:] == [households, amount], key
    # The chart is drawn on the server, inline: no script, nothing from elsewhere.
    assert html.count("<svg") == 2 and "<script" not in html
    assert "31–90 天" in html and "365 天以上" in html and "仅欠滞纳金" in html


def test_charges_not_yet_due_have_their_own_bucket(clock, cli, write_csv, page):
    cli("import", "units", write_csv("u.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                               "示例花园,1栋,0201,90.00,业主0201,13600000201\n"))
    cli("import", "charges", write_csv("c.csv", "estate,building,unit,period,fee_item,amount,due_date\n"
                                                 "示例花园,1栋,0201,2026-05,物业管理费,250.00,2026-05-31\n"))
    html = page()
    assert cell_texts(html, "aging-not_due")[1:] == ["1", "250.00"]
    assert cell_texts(html, "stage-none")[1] == "1"


def test_stage_and_class_counts(examples, page):
    html = page()
    counts = {stage: cell_texts(html, f"stage-{stage}")[1]
              for stage in ("reminder", "demand", "final", "legal", "closed", "none")}
    # 0101 and 0102 owe only late fee: their stage counts from their oldest charge with
    # late fee outstanding (2025-12-31 and 2026-01-31, both over 30 days ago).
    assert counts == {"reminder": "0", "demand": "4", "final": "0", "legal": "0", "closed": "0", "none": "0"}
    assert [cell_texts(html, f"class-{k}")[1] for k in "ABC"] == ["0", "0", "4"]
    # A count leads to the household list with that filter.
    assert 'href="/households/?stage=demand">4</a>' in html and 'href="/households/?class=C">4</a>' in html


def test_escalated_household_counts_as_legal_and_leaves_the_queue(examples, page):
    unit = find_unit(REF.format("0103"))
    db.session.add(Escalation(unit_id=unit.id, stage="legal", reason="诉讼", created_by="manager"))
    db.session.commit()
    html = page()
    assert cell_texts(html, "stage-legal")[1] == "1" and cell_texts(html, "stage-demand")[1] == "3"
    assert [unit for unit, _, _ in rows_of(html, "queue-item")] == [REF.format(n) for n in ("0104", "0102", "0101")]


def test_english_page(examples, client, page):
    page()
    client.post("/language/en", data={"csrf_token": _csrf(client), "next": "/"})
    html = client.get("/").get_data(as_text=True)
    assert "Over 365 days" in html and "Today's work queue" in html and "Collection rate" in html


def _csrf(client):
    from tests.conftest import csrf_from
    return csrf_from(client.get("/").get_data(as_text=True))


# -- collection rate ---------------------------------------------------------------------------

def test_collection_rate_by_month(examples, page):
    html = page()
    # March 2026: billed 0104's 300.00 (billed on 03-01); collected 610.00 (0102, 03-31)
    # + 500.00 (0104, 03-10) = 1110.00, i.e. 370.0 %.
    assert cell_texts(html, "rate-2026-03")[1:] == ["300.00", "1,110.00", "370.0%"]
    # February: 0102's and 0104's 300.00 billed; 0101 paid 150.00 -> 25.0 %.
    assert cell_texts(html, "rate-2026-02")[1:] == ["600.00", "150.00", "25.0%"]
    assert cell_texts(html, "rate-2026-01")[1:] == ["300.00", "100.00", "33.3%"]
    assert cell_texts(html, "rate-2026-04")[1:] == ["300.00", "350.00", "116.7%"]
    assert cell_texts(html, "rate-2026-05")[1:] == ["0.00", "0.00", "—"]
    assert "（截至今日）" in cell_texts(html, "rate-2026-05")[0]
    months = re.findall(r'data-testid="rate-(\d{4}-\d{2})"', html)
    assert months[0] == "2025-06" and months[-1] == "2026-05" and len(months) == 12
    assert "收缴率 =" in html  # the definition, in one sentence on the page


def test_a_reversed_payment_is_not_collected(examples, page, cli):
    from arrears.models import Payment
    payment = Payment.query.filter_by(reference="EX0004").one()
    result = cli("reverse-payment", payment.id, "--reason", "退票")
    assert result.exit_code == 0, result.output
    assert cell_texts(page(), "rate-2026-03")[1:] == ["300.00", "610.00", "203.3%"]


# -- limitation watchlist ------------------------------------------------------------------------

WATCH_UNITS = ("estate,building,unit,area_m2,owner_name,owner_phone\n"
               "示例花园,2栋,0106,90.00,业主0106,13600000106\n"
               "示例花园,2栋,0107,90.00,业主0107,13600000107\n"
               "示例花园,2栋,0108,90.00,业主0108,13600000108\n")
# 0106: due 2023-05-15, never paid -> expired 2026-05-15;
#       due 2023-07-31 -> expires 2026-07-31 (61 days left);
#       due 2023-08-29 -> expires 2026-08-29, day 90 exactly (listed);
#       due 2023-08-30 -> expires 2026-08-30, day 91 (not listed).
# 0107: due 2023-06-30, 100.00 paid 2024-01-15 -> interrupted, expires 2027-01-15.
# 0108: due 2023-07-15, paid in full 2023-08-01 -> nothing outstanding, not listed.
WATCH_CHARGES = ("estate,building,unit,period,fee_item,amount,due_date\n"
                 "示例花园,2栋,0106,2023-05,物业管理费,150.00,2023-05-15\n"
                 "示例花园,2栋,0106,2023-07,物业管理费,300.00,2023-07-31\n"
                 "示例花园,2栋,0106,2023-08,物业管理费,300.00,2023-08-29\n"
                 "示例花园,2栋,0106,2023-09,物业管理费,300.00,2023-08-30\n"
                 "示例花园,2栋,0107,2023-06,物业管理费,300.00,2023-06-30\n"
                 "示例花园,2栋,0108,2023-07,物业管理费,300.00,2023-07-15\n")
WATCH_PAYMENTS = ("estate,building,unit,amount,paid_on,method,reference\n"
                  "示例花园,2栋,0107,100.00,2024-01-15,cash,W0107\n"
                  "示例花园,2栋,0108,300.00,2023-08-01,cash,W0108\n")


@pytest.fixture
def watch_data(examples, cli, write_csv):
    for kind, content in (("units", WATCH_UNITS), ("charges", WATCH_CHARGES), ("payments", WATCH_PAYMENTS)):
        result = cli("import", kind, write_csv(f"watch-{kind}.csv", content))
        assert result.exit_code == 0, result.output


def test_expired_charge_shows_as_expired(examples, page):
    html = page()
    assert rows_of(html, "expired-item") == [
        (REF.format("0103"), "2022-06", [REF.format("0103"), "2022-06", "200.00", "2025年6月30日 届满"])]
    assert rows_of(html, "watch-item") == []
    assert "已届满" in html


def test_charges_expiring_within_90_days(watch_data, page, cli):
    html = page()
    listed = rows_of(html, "watch-item")
    assert listed == [
        ("示例花园/2栋/0106", "2023-07", ["示例花园/2栋/0106", "2023-07", "300.00", "2026年7月31日", "61"]),
        ("示例花园/2栋/0106", "2023-08", ["示例花园/2栋/0106", "2023-08", "300.00", "2026年8月29日", "90"]),
    ]
    assert "2 笔应收" in figure_text(html, "watch-summary") and "600.00" in figure_text(html, "watch-summary")
    # The same dates as the statement's (the engine's) limitation_expires.
    document = json.loads(cli("statement", "示例花园/2栋/0106", "--as-of", "2026-05-31", "--json").output)
    assert [c["limitation_expires"] for c in document["charges"]] == \
        ["2026-05-15", "2026-07-31", "2026-08-29", "2026-08-30"]
    interrupted = json.loads(cli("statement", "示例花园/2栋/0107", "--as-of", "2026-05-31", "--json").output)
    assert interrupted["charges"][0]["limitation_expires"] == "2027-01-15"


def test_watchlist_reads_the_engine_where_the_projection_is_stale(watch_data, clock, cli, write_csv, page):
    # A charge billed later (2026-07-01) ends 0106's projection on 2026-06-30.
    cli("import", "charges", write_csv("later.csv", "estate,building,unit,period,fee_item,amount,due_date\n"
                                                     "示例花园,2栋,0106,2026-07,物业管理费,300.00,2026-07-31\n"))
    clock.move_to(datetime(2026, 7, 15, 12, 0, tzinfo=SHANGHAI))
    html = page()
    assert [(unit, period, cells[3:]) for unit, period, cells in rows_of(html, "watch-item")] == [
        ("示例花园/2栋/0106", "2023-07", ["2026年7月31日", "16"]),
        ("示例花园/2栋/0106", "2023-08", ["2026年8月29日", "45"]),
        ("示例花园/2栋/0106", "2023-09", ["2026年8月30日", "46"]),
    ]


def test_expired_charges_most_recent_first(watch_data, page):
    html = page()
    assert [(unit, period, cells[-1]) for unit, period, cells in rows_of(html, "expired-item")] == [
        ("示例花园/2栋/0106", "2023-05", "2026年5月15日 届满"), (REF.format("0103"), "2022-06", "2025年6月30日 届满")]
    assert "2 户的 2 笔应收（本金 350.00 元）已过诉讼时效" in figure_text(html, "expired-summary")


def figure_text(html, testid):
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</p>', html, re.S)
    assert match
    return re.sub(r"<[^>]+>", "", match.group(1))


# -- today's work queue --------------------------------------------------------------------------

def queue(html):
    """``[(unit ref, contacts in 7 days)]`` of the work queue (the column before the hint)."""
    return [(unit, cells[-2]) for unit, _, cells in rows_of(html, "queue-item")]


def test_queue_orders_by_amount(examples, page):
    assert queue(page()) == [(REF.format(n), "0") for n in ("0103", "0104", "0102", "0101")]


def test_three_contacts_in_seven_days_keep_a_household_out_of_the_queue(examples, page):
    add_contacts("0103", *(NOON - timedelta(days=d) for d in (1, 3, 5)))
    add_contacts("0104", *(NOON - timedelta(days=d) for d in (2, 4)))
    html = page()
    assert queue(html) == [(REF.format("0104"), "2"), (REF.format("0102"), "0"), (REF.format("0101"), "0")]
    assert "3 户" in figure_text(html, "queue-summary")


def test_contacts_older_than_seven_days_do_not_count(examples, page):
    add_contacts("0103", NOON - timedelta(days=7, minutes=1), NOON - timedelta(days=2), NOON - timedelta(days=1))
    assert queue(page()) == [(REF.format("0103"), "2"), (REF.format("0104"), "0"), (REF.format("0102"), "0"),
                             (REF.format("0101"), "0")]


def test_contacted_today_or_promised_is_not_due(examples, page):
    add_contacts("0103", NOON - timedelta(hours=3))
    add_contacts("0102", NOON - timedelta(hours=2))
    add_contacts("0101", NOON - timedelta(hours=1))
    unit = find_unit(REF.format("0104"))
    db.session.add(Promise(unit_id=unit.id, amount_fen=10928, made_on=NOON.date() - timedelta(days=2),
                           promised_on=NOON.date() + timedelta(days=5), created_by="clerk"))
    db.session.commit()
    html = page()
    assert queue(html) == [] and 'data-testid="queue-empty"' in html


def test_quiet_hours_are_shown(examples, clock, page):
    clock.move_to(datetime(2026, 5, 31, 22, 30, tzinfo=SHANGHAI))
    assert 'data-testid="quiet-hours"' in page()


def test_households_link_to_their_page(examples, page, app, client):
    from flask import url_for
    from arrears.web.dashboard import HOUSEHOLD_ENDPOINTS
    html = page()
    unit = find_unit(REF.format("0103"))
    endpoint = next((e for e in HOUSEHOLD_ENDPOINTS if e in app.view_functions), None)
    if endpoint is None:
        assert f'<td>{REF.format("0103")}</td>' in html
        return
    with app.test_request_context():
        href = url_for(endpoint, unit_id=unit.id)
    assert f'<a href="{href}">{REF.format("0103")}</a>' in html
    assert client.get(href).status_code == 200


# -- lawyers ---------------------------------------------------------------------------------------

def test_lawyer_sees_only_the_totals_of_their_legal_households(examples, page, make_user):
    from arrears.services.cases import record_step
    from arrears.services.collection import escalate
    make_user("lawyer")
    make_user("lawyer", "lawyer2")
    unit = find_unit(REF.format("0104"))
    escalate(unit, stage="legal", reason="诉讼", actor="manager")
    record_step(unit, "lawyer_assigned", datetime(2026, 5, 31).date(), "manager", lawyer="lawyer")
    other = find_unit(REF.format("0103"))  # in legal, another lawyer's case
    escalate(other, stage="legal", reason="诉讼", actor="manager")
    record_step(other, "lawyer_assigned", datetime(2026, 5, 31).date(), "manager", lawyer="lawyer2")
    html = page("lawyer")
    assert figure(html, "total-owed") == "109.28"
    assert figure(html, "principal") == "103.00" and figure(html, "late-fee") == "6.28"
    assert figure(html, "households-owing") == "1 / 1"
    for marker in ("queue-item", "watch-item", "expired-item", "aging-", "rate-", "stage-", "class-"):
        assert f'data-testid="{marker}' not in html
    assert "0103" not in html and "0104" not in html and "<svg" not in html


def test_lawyer_without_cases_sees_zero(examples, page):
    unit = find_unit(REF.format("0104"))  # in legal, but assigned to no lawyer
    db.session.add(Escalation(unit_id=unit.id, stage="legal", reason="诉讼", created_by="manager"))
    db.session.commit()
    html = page("lawyer")
    assert figure(html, "total-owed") == "0.00" and figure(html, "households-owing") == "0 / 0"


def test_dashboard_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- the service against the fast report and the engine ------------------------------------------

def test_household_figures_equal_the_fast_report_and_the_engine(watch_data, app):
    from arrears.services.dashboard import households
    from arrears.services.reports import arrears_by_unit, engine_arrears
    as_of = NOON.date()
    fast = arrears_by_unit(as_of)
    for household in households(as_of):
        unit = db.session.get(Unit, household.unit_id)
        reference = engine_arrears(unit, as_of)
        assert (household.principal_fen, household.late_fee_fen) == \
            (fast[unit.id].principal_outstanding_fen, fast[unit.id].late_fee_outstanding_fen) == \
            (reference.principal_outstanding_fen, reference.late_fee_outstanding_fen)


def test_latest_due_expiring_by_handles_29_february(app):
    from datetime import date
    from arrears.services.dashboard import latest_due_expiring_by
    assert latest_due_expiring_by(date(2027, 2, 28), 3) == date(2024, 2, 29)
    assert latest_due_expiring_by(date(2028, 2, 29), 3) == date(2025, 2, 28)
    assert latest_due_expiring_by(date(2026, 8, 29), 3) == date(2023, 8, 29)


def test_a_household_owing_only_a_bill_not_yet_due_is_owing_but_not_past_due(examples, page, cli, write_csv):
    units = write_csv("u.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n示例花园,1栋,0106,80.00,新业主,\n")
    charges = write_csv("c.csv", "estate,building,unit,period,fee_item,amount,due_date\n"
                                 "示例花园,1栋,0106,2026-05,物业管理费,120.00,2026-06-15\n")
    for kind, path in (("units", units), ("charges", charges)):
        assert cli("import", kind, path).exit_code == 0
    html = page()
    assert figure(html, "households-owing") == "5 / 6"
    assert "其中已逾期 4 户（其余仅有未到期账单）" in html
