"""Legal cases in the browser (issue 6): the case section of the household page, the
evidence bundle's download and the weekly limitation view.

Every household lookup goes through ``access.get_unit`` (a lawyer: only the households
escalated to legal and assigned to them, else 404). Managers record the case's steps;
clerks and the assigned lawyer read them; managers and the assigned lawyer export the
evidence bundle (itself an evidence event, hence a POST); managers and clerks read the
limitation view. Bad input returns the household page with the message next to the
field, in the page's language (the checks below run before the service's, which stay
the last word); a step recorded redirects back (PRG).
"""
import io
import re

from flask import Blueprint, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain.errors import InvalidAmount
from ..domain.money import parse_amount
from ..models import CASE_STEPS
from ..services.bundles import export_bundle
from ..services.cases import (FILING, FILINGS, NOTICE, OTHER, PAYMENT, PLAN, active_lawyers,
                              case_steps, claimed_periods, limitation_weeks, next_kinds, record_step)
from ..services.errors import ServiceError
from ..services.ledger import local_today, unit_statement
from .access import get_unit, role_required
from .formats import ldate, money
from .household import CASE_STEP_LABELS, ActionForm, estate_tz, render_page, strip
from .refusals import refusal

bp = Blueprint("cases", __name__, url_prefix="/cases")

INTERRUPTION_LABELS = {PAYMENT: _l("Payment received"), NOTICE: _l("Delivered notice"), PLAN: _l("Payment plan"),
                       FILING: _l("Filing"), OTHER: _l("Other")}


class CaseStepForm(ActionForm):
    # Every kind is a valid choice: the case's own order is checked below, with its message.
    kind = SelectField(_l("Step"), choices=[SelectChoice(k, CASE_STEP_LABELS[k]) for k in CASE_STEPS],
                       validators=[InputRequired(_l("Choose the step to record."))],
                       invalid_choice_message=_l("Choose a step from the list."))
    on_date = DateField(_l("Date"), validators=[InputRequired(_l("Enter the date of the step."))],
                        invalid_value_message=_l("Enter a date like 2026-05-31."))
    lawyer = SelectField(_l("Lawyer"), choices=[], validators=[Optional()],
                         invalid_choice_message=_l("Choose a lawyer from the list."))
    court = StringField(_l("Court"), filters=[strip], validators=[Optional(), Length(max=200)])
    case_number = StringField(_l("Case number"), filters=[strip], validators=[Optional(), Length(max=100)])
    charges = SelectMultipleField(_l("Charges claimed"), coerce=int, choices=[], validators=[Optional()],
                                  widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                  invalid_choice_message=_l("Choose charges from the list."))
    amount = StringField(_l("Amount (CNY, optional)"), filters=[strip], validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


def step_form(unit, formdata=True):
    """The step form for this household: its lawyers and its charges with principal outstanding."""
    form = CaseStepForm(prefix="case", **({} if formdata else {"formdata": None}))
    form.lawyer.choices = [SelectChoice("", "—")] + [SelectChoice(name, name) for name in active_lawyers()]
    statement, _limitation = unit_statement(unit, local_today(estate_tz(unit)))
    form.charges.choices = [
        SelectChoice(line.charge.id, f"{line.charge.period} {line.charge.fee_item} · "
                                     f"{money(line.principal_outstanding_fen)}")
        for line in statement.charges if line.principal_outstanding_fen > 0]
    if not formdata:
        form.on_date.data = local_today(estate_tz(unit))
        form.charges.data = [choice.value for choice in form.charges.choices]
        kinds = next_kinds(unit.id)
        form.kind.data = kinds[0] if kinds else None
    return form


def _label(kind):
    return str(CASE_STEP_LABELS.get(kind, kind))


def check_step(form, unit, today):
    """The service's rules, said in the page's language next to the field at fault.
    Returns the amount in fen (or None); True when nothing is wrong is ``not form.errors``."""
    kind = form.kind.data
    steps = case_steps(unit.id)
    allowed = next_kinds(unit.id)
    if not allowed and not steps:
        form.form_errors.append(_("This household is not escalated to legal: escalate it before recording "
                                  "its case."))
    elif not allowed:
        form.form_errors.append(_("This case is closed. Escalate the household to legal again to start a "
                                  "new one."))
    elif kind not in allowed:
        choices = ", ".join(_label(k) for k in allowed)
        if steps:
            form.kind.errors.append(_("After “%(last)s” the case cannot go on with “%(kind)s”; it can go on "
                                      "with: %(allowed)s.", last=_label(steps[-1].kind), kind=_label(kind),
                                      allowed=choices))
        else:
            form.kind.errors.append(_("A case cannot start with “%(kind)s”; it can start with: %(allowed)s.",
                                      kind=_label(kind), allowed=choices))
    day = form.on_date.data
    if day and day > today:
        form.on_date.errors.append(_("The date %(day)s is in the future.", day=ldate(day)))
    elif day and steps and day < steps[-1].on_date:
        form.on_date.errors.append(_("The date %(day)s is before the case's last step (%(last)s).",
                                     day=ldate(day), last=ldate(steps[-1].on_date)))
    if kind == "lawyer_assigned" and not form.lawyer.data:
        form.lawyer.errors.append(_("Choose the lawyer assigned."))
    if kind in FILINGS:
        if not form.court.data:
            form.court.errors.append(_("A filing needs the court."))
        if not form.case_number.data:
            form.case_number.errors.append(_("A filing needs the case number."))
        if not form.charges.data:
            form.charges.errors.append(_("Tick the charges the filing claims."))
    amount_fen = None
    raw = form.amount.data or ""
    if raw:
        try:
            amount_fen = parse_amount(raw, allow_zero=True)
        except InvalidAmount:
            if raw.startswith("-"):
                form.amount.errors.append(_("The amount cannot be negative."))
            elif re.fullmatch(r"\d+\.\d{3,}", raw):
                form.amount.errors.append(_("Use at most two decimals (fen)."))
            else:
                form.amount.errors.append(_("Enter an amount as a number, like 1234.50."))
    return amount_fen


def _has_errors(form):
    return bool(form.form_errors) or any(field.errors for field in form)


@bp.post("/<int:unit_id>/steps")
@role_required("manager")
def record(unit_id):
    """Record the next step of the household's case (managers)."""
    unit = get_unit(unit_id)
    form = step_form(unit)
    form.validate()
    amount_fen = check_step(form, unit, local_today(estate_tz(unit)))
    if _has_errors(form):
        return render_page(unit, status=422, case=form)
    kind = form.kind.data
    try:
        record_step(unit, kind, form.on_date.data, current_user.username,
                    lawyer=form.lawyer.data if kind == "lawyer_assigned" else None,
                    court=form.court.data, case_number=form.case_number.data, amount_fen=amount_fen,
                    note=form.note.data, charge_ids=tuple(form.charges.data or ()) if kind in FILINGS else ())
    except ServiceError as error:  # changed since the checks above (another manager, a deactivated lawyer)
        form.form_errors.append(refusal(error, kind=CASE_STEP_LABELS, last=CASE_STEP_LABELS))
        return render_page(unit, status=422, case=form)
    flash(_("Case step recorded: %(kind)s on %(day)s.", kind=_label(kind), day=ldate(form.on_date.data)),
          "success")
    return redirect(url_for("household.show", unit_id=unit.id) + "#case-steps")


@bp.post("/<int:unit_id>/bundle")
@role_required("manager", "lawyer")
def bundle(unit_id):
    """Export the household's evidence bundle (managers and the assigned lawyer): the ZIP as an attachment."""
    unit = get_unit(unit_id)
    try:
        data, export = export_bundle(unit, current_user.username)
    except ServiceError as error:
        flash(_("No bundle exported: %(reason)s", reason=refusal(error)), "danger")
        return redirect(url_for("household.show", unit_id=unit.id) + "#case-steps")
    response = send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True,
                         download_name=bundle_name(unit, local_today(estate_tz(unit))))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Bundle-SHA256"] = export.sha256
    return response


def bundle_name(unit, day):
    """``示例花园-3栋-1201-证据包-2026-05-31.zip``: the unit and the day, nothing a file system refuses."""
    ref = re.sub(r'[\\/:*?"<>|\s]+', "-", unit.ref).strip("-")
    return f"{ref}-证据包-{day.isoformat()}.zip"


@bp.get("/limitation")
@role_required("clerk", "manager")
def limitation():
    """What to demand before it is lost: the charges whose limitation expires in the next 13 weeks, by week."""
    view = limitation_weeks(local_today())
    return render_template("cases/limitation.html", view=view, interruption_labels=INTERRUPTION_LABELS)


# -- the household page's case section ---------------------------------------------------------

@bp.app_template_global()
def household_case(unit_id, form=None):
    """What ``cases/_household.html`` shows: the current case's steps (with the periods each
    filing claims), the kinds that may come next, the step form (``form``: one sent back with
    its errors) and who may record or export."""
    from ..extensions import db
    from ..models import Unit
    unit = db.session.get(Unit, unit_id)
    steps = case_steps(unit_id)
    kinds = next_kinds(unit_id)
    can_record = current_user.has_role("manager") and bool(kinds)
    if can_record and form is None:
        form = step_form(unit, formdata=False)
    refused = list(form.form_errors) if form is not None and not can_record else []
    return {"steps": steps, "refused": refused, "claims": claimed_periods(steps), "kinds": kinds,
            "labels": CASE_STEP_LABELS,
            "form": form if can_record else None, "can_record": can_record, "filings": FILINGS,
            "escalated": bool(kinds) or bool(steps), "closed": bool(steps) and not kinds,
            "can_export": current_user.has_role("manager", "lawyer")}
