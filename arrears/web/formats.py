"""Dates, timestamps and money on screen, in the user's language (issue 3, item 7).

- a date reads ``2026年3月1日`` in Chinese and ``1 Mar 2026`` in English;
- a timestamp is shown in the estate's local time (``ARREARS_TIMEZONE``, default
  Asia/Shanghai, or the estate's own zone when given), to the minute:
  ``2026年3月1日 14:30`` / ``1 Mar 2026, 14:30``; stored timestamps that carry no zone
  are UTC;
- money is yuan with two decimals and thousands grouped: ``1,234.50`` (both languages).

Only what people read goes through here: form inputs (``<input type=date>`` values,
``min``/``max``), ``data-*`` attributes, exports and the evidence chain keep ISO dates
and plain ``1234.50`` amounts. A value that cannot be read is shown as it is, never
turned into a 500 page.
"""
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from flask import current_app
from flask_babel import get_locale

DATE_PATTERNS = {"zh": "y年M月d日", "en": "d MMM y"}
DATETIME_PATTERNS = {"zh": "y年M月d日 HH:mm", "en": "d MMM y, HH:mm"}
MONEY_PATTERN = "#,##0.00"


def _locale():
    return get_locale() or "zh_Hans_CN"


def _language():
    locale = _locale()
    return getattr(locale, "language", str(locale)[:2])


def _local(moment, tz_name=None):
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(tz_name or current_app.config["ARREARS_TIMEZONE"]))


def ldate(value, tz_name=None):
    """A ``date`` (or an ISO ``YYYY-MM-DD`` text; or a timestamp: its local date) in the user's language."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = _local(value, tz_name).date()
    return format_date(value, DATE_PATTERNS.get(_language(), DATE_PATTERNS["en"]), locale=_locale())


def ldatetime(value, tz_name=None):
    """A timestamp (aware; naive means UTC; or ISO text, ``Z`` allowed) in local time
    (``tz_name``, else ``ARREARS_TIMEZONE``), to the minute, in the user's language."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    local = _local(value, tz_name)
    return format_datetime(local, DATETIME_PATTERNS.get(_language(), DATETIME_PATTERNS["en"]), tzinfo=local.tzinfo,
                           locale=_locale())


def money(fen):
    """An amount in fen (``int``) as yuan for the screen: 123450 -> ``1,234.50``.
    Text already in yuan (``"1234.50"``, as the evidence events store it) is regrouped."""
    if fen is None or fen == "":
        return ""
    if isinstance(fen, str):
        try:
            yuan = Decimal(fen)
        except ArithmeticError:
            return fen
    else:
        yuan = Decimal(int(fen)) / 100
    return format_decimal(yuan, MONEY_PATTERN, locale=_locale())


def colon():
    """The colon after a label: full width in Chinese (业主：), ": " in English."""
    return "：" if _language() == "zh" else ": "


def init_app(app):
    app.add_template_global(colon, "colon")
    app.add_template_filter(ldate, "ldate")
    app.add_template_filter(ldatetime, "ldatetime")
    app.add_template_filter(money, "money")
    app.add_template_global(money, "money")
