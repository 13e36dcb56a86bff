"""Collection craft in the browser (issue 7): a clerk opening the morning's work queue
sees when to call, and on the household page what to say (the call guide for the stage,
with the amount filled in, the reply for the reason the resident gives, and what may
never be said); the contact links the guide version it was logged under. A manager
prints the visit route for two buildings and the PDF walks them in order. At month end a
clerk's commission statement matches a hand calculation.

Each test works on a household of its own (conftest.HOUSEHOLDS); the commission test
uses a clerk of its own, so that no other test's payments are credited to them.
"""
import re
import subprocess
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD, TIMEZONE, local_today, months_before, open_household, owner_of

pytestmark = pytest.mark.usefixtures("craft_pages")


@pytest.fixture
def craft_pages(require_endpoint):
    require_endpoint("/visits/")
    require_endpoint("/guides/")
    require_endpoint("/performance/")


def last_ten_am():
    """The latest 10:00 (Shanghai) that has passed: a time the contact policy allows."""
    now = datetime.now(ZoneInfo(TIMEZONE))
    day = now.date() if now.time() >= time(10, 5) else now.date() - timedelta(days=1)
    return datetime.combine(day, time(10, 0))


def contact_form(page):
    return page.locator("form:has([data-testid=contact-submit])")


def field(form, name):
    return form.locator(f"[name$='{name}']:not([type=hidden])")


def log_contact(page, outcome, reason=None):
    form = contact_form(page)
    field(form, "contacted_at").fill(last_ten_am().strftime("%Y-%m-%dT%H:%M"))
    if reason:
        field(form, "reason").select_option(reason)
    field(form, "outcome").fill(outcome)
    with page.expect_navigation():
        form.get_by_test_id("contact-submit").click()
    expect(page.locator("main > .alert-success")).to_contain_text(outcome)


def test_the_morning_queue_says_when_to_call_and_the_page_what_to_say(live_server, logged_in):
    page = logged_in("clerk")
    expect(page.get_by_role("columnheader", name="建议致电时段")).to_be_visible()
    open_household(page, live_server.url, "craft")
    expect(page.get_by_test_id("call-hint")).to_contain_text("建议致电时段")

    guide = page.get_by_test_id("call-guide")
    expect(guide).to_be_visible()
    # The opening names the owner, the periods and the exact amount owed, as the page shows it.
    opening = guide.get_by_test_id("guide-opening")
    expect(opening).to_contain_text(owner_of("craft"))
    expect(opening).to_contain_text(page.get_by_test_id("balance-total").inner_text().strip())
    for period in months_before(local_today(), 3):
        expect(opening).to_contain_text(period)
    never = guide.get_by_test_id("guide-never-say")
    expect(never).to_be_visible()
    expect(never).to_contain_text("供水")

    # The resident says they are away: picking the reason opens its guide.
    away = guide.locator("details[data-guide-reason=away]")
    expect(away).not_to_have_attribute("open", "")
    field(contact_form(page), "reason").select_option("away")
    expect(away).to_have_attribute("open", "")
    expect(away.get_by_test_id("guide-replies")).to_be_visible()

    log_contact(page, "业主出差，月底回来缴费", reason="away")
    logged = page.get_by_test_id("timeline").locator("[data-kind=contact_logged]").first
    link = logged.get_by_test_id("guide-link")
    expect(link).to_have_text("话术第 1 版")
    with page.expect_navigation():
        link.click()
    expect(page.locator("main")).to_contain_text("第 1 版")


def test_a_manager_prints_the_visit_route_for_two_buildings(live_server, logged_in, tmp_path):
    page = logged_in("manager")
    page.goto(live_server.url + "/visits/")
    choice = page.get_by_test_id("visit-choice")
    choice.get_by_label("1栋").check()
    choice.get_by_label("2栋").check()
    with page.expect_navigation():
        page.get_by_test_id("visit-preview").click()
    expect(page.get_by_test_id("visit-count")).to_contain_text("户")
    rows = page.get_by_test_id("visit-preview-table").locator("tbody tr")
    units = [re.search(r"\d栋/\d+", text).group(0) for text in rows.all_inner_texts()]
    assert units, "nobody due a visit"
    buildings = [unit.split("/")[0] for unit in units]
    assert buildings == sorted(buildings) and set(buildings) == {"1栋", "2栋"}, units
    with page.expect_navigation():
        page.get_by_test_id("visit-print").click()
    with page.expect_download() as download:
        page.get_by_test_id("visit-sheet-pdf").click()
    pdf = tmp_path / "route.pdf"
    download.value.save_as(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "外访" in text
    positions = [text.find(unit.replace("/", " ")) for unit in units]  # printed "1栋 0103"
    missing = [unit for unit, at in zip(units, positions) if at < 0]
    assert not missing, f"not on the sheet: {missing}"
    assert positions == sorted(positions), "the sheet is not in route order"
    expect(page.get_by_test_id("visit-sheet-outcomes")).to_be_visible()


def test_a_clerks_commission_statement_matches_a_hand_calculation(live_server, logged_in, new_page):
    from .conftest import log_in
    live_server.cli("create-user", "clerk9", "--role", "clerk", input=PASSWORD + "\n")
    month = local_today().strftime("%Y-%m")

    # The admin records this month's scheme: 4% up to 200.00, 5% above; 1.00 for every 100.00.
    admin = logged_in("admin")
    admin.goto(live_server.url + "/admin/commission")
    form = admin.get_by_test_id("commission-form")
    form.locator("[name=kind]").select_option("tiered_marginal")
    form.locator("[name=effective_month]").fill(month)
    form.locator("[name=up_to_1]").fill("200.00")
    form.locator("[name=tier_rate_1]").fill("4")
    form.locator("[name=up_to_2]").fill("")
    form.locator("[name=tier_rate_2]").fill("5")
    for number in (3, 4, 5):
        form.locator(f"[name=up_to_{number}]").fill("")
        form.locator(f"[name=tier_rate_{number}]").fill("")
    form.locator("[name=bonus_every]").fill("100.00")
    form.locator("[name=bonus_amount]").fill("1.00")
    with admin.expect_navigation():
        form.get_by_role("button", name="添加版本").click()
    expect(admin.locator("main > .alert-success")).to_be_visible()

    # clerk9 calls the household, which then pays 300.00: credited to clerk9.
    page = new_page()
    log_in(page, live_server.url, "clerk9")
    open_household(page, live_server.url, "commission")
    log_contact(page, "业主答应今天缴费")
    pay = page.locator("form:has([data-testid=pay-submit])")
    field(pay, "amount").fill("300.00")
    field(pay, "reference").fill(f"BT-COMM-{datetime.now():%H%M%S%f}")
    with page.expect_navigation():
        pay.get_by_test_id("pay-submit").click()

    manager = logged_in("manager")
    manager.goto(f"{live_server.url}/performance/statement?clerk=clerk9&month={month}")
    expect(manager.get_by_test_id("recovered")).to_contain_text("300.00")
    # By hand: 200.00 × 4% = 8.00; 100.00 × 5% = 5.00; 3 steps of 100.00 × 1.00 = 3.00. Total 16.00.
    lines = manager.get_by_test_id("working-line")
    expect(lines).to_have_count(3)
    expect(lines.nth(0)).to_contain_text("8.00")
    expect(lines.nth(1)).to_contain_text("5.00")
    expect(lines.nth(2)).to_contain_text("3.00")
    expect(manager.get_by_test_id("commission-total")).to_contain_text("16.00")
    expect(manager.get_by_test_id("credit")).to_have_count(1)


def test_choosing_another_estate_shows_its_buildings_at_once(live_server, logged_in, tmp_path):
    """The visit chooser reloads for the estate chosen (static/visits.js), nothing asked
    yet: its buildings, none ticked, and no complaint about choosing one. The estate is
    named to sort after the example estate, so the other tests' defaults stay as they were."""
    units = tmp_path / "second-estate.csv"
    units.write_text("estate,building,unit,area_m2,owner_name,owner_phone\n"
                     "远景苑,9栋,0901,88.00,赵远景,13900000901\n", encoding="utf-8")
    live_server.cli("import", "units", units)
    page = logged_in("manager")
    page.goto(live_server.url + "/visits/")
    choice = page.get_by_test_id("visit-choice")
    expect(choice.get_by_label("1栋")).to_be_visible()
    with page.expect_navigation():
        choice.get_by_label("小区").select_option(label="远景苑")
    choice = page.get_by_test_id("visit-choice")
    expect(choice.get_by_label("9栋")).not_to_be_checked()
    expect(choice.get_by_label("1栋")).to_have_count(0)
    expect(page.get_by_test_id("visit-error")).to_have_count(0)
