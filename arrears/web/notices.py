"""Notices, receipts, deliveries and batch printing in the browser (issue 4).

Every household lookup goes through ``access.get_unit`` (lawyers: only households in
legal, read-only). Clerks and managers issue notices, record deliveries and print
receipts; documents are served as issued (the stored, signed PDF); proof files are
served as attachments, never displayed inline.
"""
from datetime import date

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import BooleanField, DateField, FileField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ..models import (DELIVERY_METHODS, DELIVERY_OUTCOMES, NOTICE_KINDS, SIGNER_RELATIONS, Delivery, Notice, Payment,
                      Receipt)
from ..services.batches import BATCH_STAGES, batch_notices, create_batch, get_batch, progress_of
from ..services.errors import NotFound, ServiceError
from ..services.files import UploadRefused, check_upload, read_file
from ..services.ledger import local_today
from ..services.notices import (DeliveryInput, DeliveryRefused, delivered_on, delivery_problems, find_notice,
                                find_receipt, issue_notice, issued_on, print_receipt, record_delivery)
from .access import get_unit, role_required
from .downloads import pdf_response
from .formats import ldate
from .household import ActionForm, _choices, strip
from .households import STAGE_LABELS
from .refusals import refusal

bp = Blueprint("notices", __name__)

KIND_LABELS = {"reminder": _l("Reminder (提醒函)"), "demand": _l("Demand (催款通知书)"),
               "final": _l("Final notice (最后通知)")}
LANGUAGE_LABELS = {"zh_CN": _l("Chinese"), "en": _l("English")}
METHOD_LABELS = {"hand_signed": _l("Handed over, signed for"), "mailbox": _l("Put in the mailbox"),
                 "posted_on_door": _l("Posted on the door"), "registered_mail": _l("Registered mail"),
                 "sms": _l("Text message"), "email": _l("Email")}
OUTCOME_LABELS = {"delivered": _l("Delivered"), "refused": _l("Refused"), "returned": _l("Returned")}
RELATION_LABELS = {"owner": _l("The owner"), "household_member": _l("Adult household member"),
                   "agent": _l("Authorised agent")}
# Refusals of a delivery attempt or an upload, in the user's language.
DELIVERY_MESSAGES = {
    "unknown_method": _l("Choose a method from the list."),
    "unknown_outcome": _l("Choose an outcome from the list."),
    "unknown_relation": _l("Choose a relation from the list."),
    "future_date": _l("The date %(day)s is in the future."),
    "before_issue": _l("The date %(day)s is before the notice was issued (%(issued)s)."),
    "tracking_needed": _l("A registered letter needs its tracking number."),
    "signer_needed": _l("A hand-signed delivery needs the name of who signed."),
    "relation_needed": _l("Say how the signer is related to the owner."),
}
# The problems' values that are ISO dates (services.notices.delivery_problems): shown as the user's dates.
DELIVERY_DATE_VALUES = ("day", "issued")


def delivery_message(code, values):
    """A delivery problem ``(code, values)`` in the user's language, its dates as every
    other message gives them (``2026年12月25日`` / ``25 Dec 2026``)."""
    shown = {key: ldate(value) if key in DELIVERY_DATE_VALUES else value for key, value in values.items()}
    return str(DELIVERY_MESSAGES[code] % shown)


UPLOAD_MESSAGES = {
    "empty": _l("%(name)s is empty."),
    "too_large": _l("%(name)s is %(size)s MB; the limit is %(limit)s MB."),
    "wrong_type": _l("%(name)s is not a JPEG, PNG or PDF file (checked by its content, not its name)."),
}
STATUS_LABELS = {"queued": _l("Waiting"), "running": _l("Printing"), "done": _l("Done"), "failed": _l("Failed")}


class IssueForm(ActionForm):
    kind = SelectField(_l("Kind"), choices=_choices(KIND_LABELS, NOTICE_KINDS),
                       validators=[InputRequired(_l("Choose a kind of notice."))],
                       invalid_choice_message=_l("Choose a kind from the list."))
    language = SelectField(_l("Language"), choices=_choices(LANGUAGE_LABELS, ("zh_CN", "en")),
                           validators=[InputRequired()], invalid_choice_message=_l("Choose a language from the list."))


class DeliveryForm(ActionForm):
    method = SelectField(_l("How"), choices=_choices(METHOD_LABELS, DELIVERY_METHODS),
                         validators=[InputRequired()], invalid_choice_message=_l("Choose a method from the list."))
    outcome = SelectField(_l("Outcome"), choices=_choices(OUTCOME_LABELS, DELIVERY_OUTCOMES),
                          validators=[InputRequired()], invalid_choice_message=_l("Choose an outcome from the list."))
    attempted_on = DateField(_l("Date"), validators=[InputRequired(_l("Enter the date of the attempt."))],
                             invalid_value_message=_l("Enter a date like 2026-05-31."))
    signer = StringField(_l("Signed by"), filters=[strip], validators=[Optional(), Length(max=100)])
    relation = SelectField(_l("Relation to the owner"), choices=[], validators=[Optional()],
                           invalid_choice_message=_l("Choose a relation from the list."))
    tracking_no = StringField(_l("Tracking number"), filters=[strip], validators=[Optional(), Length(max=60)])
    at_registered_address = BooleanField(_l("At the owner's registered address"), default=True)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])
    proofs = FileField(_l("Proof (scan of the signed slip, photo, mail receipt: JPEG, PNG or PDF)"),
                       render_kw={"multiple": True, "accept": "image/jpeg,image/png,application/pdf"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.relation.choices = _choices(RELATION_LABELS, SIGNER_RELATIONS, blank="—")


class BatchForm(ActionForm):
    stage = SelectField(_l("Households in stage"), choices=[], validators=[InputRequired()],
                        invalid_choice_message=_l("Choose a stage from the list."))
    kind = SelectField(_l("Notice"), choices=_choices(KIND_LABELS, NOTICE_KINDS), validators=[InputRequired()],
                       invalid_choice_message=_l("Choose a kind from the list."))
    language = SelectField(_l("Language"), choices=_choices(LANGUAGE_LABELS, ("zh_CN", "en")),
                           validators=[InputRequired()], invalid_choice_message=_l("Choose a language from the list."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stage.choices = _choices(STAGE_LABELS, BATCH_STAGES)


# -- one household's notices -------------------------------------------------------------------

@bp.post("/households/<int:unit_id>/notices")
@role_required("clerk", "manager")
def issue(unit_id):
    """Issue a signed notice for the household as of today."""
    unit = get_unit(unit_id)
    form = IssueForm(prefix="notice")
    if not form.validate():
        flash(_("Choose the kind and the language of the notice."), "danger")
        return redirect(url_for("household.show", unit_id=unit.id) + "#documents")
    try:
        notice = issue_notice(unit, form.kind.data, local_today(unit.building.estate.timezone),
                              current_user.username, form.language.data)
    except ServiceError as error:
        flash(_("No notice issued: %(reason)s", reason=refusal(error)), "danger")
        return redirect(url_for("household.show", unit_id=unit_id) + "#documents")
    flash(_("%(kind)s %(serial)s issued and signed. Print it, deliver it, and record the delivery.",
            kind=KIND_LABELS[notice.kind], serial=notice.serial), "success")
    return redirect(url_for("notices.show", serial=notice.serial))


def get_notice(serial):
    """The notice the current user may see (through its household), or 404."""
    try:
        notice = find_notice(serial)
    except NotFound:
        abort(404)
    get_unit(notice.unit_id)
    return notice


def render_notice(notice, form=None, status=200):
    if form is None:
        form = DeliveryForm(prefix="delivery", formdata=None)
        form.attempted_on.data = local_today()
        form.method.data = "hand_signed"
        form.outcome.data = "delivered"
    from ..extensions import db
    from ..models import Charge
    from sqlalchemy import select
    delivered = delivered_on([notice.id]).get(notice.id)
    periods = dict(db.session.execute(select(Charge.id, Charge.period).where(Charge.unit_id == notice.unit_id)).all())
    return render_template("notices/notice.html", notice=notice, form=form, delivered=delivered, line_periods=periods,
                           issued=issued_on(notice), kind_labels=KIND_LABELS, method_labels=METHOD_LABELS,
                           outcome_labels=OUTCOME_LABELS, relation_labels=RELATION_LABELS,
                           language_labels=LANGUAGE_LABELS, can_act=current_user.has_role("clerk", "manager"),
                           deadline=(delivered and notice.deadline_days and
                                     date.fromordinal(delivered.toordinal() + notice.deadline_days))), status


@bp.get("/notices/<serial>")
@login_required
def show(serial):
    """A notice: what it listed, its deliveries, and the form to record one."""
    return render_notice(get_notice(serial))


@bp.get("/notices/<serial>.pdf")
@login_required
def pdf(serial):
    """The notice's PDF exactly as issued (signed)."""
    notice = get_notice(serial)
    return pdf_response(read_file(notice.sha256), f"{notice.serial}.pdf")


@bp.post("/notices/<serial>/deliveries")
@role_required("clerk", "manager")
def deliver(serial):
    """Record a delivery attempt with its proof files."""
    notice = get_notice(serial)
    form = DeliveryForm(prefix="delivery")
    if not form.validate():
        return render_notice(notice, form, 422)
    attempt = DeliveryInput(method=form.method.data, outcome=form.outcome.data, attempted_on=form.attempted_on.data,
                            signer=form.signer.data or "", relation=form.relation.data or "",
                            tracking_no=form.tracking_no.data or "",
                            at_registered_address=bool(form.at_registered_address.data), note=form.note.data or "")
    uploads = [(f.filename or "upload", f.read()) for f in request.files.getlist(form.proofs.name) if f.filename]
    problems = delivery_problems(notice, attempt, local_today())
    for name, data in uploads:
        try:
            check_upload(name, data, current_app.config["ARREARS_MAX_UPLOAD_BYTES"])
        except UploadRefused as refused:
            form.proofs.errors.append(str(UPLOAD_MESSAGES[refused.code] % refused.values))
    if problems or form.proofs.errors:
        form.form_errors.extend(delivery_message(code, values) for code, values in problems)
        return render_notice(notice, form, 422)
    try:
        delivery = record_delivery(notice.serial, attempt, current_user.username, uploads)
    except DeliveryRefused as refused:  # the checks above passed a moment ago (the date moved on)
        form.form_errors.extend(delivery_message(code, values) for code, values in refused.problems)
        return render_notice(notice, form, 422)
    except ServiceError as error:
        form.form_errors.append(refusal(error))
        return render_notice(notice, form, 422)
    if delivery.counts_as_delivered:
        flash(_("Delivery recorded: the notice counts as delivered on %(day)s.", day=ldate(attempt.attempted_on)),
              "success")
    else:
        flash(_("Attempt recorded: the notice is not delivered yet."), "warning")
    return redirect(url_for("notices.show", serial=notice.serial))


@bp.get("/proofs/<int:delivery_id>/<int:index>")
@login_required
def proof(delivery_id, index):
    """A delivery's proof file, as an attachment."""
    delivery = _get_delivery(delivery_id)
    if not 0 <= index < len(delivery.proofs):
        abort(404)
    item = delivery.proofs[index]
    response = Response(read_file(item.sha256), mimetype=item.file.content_type)
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}[item.file.content_type]
    response.headers["Content-Disposition"] = f'attachment; filename="proof-{delivery_id}-{index + 1}{extension}"'
    return response


def _get_delivery(delivery_id):
    from ..extensions import db
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        abort(404)
    get_notice(db.session.get(Notice, delivery.notice_id).serial)
    return delivery


# -- receipts ------------------------------------------------------------------------------------

@bp.post("/payments/<int:payment_id>/receipt")
@role_required("clerk", "manager")
def receipt(payment_id):
    """Print the payment's receipt: the original the first time, a marked copy after."""
    from ..extensions import db
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        abort(404)
    get_unit(payment.unit_id)
    try:
        printed = print_receipt(payment.id, current_user.username)
    except ServiceError as error:
        flash(_("No receipt printed: %(reason)s", reason=refusal(error)), "danger")
        return redirect(url_for("household.show", unit_id=payment.unit_id) + "#documents")
    serial = db.session.get(Receipt, printed.receipt_id).serial
    return redirect(url_for("notices.receipt_pdf", serial=serial, copy=printed.copy_no))


@bp.get("/receipts/<serial>.pdf")
@login_required
def receipt_pdf(serial):
    """A print of a receipt (``?copy=N``; default the original)."""
    try:
        found = find_receipt(serial)
    except NotFound:
        abort(404)
    from ..extensions import db
    get_unit(db.session.get(Payment, found.payment_id).unit_id)
    copy_no = request.args.get("copy", "0")
    prints = {p.copy_no: p for p in found.prints}
    if not copy_no.isdigit() or int(copy_no) not in prints:
        abort(404)
    suffix = f"-copy{copy_no}" if int(copy_no) else ""
    return pdf_response(read_file(prints[int(copy_no)].sha256), f"{found.serial}{suffix}.pdf")


# -- batch printing --------------------------------------------------------------------------------

@bp.get("/notices/batches")
@role_required("clerk", "manager")
def batches(form=None, status=200):
    """Print the notices of a stage: the form and the recent batches."""
    from ..extensions import db
    from ..models import NoticeBatch
    from sqlalchemy import select
    recent = db.session.execute(select(NoticeBatch).order_by(NoticeBatch.id.desc()).limit(20)).scalars().all()
    if form is None:
        form = BatchForm(prefix="batch", formdata=None)
        form.stage.data, form.kind.data, form.language.data = "demand", "demand", "zh_CN"
    return render_template("notices/batches.html", form=form, recent=recent,
                           progress={b.id: progress_of(b.id) for b in recent}, kind_labels=KIND_LABELS,
                           stage_labels=STAGE_LABELS, status_labels=STATUS_LABELS,
                           language_labels=LANGUAGE_LABELS), status


@bp.post("/notices/batches")
@role_required("clerk", "manager")
def start_batch():
    """Make the batch and queue it for the background worker."""
    from ..jobs import enqueue_batch
    form = BatchForm(prefix="batch")
    if not form.validate():
        return batches(form, 422)
    try:
        batch = create_batch(form.kind.data, form.stage.data, local_today(), current_user.username,
                             form.language.data)
    except ServiceError as error:
        form.form_errors.append(refusal(error, stage=STAGE_LABELS))
        return batches(form, 422)
    enqueue_batch(batch.id, current_app)
    flash(_("Batch #%(id)s queued: %(count)s notices.", id=batch.id, count=batch.total), "success")
    return redirect(url_for("notices.batch", batch_id=batch.id))


def _batch_or_404(batch_id):
    try:
        return get_batch(batch_id)
    except NotFound:
        abort(404)


@bp.get("/notices/batches/<int:batch_id>")
@role_required("clerk", "manager")
def batch(batch_id):
    """A batch's progress (updated live) and, when done, its print file and notices."""
    found = _batch_or_404(batch_id)
    done, total = progress_of(found.id)
    notices = batch_notices(found.id) if found.status == "done" else []
    return render_template("notices/batch.html", batch=found, done=done, total=total, notices=notices,
                           kind_labels=KIND_LABELS, stage_labels=STAGE_LABELS, status_labels=STATUS_LABELS)


@bp.get("/notices/batches/<int:batch_id>/status")
@role_required("clerk", "manager")
def batch_status(batch_id):
    """The progress as JSON, for the page's progress bar."""
    found = _batch_or_404(batch_id)
    done, total = progress_of(found.id)
    return jsonify({"status": found.status, "label": str(STATUS_LABELS[found.status]), "done": done,
                    "total": total, "error": found.error,
                    "print_url": url_for("notices.batch_print", batch_id=found.id) if found.status == "done" else None})


@bp.get("/notices/batches/<int:batch_id>/print.pdf")
@role_required("clerk", "manager")
def batch_print(batch_id):
    """The batch's print file: every notice on an odd page, for duplex printing."""
    found = _batch_or_404(batch_id)
    if found.status != "done" or not found.print_sha256:
        abort(404)
    from flask import send_file
    from ..services.files import path_of
    return send_file(path_of(found.print_sha256), mimetype="application/pdf", as_attachment=True,
                     download_name=f"batch-{found.id}-print.pdf")


# -- the household page's documents section ---------------------------------------------------------

@bp.app_template_global()
def household_documents(unit_id):
    """What ``notices/_household.html`` shows: notices with their delivery date, printed
    receipts, and the household's latest payments whose receipt is not printed yet."""
    from sqlalchemy import select
    from ..extensions import db
    from ..models import Reversal
    from ..services.notices import unit_documents
    notices, receipts = unit_documents(unit_id)
    with_receipt = {r.payment_id for r in receipts if r.prints}
    reversed_ids = select(Reversal.payment_id).where(Reversal.payment_id.is_not(None))
    payments = db.session.execute(select(Payment).where(Payment.unit_id == unit_id, Payment.id.not_in(reversed_ids))
                                  .order_by(Payment.paid_on.desc(), Payment.id.desc()).limit(12)).scalars().all()
    return {"notices": notices, "receipts": [r for r in receipts if r.prints], "kind_labels": KIND_LABELS,
            "issued": issued_on,
            "unprinted": [p for p in payments if p.id not in with_receipt][:6],
            "suggested_kind": lambda stage: {"demand": "demand", "final": "final", "legal": "final"}.get(stage,
                                                                                                       "reminder")}
