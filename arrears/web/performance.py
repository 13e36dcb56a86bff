"""Staff performance and commission statements (提成), issue 7.

Who sees what: managers and admins see everyone's figures and statements; a clerk sees
only their own row, chart and statement (another person's statement is a 403); lawyers
get a 403. Every figure comes from ``services.performance``; the attribution rule is
written there and in docs/performance.md. A month that cannot be read, or has not begun,
gets the page with a message (HTTP 400), never a server error.
"""
import io
from datetime import datetime

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..domain.commission import percent_text
from ..domain.money import format_fen
from ..services.ledger import local_today
from ..services.performance import (InvalidMonth, UnknownStaff, commission_statement, month_performance,
                                    months_back, parse_month, period_of, record_performance_export,
                                    recovered_by_month)
from .access import role_required
from .charts import MUTED_COLOUR, bar_chart, series_colour, stacked_column_chart
from .formats import money
from .household import CHANNEL_LABELS, REACHED_LABELS

bp = Blueprint("performance", __name__, url_prefix="/performance")

SCHEME_KINDS = {"fixed": _l("Fixed rate on the whole amount"),
                "tiered_marginal": _l("Tiered: each tier's rate on the part of the amount inside it"),
                "tiered_whole": _l("Tiered: the whole amount at the rate of the tier it falls in")}
LINE_KINDS = {"rate": _l("At one rate"), "tier": _l("Tier"), "bonus": _l("Bonus")}


def staff_label(name):
    return name if name is not None else _("Unattributed")


def only_self():
    """The user name a clerk is limited to; None for managers and admins (everyone)."""
    return None if current_user.has_role("manager") else current_user.username


def month_message(error):
    if error.code == "future":
        return _("The month %(month)s has not begun yet: choose this month or an earlier one.", month=error.text)
    return _("“%(month)s” is not a month: write it like 2026-05 (year, then month from 01 to 12).",
             month=error.text)


def chosen_month(today):
    """The month asked for (``?month=YYYY-MM``, default this month); raises ``InvalidMonth``."""
    text = request.args.get("month")
    if text is None or text == "":
        return today.replace(day=1)
    return parse_month(text, today)


def band(line):
    if line.kind == "bonus":
        return ""
    if line.upper_fen is None:
        return _("above %(lower)s", lower=money(line.lower_fen)) if line.lower_fen else _("any amount")
    return f"{money(line.lower_fen)} – {money(line.upper_fen)}"


def line_label(line, scheme):
    """``Tier 2`` (counted from the scheme's first tier), ``At one rate`` or ``Bonus``."""
    if line.kind == "tier" and scheme is not None:
        number = 1 + sum(1 for tier in scheme.tiers if tier.up_to_fen is not None and tier.up_to_fen <= line.lower_fen)
        return _("Tier %(number)s", number=number)
    return LINE_KINDS[line.kind]


def rate_text(rate):
    return "" if rate is None else f"{percent_text(rate)}%"


@bp.get("/")
@role_required("clerk", "manager")
def index():
    """The month's figures per person, with charts and the commission each earned."""
    today = local_today()
    try:
        month = chosen_month(today)
    except InvalidMonth as error:
        return render_template("performance/index.html", error=month_message(error),
                               month_value=request.args.get("month", ""), max_month=period_of(today)), 400
    only = only_self()
    figures = month_performance(month, today, only=only)
    rows = figures.staff + ([figures.unattributed] if only is None else [])
    bars = [(staff_label(row.staff), row.recovered_fen, money(row.recovered_fen)) for row in rows]
    per_clerk_svg = bar_chart(bars, title=_("Recovered per person, %(month)s", month=figures.period))
    history = recovered_by_month(month, today, only=only)
    names = sorted({name for _first, amounts in history for name in amounts if name is not None})
    series = [(name, series_colour(index)) for index, name in enumerate(names)]
    keys = list(names)
    if only is None and any(None in amounts for _first, amounts in history):
        series.append((_("Unattributed"), MUTED_COLOUR))
        keys.append(None)
    columns = [(period_of(first), [amounts.get(key, 0) for key in keys], money(sum(amounts.values())))
               for first, amounts in history]
    monthly_svg = stacked_column_chart(columns, series, title=_("Recovered per month, last 12 months"))
    return render_template("performance/index.html", error=None, figures=figures, rows=rows, only=only,
                           month_value=figures.period, max_month=period_of(today), today=today,
                           per_clerk_svg=per_clerk_svg, monthly_svg=monthly_svg, history=history, keys=keys,
                           staff_label=staff_label, scheme_kinds=SCHEME_KINDS,
                           first_month=period_of(months_back(month, 12)[0]))


def export_header():
    return [_("Person"), _("Contacts made"), _("Policy breaches"), _("Promises obtained"), _("Promises kept"),
            _("Promises broken"), _("Payments credited"), _("Recovered"), _("Households cleared"),
            _("Commission")]


def _safe(text):
    """A text cell that a spreadsheet will not run as a formula."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_row(row):
    named = row.staff is not None
    return [_safe(staff_label(row.staff)), row.contacts, row.breaches, row.promises, row.promises_kept,
            row.promises_broken, row.payments, format_fen(row.recovered_fen),
            row.households_cleared if named else "",
            format_fen(row.commission_fen) if named and row.commission_fen is not None else ""]


@bp.get("/export.xlsx")
@role_required("clerk", "manager")
def export_xlsx():
    """The month's table as an Excel workbook (amounts as two-decimal text); recorded as evidence."""
    from openpyxl import Workbook
    today = local_today()
    try:
        month = chosen_month(today)
    except InvalidMonth as error:
        return render_template("error.html", title=_("No such month"), message=month_message(error)), 400
    only = only_self()
    figures = month_performance(month, today, only=only)
    rows = [export_row(row) for row in figures.staff]
    if only is None:
        rows.append(export_row(figures.unattributed))
    record_performance_export(current_user.username, "xlsx", month, len(rows))
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(figures.period)
    sheet.append(export_header())
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    name = f"performance-{figures.period}-{datetime.now().strftime('%H%M%S')}.xlsx"
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.get("/statement")
@role_required("clerk", "manager")
def statement():
    """One person's commission statement for a month (``?clerk=NAME&month=YYYY-MM``), printable."""
    today = local_today()
    name = (request.args.get("clerk") or "").strip() or current_user.username
    if only_self() is not None and name != current_user.username:
        abort(403)
    try:
        month = chosen_month(today)
    except InvalidMonth as error:
        return render_template("error.html", title=_("No such month"), message=month_message(error)), 400
    try:
        found = commission_statement(name, month, today)
    except UnknownStaff:
        return render_template("error.html", title=_("No such person"),
                               message=_("Nobody named “%(name)s” has logged a contact or has an account here.",
                                         name=name)), 404
    return render_template("performance/statement.html", s=found, band=band, rate_text=rate_text, line_label=line_label,
                           scheme_kinds=SCHEME_KINDS, channel_labels=CHANNEL_LABELS,
                           reached_labels=REACHED_LABELS, today=today,
                           back_url=url_for("performance.index", month=period_of(month)))
