"""Logins, sessions, roles and CSRF (SPEC §9)."""
import re

import pytest
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import EvidenceEvent, LoginSession
from conftest import csrf_from


def test_logged_out_visitor_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_starts_a_new_session_and_logout_kills_it(client, login, app):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login("clerk")
    with client.session_transaction() as session:
        assert "planted" not in session  # a new session at login
        cookie_session = dict(session)
    assert client.get("/").status_code == 200
    page = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert client.get("/").status_code == 302
    # Replaying the session from before logout does not log anyone in.
    with client.session_transaction() as session:
        session.update(cookie_session)
    assert client.get("/").status_code == 302
    assert db.session.execute(select(func.count()).select_from(LoginSession)
                              .where(LoginSession.revoked_at.is_not(None))).scalar_one() == 1


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("clerk")
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "clerk", "password": "nope-nope",
                                           "csrf_token": csrf_from(page)})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_eleventh_failure_is_refused_with_429_and_an_event(client, make_user):
    make_user("clerk")
    for attempt in range(10):
        page = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"username": "clerk", "password": f"wrong{attempt}xx",
                                               "csrf_token": csrf_from(page)})
        assert response.status_code == 200
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "clerk", "password": "password123",
                                           "csrf_token": csrf_from(page)})
    assert response.status_code == 429  # even the right password, while locked
    kinds = db.session.execute(select(EvidenceEvent.kind)).scalars().all()
    assert kinds.count("login_locked") == 1


def test_session_cookie_flags(client, make_user, app):
    make_user("clerk")
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "clerk", "password": "password123",
                                           "csrf_token": csrf_from(page)})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    from config import Config
    assert Config.SESSION_COOKIE_SECURE is True or __import__("os").environ.get("ARREARS_DEVELOPMENT") == "1"


def test_a_post_without_csrf_token_is_refused(client, make_user):
    make_user("clerk")
    response = client.post("/login", data={"username": "clerk", "password": "password123"})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not logged in
    response = client.post("/logout")
    assert response.status_code == 400


def test_every_non_public_route_needs_a_login(app, client):
    public = {"auth.login", "static", "bootstrap.static", "dashboard.health", "language.switch"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public or rule.arguments - {"filename"}:
            continue
        if "GET" in rule.methods:
            response = client.get(rule.rule)
            assert response.status_code == 302 and "/login" in response.headers["Location"], rule.rule


def test_every_state_changing_route_refuses_get(app, client, login):
    login("admin")
    rules = list(app.url_map.iter_rules())
    for rule in rules:
        if "POST" in rule.methods and "GET" not in rule.methods:
            if any(other.rule == rule.rule and "GET" in other.methods for other in rules):
                continue  # the address also shows a page (e.g. /notices/batches): GET reaches that view
            url = re.sub(r"<(?:\w+:)?(\w+)>", "1", rule.rule).replace("/1/", "/1/")
            if "language" in rule.endpoint:
                url = "/language/en"
            response = client.get(url)
            assert response.status_code == 405, rule.rule


def test_language_switch_is_remembered(client, login):
    login("clerk")
    page = client.get("/").get_data(as_text=True)
    assert "总览" in page
    response = client.post("/language/en", data={"csrf_token": csrf_from(page), "next": "/"})
    assert response.status_code == 302 and "lang=en" in response.headers["Set-Cookie"]
    assert "Overview" in client.get("/").get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)
    client.post("/language/zh_CN", data={"csrf_token": csrf_from(page), "next": "/"})
    assert "总览" in client.get("/").get_data(as_text=True)
