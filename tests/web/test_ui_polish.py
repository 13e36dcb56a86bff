"""Small defects of the screens, found at 1366×768 on the demo, each with the test that
shows it fixed: a form sent back with its errors opens at the form and says so at the
top; the 405 page of a form's address reads as such, with a way back; the whole work
queue has a page; the aging chart's amounts are grouped; the list's first page offers
no page 0; the relief screen's hardship status is a word, its total row counts the
waivers and its undo buttons do not wrap; the CSV's Content-Type names its charset once;
/favicon.ico answers. (The layout at 1366 px wide is measured in a real browser:
tests/browser/test_ui_polish.py.)"""
import io
import re

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Charge, Unit
from conftest import csrf_from
from household_helpers import Household, clock, examples, text_of  # noqa: F401  (fixtures)
from notice_helpers import household, many_households  # noqa: F401  (fixtures; they use this module's clock)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def english(client):
    page = client.get("/").get_data(as_text=True)
    client.post("/language/en", data={"csrf_token": csrf_from(page), "next": "/"})


def form_tags(html):
    """``{testid: attributes}`` of every ``<form>`` of the page that has a ``data-testid``."""
    found = {}
    for tag in re.findall(r"<form\b[^>]*>", html):
        testid = re.search(r'data-testid="([^"]+)"', tag)
        if testid:
            found[testid.group(1)] = tag
    return found


def alert_of(html):
    match = re.search(r'<div class="alert alert-danger" role="alert" data-testid="form-errors-alert">(.*?)</div>\s*</div>',
                      html, re.S)
    assert match, "no form-errors-alert on the page"
    return match.group(1)


# -- 1. a form sent back with its errors ----------------------------------------------------

# The household page's forms that are sent back with their errors (HTTP 422/409), and the
# element each one's action points at.
VALIDATED_FORMS = {"pay-form": "pay-form", "contact-form": "contact-form", "promise-form": "promise-form",
                   "dispute-form": "dispute-form", "reverse-form": "reverse-form",
                   "escalate-form": "escalate-form", "hardship-form": "hardship-form",
                   "waiver-form": "waiver-form", "plan-form": "plan-form", "case-step-form": "case-steps"}


def test_every_form_of_the_household_page_posts_to_an_address_ending_with_its_own_id(client, login, examples):
    login("manager")
    html = Household(client, examples["0104"]).page()
    tags = form_tags(html)
    for testid, anchor in VALIDATED_FORMS.items():
        if testid == "case-step-form":
            continue  # shown once the household is escalated to legal: below
        assert testid in tags, testid
        action = re.search(r'action="([^"]+)"', tags[testid]).group(1)
        assert action.endswith(f"#{anchor}"), (testid, action)
        assert len(re.findall(rf'\bid="{anchor}"', html)) == 1, anchor
    assert 'data-testid="form-errors-alert"' not in html  # nothing sent back: no alert


def test_the_case_step_form_posts_to_the_case_section(client, login, examples):
    login("manager")
    page = Household(client, examples["0104"])
    response = page.post("escalation", {"escalate-stage": "legal", "escalate-reason": "拒不缴费", "escalate-lawyer": ""})
    assert response.status_code == 302
    html = page.page()
    action = re.search(r'action="([^"]+)"', form_tags(html)["case-step-form"]).group(1)
    assert action.endswith("#case-steps") and 'id="case-steps"' in html


@pytest.mark.parametrize("action, data, token_form, anchor, label", [
    ("payments", {"pay-amount": "abc", "pay-paid_on": "2026-05-31", "pay-method": "wechat", "pay-reference": "X1"},
     None, "pay-form", "登记缴费"),
    ("promises", {"promise-amount": "", "promise-promised_on": "2026-06-10"}, "promise", "promise-form", "记录还款承诺"),
    ("disputes", {"dispute-subject": "", "dispute-note": ""}, "dispute", "dispute-form", "登记争议"),
])
def test_a_form_sent_back_with_errors_says_so_at_the_top_and_links_to_the_form(
        client, login, examples, action, data, token_form, anchor, label):
    login("clerk")
    response = Household(client, examples["0104"]).post(action, data, token_form=token_form)
    assert response.status_code == 422
    html = text_of(response)
    alert = alert_of(html)
    assert "未保存" in alert and label in alert
    assert f'href="#{anchor}"' in alert
    # At the top: before the household's own heading, and the section it links to exists.
    assert html.index('data-testid="form-errors-alert"') < html.index('data-testid="unit-ref"')
    assert f'id="{anchor}"' in html


def test_the_alert_for_a_relief_form_and_in_english(client, login, examples):
    login("clerk")
    english(client)
    unit_id = examples["0104"]
    page = client.get(f"/households/{unit_id}").get_data(as_text=True)
    response = client.post(f"/households/{unit_id}/relief/hardship", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "hardship-start_on": "2026-05-31", "hardship-end_on": "2026-05-01",
        "hardship-reason": "", "hardship-renews_id": ""})
    assert response.status_code == 422
    alert = alert_of(text_of(response))
    assert "Not saved" in alert and "Request hardship status" in alert and 'href="#hardship-form"' in alert


def test_a_manager_form_sent_back_links_to_it(client, login, examples):
    login("manager")
    response = Household(client, examples["0104"]).post(
        "escalation", {"escalate-stage": "legal", "escalate-reason": "", "escalate-lawyer": ""})
    assert response.status_code == 422
    alert = alert_of(text_of(response))
    assert "转交法务" in alert and 'href="#escalate-form"' in alert


# -- 2. the 405 page of a form's address ------------------------------------------------------

def test_opening_a_forms_address_says_it_takes_a_form_and_leads_back(client, login, examples):
    login("clerk")
    unit_id = examples["0104"]
    response = client.get(f"/households/{unit_id}/contacts")
    assert response.status_code == 405
    html = text_of(response)
    assert "无权操作" not in html
    assert "此地址只接收提交的表单" in html
    assert re.search(rf'href="/households/{unit_id}"[^>]*>返回住户页面<', html)

    response = client.get("/logout")  # not a household's: back to the overview
    assert response.status_code == 405
    assert re.search(r'href="/"[^>]*>返回总览<', text_of(response))

    english(client)
    html = text_of(client.get(f"/households/{unit_id}/payments"))
    assert "This address only accepts a submitted form" in html and "Not allowed" not in html
    assert re.search(rf'href="/households/{unit_id}"[^>]*>Back to the household<', html)


# -- 4. the whole work queue -------------------------------------------------------------------

def queue_units(html):
    return re.findall(r'<tr data-testid="queue-item" data-unit="([^"]+)"', html)


def test_the_whole_work_queue_has_a_page_linked_from_the_overview(client, login, many_households, monkeypatch):
    many_households(30)  # 30 households in stage demand, all due a contact
    import arrears.services.dashboard as service
    login("clerk")
    overview = client.get("/").get_data(as_text=True)
    assert len(queue_units(overview)) == service.QUEUE_SIZE == 20
    assert re.search(r'<h2[^>]*id="queue"[^>]*><a href="/queue"', overview)
    assert 'href="/queue" data-testid="queue-all"' in overview and "查看全部 30 户" in overview

    response = client.get("/queue")
    assert response.status_code == 200
    html = text_of(response)
    units = queue_units(html)
    assert len(units) == 30 and units[:20] == queue_units(overview)  # the same order, then the rest
    assert "共 30 户" in html


def test_the_queue_page_is_the_dashboards_roles_only(client, login, examples):
    assert client.get("/queue").status_code == 302  # logged out: to the login page
    login("lawyer")
    assert client.get("/queue").status_code == 403


# -- 5. grouped amounts in the aging chart --------------------------------------------------------

def test_the_aging_chart_groups_thousands(client, login, examples, cli, write_csv):
    charges = write_csv("big.csv", "estate,building,unit,period,fee_item,amount,due_date\n"
                        "示例花园,1栋,0105,2026-04,停车费,12345.67,2026-04-30\n")
    result = cli("import", "charges", charges)
    assert result.exit_code == 0, result.output
    login("clerk")
    html = client.get("/").get_data(as_text=True)
    chart = html[html.index("<svg"):html.index("</svg>")]
    labels = re.findall(r"户 · ([\d,.]+) 元", chart)
    assert labels and any("," in label for label in labels), labels
    assert "12345." not in chart


# -- 6. no page 0 ---------------------------------------------------------------------------------

def test_the_first_page_offers_no_previous_and_the_last_no_next(client, login, many_households):
    many_households(60)  # two pages of 50
    login("clerk")
    first = client.get("/households/").get_data(as_text=True)
    assert "page=0" not in first
    previous = re.search(r'<(\w+) [^>]*data-testid="page-previous"', first)
    assert previous and previous.group(1) == "span"
    assert re.search(r'<a [^>]*href="[^"]*page=2[^"]*"[^>]*data-testid="page-next"', first)
    last = client.get("/households/?page=2").get_data(as_text=True)
    assert "page=3" not in last
    assert re.search(r'<(\w+) [^>]*data-testid="page-next"', last).group(1) == "span"
    assert re.search(r'<a [^>]*href="[^"]*page=1[^"]*"[^>]*data-testid="page-previous"', last)


# -- 7. the relief screen ---------------------------------------------------------------------------

def test_relief_screen_status_words_total_count_and_one_line_undo(client, login, household):
    unit_id = db.session.execute(select(Unit.id).where(Unit.number == "1201")).scalar_one()
    charge_id = db.session.execute(select(Charge.id).where(Charge.unit_id == unit_id,
                                                           Charge.period == "2026-01")).scalar_one()
    login("clerk")
    page = client.get(f"/households/{unit_id}").get_data(as_text=True)
    response = client.post(f"/households/{unit_id}/relief/hardship", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "hardship-start_on": "2026-05-11", "hardship-end_on": "2026-06-10",
        "hardship-reason": "家庭成员重病", "hardship-renews_id": "",
        "hardship-document": (io.BytesIO(PNG), "证明.png")})
    assert response.status_code == 302
    response = client.post(f"/households/{unit_id}/relief/waivers", data={
        "csrf_token": csrf_from(page), "waiver-charge": str(charge_id), "waiver-kind": "late_fee",
        "waiver-amount": "1.00", "waiver-reason": "non_malicious", "waiver-note": ""})
    assert response.status_code == 302
    client.delete_cookie("session")
    login("manager", "boss")
    for subject in ("hardship", "waiver"):
        page = client.get("/relief/").get_data(as_text=True)
        assert client.post(f"/relief/decisions/{subject}/1/approved", data={
            "csrf_token": csrf_from(page), f"decide-{subject}-1-note": ""}).status_code == 302

    html = client.get("/relief/").get_data(as_text=True)
    state = re.search(r'data-testid="hardship-state"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert "#" not in re.sub(r"<[^>]+>", "", state)
    assert "即将到期" in state  # ends 2026-06-10: within the 30 days' warning
    total = re.search(r'data-testid="relief-total-waivers">([^<]*)<', html).group(1)
    assert total == "1"
    undo = re.search(r'<button[^>]*data-testid="undo-waiver"', html).group(0)
    assert "text-nowrap" in undo


# -- 8. the CSV's Content-Type ------------------------------------------------------------------------

def test_the_csv_names_its_charset_once(client, login, examples):
    login("clerk")
    response = client.get("/households/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


# -- 9. the favicon ------------------------------------------------------------------------------------

def test_favicon_answers_without_a_login_and_is_linked(client, login, app):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    login_page = client.get("/login").get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)"', login_page).group(1)
    response = client.get(icon)
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    login("clerk")
    assert '<link rel="icon"' in client.get("/").get_data(as_text=True)
