"""Dates, timestamps and money on screen (issue 3 item 7): Chinese ``2026年3月1日``,
English ``1 Mar 2026``; timestamps in the estate's local time; money ``1,234.50`` in both.
Inputs of ``type=date`` and ``data-*`` attributes stay ISO."""
import re
from datetime import date, datetime, timezone

import pytest
from flask_babel import force_locale

from arrears.web.formats import ldate, ldatetime, money
from conftest import csrf_from
from household_helpers import Household, by_testid, clock, examples  # noqa: F401


@pytest.mark.parametrize("locale, day, next_day, moment", [
    ("zh_CN", "2026年3月1日", "2026年3月2日", "2026年3月2日 00:30"),
    ("en", "1 Mar 2026", "2 Mar 2026", "2 Mar 2026, 00:30"),
])
def test_formats_per_language(app, locale, day, next_day, moment):
    with app.test_request_context(), force_locale(locale):
        assert ldate(date(2026, 3, 1)) == day
        assert ldate("2026-03-01") == day
        # 16:30 UTC is 00:30 the next day in Shanghai: the local date and time are shown.
        stamp = datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc)
        assert ldatetime(stamp) == moment
        assert ldatetime("2026-03-01T16:30:00.000000Z") == moment
        assert ldatetime(stamp.replace(tzinfo=None)) == moment  # naive means UTC
        assert ldate(stamp) == next_day
        assert money(123450) == "1,234.50" and money(-5) == "-0.05" and money(0) == "0.00"
        assert money("1234567.80") == "1,234,567.80"


def test_unreadable_values_are_shown_as_they_are(app):
    with app.test_request_context():
        assert ldate("not a date") == "not a date" and ldate(None) == ""
        assert ldatetime("soon") == "soon" and money("abc") == "abc"


def test_household_page_in_both_languages_keeps_inputs_iso(client, login, examples):
    login("clerk")
    page = Household(client, examples["0104"])
    html = page.page()
    assert by_testid(html, "next-limitation") == "2029年3月31日"
    # The date inputs and the timeline's data attributes stay ISO.
    assert 'max="2026-05-31"' in html and 'min="2026-05-31"' in html
    assert 'value="2026-05-31"' in html
    assert re.search(r'data-period="2026-03"', html)
    client.post("/language/en", data={"csrf_token": csrf_from(html), "next": page.url})
    html = page.page()
    assert by_testid(html, "next-limitation") == "31 Mar 2029"
    assert 'max="2026-05-31"' in html


def test_money_is_grouped_on_the_household_page(client, login, examples):
    login("clerk")
    page = Household(client, examples["0104"])
    assert page.pay("1234.50", "BIG-1").status_code == 302
    html = page.page()
    assert by_testid(html, "balance-credit") == "1,125.22"
    assert "收到缴费 1,234.50 元" in html
