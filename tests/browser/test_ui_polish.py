"""The layout at 1366×768 and a form sent back with its errors, in a real browser.

- the top bar keeps to one line in English, as admin (the longest menu), and no page
  scrolls sideways: the staff performance table fits, its last column in view;
- a household form sent back with its errors (HTTP 422) opens at the form, with an alert
  at the top of the page; after a form went through, the page is at the top again, where
  the confirmation is, and its address carries no fragment.
"""
import re
import secrets

import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD, _write_fixture_csvs, household_ref, log_in

WIDTH = 1366

LAYOUT = """() => {
  const nav = document.querySelector('nav.navbar');
  const tops = [...nav.querySelectorAll('.nav-link, .navbar-brand, .btn, .navbar-text')]
    .map(e => Math.round(e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2));
  return {scrollWidth: document.documentElement.scrollWidth, navHeight: nav.getBoundingClientRect().height,
          spread: Math.max(...tops) - Math.min(...tops)};
}"""


def switch_to_english(page):
    with page.expect_navigation():
        page.get_by_test_id("switch-language").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def assert_fits(page, path):
    layout = page.evaluate(LAYOUT)
    assert layout["scrollWidth"] <= WIDTH, (path, layout)
    # One line: every link and button of the bar on the same row, the bar one line high.
    assert layout["spread"] <= 6 and layout["navHeight"] < 64, (path, layout)


@pytest.mark.parametrize("user", ["admin", "clerk"])
def test_the_top_bar_and_the_pages_fit_1366_in_english(live_server, logged_in, user):
    page = logged_in(user)
    switch_to_english(page)
    for path in ("/", "/performance/", "/households/", "/relief/"):
        page.goto(live_server.url + path)
        assert_fits(page, path)


def test_the_performance_table_shows_its_last_column_in_both_languages(live_server, logged_in):
    page = logged_in("admin")
    for language in ("zh-CN", "en"):
        if language == "en":
            switch_to_english(page)
        page.goto(live_server.url + "/performance/")
        expect(page.locator("html")).to_have_attribute("lang", language)
        assert_fits(page, "/performance/")
        header = page.locator("thead th").filter(has_text=re.compile("Commission|提成")).first
        box = header.bounding_box()
        assert box and box["x"] + box["width"] <= WIDTH, box


@pytest.fixture
def household_server(fresh_server):
    """A server of its own with the 2栋 households (their payments change nothing of the
    shared server's)."""
    paths = _write_fixture_csvs(fresh_server.data_dir)
    for kind in ("units", "charges"):
        fresh_server.cli("import", kind, paths[kind])
    return fresh_server


def test_a_form_sent_back_opens_at_the_form_and_one_that_went_through_at_the_top(household_server, page):
    log_in(page, household_server.url, "clerk", PASSWORD)
    page.goto(household_server.url + "/households/?q=" + "李建国")
    with page.expect_navigation():
        page.get_by_role("link", name=household_ref("pay")).click()
    address = page.url
    form = page.get_by_test_id("pay-form")

    form.locator("[name=pay-amount]").fill("abc")
    form.locator("[name=pay-reference]").fill("UI-BAD")
    with page.expect_navigation():
        form.get_by_test_id("pay-submit").click()
    expect(page).to_have_url(re.compile(r"/payments#pay-form$"))
    expect(page.get_by_test_id("error-pay-amount")).to_be_visible()
    # The browser scrolls (smoothly) to the form: it ends at the top of the window.
    page.wait_for_function("() => Math.abs(document.getElementById('pay-form').getBoundingClientRect().top) < 30")
    assert page.evaluate("scrollY") > 300
    alert = page.get_by_test_id("form-errors-alert")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("未保存")
    assert alert.bounding_box()["y"] + page.evaluate("scrollY") < 150  # at the top of the page
    page.evaluate("scrollTo(0, 0)")
    alert.get_by_test_id("form-errors-link").click()
    page.wait_for_function("() => Math.abs(document.getElementById('pay-form').getBoundingClientRect().top) < 30")

    reference = "UI-" + secrets.token_hex(3).upper()
    form.locator("[name=pay-amount]").fill("10.00")
    form.locator("[name=pay-reference]").fill(reference)
    with page.expect_navigation():
        form.get_by_test_id("pay-submit").click()
    expect(page).to_have_url(address)  # no #pay-form kept from the form's action
    confirmation = page.locator("main > .alert-success")
    expect(confirmation).to_contain_text(reference)
    page.wait_for_timeout(700)  # longer than a smooth scroll would take
    assert page.evaluate("scrollY") == 0
    expect(confirmation).to_be_in_viewport()
    expect(page.get_by_test_id("form-errors-alert")).to_have_count(0)


def test_the_statement_opens_at_the_oldest_period_still_owing(live_server, logged_in, tmp_path):
    """Two years of bills, the first twenty paid (2,000.00 on the first due date: credit
    that settles each new bill as it comes): the statement box (oldest first) opens
    scrolled to the first period owing, not at paid months."""
    from datetime import date

    from arrears.models import Unit
    from arrears.extensions import db
    from .conftest import months_before, month_end, ESTATE, BUILDING
    periods = months_before(date.today(), 24)
    number = "9924"
    units = tmp_path / "u.csv"
    units.write_text("estate,building,unit,area_m2,owner_name,owner_phone\n"
                     f"{ESTATE},{BUILDING},{number},90.00,滚动业主,\n", encoding="utf-8")
    charges = tmp_path / "c.csv"
    charges.write_text("estate,building,unit,period,fee_item,amount,due_date\n" + "".join(
        f"{ESTATE},{BUILDING},{number},{p},物业管理费,100.00,{month_end(p).isoformat()}\n" for p in periods),
        encoding="utf-8")
    payments = tmp_path / "p.csv"
    payments.write_text("estate,building,unit,amount,paid_on,method,reference\n"
                        f"{ESTATE},{BUILDING},{number},2000.00,{month_end(periods[0]).isoformat()},cash,"
                        f"SCROLL-{secrets.token_hex(4)}\n", encoding="utf-8")
    for kind, path in (("units", units), ("charges", charges), ("payments", payments)):
        live_server.cli("import", kind, path)
    with live_server.app.app_context():
        unit_id = db.session.execute(db.select(Unit.id).where(Unit.number == number)).scalar_one()
        db.session.remove()
    page = logged_in("clerk")
    page.goto(f"{live_server.url}/households/{unit_id}")
    box = page.get_by_test_id("statement-box")
    first_owing = box.locator("tr[data-owing='1']").first
    expect(first_owing).to_have_attribute("data-period", periods[20])
    page.wait_for_function("document.querySelector('[data-testid=statement-box]').scrollTop > 0")
    inside = page.evaluate("""() => {
      const box = document.querySelector('[data-testid=statement-box]').getBoundingClientRect();
      const row = document.querySelector("[data-testid=statement-box] tr[data-owing='1']").getBoundingClientRect();
      return row.top >= box.top && row.bottom <= box.bottom;
    }""")
    assert inside
