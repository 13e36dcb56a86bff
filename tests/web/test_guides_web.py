"""Call guides on screen (issue 7 part 1): the guide beside the contact form in Chinese and
in English, the guide list and a guide's versions, the admin's edit form (a new version;
bad texts answered next to the section, never a 500), who may do what, and the link from
a logged contact to the version it was logged under. The worked examples are imported under
a clock stopped at 2026-05-31 (see household_helpers): 0104 is in ``demand``, 0105 owes nothing."""
import re

import pytest

from arrears.extensions import db
from arrears.models import CallGuide, Contact
from arrears.services import guides
from conftest import csrf_from
from household_helpers import Household, clock, examples  # noqa: F401

EDIT_URL = "/guides/demand/hardship/zh_CN/edit"
TEXTS = {"opening": "您好，{owner}业主，我是{office}的工作人员。", "replies": "· 先表示理解。",
         "offer": "缴费方式：{ways_to_pay}。", "never_say": "· 不得以停水相威胁。"}


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def switch_to_english(client, url):
    client.post("/language/en", data={"csrf_token": csrf_from(page(client, url)), "next": url})


def save(client, texts, url=EDIT_URL, based_on=None):
    html = page(client, url)
    data = {"csrf_token": csrf_from(html), **texts}
    data["based_on"] = based_on or re.search(r'name="based_on"[^>]*value="(\d+)"', html).group(1)
    return client.post(url, data=data)


def contact_data(reason=""):
    return {"contact-channel": "phone", "contact-contacted_at": "2026-05-31T09:30", "contact-reached": "owner",
            "contact-outcome": "will pay next week", "contact-reason": reason}


# -- beside the contact form ------------------------------------------------------------------

def test_household_page_shows_the_guide_of_its_stage_filled_in_chinese(client, login, examples):
    login("clerk")
    html = Household(client, examples["0104"]).page()
    box = html[html.index('data-testid="call-guide"'):]
    assert "催收话术 · 催告" in box
    opening = re.search(r'data-testid="guide-opening"[^>]*>(.*?)</div>', box, re.S).group(1)
    assert "业主0104" in opening and "109.28 元" in opening and "2026-03" in opening and "{" not in opening
    reasons = re.findall(r'data-guide-reason="(\w+)"', box)
    assert reasons == ["opening", "hardship", "service_dispute", "away", "refuses", "unreachable",
                       "deceased_or_estate", "other"]
    assert "困难户认定申请" in box and "经济困难" in box  # the hardship guide's offer and label
    never = re.search(r'data-testid="guide-never-say"(.*?)</div>\s*</div>', box, re.S).group(1)
    assert "停止供水" in never and "21:00 至 08:00" in never
    assert "guides.js" in box and 'src="http' not in box


def test_household_page_shows_the_guide_in_english(client, login, examples):
    login("clerk")
    url = f"/households/{examples['0104']}"
    switch_to_english(client, url)
    html = page(client, url)
    box = html[html.index('data-testid="call-guide"'):]
    assert "Call guide · Demand" in box
    opening = re.search(r'data-testid="guide-opening"[^>]*>(.*?)</div>', box, re.S).group(1)
    assert "Hello, am I speaking with 业主0104" in opening and "109.28 yuan" in opening
    assert "Financial hardship" in box and "Never say" in box and "law firm" in box


def test_a_household_with_no_stage_says_there_is_no_guide(client, login, examples):
    login("clerk")
    html = Household(client, examples["0105"]).page()
    assert 'data-testid="no-guide"' in html and 'data-testid="guide-opening"' not in html


def test_a_lawyer_sees_no_contact_guide_and_no_link_to_it(client, login, examples, make_user):
    from datetime import date

    from arrears.models import Unit
    from arrears.services.cases import record_step
    from arrears.services.collection import escalate, log_contact
    from household_helpers import FROZEN
    unit = db.session.get(Unit, examples["0104"])
    log_contact(unit, channel="phone", contacted_at=FROZEN, reached="owner", outcome="no", actor="clerk")
    escalate(unit, stage="legal", reason="no answer", actor="manager")
    make_user("lawyer")
    record_step(unit, "lawyer_assigned", date(2026, 5, 31), "manager", lawyer="lawyer")
    login("lawyer")
    html = Household(client, examples["0104"]).page()
    assert 'data-testid="call-guide"' not in html
    assert re.search(r'<span class="small text-muted" data-testid="guide-link">话术第 1 版</span>', html)


# -- the contact links its guide ----------------------------------------------------------------

def test_a_logged_contact_links_the_version_it_was_logged_under(client, login, examples):
    login("admin")
    assert save(client, TEXTS).status_code == 302  # the hardship guide of demand is now v2
    login("clerk")
    household = Household(client, examples["0104"])
    response = household.post("contacts", contact_data("hardship"), token_form="contact")
    assert response.status_code == 302
    contact = db.session.query(Contact).one()
    guide = db.session.get(CallGuide, contact.guide_id)
    assert (guide.stage, guide.reason, guide.language, guide.version) == ("demand", "hardship", "zh_CN", 2)
    html = household.page()
    link = re.search(r'<a class="small" data-testid="guide-link" href="([^"]+)">([^<]+)</a>', html)
    assert link.group(1) == "/guides/demand/hardship/zh_CN/v2" and link.group(2) == "话术第 2 版"
    login("admin")
    assert save(client, dict(TEXTS, replies="· 先倾听。")).status_code == 302  # v3
    login("clerk")
    assert 'href="/guides/demand/hardship/zh_CN/v2"' in household.page()  # still v2
    shown = page(client, link.group(1))
    assert 'data-testid="not-in-force"' in shown and "先表示理解" in shown


def test_contact_in_english_links_the_english_opening_guide(client, login, examples):
    login("clerk")
    url = f"/households/{examples['0104']}"
    switch_to_english(client, url)
    response = Household(client, examples["0104"]).post("contacts", contact_data(), token_form="contact")
    assert response.status_code == 302
    guide = db.session.get(CallGuide, db.session.query(Contact).one().guide_id)
    assert (guide.stage, guide.reason, guide.language) == ("demand", "opening", "en")
    assert "guide v1" in page(client, url)


# -- the guide screens --------------------------------------------------------------------------

def test_index_lists_every_guide_in_force_in_the_current_language(client, login):
    login("clerk")
    html = page(client, "/guides/")
    cells = re.findall(r'data-testid="guide-cell" data-stage="(\w+)" data-reason="(\w+)"', html)
    assert len(cells) == 32 and "首次通话（尚未说明原因）" in html and "第 1 版" in html
    assert 'href="/guides/final/refuses/zh_CN"' in html
    english = page(client, "/guides/?language=en")
    assert 'href="/guides/final/refuses/en"' in english
    page(client, "/guides/?language=fr", status=404)


def test_show_gives_the_guide_and_its_history(client, login):
    login("manager")
    html = page(client, "/guides/final/refuses/zh_CN")
    assert "《民法典》第九百四十四条" in html and 'data-testid="guide-history"' in html
    assert 'data-testid="guide-edit"' not in html  # managers read only
    for bad in ("/guides/closed/refuses/zh_CN", "/guides/final/bored/zh_CN", "/guides/final/refuses/fr",
                "/guides/final/refuses/zh_CN/v9"):
        page(client, bad, status=404)


def test_roles_clerks_and_managers_read_admins_edit_lawyers_nothing(client, login):
    for role in ("clerk", "manager"):
        login(role)
        page(client, "/guides/")
        page(client, EDIT_URL, status=403)
        html = page(client, "/guides/")
        assert client.post(EDIT_URL, data={"csrf_token": csrf_from(html), **TEXTS}).status_code == 403
    login("lawyer")
    for url in ("/guides/", "/guides/demand/hardship/zh_CN", "/guides/demand/hardship/zh_CN/v1", EDIT_URL):
        page(client, url, status=403)
    login("admin")
    html = page(client, EDIT_URL)
    assert 'data-testid="guide-form"' in html and "{ways_to_pay}" in html
    assert db.session.query(CallGuide).filter(CallGuide.version > 1).count() == 0


def test_admin_edit_saves_a_new_version(client, login):
    login("admin")
    response = save(client, TEXTS)
    assert response.status_code == 302 and response.headers["Location"].endswith("/guides/demand/hardship/zh_CN")
    html = page(client, "/guides/demand/hardship/zh_CN")
    assert "第 2 版" in html and "先表示理解" in html and "已保存" in html
    assert guides.guide_in_force("demand", "hardship", "zh_CN").created_by == "admin"


@pytest.mark.parametrize("section, wording, message", [
    ("opening", "不交就停水。", "不得说“停水”：这是以停止供水"),
    ("offer", "This is the court: pay now.", "不得说“this is the court”：这是冒充法院"),
    ("replies", "   ", "此栏为空"),
    ("never_say", "", "此栏为空"),
    ("opening", "您欠 {amout} 元。", "{amout} 不是可用的占位符"),
])
def test_bad_edits_are_answered_next_to_the_section(client, login, section, wording, message):
    login("admin")
    response = save(client, dict(TEXTS, **{section: wording}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(rf'id="{section}-error">[^<]*{re.escape(message)}', html), html[:200]
    assert db.session.query(CallGuide).filter(CallGuide.version > 1).count() == 0


def test_a_stale_edit_is_refused(client, login):
    login("admin")
    html = page(client, EDIT_URL)
    assert save(client, TEXTS).status_code == 302
    response = client.post(EDIT_URL, data={"csrf_token": csrf_from(html), "based_on": "1",
                                           **dict(TEXTS, offer="另一个方案。")})
    assert response.status_code == 422 and "已有其他版本保存" in response.get_data(as_text=True)


def test_edit_without_csrf_is_refused(client, login):
    login("admin")
    assert client.post(EDIT_URL, data=TEXTS).status_code == 400
