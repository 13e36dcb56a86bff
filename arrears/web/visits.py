"""Visit sheets (外访): printing a route for door visits and entering its outcomes.

Clerks and managers (and admins, who pass a manager's check) use these screens; lawyers
get 403. The index previews who is due a visit in the chosen buildings on a date and
prints the sheet (``services.visits.make_sheet``); the sheet's PDF is served as stored,
as an attachment; the outcomes screen records the sheet's rows all or nothing
(``record_outcomes``) and shows every refused row with its values kept. A bad request
gets a message, never a 500.
"""
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import NONPAYMENT_REASONS, Estate
from ..services.errors import NotFound
from ..services.files import path_of
from ..services.households import current_owners
from ..services.ledger import local_today
from ..services.members import active_members
from ..services.visits import (MAX_DAYS_AHEAD, MAX_NOT_VISITED_DAYS, VISIT_REACHED, OutcomeRow, OutcomesRefused,
                               VisitRefused, entered_rows, get_sheet, households_due, local_visit_time, make_sheet,
                               recent_sheets, record_outcomes, sheet_buildings, sheet_rows, sheet_serials)
from . import select_language
from .access import role_required
from .formats import ldate
from .household import BREACH_LABELS, CHANNEL_LABELS, PROMISE_LABELS, REACHED_LABELS, REASON_LABELS
from .households import STAGE_BADGES, STAGE_LABELS
from .refusals import refusal

bp = Blueprint("visits", __name__, url_prefix="/visits")

VISIT_REACHED_LABELS = {"owner": _l("The owner"), "household_member": _l("A registered household member"),
                        "nobody": _l("Nobody home")}
LEFT_OUT_LABELS = {"legal": _l("escalated to legal"), "dispute": _l("open dispute"),
                   "too_many": _l("contact limit for the week reached"), "visited": _l("visited recently")}
# ``VisitRefused.code`` in the user's language.
SHEET_MESSAGES = {
    "no_buildings": _l("Choose at least one building."),
    "unknown_estate": _l("Choose an estate from the list."),
    "unknown_building": _l("Choose the buildings from the list."),
    "other_estate": _l("%(buildings)s is not a building of %(estate)s."),
    "no_date": _l("Enter the date of the visits, like 2026-06-01."),
    "past_date": _l("The visit date %(day)s is in the past."),
    "too_far": _l("The visit date %(day)s is more than %(days)s days ahead: the figures would be out of date by then."),
    "bad_days": _l("“Not visited in the last … days” takes a number from 1 to %(days)s."),
    "none_due": _l("No household of %(buildings)s is due a visit on %(day)s."),
    "bad_language": _l("Choose a language from the list."),
    "bad_time": _l("Enter the time of the visits like 14:30."),
}
# ``RowProblem.code`` in the user's language.
ROW_MESSAGES = {
    "reached_missing": _l("say whom the visit reached"),
    "unknown_choice": _l("choose a value from the list"),
    "no_members": _l("no household member is registered for this household; register them on the household page "
                     "first"),
    "member_missing": _l("choose which registered household member was reached"),
    "empty_outcome": _l("say what came of the visit"),
    "long_outcome": _l("the outcome is longer than %(limit)s characters"),
    "long_notes": _l("the note is longer than %(limit)s characters"),
    "bad_time": _l("enter the time of the visit like 14:30"),
    "time_missing": _l("enter the time of the visit, for the row or for the whole sheet"),
    "future_time": _l("the time of the visit is in the future"),
    "bad_amount": _l("enter the promised amount like 1234.50"),
    "amount_not_positive": _l("the promised amount must be greater than 0.00"),
    "bad_date": _l("enter the promised date like 2026-06-30"),
    "promise_before_visit": _l("the promised date %(day)s is before the visit (%(visit)s)"),
    "promise_past": _l("the promised date is before the visit"),
    "promise_too_far": _l("the promised date is more than a year after the visit"),
    "promise_above_owed": _l("the promised amount is more than the household owes"),
    "promise_date_missing": _l("a promise needs the date promised"),
    "promise_amount_missing": _l("a promise needs the amount promised"),
    "promise_nobody": _l("nobody was reached, so there is no promise to record"),
    "policy": _l("the visit breaks the contact policy (%(reasons)s): write a justification to record it anyway; "
                 "it will be flagged"),
    "already_entered": _l("this row was recorded by another submission meanwhile; reload the page"),
    "unknown_row": _l("this row is not on the sheet"),
}
FIELDS = ("reached", "member_id", "reason", "outcome", "promise_amount", "promise_on", "notes", "visited_at",
          "justification")


def _sheet_message(error):
    values = dict(error.values)
    for key in ("day", "visit"):
        if isinstance(values.get(key), date):
            values[key] = ldate(values[key])
    template = SHEET_MESSAGES.get(error.code)
    return str(template) % values if template is not None else refusal(error)


def _row_message(problem, unit_label):
    values = dict(problem.values)
    for key in ("day", "visit"):
        if isinstance(values.get(key), date):
            values[key] = ldate(values[key])
    if problem.code == "policy":
        values = {"reasons": "; ".join(str(BREACH_LABELS.get(b, b)) for b in values.get("breaches", ()))}
    template = ROW_MESSAGES.get(problem.code)
    text = str(template) % values if template is not None else str(problem.message)
    return _("Row %(position)s (%(unit)s): %(problem)s", position=problem.position, unit=unit_label, problem=text)


# -- choosing and printing ---------------------------------------------------------------------

class Choice:
    """What the index was asked for (query string or the print form), read leniently:
    anything malformed becomes a message in ``errors``, never an exception."""

    def __init__(self, args, estates, today):
        self.errors = []
        self.estate_id = self._int(args.get("estate"))
        if self.estate_id is None or self.estate_id not in {e.id for e in estates}:
            if args.get("estate"):
                self.errors.append(str(SHEET_MESSAGES["unknown_estate"]))
            self.estate_id = estates[0].id if estates else None
        raw_buildings = args.getlist("building")
        self.building_ids = [self._int(value) for value in raw_buildings]
        if any(value is None for value in self.building_ids):
            self.errors.append(str(SHEET_MESSAGES["unknown_building"]))
            self.building_ids = [value for value in self.building_ids if value is not None]
        raw_day = (args.get("visit_on") or "").strip()
        self.visit_on_text = raw_day or today.isoformat()
        try:
            self.visit_on = date.fromisoformat(self.visit_on_text)
        except ValueError:
            self.visit_on = None
            self.errors.append(str(SHEET_MESSAGES["no_date"]))
        self.include_disputed = args.get("include_disputed") in ("1", "on", "y")
        self.not_visited_text = (args.get("not_visited_days") or "").strip()
        self.not_visited_days = None
        if self.not_visited_text:
            self.not_visited_days = self._int(self.not_visited_text)
            if self.not_visited_days is None:
                self.errors.append(str(SHEET_MESSAGES["bad_days"]) % {"days": MAX_NOT_VISITED_DAYS})
        self.language = args.get("language") or "zh_CN"
        self.asked = bool(raw_buildings) or "visit_on" in args

    @staticmethod
    def _int(value):
        value = (value or "").strip()
        return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None

    def args(self):
        return {"estate": self.estate_id, "building": self.building_ids, "visit_on": self.visit_on_text,
                "include_disputed": "1" if self.include_disputed else None,
                "not_visited_days": self.not_visited_text or None}


def _index(choice, status=200):
    estates = db.session.execute(select(Estate).order_by(Estate.name)).scalars().all()
    estate = next((e for e in estates if e.id == choice.estate_id), None)
    plan = None
    errors = list(choice.errors)
    if choice.asked and not errors:
        try:
            plan = households_due(choice.estate_id, choice.building_ids, choice.visit_on,
                                  include_disputed=choice.include_disputed, not_visited_days=choice.not_visited_days)
        except VisitRefused as error:
            errors.append(_sheet_message(error))
            status = max(status, 422)
        else:
            if not plan.rows:
                errors.append(str(SHEET_MESSAGES["none_due"]) % {
                    "buildings": "、".join(b.name for b in plan.buildings), "day": ldate(plan.visit_on)})
    sheets = recent_sheets()
    return render_template("visits/index.html", estates=estates, estate=estate, choice=choice, plan=plan,
                           errors=errors, sheets=sheets, serials=sheet_serials(s.id for s in sheets),
                           buildings_of=lambda sheet: "、".join(b.name for b in sheet_buildings(sheet)),
                           estate_names={e.id: e.name for e in estates}, today=local_today(),
                           max_days=MAX_DAYS_AHEAD, stage_labels=STAGE_LABELS, stage_badges=STAGE_BADGES,
                           channel_labels=CHANNEL_LABELS, reached_labels=REACHED_LABELS,
                           promise_labels=PROMISE_LABELS, left_out_labels=LEFT_OUT_LABELS), status


@bp.get("/")
@role_required("clerk", "manager")
def index():
    """Choose an estate, buildings and a date; preview who is due a visit; recent sheets."""
    estates = db.session.execute(select(Estate).order_by(Estate.name)).scalars().all()
    return _index(Choice(request.args, estates, local_today()))


@bp.post("/sheets")
@role_required("clerk", "manager")
def print_sheet():
    """Make the sheet (PDF stored, rows and evidence event written) and offer it."""
    estates = db.session.execute(select(Estate).order_by(Estate.name)).scalars().all()
    choice = Choice(request.form, estates, local_today())
    choice.asked = True
    if choice.errors:
        return _index(choice, 422)
    if choice.language not in ("zh_CN", "en"):
        choice.errors.append(str(SHEET_MESSAGES["bad_language"]))
        return _index(choice, 422)
    try:
        sheet, serial = make_sheet(choice.estate_id, choice.building_ids, choice.visit_on, current_user.username,
                                   include_disputed=choice.include_disputed,
                                   not_visited_days=choice.not_visited_days, language=choice.language)
    except VisitRefused as error:
        choice.errors.append(_sheet_message(error))
        return _index(choice, 422)
    flash(_("Visit sheet %(serial)s printed: %(count)s households.", serial=serial, count=len(sheet.items)),
          "success")
    return redirect(url_for("visits.sheet", sheet_id=sheet.id))


def _sheet_or_404(sheet_id):
    try:
        return get_sheet(sheet_id)
    except NotFound:
        abort(404)


@bp.get("/sheets/<int:sheet_id>")
@role_required("clerk", "manager")
def sheet(sheet_id):
    """A printed sheet: its households, the PDF to download, the way to its outcomes."""
    found = _sheet_or_404(sheet_id)
    rows = sheet_rows(found)
    owners = current_owners([unit.id for _item, unit in rows], local_today()) if rows else {}
    return render_template("visits/sheet.html", sheet=found, serial=sheet_serials([found.id]).get(found.id),
                           rows=rows, owners=owners, entered=entered_rows(found),
                           buildings="、".join(b.name for b in sheet_buildings(found)),
                           estate=db.session.get(Estate, found.estate_id), stage_labels=STAGE_LABELS)


@bp.get("/sheets/<int:sheet_id>.pdf")
@role_required("clerk", "manager")
def sheet_pdf(sheet_id):
    """The sheet's PDF as printed (stored by its SHA-256), as an attachment."""
    found = _sheet_or_404(sheet_id)
    serial = sheet_serials([found.id]).get(found.id) or f"visit-sheet-{found.id}"
    return send_file(path_of(found.sha256), mimetype="application/pdf", as_attachment=True,
                     download_name=f"{serial}.pdf")


# -- outcomes ------------------------------------------------------------------------------------

def _rows_from(form, positions):
    rows = []
    for position in positions:
        values = {name: (form.get(f"r{position}-{name}") or "") for name in FIELDS}
        rows.append(OutcomeRow(position=position, **values))
    return rows


def _outcomes_page(found, values=None, problems=None, default_time="", status=200):
    rows = sheet_rows(found)
    estate = db.session.get(Estate, found.estate_id)
    unit_ids = [unit.id for _item, unit in rows]
    owners = current_owners(unit_ids, local_today()) if rows else {}
    members = {unit_id: active_members(unit_id) for unit_id in unit_ids}
    labels = {item.position: f"{unit.building.name}/{unit.number}" for item, unit in rows}
    messages = {}
    fields_at_fault = {}
    for problem in problems or ():
        messages.setdefault(problem.position, []).append(_row_message(problem, labels.get(problem.position, "?")))
        fields_at_fault.setdefault(problem.position, set()).add(problem.field)
    return render_template(
        "visits/outcomes.html", sheet=found, serial=sheet_serials([found.id]).get(found.id), rows=rows,
        owners=owners, members=members, estate=estate, entered=entered_rows(found), values=values or {},
        messages=messages, faults=fields_at_fault, default_time=default_time,
        all_messages=[m for position in sorted(messages) for m in messages[position]],
        reached_choices=[(key, VISIT_REACHED_LABELS[key]) for key in VISIT_REACHED],
        reason_choices=[(key, REASON_LABELS[key]) for key in NONPAYMENT_REASONS],
        reached_labels=REACHED_LABELS, stage_labels=STAGE_LABELS,
        visit_time=lambda contact: local_visit_time(contact, estate.timezone).strftime("%H:%M")), status


@bp.get("/sheets/<int:sheet_id>/outcomes")
@role_required("clerk", "manager")
def outcomes(sheet_id):
    """One compact row per household of the sheet, in its order, to enter what the sheet says."""
    return _outcomes_page(_sheet_or_404(sheet_id))


@bp.post("/sheets/<int:sheet_id>/outcomes")
@role_required("clerk", "manager")
def record(sheet_id):
    """Record the filled-in rows as visit contacts (and promises), all or nothing."""
    found = _sheet_or_404(sheet_id)
    positions = [item.position for item in found.items]
    rows = _rows_from(request.form, positions)
    values = {row.position: row for row in rows}
    default_time = (request.form.get("default_time") or "").strip()
    try:
        done = record_outcomes(found, rows, current_user.username, default_time=default_time,
                               nobody_outcome=_("Nobody home"), language=select_language())
    except OutcomesRefused as refused:
        return _outcomes_page(found, values, refused.problems, default_time, 422)
    except VisitRefused as error:
        flash(_sheet_message(error), "danger")
        return _outcomes_page(found, values, (), default_time, 422)
    recorded, skipped = done["recorded"], done["skipped"]
    if recorded:
        flash(_("%(count)s visits recorded, with %(promises)s promises to pay.", count=len(recorded),
                promises=sum(1 for _p, _c, promise in recorded if promise)), "success")
    if skipped:
        flash(_("Rows %(rows)s were entered before and were not recorded again.",
                rows=", ".join(str(p) for p in skipped)), "warning")
    if not recorded and not skipped:
        flash(_("Nothing recorded: every row was left blank."), "info")
    return redirect(url_for("visits.outcomes", sheet_id=found.id))
