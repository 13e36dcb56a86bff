"""The public verification page (SPEC §6): is this notice or receipt genuine?

No login. It tells whether a serial exists, its kind and date and the unit (masked),
and — given the PDF or its SHA-256 — whether that document is exactly the one issued,
with its signature checked. It shows no names, phone or ID numbers, and no amounts.
Requests are rate-limited per address.
"""
import hashlib
import re
from datetime import datetime, timedelta, timezone

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import Notice, Payment, PaymentPlan, PlanAgreement, Receipt, ReceiptPrint, Unit, VerifyAttempt
from ..services.transaction import atomic

bp = Blueprint("verify", __name__, url_prefix="/verify")

SERIAL = re.compile(r"^(SL|SJ|FQ)-\d{4}-\d{6}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
WINDOW = timedelta(minutes=10)


def masked_unit(unit):
    """``示例花园/3栋/1201`` -> ``示例花园/3栋/12**``: enough for the holder to recognise."""
    number = unit.number
    keep = max(1, len(number) // 2)
    return f"{unit.building.estate.name}/{unit.building.name}/{number[:keep]}{'*' * (len(number) - keep)}"


def _allowed():
    """Count this request; False when the address has made too many in the window."""
    address = request.remote_addr or "unknown"
    now = datetime.now(timezone.utc)
    with atomic():
        db.session.execute(delete(VerifyAttempt).where(VerifyAttempt.at < now - WINDOW))
        recent = db.session.execute(select(func.count()).select_from(VerifyAttempt).where(
            VerifyAttempt.remote_addr == address)).scalar_one()
        db.session.add(VerifyAttempt(remote_addr=address, at=now))
    return recent < current_app.config["VERIFY_MAX_REQUESTS"]


def _document(serial):
    """``(kind, issued, unit, genuine_hashes)`` for a serial, or None."""
    from ..services.notices import issued_on
    notice = db.session.execute(select(Notice).where(Notice.serial == serial)).scalar_one_or_none()
    if notice is not None:
        return notice.kind, issued_on(notice), db.session.get(Unit, notice.unit_id), {notice.sha256: 0}
    receipt = db.session.execute(select(Receipt).where(Receipt.serial == serial)).scalar_one_or_none()
    if receipt is not None:
        unit = db.session.get(Unit, db.session.get(Payment, receipt.payment_id).unit_id)
        prints = db.session.execute(select(ReceiptPrint.sha256, ReceiptPrint.copy_no)
                                    .where(ReceiptPrint.receipt_id == receipt.id)).all()
        return "receipt", issued_on(receipt), unit, dict(prints)
    agreement = db.session.execute(select(PlanAgreement).where(PlanAgreement.serial == serial)).scalar_one_or_none()
    if agreement is not None:
        unit = db.session.get(Unit, db.session.get(PaymentPlan, agreement.plan_id).unit_id)
        return "plan", issued_on(agreement), unit, {agreement.sha256: 0}
    return None


def _page(serial, status=200, **result):
    return render_template("verify.html", serial=serial, **result), status


@bp.route("/<serial>", methods=["GET", "POST"])
def check(serial):
    """Look a serial up; on POST, compare an uploaded PDF or a pasted SHA-256 with what was issued."""
    if not _allowed():
        return _page(serial, 429, limited=True)
    serial = serial.strip().upper()
    if not SERIAL.match(serial):
        return _page(serial, 404, malformed_serial=True)
    found = _document(serial)
    if found is None:
        return _page(serial, 404, unknown=True)
    kind, issued, unit, genuine = found
    result = {"kind": kind, "issued": issued, "unit": masked_unit(unit)}
    if request.method == "POST":
        upload = request.files.get("document")
        pasted = (request.form.get("sha256") or "").strip().lower()
        signature = None
        if upload is not None and upload.filename:
            data = upload.read()
            digest = hashlib.sha256(data).hexdigest()
            from ..documents.signing import validate_pdf
            signature = validate_pdf(data, data_dir=current_app.config["ARREARS_DATA_DIR"])
        elif pasted:
            if not SHA256.match(pasted):
                return _page(serial, 422, bad_hash=True, **result)
            digest = pasted
        else:
            return _page(serial, 422, nothing_given=True, **result)
        result.update(checked=True, digest=digest, genuine=digest in genuine, copy_no=genuine.get(digest),
                      signature=signature)
    return _page(serial, **result)
