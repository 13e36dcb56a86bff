"""Shared by the household list and household page tests: a frozen clock, the worked
examples of shared/examples/ledger imported under it, and helpers to post the page's forms
the way a browser does (CSRF token and the form's one-time token read from the page)."""
import os
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from conftest import csrf_from

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The worked examples' statements are given as of 2026-05-31.
FROZEN = datetime(2026, 5, 31, 10, 0, tzinfo=SHANGHAI)
ESTATE = "示例花园"


@pytest.fixture
def clock():
    """The clock stopped at 2026-05-31 10:00 in Shanghai; ``clock.move_to(...)`` moves it."""
    with time_machine.travel(FROZEN, tick=False) as traveller:
        yield traveller


@pytest.fixture
def examples(clock, cli, examples_dir, app):
    """Import the five worked examples (under the frozen clock, so the projection is
    current); returns ``{"0101": unit_id, ...}``."""
    for kind in ("units", "charges", "payments"):
        result = cli("import", kind, os.path.join(examples_dir, f"{kind}.csv"))
        assert result.exit_code == 0, result.output
    from arrears.extensions import db
    from arrears.models import Unit
    return {number: unit_id for unit_id, number in db.session.execute(select(Unit.id, Unit.number))}


def ref(number, building="1栋"):
    return f"{ESTATE}/{building}/{number}"


def form_token(html, prefix):
    """The one-time token of the form ``prefix`` (contact, promise, dispute, dispute-update)."""
    match = re.search(rf'name="{prefix}-form_token"[^>]*value="([0-9a-f]{{32}})"', html)
    assert match, f"no {prefix} form token on the page"
    return match.group(1)


def by_testid(html, name):
    """The text inside the first element with ``data-testid=name``."""
    match = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert match, f"no data-testid={name}"
    return match.group(1).strip()


class Household:
    """Acts on one household page through the test client, as a browser would."""

    def __init__(self, client, unit_id):
        self.client = client
        self.unit_id = unit_id
        self.url = f"/households/{unit_id}"

    def page(self):
        response = self.client.get(self.url)
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    def post(self, action, data, token_form=None, html=None, **kwargs):
        """POST ``data`` to ``/households/<id>/<action>`` with the page's CSRF token and,
        for ``token_form``, its one-time form token (unless ``data`` brings its own)."""
        html = html or self.page()
        payload = dict(data)
        payload.setdefault("csrf_token", csrf_from(html))
        if token_form and f"{token_form}-form_token" not in payload:
            payload[f"{token_form}-form_token"] = form_token(html, token_form)
        return self.client.post(f"{self.url}/{action}", data=payload, **kwargs)

    def pay(self, amount, reference, paid_on="2026-05-31", method="wechat", periods=None):
        data = {"pay-amount": amount, "pay-paid_on": paid_on, "pay-method": method, "pay-reference": reference}
        if periods:
            data["pay-periods"] = periods
        return self.post("payments", data)

    def contact(self, when="2026-05-31T10:00", justification="", reached="owner", channel="phone", html=None,
                **extra):
        data = {"contact-channel": channel, "contact-contacted_at": when, "contact-reached": reached,
                "contact-outcome": "promised to pay next week", "contact-reason": "", "contact-notes": "",
                "contact-justification": justification}
        data.update(extra)
        return self.post("contacts", data, token_form="contact", html=html)


def text_of(response):
    return response.get_data(as_text=True)
