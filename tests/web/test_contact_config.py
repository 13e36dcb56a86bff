"""The contact policy is configurable (SPEC §5): quiet hours and the weekly count come from
``ARREARS_CONTACT_QUIET_FROM``, ``ARREARS_CONTACT_QUIET_UNTIL`` and
``ARREARS_CONTACT_MAX_PER_7_DAYS`` through ``contact_policy()``, which the contact form and
the household page both read."""
import importlib
from datetime import time

import pytest
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import Contact
from arrears.services.collection import contact_policy
from household_helpers import Household, clock, examples, text_of  # noqa: F401


def contacts():
    return db.session.execute(select(func.count(Contact.id))).scalar_one()


def test_defaults_are_the_specs(app):
    policy = contact_policy()
    assert (policy.quiet_from, policy.quiet_until, policy.max_attempts, policy.window_days) == \
        (time(21, 0), time(8, 0), 3, 7)


def test_settings_come_from_the_environment(monkeypatch):
    import config
    monkeypatch.setenv("ARREARS_CONTACT_QUIET_FROM", "20:00")
    monkeypatch.setenv("ARREARS_CONTACT_QUIET_UNTIL", "09:00")
    monkeypatch.setenv("ARREARS_CONTACT_MAX_PER_7_DAYS", "2")
    try:
        reloaded = importlib.reload(config).Config
        policy = contact_policy({key: getattr(reloaded, key) for key in dir(reloaded) if key.isupper()})
        assert (policy.quiet_from, policy.quiet_until, policy.max_attempts) == (time(20, 0), time(9, 0), 2)
    finally:
        monkeypatch.undo()
        importlib.reload(config)


@pytest.mark.parametrize("key, value", [("ARREARS_CONTACT_QUIET_FROM", "9pm"),
                                        ("ARREARS_CONTACT_QUIET_UNTIL", "25:00"),
                                        ("ARREARS_CONTACT_MAX_PER_7_DAYS", 0)])
def test_a_bad_setting_is_named(app, key, value):
    app.config[key] = value
    with pytest.raises(ValueError, match=key):
        contact_policy()


def test_quiet_from_20_00_makes_a_contact_at_20_30_need_a_justification(app, client, login, examples):
    page = Household(client, examples["0104"])
    login("clerk")
    # Under the default policy 20:30 is allowed.
    assert page.contact(when="2026-05-29T20:30").status_code == 302
    app.config["ARREARS_CONTACT_QUIET_FROM"] = "20:00"
    html = page.page()
    assert "联系规范：20:00 至 08:00 不得联系" in html
    response = page.contact(when="2026-05-30T20:30")
    assert response.status_code == 422
    assert 'data-testid="error-contact-contacted_at">20:00 至 08:00 之间不得联系。' in text_of(response)
    assert contacts() == 1
    response = page.contact(when="2026-05-30T20:30", justification="the owner asked for an evening call")
    assert response.status_code == 302
    flagged = db.session.execute(select(Contact).order_by(Contact.id.desc()).limit(1)).scalar_one()
    assert flagged.policy_breach and flagged.justification == "the owner asked for an evening call"


def test_weekly_count_from_the_config(app, client, login, examples):
    app.config["ARREARS_CONTACT_MAX_PER_7_DAYS"] = 1
    page = Household(client, examples["0104"])
    login("clerk")
    assert "任意 7 天内最多联系 1 次" in page.page()
    assert page.contact(when="2026-05-29T10:00").status_code == 302
    response = page.contact(when="2026-05-30T10:00")
    assert response.status_code == 422 and "任意 7 天内最多联系 1 次。" in text_of(response)
