"""Chinese by default, English on request, and the choice remembered."""
import re

from playwright.sync_api import expect

from .conftest import PASSWORD, flash, log_in


def test_switch_to_english_and_back(live_server, logged_in):
    page = logged_in("clerk")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("总览")
    switch = page.get_by_test_id("switch-language")
    expect(switch).to_have_text("English")

    switch.click()
    expect(page).to_have_url(live_server.url + "/")  # back where the user was
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("nav")).to_contain_text("clerk · Clerk")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(switch).to_have_text("中文")

    # Remembered: on reload, and in a new tab of the same browser.
    page.reload()
    expect(page.locator("h1")).to_have_text("Overview")
    tab = page.context.new_page()
    tab.goto(live_server.url + "/")
    expect(tab.locator("h1")).to_have_text("Overview")
    tab.close()

    switch.click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("总览")
    expect(switch).to_have_text("English")
    page.reload()
    expect(page.locator("h1")).to_have_text("总览")


def test_the_switch_keeps_the_query_string(live_server, logged_in):
    page = logged_in("clerk")
    page.goto(live_server.url + "/?estate=1")
    page.get_by_test_id("switch-language").click()
    expect(page).to_have_url(live_server.url + "/?estate=1")
    expect(page.locator("h1")).to_have_text("Overview")


def test_english_chosen_before_login_lasts_through_login_and_logout(live_server, page):
    page.goto(live_server.url + "/login")
    expect(page.get_by_role("heading")).to_have_text("登录")
    page.get_by_test_id("switch-language").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading")).to_have_text("Log in")
    expect(page.get_by_text("User name")).to_be_visible()

    page.fill("#username", "clerk")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form:has(#password) button[type=submit]")
    expect(flash(page)).to_have_text("Welcome, clerk.")
    expect(page.locator("h1")).to_have_text("Overview")

    page.get_by_role("button", name="Log out").click()
    expect(flash(page)).to_have_text("You have logged out.")
    expect(page.get_by_role("heading")).to_have_text("Log in")


def test_a_new_browser_starts_in_chinese(live_server, page):
    log_in(page, live_server.url, "manager")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("nav")).to_contain_text("manager · 主管")
