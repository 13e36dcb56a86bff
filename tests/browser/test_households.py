"""A morning's work in the browser: find a household by its owner's name, post a payment and
see the balance and the timeline change, log a contact (and one the contact policy
forbids), and, as a manager, reverse the payment.

Each test works on a household of its own (conftest.HOUSEHOLDS), and every figure on the
screen is checked against ``statement --json`` on the same database: the page and the
engine must agree to the fen.
"""
import re
import secrets
from datetime import datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .conftest import HOUSEHOLDS, MONTHLY_FEE, TIMEZONE, household_ref, money, owner_of

pytestmark = pytest.mark.usefixtures("household_pages")


@pytest.fixture
def household_pages(require_endpoint):
    """Skip (saying so) while the household list is not in the app; never pass without it."""
    require_endpoint("/households/")


def engine_total(live_server, key):
    return Decimal(live_server.statement(household_ref(key))["totals"]["total_outstanding"])


def new_reference(label):
    return f"BT-{label}-{secrets.token_hex(4).upper()}"


def search(page, base_url, text):
    """Type ``text`` in the household list's search box and submit it; returns the rows."""
    page.goto(base_url + "/households/")
    box = page.get_by_test_id("household-search")
    box.fill(text)
    with page.expect_navigation():
        box.press("Enter")
    return page.get_by_test_id("household-row")


def open_household(page, base_url, key):
    """Find the household by its owner's name and open its page, as a clerk would."""
    rows = search(page, base_url, owner_of(key))
    expect(rows).to_have_count(1)
    with page.expect_navigation():
        rows.first.get_by_role("link", name=household_ref(key)).click()
    expect(page.get_by_test_id("unit-ref")).to_have_text(household_ref(key))
    return page


def balance(page):
    return money(page.get_by_test_id("balance-total").inner_text())


def pay_form(page):
    return page.locator("form:has([data-testid=pay-submit])")


def contact_form(page):
    return page.locator("form:has([data-testid=contact-submit])")


def field(form, name):
    """A form's field by its name (the forms share a page, so their names carry a prefix)."""
    return form.locator(f"[name$='{name}']:not([type=hidden])")


def error_of(form, name):
    """The message shown next to a field."""
    return form.locator(f"[data-testid^='error-'][data-testid$='{name}']")


def post_payment(page, amount, reference):
    form = pay_form(page)
    field(form, "amount").fill(amount)
    field(form, "reference").fill(reference)
    with page.expect_navigation():
        form.get_by_test_id("pay-submit").click()


def last_ten_am():
    """The latest 10:00 (Shanghai) that has passed: a time the contact policy allows."""
    now = datetime.now(ZoneInfo(TIMEZONE))
    day = now.date() if now.time() >= time(10, 5) else now.date() - timedelta(days=1)
    return datetime.combine(day, time(10, 0))


def test_find_a_household_by_owner_name(live_server, logged_in):
    page = logged_in("clerk")
    page.get_by_role("navigation").get_by_role("link", name="住户").click()
    expect(page).to_have_url(re.compile(r"/households/$"))

    rows = search(page, live_server.url, owner_of("search"))
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_have_attribute("data-unit-ref", household_ref("search"))
    expect(row).to_contain_text(owner_of("search"))
    phone = HOUSEHOLDS["search"][2]
    expect(row).to_contain_text(f"{phone[:3]}****{phone[-4:]}")  # masked, SPEC §9
    expect(row).not_to_contain_text(phone)
    expect(page.get_by_test_id("household-search")).to_have_value(owner_of("search"))
    total = engine_total(live_server, "search")
    assert total > 3 * Decimal(MONTHLY_FEE) - Decimal("0.01")
    expect(row).to_contain_text(f"{total:.2f}")

    with page.expect_navigation():
        row.get_by_role("link", name=household_ref("search")).click()
    expect(page.get_by_test_id("owner-name")).to_have_text(owner_of("search"))
    assert balance(page) == total
    expect(page.get_by_test_id("statement-row")).to_have_count(3)
    expect(page.locator("main")).not_to_contain_text(phone)

    # The late-fee working is there on demand.
    working = page.get_by_test_id("late-fee-working")
    expect(working.locator("table").first).to_be_hidden()
    working.locator("summary").click()
    expect(working.locator("table").first).to_be_visible()


def test_search_by_phone_and_by_unit_and_no_match(live_server, logged_in):
    page = logged_in("clerk")
    rows = search(page, live_server.url, HOUSEHOLDS["search"][2])
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-unit-ref", household_ref("search"))

    rows = search(page, live_server.url, "2栋/0201")
    expect(rows).to_have_count(1)

    rows = search(page, live_server.url, "没有这个人")
    expect(rows).to_have_count(0)
    expect(page.get_by_test_id("household-empty")).to_be_visible()


def test_post_a_payment_and_see_the_balance_and_timeline_change(live_server, logged_in):
    page = open_household(logged_in("clerk"), live_server.url, "pay")
    address = page.url
    before = balance(page)
    assert before == engine_total(live_server, "pay")
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("[data-kind=payment_posted]")).to_have_count(0)

    reference = new_reference("PAY")
    post_payment(page, "300.00", reference)

    expect(page.locator("main > .alert-success")).to_contain_text(reference)
    after = engine_total(live_server, "pay")
    assert after < before
    expect(page.get_by_test_id("balance-total")).to_have_text(re.compile(re.escape(f"{after:.2f}")))
    assert balance(page) == after
    posted = timeline.locator("[data-kind=payment_posted]")
    expect(posted).to_have_count(1)
    expect(posted).to_contain_text(reference)
    expect(posted).to_contain_text("300.00")
    expect(posted).to_contain_text("clerk")
    expect(page.locator(f"[data-testid=payment-row][data-reference='{reference}']")).to_contain_text("300.00")

    # The same reference again is refused next to the field, and nothing changes.
    post_payment(page, "300.00", reference)
    expect(error_of(pay_form(page), "reference")).to_contain_text(reference)
    assert engine_total(live_server, "pay") == after
    page.goto(address)
    assert balance(page) == after
    expect(timeline.locator("[data-kind=payment_posted]")).to_have_count(1)


def test_a_bad_amount_or_a_future_date_is_refused_next_to_the_field(live_server, logged_in):
    page = open_household(logged_in("clerk"), live_server.url, "search")
    before = engine_total(live_server, "search")
    for amount in ("-50", "0", "abc", "12.345", ""):
        post_payment(page, amount, new_reference("BAD"))
        form = pay_form(page)
        expect(error_of(form, "amount"), f"no message for the amount {amount!r}").to_be_visible()
        expect(field(form, "amount")).to_have_class(re.compile(r"\bis-invalid\b"))
        expect(field(form, "amount")).to_have_value(amount)  # what was typed stays, to be corrected
        assert balance(page) == before, amount

    tomorrow_day = datetime.now(ZoneInfo(TIMEZONE)).date() + timedelta(days=1)
    tomorrow = tomorrow_day.isoformat()
    form = pay_form(page)
    field(form, "paid_on").fill(tomorrow)
    post_payment(page, "100.00", new_reference("FUTURE"))
    # The date input takes ISO; the message shows the date as a Chinese office writes it.
    expect(error_of(pay_form(page), "paid_on")).to_contain_text(
        f"{tomorrow_day.year}年{tomorrow_day.month}月{tomorrow_day.day}日")
    assert balance(page) == before
    assert engine_total(live_server, "search") == before


def test_log_a_contact(live_server, logged_in):
    page = open_household(logged_in("clerk"), live_server.url, "contact")
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("[data-kind=contact_logged]")).to_have_count(0)

    form = contact_form(page)
    field(form, "contacted_at").fill(last_ten_am().strftime("%Y-%m-%dT%H:%M"))
    field(form, "outcome").fill("业主答应月底前缴清")
    field(form, "notes").fill("电话接通，态度良好")
    with page.expect_navigation():
        form.get_by_test_id("contact-submit").click()

    expect(page.locator("main > .alert-success")).to_contain_text("业主答应月底前缴清")
    logged = timeline.locator("[data-kind=contact_logged]")
    expect(logged).to_have_count(1)
    expect(logged).to_contain_text("业主答应月底前缴清")
    expect(logged).to_contain_text("电话接通，态度良好")
    when = last_ten_am()
    expect(logged).to_contain_text(f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}")
    expect(logged).not_to_have_class(re.compile(r"list-group-item-warning"))


def test_a_contact_in_the_quiet_hours_needs_a_justification_and_is_flagged(live_server, logged_in):
    page = open_household(logged_in("clerk"), live_server.url, "quiet")
    late_evening = (last_ten_am() - timedelta(days=1)).replace(hour=23)
    form = contact_form(page)
    field(form, "contacted_at").fill(late_evening.strftime("%Y-%m-%dT%H:%M"))
    field(form, "outcome").fill("业主深夜回电")
    with page.expect_navigation() as navigation:
        form.get_by_test_id("contact-submit").click()
    assert navigation.value.status == 422

    form = contact_form(page)
    expect(error_of(form, "contacted_at")).to_contain_text("21:00")
    expect(error_of(form, "justification")).to_be_visible()
    expect(field(form, "outcome")).to_have_value("业主深夜回电")
    expect(page.get_by_test_id("timeline").locator("[data-kind=contact_logged]")).to_have_count(0)

    field(form, "justification").fill("业主本人深夜主动来电，要求当时沟通")
    with page.expect_navigation():
        form.get_by_test_id("contact-submit").click()
    expect(page.locator("main > .alert-warning")).to_be_visible()
    logged = page.get_by_test_id("timeline").locator("[data-kind=contact_logged]")
    expect(logged).to_have_count(1)
    expect(logged).to_have_class(re.compile(r"list-group-item-warning"))  # flagged
    expect(logged).to_contain_text("业主本人深夜主动来电")


SEND_FORM = """([action, fields, times]) => Promise.all(Array.from({length: times}, () => {
    const body = new FormData();
    for (const [name, value] of fields) body.append(name, value);
    return fetch(action, {method: "POST", body, redirect: "manual"})
        .then(response => response.type === "opaqueredirect" ? 302 : response.status);
}))"""


def test_a_contact_submitted_twice_is_logged_once(live_server, logged_in):
    """The same filled-in form sent again after it went through, and twice at the same
    moment (a flaky network's retry), is recorded once. The browser sends the copies with
    the page's cookies and CSRF token: a plain double click is not enough to test this,
    as Chromium folds the two clicks into one request."""
    page = open_household(logged_in("clerk"), live_server.url, "double")
    address = page.url
    action = urlparse(address).path + "/contacts"
    logged = page.get_by_test_id("timeline").locator("[data-kind=contact_logged]")

    form = contact_form(page)
    field(form, "contacted_at").fill(last_ten_am().strftime("%Y-%m-%dT%H:%M"))
    field(form, "outcome").fill("提交了两次")
    sent = form.evaluate("form => [...new FormData(form)]")
    with page.expect_navigation():
        form.get_by_test_id("contact-submit").click()
    expect(page.locator("main > .alert-success")).to_contain_text("提交了两次")
    assert page.evaluate(SEND_FORM, [action, sent, 1]) == [302]
    page.goto(address)
    expect(page.locator("main > .alert-warning")).to_be_visible()  # "already submitted"
    expect(logged).to_have_count(1)

    form = contact_form(page)
    field(form, "contacted_at").fill(last_ten_am().strftime("%Y-%m-%dT%H:%M"))
    field(form, "outcome").fill("同时到达的两次提交")
    statuses = page.evaluate(SEND_FORM, [action, form.evaluate("form => [...new FormData(form)]"), 2])
    assert statuses == [302, 302], statuses
    assert live_server.requests_logged("POST", action) == 4
    page.goto(address)
    expect(logged).to_have_count(2)
    expect(logged.filter(has_text="同时到达的两次提交")).to_have_count(1)


def test_a_manager_reverses_the_payment(live_server, logged_in):
    clerk = open_household(logged_in("clerk"), live_server.url, "reverse")
    owed = balance(clerk)
    reference = new_reference("REV")
    post_payment(clerk, "250.00", reference)
    expect(clerk.locator("main > .alert-success")).to_contain_text(reference)
    paid = balance(clerk)
    assert paid < owed
    expect(clerk.get_by_test_id("reverse-submit")).to_have_count(0)  # not a clerk's action

    manager = open_household(logged_in("manager"), live_server.url, "reverse")
    assert balance(manager) == paid
    form = manager.locator("form:has([data-testid=reverse-submit])")
    choice = field(form, "payment")
    option = choice.locator("option", has_text=reference)
    choice.select_option(value=option.get_attribute("value"))
    field(form, "reason").fill("业主重复转账，原路退回")
    with manager.expect_navigation():
        form.get_by_test_id("reverse-submit").click()

    expect(manager.locator("main > .alert-success")).to_contain_text(reference)
    restored = engine_total(live_server, "reverse")
    assert restored > paid
    assert balance(manager) == restored
    reversed_row = manager.locator(f"[data-testid=payment-row][data-reference='{reference}']")
    expect(reversed_row).to_have_class(re.compile(r"text-decoration-line-through"))
    reversal = manager.get_by_test_id("timeline").locator("[data-kind=payment_reversed]")
    expect(reversal).to_have_count(1)
    expect(reversal).to_contain_text(reference)
    expect(reversal).to_contain_text("业主重复转账，原路退回")
    expect(reversal).to_contain_text("manager")

    # The clerk sees it too on reload; the payment stays on record, struck through.
    clerk.reload()
    assert balance(clerk) == restored
    expect(clerk.locator(f"[data-testid=payment-row][data-reference='{reference}']")).to_be_visible()


def test_the_household_page_in_english_and_back(live_server, logged_in):
    page = open_household(logged_in("clerk"), live_server.url, "language")
    address = page.url
    figure = page.get_by_test_id("balance-total").inner_text()
    page.get_by_test_id("switch-language").click()
    expect(page).to_have_url(address)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main")).to_contain_text("Total owed")
    expect(page.get_by_test_id("timeline")).to_be_visible()
    assert money(page.get_by_test_id("balance-total").inner_text()) == money(figure)
    page.get_by_test_id("switch-language").click()
    expect(page).to_have_url(address)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("main")).to_contain_text("欠费总额")


def test_a_lawyer_sees_no_household_outside_legal(live_server, logged_in):
    page = logged_in("lawyer")
    rows = search(page, live_server.url, owner_of("search"))
    expect(rows).to_have_count(0)
    clerk = open_household(logged_in("clerk"), live_server.url, "search")
    response = page.goto(clerk.url)
    assert response.status == 404
    expect(page.locator("main")).not_to_contain_text(owner_of("search"))


def test_the_pages_fit_an_office_screen_and_load_nothing_from_outside(live_server, logged_in):
    page = logged_in("clerk")
    outside, failed = [], []
    page.on("request", lambda request: None if request.url.startswith(live_server.url)
            or request.url.startswith("data:") else outside.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: failed.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    for path in ("/", "/households/"):
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366, path
    open_household(page, live_server.url, "search")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert outside == [] and failed == [] and errors == []


def test_the_overview_leads_to_the_households(live_server, logged_in):
    """Today's work queue, largest amount first, opens the household page; a class count
    opens the list filtered to that class."""
    page = logged_in("clerk")
    expect(page.locator("main svg")).to_have_count(2)  # aging and collection, drawn on the server
    queue = page.get_by_test_id("queue-item")
    expect(queue.filter(has_text=owner_of("search"))).to_have_count(1)
    owed = [money(row.locator("td.num").first.inner_text()) for row in queue.all()]
    assert owed == sorted(owed, reverse=True)
    with page.expect_navigation():
        queue.filter(has_text=owner_of("search")).get_by_role("link").click()
    expect(page.get_by_test_id("unit-ref")).to_have_text(household_ref("search"))

    page.goto(live_server.url + "/")
    count = page.get_by_test_id("class-C").get_by_role("link")
    shown = int(count.inner_text())
    with page.expect_navigation():
        count.click()
    expect(page).to_have_url(re.compile(r"/households/\?.*class=C"))
    expect(page.get_by_test_id("household-row")).to_have_count(shown)
    expect(page.get_by_test_id("household-row").filter(has_text=owner_of("search"))).to_have_count(1)
