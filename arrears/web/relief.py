"""Relief in the browser (issue 5): hardship status, waivers and payment plans.

On the household page (the ``household_relief`` template global feeds
``relief/_household.html``) clerks and managers request hardship status, waivers and
plans; the managers' Relief screen (``/relief/``) decides them, undoes waivers, lists
hardship statuses with their expiries and plans with their state, and reports the
relief granted.

Rules kept here (the services keep the rest):
- a hardship reason is shown to managers only, never to clerks or lawyers;
- decide and reversal routes are the manager's (a clerk gets 403); a manager's own
  request is refused by the service, and the page says why; a second decision on the
  same request changes nothing and says so;
- bad input comes back with the message next to the field, in the page's language,
  and nothing is saved; every action is a POST that redirects (PRG).
"""
import calendar
from datetime import date, timedelta

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import (BooleanField, DateField, FieldList, FileField, Form, FormField, HiddenField, IntegerField,
                     SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain import plans as plan_rules
from ..extensions import db
from ..models import WAIVER_REASONS, PaymentPlan, PlanAgreement, Waiver
from ..services import relief
from ..services.errors import NotFound, ServiceError
from ..services.files import UploadRefused, check_upload, read_file
from ..services.ledger import UnitHistory, local_today, policy_schedule
from .access import get_unit, role_required
from .downloads import pdf_response
from .charts import column_chart
from .formats import ldate, money
from .household import ActionForm, _choices, amount_check, filled, render_page, strip
from .notices import UPLOAD_MESSAGES
from .refusals import refusal

bp = Blueprint("relief", __name__)

SUBJECT_LABELS = {"hardship": _l("Hardship status"), "waiver": _l("Waiver"), "plan": _l("Payment plan")}
STATE_LABELS = {"pending": _l("Awaiting a decision"), "approved": _l("Approved"), "rejected": _l("Rejected")}
STATE_BADGES = {"pending": "text-bg-warning", "approved": "text-bg-success", "rejected": "text-bg-secondary"}
PLAN_LABELS = {"active": _l("Running"), "completed": _l("Completed"), "broken": _l("Broken")}
PLAN_BADGES = {"active": "text-bg-primary", "completed": "text-bg-success", "broken": "text-bg-danger"}
REASON_LABELS = {"hardship": _l("Hardship"), "non_malicious": _l("Not malicious (late by oversight)"),
                 "dispute_settlement": _l("Settling a dispute"), "other": _l("Other")}
KIND_LABELS = {"late_fee": _l("Late fee"), "principal": _l("Principal")}
# The waiver form's choice: all the late fee (resolved at approval), an amount of it, or principal.
WAIVER_CHOICES = {"late_fee_all": _l("All the late fee (as outstanding when approved)"),
                  "late_fee": _l("An amount of the late fee"), "principal": _l("An amount of the principal")}
EXPIRY_WARNING_DAYS = 30
MAX_INSTALMENTS = 60


# -- forms ---------------------------------------------------------------------------------------

def _date_field(label, message):
    return DateField(label, validators=[InputRequired(message)], invalid_value_message=_l("Enter a date like 2026-05-31."))


class HardshipForm(ActionForm):
    start_on = _date_field(_l("From"), _l("Enter the first day of the hardship period."))
    end_on = _date_field(_l("To"), _l("Enter the last day of the hardship period."))
    reason = TextAreaField(_l("Reason (seen by managers only)"), filters=[strip],
                           validators=[filled(_l("Say why the household is in hardship.")), Length(max=2000)])
    document = FileField(_l("Supporting document (PDF, JPEG or PNG)"),
                         render_kw={"accept": "application/pdf,image/jpeg,image/png"})
    renews_id = HiddenField()

    def validate_end_on(self, field):
        start = self.start_on.data
        if start and field.data and field.data < start:
            raise ValidationError(_("The period ends on %(end)s, before it starts (%(start)s).",
                                    end=ldate(field.data), start=ldate(start)))
        if start and field.data and (field.data - start).days > relief.MAX_HARDSHIP_DAYS:
            raise ValidationError(_("A hardship period may last at most two years; renew it when it ends."))


class WaiverForm(ActionForm):
    charge = SelectField(_l("Charge"), coerce=int, choices=[], validators=[InputRequired(_l("Choose a charge."))],
                         invalid_choice_message=_l("Choose a charge from the list."))
    kind = SelectField(_l("Waive"), choices=_choices(WAIVER_CHOICES, tuple(WAIVER_CHOICES)),
                       validators=[InputRequired()], invalid_choice_message=_l("Choose what to waive from the list."))
    amount = StringField(_l("Amount (CNY)"), filters=[strip])
    reason = SelectField(_l("Reason"), choices=_choices(REASON_LABELS, WAIVER_REASONS), validators=[InputRequired()],
                         invalid_choice_message=_l("Choose a reason from the list."))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])

    def validate_amount(self, field):
        field.fen = None
        if self.kind.data != "late_fee_all":
            amount_check(self, field)


class InstalmentRow(Form):
    due_on = DateField(_l("Pay by"), validators=[InputRequired(_l("Enter the instalment's date."))],
                       invalid_value_message=_l("Enter a date like 2026-05-31."))
    amount = StringField(_l("Amount (CNY)"), filters=[strip], validators=[amount_check])


class PlanForm(ActionForm):
    charges = SelectMultipleField(_l("Charges covered"), coerce=int, choices=[],
                                  widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                  validators=[InputRequired(_l("Choose the charges the plan covers."))],
                                  invalid_choice_message=_l("Choose charges from the list."))
    include_late_fee = BooleanField(_l("Include their late fee"))
    count = IntegerField(_l("Number of instalments"), default=6,
                         validators=[InputRequired(_l("Enter the number of instalments.")),
                                     NumberRange(1, MAX_INSTALMENTS, _l("Between 1 and %(max)s instalments.",
                                                                        max=MAX_INSTALMENTS))])
    first_on = _date_field(_l("First instalment on"), _l("Enter the date of the first instalment."))
    instalments = FieldList(FormField(InstalmentRow), min_entries=0, max_entries=MAX_INSTALMENTS)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])
    action = HiddenField()

    def validate_first_on(self, field):
        if field.data and field.data < self.today:
            raise ValidationError(_("The first instalment cannot be before today (%(day)s).", day=ldate(self.today)))


class DecisionForm(ActionForm):
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])


class ReversalForm(ActionForm):
    reason = TextAreaField(_l("Reason"), filters=[strip],
                           validators=[filled(_l("Undoing a waiver needs a reason.")), Length(max=1000)])


# -- helpers -------------------------------------------------------------------------------------

def add_months(day, months):
    """The same day ``months`` later (the month's last day when it has no such day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def split_instalments(covered_fen, count, first_on):
    """``count`` monthly instalments from ``first_on`` adding up to ``covered_fen`` exactly:
    equal parts, the fen left over on the last."""
    part = covered_fen // count
    amounts = [part] * (count - 1) + [covered_fen - part * (count - 1)]
    return [(add_months(first_on, n), amount) for n, amount in enumerate(amounts)]


def yuan(fen):
    return f"{fen // 100}.{fen % 100:02d}"


def _today(unit):
    return local_today(unit.building.estate.timezone)


def _statement(unit, today):
    return UnitHistory(unit, today).statement()


def _charge_label(line):
    return f"{line.charge.period} {line.charge.fee_item}"


def bind_waiver(statement, formdata=True):
    form = WaiverForm(prefix="waiver", **({} if formdata else {"formdata": None}))
    form.charge.choices = [SelectChoice(l.charge.id, "{} · {} {} · {} {}".format(
        _charge_label(l), _("principal"), money(l.principal_outstanding_fen), _("late fee"),
        money(l.late_fee_outstanding_fen))) for l in statement.charges
        if l.principal_outstanding_fen > 0 or l.late_fee_outstanding_fen > 0]
    return form


def bind_plan(statement, today, formdata=True):
    form = PlanForm(prefix="plan", **({} if formdata else {"formdata": None}))
    form.today = today
    form.charges.choices = [SelectChoice(l.charge.id, "{} · {} {}".format(
        _charge_label(l), _("principal"), money(l.principal_outstanding_fen)))
        for l in statement.charges if l.principal_outstanding_fen > 0]
    return form


def bind_hardship(formdata=True):
    return HardshipForm(prefix="hardship", **({} if formdata else {"formdata": None}))


def fresh_plan(unit, statement, today):
    """The plan form pre-filled: every charge with principal owed, six monthly instalments
    from a month ahead that add up exactly."""
    form = bind_plan(statement, today, formdata=False)
    form.charges.data = [choice.value for choice in form.charges.choices]
    form.count.data = 6
    form.first_on.data = add_months(today, 1)
    covered = sum(l.principal_outstanding_fen for l in statement.charges if l.principal_outstanding_fen > 0)
    if covered > 0:
        fill_rows(form, split_instalments(covered, 6, form.first_on.data))
    return form


def fill_rows(form, rows):
    while form.instalments.entries:
        form.instalments.pop_entry()
    for due_on, amount in rows:
        form.instalments.append_entry({"due_on": due_on, "amount": yuan(amount)})


def fresh_hardship(unit, today, renew_id=None):
    form = bind_hardship(formdata=False)
    form.start_on.data, form.end_on.data = today, add_months(today, 6) - timedelta(days=1)
    if renew_id:
        status = next((h for h in relief.unit_hardship_statuses(unit.id) if h.id == renew_id), None)
        if status is not None:
            length = status.end_on - status.start_on
            form.start_on.data = status.end_on + timedelta(days=1)
            form.end_on.data = form.start_on.data + length
            form.renews_id.data = str(status.id)
    return form


def _page(unit, status, **forms):
    """The household page with the posted relief form (and its messages) in place."""
    return render_page(unit, status=status, **{f"relief_{name}": form for name, form in forms.items()})


def back(unit_id):
    return redirect(url_for("household.show", unit_id=unit_id) + "#relief")


# -- the household page's relief section ---------------------------------------------------------

@bp.app_template_global()
def household_relief(summary, forms):
    """What ``relief/_household.html`` shows: hardship statuses (the reason for managers
    only), requests with their state, waivers, plans with their state, the days no late
    fee accrued and why, and the three request forms (the posted one, with its
    messages, when the page comes back from an action)."""
    unit, today, statement = summary.unit, summary.today, summary.statement
    manager = current_user.has_role("manager")
    renew = request.args.get("renew", type=int)
    lines = relief.request_lines(unit.id)
    return {
        "hardships": [(h, relief.hardship_reason(h) if manager else None, h.start_on <= today <= h.end_on)
                      for h in relief.unit_hardship_statuses(unit.id)],
        "requests": [line for line in lines if line.state == "pending"],
        "decided": [line for line in lines if line.state != "pending"][-10:][::-1],
        "reasons": ({line.request.id: relief.hardship_reason(line.request) for line in lines
                     if line.subject == "hardship"} if manager else {}),
        "waivers": relief.unit_waivers(unit.id),
        "plans": relief.unit_plan_lines(unit, today),
        "pending_plans": {line.request.id: relief.plan_periods(line.request) for line in lines
                          if line.subject == "plan"},
        "suspended": suspended_groups(summary),
        "can_manage": manager,
        "subject_labels": SUBJECT_LABELS, "state_labels": STATE_LABELS, "state_badges": STATE_BADGES,
        "plan_labels": PLAN_LABELS, "plan_badges": PLAN_BADGES, "reason_labels": REASON_LABELS,
        "kind_labels": KIND_LABELS,
        "forms": {
            "hardship": forms.get("relief_hardship") or fresh_hardship(unit, today, renew),
            "waiver": forms.get("relief_waiver") or bind_waiver(statement, formdata=False),
            "plan": forms.get("relief_plan") or fresh_plan(unit, statement, today),
        },
        "open_form": ("hardship" if renew else next((name for name in ("hardship", "waiver", "plan")
                                                     if forms.get(f"relief_{name}")), None)),
    }


@bp.app_template_global()
def relief_suspended(summary):
    """``{charge_id: [(start, end, days, SuspendedPeriod)]}``: why days of each charge did not
    accrue (kept for the request: the working and the relief section both read it)."""
    key = (summary.unit.id, summary.today)
    cache = g.setdefault("relief_suspended", {})
    if key not in cache:
        suspended = relief.suspended_periods(summary.unit, summary.today)
        schedule = policy_schedule(summary.unit.building.estate_id)
        cache[key] = {line.charge.id: suspended_for_charge(line, suspended, schedule, summary.today)
                      for line in summary.statement.charges}
    return cache[key]


def suspended_groups(summary):
    """The section's table: ``[(start, end, days, SuspendedPeriod, periods)]``, charges with
    the same days and reason on one row, earliest first."""
    groups = {}
    for line in summary.statement.charges:
        for start, end, days, period in relief_suspended(summary)[line.charge.id]:
            key = (start, end, period.kind, period.ref_id)
            groups.setdefault(key, [start, end, days, period, []])[4].append(line.charge.period)
    return [tuple(group[:4]) + (tuple(dict.fromkeys(group[4])),) for _key, group in sorted(groups.items())]


def suspended_for_charge(line, suspended, schedule, today):
    """``[(start, end, days, period)]``: the suspended periods covering the charge, clipped
    to the days it could accrue (from the day after its due date and grace, to today or
    the day its principal was settled)."""
    charge = line.charge
    first = charge.due_date + timedelta(days=schedule.on(charge.due_date + timedelta(days=1)).grace_days + 1)
    last = today if line.principal_outstanding_fen > 0 else (line.last_payment_on or today)
    found = []
    for period in suspended:
        if not period.covers(charge.id):
            continue
        start, end = max(period.start, first), min(period.end, last)
        if end >= start:
            found.append((start, end, (end - start).days + 1, period))
    return found


# -- the household's requests ----------------------------------------------------------------------

@bp.post("/households/<int:unit_id>/relief/hardship")
@role_required("clerk", "manager")
def request_hardship(unit_id):
    """Request hardship status for the household, with the supporting document."""
    unit = get_unit(unit_id)
    form = bind_hardship()
    valid = form.validate()
    upload = request.files.get(form.document.name)
    document = (upload.filename or "document", upload.read()) if upload and upload.filename else None
    if document is None:
        form.document.errors = list(form.document.errors) + [_("Attach the supporting document (PDF, JPEG or PNG).")]
    else:
        try:
            check_upload(*document, current_app.config["ARREARS_MAX_UPLOAD_BYTES"])
        except UploadRefused as refused:
            form.document.errors = list(form.document.errors) + [str(UPLOAD_MESSAGES[refused.code] % refused.values)]
    renews_id = int(form.renews_id.data) if (form.renews_id.data or "").isdigit() else None
    if not valid or form.document.errors:
        return _page(unit, 422, hardship=form)
    try:
        relief.request_hardship(unit, form.start_on.data, form.end_on.data, form.reason.data,
                                current_user.username, document=document, renews_id=renews_id)
    except UploadRefused as refused:
        form.document.errors = list(form.document.errors) + [str(UPLOAD_MESSAGES[refused.code] % refused.values)]
        return _page(unit, 422, hardship=form)
    except ServiceError as error:
        form.form_errors.append(refusal(error))
        return _page(unit, 422, hardship=form)
    flash(_("Hardship status requested from %(start)s to %(end)s; a manager decides it. Nothing changes until then.",
            start=ldate(form.start_on.data), end=ldate(form.end_on.data)), "success")
    return back(unit.id)


@bp.post("/households/<int:unit_id>/relief/waivers")
@role_required("clerk", "manager")
def request_waiver(unit_id):
    """Request a waiver on one charge (late fee all or an amount, or principal)."""
    unit = get_unit(unit_id)
    statement = _statement(unit, _today(unit))
    form = bind_waiver(statement)
    if not form.validate():
        return _page(unit, 422, waiver=form)
    line = statement.charge(form.charge.data)
    kind = "principal" if form.kind.data == "principal" else "late_fee"
    room = line.principal_outstanding_fen if kind == "principal" else line.late_fee_outstanding_fen
    if room <= 0:
        form.kind.errors.append(_("The %(period)s charge has no %(what)s outstanding to waive.",
                                  period=line.charge.period, what=_("principal") if kind == "principal" else
                                  _("late fee")))
        return _page(unit, 422, waiver=form)
    if form.amount.fen is not None and form.amount.fen > room:
        form.amount.errors.append(_("%(amount)s is more than the %(what)s outstanding on the %(period)s charge "
                                    "(%(room)s).", amount=money(form.amount.fen), period=line.charge.period,
                                    what=_("principal") if kind == "principal" else _("late fee"), room=money(room)))
        return _page(unit, 422, waiver=form)
    try:
        relief.request_waiver(line.charge.id, kind, form.amount.fen, form.reason.data, current_user.username,
                              note=form.note.data or "")
    except ServiceError as error:
        form.form_errors.append(refusal(error))
        return _page(unit, 422, waiver=form)
    flash(_("Waiver requested for %(period)s; a different manager decides it. Nothing changes until then.",
            period=line.charge.period), "success")
    return back(unit.id)


def _instalments(form):
    """The rows as ``(due_on, fen)``; errors go next to the row's fields."""
    rows = []
    for entry in form.instalments.entries:
        row = entry.form
        fen = getattr(row.amount, "fen", None)
        if row.due_on.data and fen:
            rows.append((row.due_on.data, fen))
    return rows


@bp.post("/households/<int:unit_id>/relief/plans")
@role_required("clerk", "manager")
def request_plan(unit_id):
    """Draw up a payment plan: ``plan-action=preview`` works out the instalments (nothing
    saved); otherwise the plan is saved for a manager's approval."""
    unit = get_unit(unit_id)
    today = _today(unit)
    statement = _statement(unit, today)
    form = bind_plan(statement, today)
    valid = form.validate()
    covered = None
    if form.charges.data and not form.charges.errors:
        covered, _lines = relief.plan_coverage(unit, form.charges.data, bool(form.include_late_fee.data), today)
    if form.action.data == "preview":
        if not (form.count.errors or form.first_on.errors or form.charges.errors) and covered:
            fill_rows(form, split_instalments(covered, form.count.data, form.first_on.data))
            for entry in form.instalments.entries:
                entry.form.due_on.errors, entry.form.amount.errors = [], []
            return _page(unit, 200, plan=form)
        return _page(unit, 422, plan=form)
    if not form.instalments.entries:
        form.rows_errors = [_("Work out the instalments first.")]
        valid = False
    rows = _instalments(form)
    if valid and covered is not None:
        problems = _instalment_messages(rows, covered, today)
        if problems:
            form.rows_errors = problems
            valid = False
    if not valid:
        return _page(unit, 422, plan=form)
    try:
        plan = relief.request_plan(unit, relief.PlanDraft(tuple(form.charges.data), bool(form.include_late_fee.data),
                                                          tuple(rows), form.note.data or ""), current_user.username)
    except ServiceError as error:
        form.form_errors.append(refusal(error))
        return _page(unit, 422, plan=form)
    flash(_("Payment plan #%(id)s drawn up for %(amount)s in %(count)s instalments; a manager approves it.",
            id=plan.id, amount=money(plan.covered_fen), count=len(rows)), "success")
    return back(unit.id)


def _instalment_messages(rows, covered, today):
    """The domain's checks of a plan's instalments, said in the page's language."""
    messages = []
    for (before, _a), (after, _b), number in zip(rows, rows[1:], range(2, len(rows) + 1)):
        if after <= before:
            messages.append(_("Instalment %(n)s: its date must be after instalment %(m)s's.", n=number, m=number - 1))
    if rows and rows[0][0] < today:
        messages.append(_("Instalment 1: its date is before today (%(day)s).", day=ldate(today)))
    total = sum(amount for _day, amount in rows)
    if total != covered:
        messages.append(_("The instalments add up to %(total)s but the plan covers %(covered)s.",
                          total=money(total), covered=money(covered)))
    # Anything the domain refuses that is not said above is said in its words.
    if not messages:
        messages = plan_rules.instalment_problems(
            [plan_rules.Instalment(n, d, a) for n, (d, a) in enumerate(rows, 1)], covered, today)
    return messages


# -- documents -------------------------------------------------------------------------------------



@bp.post("/relief/plans/<int:plan_id>/agreement")
@role_required("clerk", "manager")
def print_agreement(plan_id):
    """Print the plan's agreement (分期还款协议), signed and numbered, and show it."""
    plan = db.session.get(PaymentPlan, plan_id)
    if plan is None:
        abort(404)
    get_unit(plan.unit_id)
    language = request.form.get("language") if request.form.get("language") in ("zh_CN", "en") else "zh_CN"
    try:
        agreement = relief.print_plan_agreement(plan.id, current_user.username, language)
    except ServiceError as error:
        flash(_("No agreement printed: %(reason)s", reason=refusal(error)), "danger")
        return back(plan.unit_id)
    return redirect(url_for("relief.agreement_pdf", serial=agreement.serial))


@bp.get("/relief/agreements/<serial>.pdf")
@login_required
def agreement_pdf(serial):
    """A printed plan agreement, exactly as stored (signed)."""
    agreement = db.session.execute(select(PlanAgreement).where(PlanAgreement.serial == serial)).scalar_one_or_none()
    if agreement is None:
        abort(404)
    get_unit(db.session.get(PaymentPlan, agreement.plan_id).unit_id)
    return pdf_response(read_file(agreement.sha256), f"{agreement.serial}.pdf")


@bp.get("/relief/hardship/<int:request_id>/document")
@role_required("manager")
def hardship_document(request_id):
    """A hardship request's supporting document (managers), as an attachment."""
    try:
        found, unit = relief.hardship_document(request_id)
    except NotFound:
        abort(404)
    get_unit(unit.id)
    from ..models import StoredFile
    stored = db.session.get(StoredFile, found.document_sha256)
    response = Response(read_file(found.document_sha256), mimetype=stored.content_type)
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}.get(stored.content_type, "")
    response.headers["Content-Disposition"] = f'attachment; filename="hardship-{found.id}{extension}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the Relief screen -----------------------------------------------------------------------------

@bp.get("/relief/")
@role_required("clerk", "manager")
def index():
    """Requests awaiting a decision, hardship statuses and their expiries, plans, and the reports."""
    today = local_today()
    manager = current_user.has_role("manager")
    pending = relief.pending_requests()
    months = relief.relief_granted_by_month(today)
    plans = relief.plan_lines(today)
    hardships = relief.hardship_overview(today, EXPIRY_WARNING_DAYS)
    statements = {}
    for line in pending:
        if line.subject == "waiver" and line.unit.id not in statements:
            statements[line.unit.id] = _statement(line.unit, today)
    return render_template(
        "relief/index.html", today=today, pending=pending, manager=manager,
        reasons={line.request.id: relief.hardship_reason(line.request) for line in pending
                 if line.subject == "hardship"} if manager else {},
        outstanding={line.request.id: _room(statements[line.unit.id], line.request) for line in pending
                     if line.subject == "waiver"},
        plan_periods={line.request.id: relief.plan_periods(line.request) for line in pending if line.subject == "plan"},
        hardships=hardships, warning_days=EXPIRY_WARNING_DAYS,
        hardship_households=len({unit.id for _status, unit, _soon, _renewed in hardships}),
        ending_soon=sum(1 for _status, _unit, soon, _renewed in hardships if soon),
        plans=plans, plan_counts=relief.plan_counts(today), months=months,
        totals={"late_fee_fen": sum(m["late_fee_fen"] for m in months),
                "principal_fen": sum(m["principal_fen"] for m in months),
                "by_reason": {r: sum(m["by_reason"][r] for m in months) for r in WAIVER_REASONS}},
        chart=relief_chart(months), waivers=_recent_waivers(today),
        subject_labels=SUBJECT_LABELS, plan_labels=PLAN_LABELS, plan_badges=PLAN_BADGES, reason_labels=REASON_LABELS,
        kind_labels=KIND_LABELS, reasons_order=WAIVER_REASONS)


def _room(statement, waiver_request):
    try:
        line = statement.charge(waiver_request.charge_id)
    except KeyError:
        return 0
    return line.principal_outstanding_fen if waiver_request.kind == "principal" else line.late_fee_outstanding_fen


def _recent_waivers(today, days=365):
    """Approved waivers of the last year that stand (may be undone), newest first."""
    from ..models import Charge, Unit, WaiverReversal
    undone = select(WaiverReversal.waiver_id)
    rows = db.session.execute(select(Waiver, Charge, Unit).join(Charge, Charge.id == Waiver.charge_id)
                              .join(Unit, Unit.id == Charge.unit_id)
                              .where(Waiver.approved_on >= today - timedelta(days=days), Waiver.id.not_in(undone))
                              .order_by(Waiver.approved_on.desc(), Waiver.id.desc()).limit(50)).all()
    return rows


def relief_chart(months):
    """Relief granted per month (late fee and principal waived), one column per month."""
    columns = [(m["month"][2:], (m["late_fee_fen"] + m["principal_fen"]) / 100,
                money(m["late_fee_fen"] + m["principal_fen"]) if m["waivers"] else "", False) for m in months]
    return column_chart(columns, title=_("Relief granted per month (CNY)"))


@bp.post("/relief/decisions/<subject>/<int:request_id>/<outcome>")
@role_required("manager")
def decide(subject, request_id, outcome):
    """Approve or reject a request (a manager other than the requester; once)."""
    if subject not in relief.REQUESTS or outcome not in ("approved", "rejected"):
        abort(404)
    found = db.session.get(relief.REQUESTS[subject], request_id)
    if found is None:
        abort(404)
    form = DecisionForm(prefix=f"decide-{subject}-{request_id}")
    if not form.validate():
        flash(_("The note is too long."), "danger")
        return redirect(url_for("relief.index") + "#queue")
    label = SUBJECT_LABELS[subject]
    try:
        relief.decide(subject, request_id, outcome, current_user.username, note=form.note.data or "")
    except relief.AlreadyDecided:
        flash(_("%(what)s request #%(id)s was already decided; nothing changed.", what=label, id=request_id),
              "warning")
    except relief.NotAllowed:
        if found.requested_by == current_user.username:
            flash(_("You made %(what)s request #%(id)s yourself: another manager must decide it.", what=label,
                    id=request_id), "danger")
        else:
            flash(_("Only a manager can decide relief."), "danger")
    except ServiceError as error:
        flash(_("%(what)s request #%(id)s was not approved: %(reason)s", what=label, id=request_id,
                reason=refusal(error)), "danger")
    else:
        if outcome == "approved":
            flash(_("%(what)s request #%(id)s approved; the figures take it into account from today.", what=label,
                    id=request_id), "success")
        else:
            flash(_("%(what)s request #%(id)s rejected.", what=label, id=request_id), "success")
    return redirect(url_for("relief.index") + "#queue")


@bp.post("/relief/waivers/<int:waiver_id>/reversal")
@role_required("manager")
def reverse_waiver(waiver_id):
    """Undo an approved waiver from today, with a reason (managers)."""
    waiver = db.session.get(Waiver, waiver_id)
    if waiver is None:
        abort(404)
    form = ReversalForm(prefix=f"reverse-{waiver_id}")
    if not form.validate():
        flash(_("Undoing a waiver needs a reason."), "danger")
        return redirect(url_for("relief.index") + "#waivers")
    try:
        relief.reverse_waiver(waiver.id, form.reason.data, current_user.username)
    except relief.AlreadyDecided:
        flash(_("Waiver #%(id)s is already undone; nothing changed.", id=waiver_id), "warning")
    except ServiceError as error:
        flash(refusal(error), "danger")
    else:
        flash(_("Waiver #%(id)s undone from today.", id=waiver_id), "success")
    return redirect(url_for("relief.index") + "#waivers")
