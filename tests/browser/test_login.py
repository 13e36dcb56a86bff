"""Logging in and out in a real browser: the form, the welcome, the session cookie, the
overview's figures, logout that kills the session, the lock after ten failures."""
import re
from decimal import Decimal

from playwright.sync_api import expect

from .conftest import PASSWORD, USERS, alert, flash, log_in, local_today, money


def test_a_logged_out_visitor_is_sent_to_the_login_form(live_server, page):
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(flash(page)).to_have_text("请先登录。")
    expect(page.locator("#username")).to_be_focused()


def test_a_clerk_logs_in_and_sees_the_overview(live_server, page):
    log_in(page, live_server.url, "clerk")
    expect(page).to_have_url(live_server.url + "/")
    expect(flash(page)).to_have_text("欢迎，clerk。")
    expect(page.locator("nav")).to_contain_text("clerk · 收费员")
    expect(page.locator("h1")).to_have_text("总览")
    today = local_today()
    expect(page.locator("main")).to_contain_text(f"截至 {today.year}年{today.month}月{today.day}日")
    # No administration for a clerk.
    expect(page.locator("nav")).not_to_contain_text("系统管理")


def test_the_overview_shows_the_engines_total(live_server, logged_in):
    page = logged_in("clerk")
    from arrears.services.reports import portfolio_report
    with live_server.app.app_context():
        report = portfolio_report(local_today(), top=0)
    expected = Decimal(report["principal_outstanding_fen"] + report["late_fee_outstanding_fen"]) / 100
    assert money(page.get_by_test_id("total-owed").inner_text()) == expected
    assert expected > 0


def test_a_wrong_password_is_refused_with_a_message(live_server, page):
    page.goto(live_server.url + "/login")
    page.fill("#username", "clerk")
    page.fill("#password", "not-the-password")
    with page.expect_navigation() as navigation:
        page.click("form:has(#password) button[type=submit]")
    assert navigation.value.status == 200
    expect(alert(page, "用户名或密码错误。")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#username")).to_have_value("clerk")
    expect(page.locator("#password")).to_have_value("")  # the password is never sent back
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_login_goes_back_to_the_page_asked_for(live_server, page):
    page.goto(live_server.url + "/?from=bookmark")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", "clerk")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form:has(#password) button[type=submit]")
    expect(page).to_have_url(live_server.url + "/?from=bookmark")


def test_the_session_cookie_is_http_only_and_same_site(live_server, page):
    log_in(page, live_server.url, "clerk")
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert "session" in cookies, cookies.keys()
    assert cookies["session"]["httpOnly"] is True
    assert cookies["session"]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # nothing a script can read


def test_logout_kills_the_session_even_for_a_copied_cookie(live_server, browser, logged_in):
    page = logged_in("clerk", fresh=True)
    copied = page.context.cookies()
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(flash(page)).to_have_text("您已退出登录。")
    expect(page.locator("nav")).not_to_contain_text("clerk")
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))

    # Someone who copied the cookie before the logout gets nothing with it.
    other = browser.new_context(locale="zh-CN")
    try:
        other.add_cookies(copied)
        replay = other.new_page()
        replay.goto(live_server.url + "/")
        expect(replay).to_have_url(re.compile(r"/login"))
    finally:
        other.close()


def test_each_role_sees_its_name_in_the_navigation(live_server, logged_in):
    labels = {"clerk": "收费员", "manager": "主管", "admin": "管理员", "lawyer": "律师"}
    for username, role in USERS.items():
        page = logged_in(username)
        expect(page.locator("nav")).to_contain_text(f"{username} · {labels[role]}")


def test_the_eleventh_attempt_is_refused_with_429(fresh_server, page):
    """Ten wrong passwords lock the name and the address, even for the right password.
    On a server of its own: the lock would shut every other test out too."""
    page.goto(fresh_server.url + "/login")
    for attempt in range(10):
        page.fill("#username", "clerk")
        page.fill("#password", f"wrong-{attempt}")
        with page.expect_navigation() as navigation:
            page.click("form:has(#password) button[type=submit]")
        assert navigation.value.status == 200
        expect(alert(page, "用户名或密码错误。")).to_be_visible()
    page.fill("#username", "clerk")
    page.fill("#password", PASSWORD)
    with page.expect_navigation() as navigation:
        page.click("form:has(#password) button[type=submit]")
    assert navigation.value.status == 429
    expect(alert(page, "登录失败次数过多，请 15 分钟后再试。")).to_be_visible()
    page.goto(fresh_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
