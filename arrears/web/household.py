"""One household: statement, timeline and the day's actions.

Every lookup goes through ``access.get_unit`` (lawyers: only households in legal, else
404). Every action is a POST that validates its form, calls one service and redirects
back with a message (PRG); bad input returns the page with the message next to the
field, never a 500. Clerks and managers act; reversals and escalations are the
manager's; lawyers only read.
"""
import re
import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import (DateField, DateTimeLocalField, HiddenField, SelectChoice, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain.contact_policy import NOT_HOUSEHOLD, QUIET_HOURS, TOO_MANY
from ..domain.disputes import DISPUTE_STATUSES, TRANSITIONS
from ..domain.errors import InvalidAmount
from ..domain.money import format_fen, parse_amount
from ..models import CONTACT_CHANNELS, CONTACT_REACHED, NONPAYMENT_REASONS, PAYMENT_METHODS
from ..services.cases import active_lawyers, record_step
from ..services.collection import (AlreadySubmitted, ContactPolicyBreach, InvalidAct, contact_policy,
                                   escalate, log_contact, open_dispute, record_promise, update_dispute)
from ..services.errors import DuplicatePayment, NotFound, ServiceError
from ..services.households import household_summary
from ..services.ledger import local_today, unit_statement
from ..services.personal_data import NoPhoneOnRecord, reveal_owner_phone
from ..services.notices import receipt_serial
from ..services.postings import post_payment, reverse_payment
from . import select_language
from .access import get_unit, role_required
from .formats import ldate, ldatetime, money
from .households import CLASS_LABELS, STAGE_BADGES, STAGE_LABELS
from .refusals import refusal

bp = Blueprint("household", __name__, url_prefix="/households")

METHOD_LABELS = {"cash": _l("Cash"), "bank_transfer": _l("Bank transfer"), "wechat": _l("WeChat Pay"),
                 "alipay": _l("Alipay"), "bank_deduction": _l("Bank deduction"), "other": _l("Other")}
CHANNEL_LABELS = {"phone": _l("Phone call"), "sms": _l("Text message"), "wechat": _l("WeChat"),
                  "visit": _l("Home visit"), "letter": _l("Letter"), "notice_posted": _l("Notice posted"),
                  "email": _l("Email")}
REACHED_LABELS = {"owner": _l("The owner"), "household_member": _l("A household member"),
                  "other": _l("Someone else"), "nobody": _l("Nobody")}
REASON_LABELS = {"hardship": _l("Financial hardship"), "service_dispute": _l("Unhappy with the service"),
                 "away": _l("Away from home"), "refuses": _l("Refuses to pay"), "unreachable": _l("Unreachable"),
                 "deceased_or_estate": _l("Owner deceased / estate"), "other": _l("Other reason")}
DISPUTE_LABELS = {"open": _l("Open"), "in_progress": _l("In progress"), "resolved": _l("Resolved"),
                  "rejected": _l("Rejected")}
PROMISE_LABELS = {"pending": _l("Pending"), "kept": _l("Kept"), "broken": _l("Broken")}
PROMISE_BADGES = {"pending": "text-bg-secondary", "kept": "text-bg-success", "broken": "text-bg-danger"}
BREACH_LABELS = {QUIET_HOURS: _l("outside the allowed hours"), TOO_MANY: _l("too many attempts this week"),
                 NOT_HOUSEHOLD: _l("the person reached is not the owner or a household member")}
PERSONAL_DATA_LABELS = {"owner_phone": _l("the owner's phone number")}
WAIVER_KIND_LABELS = {"late_fee": _l("late fee"), "principal": _l("principal")}
MEMBER_RELATION_LABELS = {"spouse": _l("Spouse"), "parent": _l("Parent"), "child": _l("Child"),
                          "sibling": _l("Sibling"), "tenant": _l("Tenant"), "other": _l("Other relation")}
EARLIEST_DAY = date(1970, 1, 1)
TIMELINE_LIMIT = 200


# -- forms --------------------------------------------------------------------------------
# CSRF is checked for every POST by CSRFProtect (the templates carry ``csrf_token``); the
# forms themselves leave it out so that several can share one page.

class ActionForm(FlaskForm):
    class Meta:
        csrf = False


# Thousands grouped as the screens show them: 1,234.50 (also with a full-width comma).
GROUPED = re.compile(r"\d{1,3}(?:[,，]\d{3})+(?:\.\d*)?")


def amount_check(form, field):
    """Digits with at most two decimals, above zero; keeps the fen on ``field.fen``.
    Thousands may be grouped as the screens show them (1,234.50)."""
    raw = (field.data or "").strip()
    if not raw:
        raise ValidationError(_("Enter an amount, like 1234.50."))
    if GROUPED.fullmatch(raw):
        raw = raw.replace(",", "").replace("，", "")
    try:
        field.fen = parse_amount(raw)
    except InvalidAmount:
        if raw.startswith("-"):
            raise ValidationError(_("The amount cannot be negative."))
        if re.fullmatch(r"\d+\.\d{3,}", raw):
            raise ValidationError(_("Use at most two decimals (fen)."))
        if re.fullmatch(r"0*(\.0*)?", raw):
            raise ValidationError(_("The amount must be greater than 0.00."))
        if re.fullmatch(r"\d{14,}(\.\d{0,2})?", raw):
            raise ValidationError(_("The amount is too large: at most 9999999999999.99."))
        raise ValidationError(_("Enter an amount as a number, like 1234.50."))


def token_check(form, field):
    if not re.fullmatch(r"[0-9a-f]{32}", field.data or ""):
        raise ValidationError(_("This form has expired. Reload the page and try again."))


def required(message=None):
    return InputRequired(message=message or _l("This field is required."))


def filled(message):
    """Required, and more than blanks (use with ``strip``)."""
    return DataRequired(message=message)


def strip(value):
    return value.strip() if isinstance(value, str) else value


def _choices(labels, keys, blank=None):
    items = [SelectChoice(key, labels.get(key, key)) for key in keys]
    return ([SelectChoice("", blank)] if blank is not None else []) + items


class PaymentForm(ActionForm):
    amount = StringField(_l("Amount (CNY)"), validators=[amount_check])
    paid_on = DateField(_l("Paid on"), validators=[required(_l("Enter the date paid."))],
                        invalid_value_message=_l("Enter a date like 2026-05-31."))
    method = SelectField(_l("Method"), choices=_choices(METHOD_LABELS, PAYMENT_METHODS),
                         validators=[required()], invalid_choice_message=_l("Choose a method from the list."))
    reference = StringField(_l("Reference"), filters=[strip],
                            validators=[filled(_l("Enter the payment reference.")), Length(max=100)])
    periods = SelectMultipleField(_l("For periods (optional)"), choices=[], validators=[Optional()],
                                  widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                  invalid_choice_message=_l("Choose periods from the list."))

    def validate_paid_on(self, field):
        if field.data and field.data > self.today:
            raise ValidationError(_("The payment date %(day)s is in the future.", day=ldate(field.data)))
        if field.data and field.data < EARLIEST_DAY:
            raise ValidationError(_("Enter a date like 2026-05-31."))


class ReverseForm(ActionForm):
    payment = SelectField(_l("Payment"), coerce=int, choices=[], validators=[required()],
                          invalid_choice_message=_l("Choose a payment from the list."))
    reason = TextAreaField(_l("Reason"), filters=[strip],
                           validators=[filled(_l("A reversal needs a reason.")), Length(max=1000)])


class ContactForm(ActionForm):
    channel = SelectField(_l("Channel"), choices=_choices(CHANNEL_LABELS, CONTACT_CHANNELS), validators=[required()],
                          invalid_choice_message=_l("Choose a channel from the list."))
    contacted_at = DateTimeLocalField(_l("When"), format="%Y-%m-%dT%H:%M",
                                      validators=[required(_l("Enter when the contact took place."))],
                                      invalid_value_message=_l("Enter a date and time like 2026-05-31 14:30."))
    reached = SelectField(_l("Reached"), choices=_choices(REACHED_LABELS, CONTACT_REACHED), validators=[required()],
                          invalid_choice_message=_l("Choose who was reached from the list."))
    outcome = StringField(_l("Outcome"), filters=[strip],
                          validators=[filled(_l("Say what came of the contact.")), Length(max=200)])
    reason = SelectField(_l("Reason given for not paying"), choices=[], validators=[Optional()],
                         invalid_choice_message=_l("Choose a reason from the list."))
    member = SelectField(_l("Which household member (registered)"), choices=[], validators=[Optional()],
                         invalid_choice_message=_l("Choose a registered household member from the list."))
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])
    justification = TextAreaField(_l("Justification (needed when the contact policy is broken)"),
                                  validators=[Optional(), Length(max=2000)])
    form_token = HiddenField(validators=[token_check])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = _choices(REASON_LABELS, NONPAYMENT_REASONS, blank=_("(none given)"))


class PromiseForm(ActionForm):
    amount = StringField(_l("Amount promised (CNY)"), validators=[amount_check])
    promised_on = DateField(_l("Promised by"), validators=[required(_l("Enter the date promised."))],
                            invalid_value_message=_l("Enter a date like 2026-05-31."))
    form_token = HiddenField(validators=[token_check])

    def validate_promised_on(self, field):
        if field.data and field.data < self.today:
            raise ValidationError(_("The promised date %(day)s has already passed.", day=ldate(field.data)))


class DisputeForm(ActionForm):
    subject = StringField(_l("What is the complaint about?"), filters=[strip],
                          validators=[filled(_l("Say what the dispute is about.")), Length(max=200)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    form_token = HiddenField(validators=[token_check])


class DisputeUpdateForm(ActionForm):
    dispute = SelectField(_l("Dispute"), coerce=int, choices=[], validators=[required()],
                          invalid_choice_message=_l("Choose a dispute from the list."))
    status = SelectField(_l("New status"), choices=[], validators=[required()],
                         invalid_choice_message=_l("Choose a status from the list."))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    form_token = HiddenField(validators=[token_check])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = _choices(DISPUTE_LABELS, DISPUTE_STATUSES)


class EscalationForm(ActionForm):
    stage = HiddenField()
    reason = TextAreaField(_l("Reason"), filters=[strip],
                           validators=[filled(_l("An escalation needs a reason.")), Length(max=1000)])
    # Escalating to legal: the lawyer the case goes to (an active lawyer), recorded as its first step.
    lawyer = SelectField(_l("Lawyer (optional)"), choices=[], validators=[Optional()],
                         invalid_choice_message=_l("Choose a lawyer from the list."))


FORMS = {"pay": PaymentForm, "reverse": ReverseForm, "contact": ContactForm, "promise": PromiseForm,
         "dispute": DisputeForm, "dispute_update": DisputeUpdateForm, "escalate": EscalationForm}


def new_token():
    return secrets.token_hex(16)


def estate_tz(unit):
    return unit.building.estate.timezone


def local_now(unit):
    return datetime.now(ZoneInfo(estate_tz(unit))).replace(second=0, microsecond=0, tzinfo=None)


def bind(name, summary, formdata=True):
    """The form ``name`` with its choices for this household (``formdata=False``: a fresh one)."""
    kwargs = {} if formdata else {"formdata": None}
    form = FORMS[name](prefix=name.replace("_", "-"), **kwargs)
    form.today = summary.today if summary else None
    if name == "pay":
        periods = list(dict.fromkeys(summary.outstanding_periods))
        form.periods.choices = [SelectChoice(p, p) for p in periods]
    elif name == "reverse":
        # Every payment of the household is a valid choice (a reversed one is refused with
        # its own message); the page offers only those that stand.
        form.payment.choices = [SelectChoice(line.payment.id, payment_label(line.payment))
                                for line in summary.payments]
    elif name == "escalate":
        form.lawyer.choices = [SelectChoice("", _("(not yet)"))] + [SelectChoice(u, u) for u in active_lawyers()]
    elif name == "contact":
        from ..services.members import active_members
        form.member.choices = [SelectChoice("", _("(not a household member)"))] + [
            SelectChoice(str(m.id), f"{m.name} · {MEMBER_RELATION_LABELS.get(m.relation, m.relation)}")
            for m in active_members(summary.unit.id)]
    elif name == "dispute_update":
        form.dispute.choices = [SelectChoice(d.dispute.id, f"#{d.dispute.id} {d.dispute.subject}")
                                for d in summary.disputes]
    return form


def fee_text(fee_fen):
    """A span's exact fee (``Decimal`` fen) in yuan: two decimals at least, more only when exact
    fractions of a fen remain (the sum is rounded once per charge, not per span)."""
    yuan = (fee_fen / 100).normalize()
    text = format(yuan, "f")
    whole, _dot, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def payment_label(payment):
    return f"{ldate(payment.paid_on)} · {money(payment.amount_fen)} · {payment.reference}"


def fresh_forms(unit, summary):
    forms = {name: bind(name, summary, formdata=False) for name in FORMS}
    forms["pay"].paid_on.data = summary.today
    forms["pay"].method.data = "wechat"
    forms["contact"].contacted_at.data = local_now(unit)
    forms["contact"].channel.data = "phone"
    forms["contact"].reached.data = "owner"
    for name in ("contact", "promise", "dispute", "dispute_update"):
        forms[name].form_token.data = new_token()
    forms["escalate"].stage.data = "cleared" if summary.escalated else "legal"
    forms["reverse"].payment.choices = [SelectChoice(p.id, payment_label(p)) for p in summary.standing_payments]
    return forms


def render_page(unit, summary=None, status=200, revealed_phone=None, **submitted):
    """The household page; ``submitted`` forms (with their errors) replace the fresh ones;
    ``revealed_phone``: the owner's full number, shown in place of the masked one."""
    summary = summary or household_summary(unit, local_today(estate_tz(unit)))
    forms = fresh_forms(unit, summary)
    forms.update(submitted)
    for name in ("contact", "promise", "dispute", "dispute_update"):
        if not forms[name].form_token.data:
            forms[name].form_token.data = new_token()
    return render_template(
        "households/household.html", s=summary, forms=forms, fen=format_fen, fee_text=fee_text,
        timeline=[describe(event, estate_tz(unit)) for event in summary.events[:TIMELINE_LIMIT]],
        more_events=max(0, len(summary.events) - TIMELINE_LIMIT),
        stage_labels=STAGE_LABELS, stage_badges=STAGE_BADGES, class_labels=CLASS_LABELS,
        method_labels=METHOD_LABELS, channel_labels=CHANNEL_LABELS, reached_labels=REACHED_LABELS,
        reason_labels=REASON_LABELS, dispute_labels=DISPUTE_LABELS, promise_labels=PROMISE_LABELS,
        promise_badges=PROMISE_BADGES, transitions=TRANSITIONS, local_time=lambda m: local_time(m, estate_tz(unit)),
        can_act=current_user.has_role("clerk", "manager"), can_manage=current_user.has_role("manager"),
        policy=contact_policy(), revealed_phone=revealed_phone, contact_guide=_contact_guide(summary),
        # A form sent back with its errors is shown at the action's address (POST only):
        # switching the language from there goes back to the household page instead.
        language_next=url_for("household.show", unit_id=unit.id),
    ), status


def _contact_guide(summary):
    from .guides import contact_guide_context  # the call guide's markup and data belong to web/guides.py
    return contact_guide_context(summary)


def back(unit, anchor=None):
    return redirect(url_for("household.show", unit_id=unit.id) + (f"#{anchor}" if anchor else ""))


def submitted(name, unit):
    """The posted form ``name`` bound to this household, and the household's summary."""
    summary = household_summary(unit, local_today(estate_tz(unit)), with_events=False)
    return bind(name, summary), summary


# -- the page -----------------------------------------------------------------------------

@bp.get("/<int:unit_id>")
@login_required
def show(unit_id):
    """The household page: figures, statement with working, timeline and actions."""
    unit = get_unit(unit_id)
    return render_page(unit)


# -- actions ------------------------------------------------------------------------------

@bp.post("/<int:unit_id>/phone")
@role_required("clerk", "manager")
def reveal_phone(unit_id):
    """Show the owner's full phone number on this answer only (recorded as evidence, never cached)."""
    unit = get_unit(unit_id)
    try:
        phone = reveal_owner_phone(unit, current_user.username)
    except NoPhoneOnRecord:
        flash(_("No phone number is on record for the owner."), "warning")
        return back(unit)
    response = make_response(render_page(unit, revealed_phone=phone))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:unit_id>/payments")
@role_required("clerk", "manager")
def pay(unit_id):
    """Post a payment (optionally naming the periods it is for)."""
    unit = get_unit(unit_id)
    form, _summary = submitted("pay", unit)
    if not form.validate():
        return render_page(unit, status=422, pay=form)
    try:
        payment = post_payment(unit, form.amount.fen, form.paid_on.data, form.method.data, form.reference.data,
                               current_user.username, periods=tuple(form.periods.data or ()))
    except DuplicatePayment as error:
        form.reference.errors.append(_("Reference %(reference)s is already posted (payment #%(id)s); "
                                       "it was not posted again.", reference=error.reference, id=error.existing_id))
        return render_page(unit, status=409, pay=form)
    except IntegrityError:  # the same reference posted by a concurrent request
        form.reference.errors.append(_("Reference %(reference)s is already posted; it was not posted again.",
                                       reference=form.reference.data.strip()))
        return render_page(unit, status=409, pay=form)
    except ServiceError as error:
        form.form_errors.append(refusal(error))
        return render_page(unit, status=422, pay=form)
    statement, _limitation = unit_statement(unit, local_today(estate_tz(unit)))
    flash(_("Payment of %(amount)s posted (reference %(reference)s). Now owed: %(total)s; credit %(credit)s.",
            amount=money(payment.amount_fen), reference=payment.reference,
            total=money(statement.total_outstanding_fen), credit=money(statement.credit_fen)), "success")
    serial = receipt_serial(payment.id)
    if serial:
        flash(_("Receipt %(serial)s is numbered for this payment: print it under Notices and receipts.",
                serial=serial), "info")
    return back(unit)


@bp.post("/<int:unit_id>/reversals")
@role_required("manager")
def reverse(unit_id):
    """Reverse one of the household's payments, with a reason (managers)."""
    unit = get_unit(unit_id)
    form, summary = submitted("reverse", unit)
    if not form.validate():
        return render_page(unit, status=422, reverse=form)
    line = next(line for line in summary.payments if line.payment.id == form.payment.data)
    if line.reversal is not None:
        form.payment.errors.append(_("Payment %(reference)s is already reversed; it was not reversed again.",
                                     reference=line.payment.reference))
        return render_page(unit, status=409, reverse=form)
    try:
        payment = reverse_payment(form.payment.data, form.reason.data, current_user.username)
    except ServiceError as error:
        form.payment.errors.append(refusal(error))
        return render_page(unit, status=422, reverse=form)
    flash(_("Payment %(reference)s of %(amount)s reversed.", reference=payment.reference,
            amount=money(payment.amount_fen)), "success")
    return back(unit, "payments")


def _contact_breach_messages(form, found, policy):
    reasons = "; ".join(str(BREACH_LABELS[b]) for b in found)
    if QUIET_HOURS in found:
        form.contacted_at.errors.append(_("No contact is allowed between %(start)s and %(end)s.",
                                          start=policy.quiet_from.strftime("%H:%M"),
                                          end=policy.quiet_until.strftime("%H:%M")))
    if TOO_MANY in found:
        form.contacted_at.errors.append(_("At most %(count)s contact attempts in any %(days)s days.",
                                          count=policy.max_attempts, days=policy.window_days))
    if NOT_HOUSEHOLD in found:
        form.reached.errors.append(_("Only the owner and registered household members may be contacted."))
    form.justification.errors.append(_("This contact breaks the contact policy (%(reasons)s). Write a "
                                       "justification to record it anyway; it will be flagged.", reasons=reasons))


@bp.post("/<int:unit_id>/contacts")
@role_required("clerk", "manager")
def contact(unit_id):
    """Log a contact; outside the contact policy only with a written justification (flagged)."""
    unit = get_unit(unit_id)
    form, _summary = submitted("contact", unit)
    if not form.validate():
        return render_page(unit, status=422, contact=form)
    policy = contact_policy()
    contacted_at = form.contacted_at.data.replace(tzinfo=ZoneInfo(estate_tz(unit)))
    try:
        row = log_contact(unit, channel=form.channel.data, contacted_at=contacted_at, reached=form.reached.data,
                          outcome=form.outcome.data, reason=form.reason.data or None, notes=form.notes.data,
                          justification=form.justification.data, actor=current_user.username,
                          form_token=form.form_token.data, policy=policy, language=select_language(),
                          member_id=int(form.member.data) if (form.member.data or "").isdigit() else None)
    except ContactPolicyBreach as error:
        _contact_breach_messages(form, error.breaches, policy)
        return render_page(unit, status=422, contact=form)
    except AlreadySubmitted:
        flash(_("This form was already submitted; the contact was recorded once, not again."), "warning")
        return back(unit, "timeline")
    except InvalidAct as error:
        _field_error(form, error)
        return render_page(unit, status=422, contact=form)
    if row.policy_breach:
        flash(_("Contact logged and flagged: it breaks the contact policy (justification recorded)."), "warning")
    else:
        flash(_("Contact logged: %(channel)s, %(outcome)s.", channel=CHANNEL_LABELS[row.channel],
                outcome=row.outcome), "success")
    return back(unit, "timeline")


# Service refusals (``InvalidAct.code``) in the user's language.
ACT_MESSAGES = {
    "bad_token": _l("This form has expired. Reload the page and try again."),
    "unknown_choice": _l("Choose a value from the list."),
    "empty_outcome": _l("Say what came of the contact."),
    "naive_time": _l("Enter a date and time like 2026-05-31 14:30."),
    "future_time": _l("That time is in the future."),
    "amount_not_positive": _l("The amount must be greater than 0.00."),
    "promise_past": _l("The promised date has already passed."),
    "promise_too_far": _l("The promised date is more than a year ahead."),
    "promise_above_owed": _l("That is more than the household owes today."),
    "empty_subject": _l("Say what the dispute is about."),
    "long_subject": _l("Use at most 200 characters."),
    "bad_transition": _l("A dispute with this status cannot be given that status."),
    "unknown_stage": _l("Reload the page and try again."),
    "empty_reason": _l("An escalation needs a reason."),
    "already_legal": _l("This household is already escalated to legal."),
    "not_legal": _l("This household is not escalated to legal."),
}


def _field_error(form, error):
    """Put a service's refusal next to the field it names (else at the top of the form)."""
    code = getattr(error, "code", None)
    message = str(ACT_MESSAGES[code]) if code in ACT_MESSAGES else refusal(error)
    target = getattr(form, getattr(error, "field", None) or "", None)
    if target is not None and hasattr(target, "errors"):
        if not isinstance(target.errors, list):
            target.errors = list(target.errors)
        target.errors.append(message)
    else:
        form.form_errors.append(message)


@bp.post("/<int:unit_id>/promises")
@role_required("clerk", "manager")
def promise(unit_id):
    """Record a promise to pay; kept or broken follows from the payments."""
    unit = get_unit(unit_id)
    form, _summary = submitted("promise", unit)
    if not form.validate():
        return render_page(unit, status=422, promise=form)
    try:
        row = record_promise(unit, amount_fen=form.amount.fen, promised_on=form.promised_on.data,
                             actor=current_user.username, form_token=form.form_token.data)
    except AlreadySubmitted:
        flash(_("This form was already submitted; the promise was recorded once, not again."), "warning")
        return back(unit, "promises")
    except ServiceError as error:
        _field_error(form, error)
        return render_page(unit, status=422, promise=form)
    flash(_("Promise recorded: %(amount)s by %(day)s.", amount=money(row.amount_fen),
            day=ldate(row.promised_on)), "success")
    return back(unit, "promises")


@bp.post("/<int:unit_id>/disputes")
@role_required("clerk", "manager")
def dispute(unit_id):
    """Open a dispute about service, apart from the debt."""
    unit = get_unit(unit_id)
    form, _summary = submitted("dispute", unit)
    if not form.validate():
        return render_page(unit, status=422, dispute=form)
    try:
        row = open_dispute(unit, subject=form.subject.data, note=form.note.data, actor=current_user.username,
                           form_token=form.form_token.data)
    except AlreadySubmitted:
        flash(_("This form was already submitted; the dispute was opened once, not again."), "warning")
        return back(unit, "disputes")
    except ServiceError as error:
        _field_error(form, error)
        return render_page(unit, status=422, dispute=form)
    flash(_("Dispute #%(id)s opened: %(subject)s.", id=row.id, subject=row.subject), "success")
    return back(unit, "disputes")


@bp.post("/<int:unit_id>/disputes/status")
@role_required("clerk", "manager")
def dispute_status(unit_id):
    """Move one of the household's disputes to a new status (in progress, resolved, rejected, reopened)."""
    unit = get_unit(unit_id)
    form, _summary = submitted("dispute_update", unit)
    if not form.validate():
        return render_page(unit, status=422, dispute_update=form)
    try:
        update_dispute(unit, dispute_id=form.dispute.data, status=form.status.data, note=form.note.data,
                       actor=current_user.username, form_token=form.form_token.data)
    except AlreadySubmitted:
        flash(_("This form was already submitted; the dispute was updated once, not again."), "warning")
        return back(unit, "disputes")
    except NotFound:
        form.dispute.errors.append(_("Choose a dispute from the list."))
        return render_page(unit, status=422, dispute_update=form)
    except ServiceError as error:
        _field_error(form, error)
        return render_page(unit, status=422, dispute_update=form)
    flash(_("Dispute #%(id)s is now: %(status)s.", id=form.dispute.data, status=DISPUTE_LABELS[form.status.data]),
          "success")
    return back(unit, "disputes")


@bp.post("/<int:unit_id>/escalation")
@role_required("manager")
def escalation(unit_id):
    """Escalate the household to legal (lawyers may then see it) or clear the escalation (managers)."""
    unit = get_unit(unit_id)
    form, _summary = submitted("escalate", unit)
    if not form.validate():
        return render_page(unit, status=422, escalate=form)
    try:
        row = escalate(unit, stage=form.stage.data, reason=form.reason.data, actor=current_user.username)
    except ServiceError as error:
        _field_error(form, error)
        return render_page(unit, status=422, escalate=form)
    if row.stage == "legal" and form.lawyer.data:
        record_step(unit, "lawyer_assigned", local_today(estate_tz(unit)), current_user.username,
                    lawyer=form.lawyer.data)
        flash(_("Escalated to legal and assigned to %(lawyer)s, who can now see this household.",
                lawyer=form.lawyer.data), "success")
    elif row.stage == "legal":
        flash(_("Escalated to legal. Record the lawyer assigned under Legal case: only they can see this "
                "household."), "success")
    else:
        flash(_("Escalation cleared: the stage follows the ledger again."), "success")
    return back(unit)


# -- the timeline -------------------------------------------------------------------------

def local_time(moment, tz_name):
    """A stored timestamp (aware, or naive UTC) in local time, formatted for the user's language."""
    return ldatetime(moment, tz_name)


def _event_time(stamp, tz_name):
    """An event's ISO timestamp (``...Z``) in local time; text that is no timestamp as it is."""
    return ldatetime(stamp if isinstance(stamp, str) else None, tz_name) if stamp else ""


def _label(labels, key):
    return str(labels.get(key, key or ""))


# The notices by the names they are printed under (notice.html): 缴费提醒函, 催款通知书, 最后通知.
NOTICE_KIND_LABELS = {"reminder": _l("Payment reminder"), "demand": _l("Demand for payment"),
                      "final": _l("Final notice")}
# Who was reached, inside the contact line's sentence (lower case in English).
TIMELINE_REACHED_LABELS = {"owner": _l("the owner"), "household_member": _l("a household member"),
                           "other": _l("someone else"), "nobody": _l("nobody")}
OUTCOME_LABELS = {"delivered": _l("delivered"), "refused": _l("refused"), "returned": _l("returned")}
CASE_STEP_LABELS = {"lawyer_assigned": _l("Lawyer assigned"), "lawsuit_filed": _l("Lawsuit filed"),
                    "payment_order_filed": _l("Payment order applied for"), "hearing": _l("Hearing"),
                    "judgment": _l("Judgment"), "settlement": _l("Settlement"), "enforcement": _l("Enforcement"),
                    "closed": _l("Case closed")}


# Not inside another _(): Babel would not extract it.
COUNTS_AS_DELIVERED = _l("counts as delivered")
# Timeline lines of the later capabilities: kind -> (data, get, day, amount) -> (text, flagged).
EXTRA_EVENTS = {
    "notice_issued": lambda data, get, day, amount: (_(
        "%(kind)s %(serial)s issued for %(total)s (figures as of %(day)s).",
        kind=_label(NOTICE_KIND_LABELS, data.get("kind")), serial=get("serial"), total=amount("total"),
        day=day("as_of")), False),
    "delivery_recorded": lambda data, get, day, amount: (_(
        "Notice %(serial)s: delivery attempt on %(day)s, %(outcome)s%(counts)s.", serial=get("serial"),
        day=day("date"), outcome=_label(OUTCOME_LABELS, data.get("outcome")),
        counts=(" · " + str(COUNTS_AS_DELIVERED)) if data.get("counts_as_delivered") else ""), False),
    "receipt_printed": lambda data, get, day, amount: (_(
        "Receipt %(serial)s printed for %(amount)s.", serial=get("serial"), amount=amount())
        + ((" · " + _("copy %(n)s", n=get("copy_no"))) if data.get("copy_no") else ""), False),
    "hardship_requested": lambda data, get, day, amount: (_(
        "Hardship status requested from %(start)s to %(end)s.", start=day("start"), end=day("end")), False),
    "hardship_rejected": lambda data, get, day, amount: (_("Hardship request rejected."), False),
    "waiver_requested": lambda data, get, day, amount: ((_(
        "Waiver requested: all the late fee for %(period)s.", period=get("period"))
        if data.get("amount") == "all" else _(
        "Waiver requested: %(amount)s %(kind)s for %(period)s.", amount=amount(),
        kind=_label(WAIVER_KIND_LABELS, data.get("kind")), period=get("period"))), False),
    "waiver_rejected": lambda data, get, day, amount: (_("Waiver request rejected."), False),
    "waiver_reversed": lambda data, get, day, amount: (_(
        "Waiver of %(amount)s for %(period)s undone: %(reason)s", amount=amount(), period=get("period"),
        reason=get("reason")), True),
    "plan_requested": lambda data, get, day, amount: (_(
        "Payment plan drawn up for %(amount)s in %(count)s instalments.", amount=amount("covered"),
        count=len(data.get("instalments") or ())), False),
    "plan_approved": lambda data, get, day, amount: (_(
        "Payment plan approved: no late fee on its charges while it is kept."), False),
    "plan_rejected": lambda data, get, day, amount: (_("Payment plan rejected."), False),
    "plan_broken": lambda data, get, day, amount: (_(
        "Payment plan broken on %(day)s (instalment %(n)s unpaid): late fee accrues again.", day=day("broken_on"),
        n=get("instalment")), True),
    "plan_agreement_printed": lambda data, get, day, amount: (_(
        "Payment plan agreement %(serial)s printed.", serial=get("serial")), False),
    "bundle_exported": lambda data, get, day, amount: (_("Evidence bundle exported."), False),
}
for _step in CASE_STEP_LABELS:
    EXTRA_EVENTS[f"case_{_step}"] = (lambda step: lambda data, get, day, amount: (
        str(CASE_STEP_LABELS[step]) + " · " + ldate(get("on"))
        + "".join(f" · {value}" for value in (get("lawyer"), get("court"), get("case_number"), get("note")) if value)
        + (" · " + ", ".join(data["claims"]) if data.get("claims") else ""), step in ("lawsuit_filed", "judgment")))(_step)


def describe(event, tz_name):
    """An evidence event as a readable line: ``{seq, when, actor, kind, text, flagged}``."""
    data = event["data"] if isinstance(event["data"], dict) else {}
    get = lambda key: "" if data.get(key) is None else str(data.get(key))  # noqa: E731
    day = lambda key: ldate(get(key))  # noqa: E731  (events keep ISO dates; the screen shows local ones)
    amount = lambda key="amount": money(get(key))  # noqa: E731
    kind = event["kind"]
    flagged = False
    if kind == "unit_created":
        text = _("Unit recorded; owner %(owner)s, %(area)s m².", owner=get("owner"), area=get("area_m2"))
    elif kind == "charge_billed":
        text = _("Billed %(fee_item)s for %(period)s: %(amount)s, due %(due)s.", fee_item=get("fee_item"),
                 period=get("period"), amount=amount(), due=day("due_date"))
    elif kind == "payment_posted":
        text = _("Payment of %(amount)s received on %(day)s (%(method)s, reference %(reference)s).",
                 amount=amount(), day=day("paid_on"), method=_label(METHOD_LABELS, data.get("method")),
                 reference=get("reference"))
    elif kind == "payment_reversed":
        text = _("Payment %(reference)s of %(amount)s reversed from %(day)s: %(reason)s",
                 reference=get("reference"), amount=amount(), day=day("reversed_on"), reason=get("reason"))
        flagged = True
    elif kind == "hardship_approved":
        text = _("Hardship status approved from %(start)s to %(end)s (requested by %(requested)s, approved by "
                 "%(approved)s).", start=day("start"), end=day("end"), requested=get("requested_by"),
                 approved=get("approved_by"))
    elif kind == "waiver_approved":
        text = _("Waiver of %(amount)s %(kind)s for %(period)s approved on %(day)s by %(approved)s.",
                 amount=amount(), kind=_label(WAIVER_KIND_LABELS, data.get("kind")), period=get("period"),
                 day=day("approved_on"), approved=get("approved_by"))
    elif kind == "contact_logged":
        text = _("%(channel)s, %(when)s — reached: %(reached)s; outcome: %(outcome)s",
                 channel=_label(CHANNEL_LABELS, data.get("channel")),
                 when=_event_time(data.get("contacted_at"), tz_name),
                 reached=_label(TIMELINE_REACHED_LABELS, data.get("reached")), outcome=get("outcome"))
        if data.get("reason"):
            text += " · " + _("Reason given: %(reason)s", reason=_label(REASON_LABELS, data.get("reason")))
        if data.get("notes"):
            text += " · " + get("notes")
        if data.get("policy_breach"):
            flagged = True
            text += " · " + _("Breaks the contact policy (%(reasons)s); justification: %(justification)s",
                              reasons="; ".join(_label(BREACH_LABELS, b) for b in data.get("breaches") or ()),
                              justification=get("justification"))
    elif kind == "promise_recorded":
        text = _("Promise to pay %(amount)s by %(day)s.", amount=amount(), day=day("promised_on"))
    elif kind == "dispute_opened":
        text = _("Dispute #%(id)s opened: %(subject)s", id=get("dispute_id"), subject=get("subject"))
        if data.get("note"):
            text += " · " + get("note")
    elif kind == "dispute_updated":
        text = _("Dispute #%(id)s (%(subject)s) now %(status)s.", id=get("dispute_id"), subject=get("subject"),
                 status=_label(DISPUTE_LABELS, data.get("status")))
        if data.get("note"):
            text += " · " + get("note")
    elif kind in EXTRA_EVENTS:
        text, flagged = EXTRA_EVENTS[kind](data, get, day, amount)
    elif kind == "personal_data_viewed":
        text = _("Viewed in full: %(field)s.", field=_label(PERSONAL_DATA_LABELS, data.get("field")))
    elif kind == "stage_changed":
        if data.get("stage") == "legal":
            text = _("Escalated to legal: %(reason)s", reason=get("reason"))
            flagged = True
        else:
            text = _("Escalation cleared: %(reason)s", reason=get("reason"))
    else:
        details = ", ".join(f"{key}: {value}" for key, value in sorted(data.items())
                            if key not in ("form_token",) and not isinstance(value, (dict, list)))
        text = f"{kind} — {details}" if details else kind
    return {"seq": event["seq"], "when": _event_time(event["at"], tz_name), "actor": event["actor"],
            "kind": kind, "text": text, "flagged": flagged,
            "guide": data.get("guide") if kind == "contact_logged" and isinstance(data.get("guide"), dict) else None}
