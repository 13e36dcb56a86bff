"""The household list: filters, search, sort, pages and export (CSV, XLSX).

Any logged-in user may read the list; lawyers see only households escalated to legal.
Phone numbers are masked here and in the exports (SPEC §9).
"""
import csv
import io
from datetime import datetime

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from ..domain.money import format_fen
from ..extensions import db
from ..models import Building, Estate
from ..services.households import (CLASS_FILTERS, NO_STAGE, SORTS, STAGE_FILTERS, ListQuery, all_households,
                                   list_households)
from ..services.ledger import local_today
from ..services.personal_data import record_export

bp = Blueprint("households", __name__, url_prefix="/households")

# Labels shared with the household page.
STAGE_LABELS = {"reminder": _l("Reminder"), "demand": _l("Demand"), "final": _l("Final notice"),
                "legal": _l("Legal"), "closed": _l("Closed"), NO_STAGE: _l("No stage")}
STAGE_BADGES = {"reminder": "text-bg-info", "demand": "text-bg-warning", "final": "text-bg-danger",
                "legal": "text-bg-dark", "closed": "text-bg-secondary"}
CLASS_LABELS = {"A": _l("A (5000.00 or more)"), "B": _l("B (1000.00 to 4999.99)"), "C": _l("C (under 1000.00)")}
SORT_LABELS = {"amount_desc": _l("Amount, largest first"), "amount_asc": _l("Amount, smallest first"),
               "days_desc": _l("Days overdue, most first"), "days_asc": _l("Days overdue, fewest first")}


def list_query():
    return ListQuery.clean(request.args)


def legal_only():
    """A lawyer's user name (they see only their households in legal), else None."""
    return current_user.username if current_user.role == "lawyer" else None


def url_with(**changes):
    """The current list's URL with some arguments changed (None removes one)."""
    args = {key: value for key, value in request.args.items() if value not in ("", None)}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for("households.index", **args)


def export_args():
    return {key: value for key, value in request.args.items() if key != "page" and value not in ("", None)}


@bp.get("/")
@login_required
def index():
    """The list: one page of households with their figures, filtered, searched and sorted."""
    query = list_query()
    today = local_today()
    page = list_households(query, today, legal_only=legal_only())
    estates = db.session.execute(select(Estate).order_by(Estate.name)).scalars().all()
    buildings = db.session.execute(select(Building, Estate.name).join(Estate)
                                   .order_by(Estate.name, Building.name)).all()
    return render_template("households/index.html", page=page, query=query, today=today, estates=estates,
                           buildings=buildings, fen=format_fen, stage_labels=STAGE_LABELS,
                           stage_badges=STAGE_BADGES, class_labels=CLASS_LABELS, sort_labels=SORT_LABELS,
                           stage_filters=STAGE_FILTERS, class_filters=CLASS_FILTERS, sorts=SORTS,
                           url_with=url_with, export_args=export_args())


def export_header():
    return [_("Unit"), _("Owner"), _("Phone"), _("Principal outstanding"), _("Late fee outstanding"),
            _("Total outstanding"), _("Credit"), _("Days overdue"), _("Stage"), _("Class"), _("Hardship"),
            _("Open disputes"), _("Broken promises")]


def _safe(text):
    """A text cell that a spreadsheet will not run as a formula."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_rows():
    today = local_today()
    for row in all_households(list_query(), today, legal_only=legal_only()):
        yield [_safe(row.ref), _safe(row.owner_name), row.phone, format_fen(row.principal_outstanding_fen),
               format_fen(row.late_fee_outstanding_fen), format_fen(row.total_outstanding_fen),
               format_fen(row.credit_fen), row.days_overdue,
               str(STAGE_LABELS[row.stage]) if row.stage else "", row.klass or "",
               _("yes") if row.hardship else "", row.open_disputes, row.broken_promises]


def export_name(extension):
    return f"households-{local_today().isoformat()}-{datetime.now().strftime('%H%M%S')}.{extension}"


@bp.get("/export.csv")
@login_required
def export_csv():
    """The current list (same filters, every page) as UTF-8 CSV with a byte-order mark for Excel."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    rows = list(export_rows())
    record_export(current_user.username, "csv", export_args(), len(rows))
    writer.writerow(export_header())
    writer.writerows(rows)
    # ``content_type``, not ``mimetype``: Werkzeug adds "; charset=utf-8" to a text mimetype.
    return Response(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={export_name('csv')}"})


@bp.get("/export.xlsx")
@login_required
def export_xlsx():
    """The current list (same filters, every page) as an Excel workbook; amounts as two-decimal text."""
    from openpyxl import Workbook
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Households"))
    rows = list(export_rows())
    record_export(current_user.username, "xlsx", export_args(), len(rows))
    sheet.append(export_header())
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={export_name('xlsx')}"})
