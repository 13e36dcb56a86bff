"""Issuing notices and receipts, recording deliveries (SPEC §6, §7).

Invariants:
- A serial (``SL-2026-000123`` for notices, ``SJ-2026-000045`` for receipts) is taken
  from its counter in a transaction of its own before the document is made, so it is
  never handed out twice; a document that fails to render leaves a gap, never a reuse.
- A notice or receipt print is made (statement, template, WeasyPrint), signed (PAdES),
  stored under its SHA-256, and only then its rows and evidence event are written, in
  one transaction: the database never names a document that is not on disk.
- A notice lists the charges with anything outstanding on its as-of date, with the
  figures it printed; what it printed is never changed.
- A notice counts as delivered from the first attempt whose outcome is ``delivered``,
  or ``refused``/``returned`` at the owner's registered address; that date interrupts
  limitation for the charges it listed (SPEC §7) and starts the demand's deadline.
"""
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.money import format_fen
from ..extensions import db
from ..models import (DELIVERY_METHODS, DELIVERY_OUTCOMES, NOTICE_KINDS, NOTICE_LANGUAGES, SIGNER_RELATIONS,
                      Charge, Delivery, DeliveryProof, FeeItem, Notice, NoticeBatchItem, NoticeCharge, Payment,
                      Receipt, ReceiptPrint, Reversal, SerialCounter, Unit)
from .errors import NotFound, ServiceError
from .evidence import append_event, chain_head
from .files import check_upload, store_file
from .ledger import INTERRUPTION_SOURCES, in_chunks, local_today, unit_statement
from .transaction import atomic

NOTICE_SERIES = "SL"
RECEIPT_SERIES = "SJ"
KIND_TITLES = {"reminder": "提醒函", "demand": "催款通知书", "final": "最后通知", "receipt": "收据"}
DEADLINE_KINDS = ("demand", "final")


class AlreadyIssued(ServiceError):
    """A batch item already has its notice (another worker issued it first)."""


class DeliveryRefused(ServiceError):
    """A delivery attempt cannot be recorded: ``problems`` lists ``(code, values)`` (see
    ``DELIVERY_PROBLEMS``; a screen says each in its language), the message all of them
    in English."""

    def __init__(self, problems):
        super().__init__("; ".join(DELIVERY_PROBLEMS[code].format(**values) for code, values in problems))
        self.problems = problems


# -- serials ---------------------------------------------------------------------------------

def next_serial(prefix, year):
    """Take the next number of ``prefix-year`` in a transaction of its own: ``SL-2026-000001``.
    Call it with nothing else pending in the session."""
    with atomic():
        return take_serial(prefix, year)


def take_serial(prefix, year):
    """The next number of ``prefix-year``, taken in the caller's transaction (it holds the
    counter's row until it ends, and gives the number back if it rolls back)."""
    series = f"{prefix}-{year}"
    number = _bump(series)
    if number is None:
        try:
            with db.session.begin_nested():
                db.session.add(SerialCounter(series=series, last=1))
            number = 1
        except IntegrityError:  # another process made the counter first
            number = _bump(series)
    return f"{series}-{number:06d}"


def number_receipt(payment, actor, day):
    """Give a payment its receipt number, in the posting's own transaction: every payment
    posted is receipted; the signed PDF is made when it is first printed."""
    receipt = Receipt(serial=take_serial(RECEIPT_SERIES, day.year), payment_id=payment.id, created_by=actor)
    db.session.add(receipt)
    db.session.flush()
    return receipt


def _bump(series):
    return db.session.execute(update(SerialCounter).where(SerialCounter.series == series)
                              .values(last=SerialCounter.last + 1).returning(SerialCounter.last)).scalar_one_or_none()


# -- what a document shows ----------------------------------------------------------------------

def office_context(estate):
    name = estate.office_name or f"{estate.name}物业服务中心"
    return {"name": name, "address": estate.office_address or "", "phone": estate.office_phone or "",
            "hours": estate.office_hours or "", "bank_name": estate.bank_name or "",
            "bank_account_name": estate.bank_account_name or name, "bank_account_no": estate.bank_account_no or "",
            "wechat": estate.wechat_payee or "", "alipay": estate.alipay_payee or "",
            "relief_contact": estate.relief_contact or ""}


def verify_url(serial):
    return f"{current_app.config['ARREARS_PUBLIC_URL'].rstrip('/')}/verify/{serial}"


def _percent(rate):
    text = format(Decimal(rate) * 100, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _head():
    seq, digest = chain_head()
    return {"seq": seq, "hash16": digest[:16]}, seq, digest


def notice_figures(unit, as_of):
    """``(statement, lines)``: the engine's statement and the notice's table rows, one per
    charge with principal or late fee outstanding on ``as_of``."""
    statement, _limitation = unit_statement(unit, as_of)
    lines = [line for line in statement.charges
             if line.principal_outstanding_fen > 0 or line.late_fee_outstanding_fen > 0]
    return statement, lines


def notice_context(unit, kind, as_of, serial, issued_on, statement, lines, chain):
    from .ledger import policy_schedule
    policy = policy_schedule(unit.building.estate_id).on(as_of)
    owner = unit.owner_on(as_of)
    return {
        "kind": kind, "serial": serial, "issued_on": issued_on, "as_of": as_of,
        "deadline_days": current_app.config["ARREARS_DEMAND_DEADLINE_DAYS"] if kind in DEADLINE_KINDS else None,
        "copy": False, "office": office_context(unit.building.estate), "estate": unit.building.estate.name,
        "unit_ref": unit.ref, "owner_name": owner.name if owner else "",
        "lines": [{
            "period": line.charge.period, "fee_item": line.charge.fee_item, "due_date": line.charge.due_date,
            "amount": format_fen(line.charge.amount_fen),
            "principal_outstanding": format_fen(line.principal_outstanding_fen),
            "days_overdue": line.days_overdue, "late_fee_accrued": format_fen(line.late_fee_accrued_fen),
            # Billed, not yet due: listed so that the owner sees the whole bill, and marked.
            "not_yet_due": line.charge.due_date > as_of,
            "late_fee_waived": format_fen(line.late_fee_waived_fen),
            "principal_waived": format_fen(line.principal_waived_fen),
            "late_fee_outstanding": format_fen(line.late_fee_outstanding_fen),
            "total": format_fen(line.principal_outstanding_fen + line.late_fee_outstanding_fen),
        } for line in lines],
        "totals": {
            "principal_outstanding": format_fen(sum(l.principal_outstanding_fen for l in lines)),
            "late_fee_outstanding": format_fen(sum(l.late_fee_outstanding_fen for l in lines)),
            "late_fee_waived": format_fen(sum(l.late_fee_waived_fen for l in lines)),
            "principal_waived": format_fen(sum(l.principal_waived_fen for l in lines)),
            "total_outstanding": format_fen(sum(l.principal_outstanding_fen + l.late_fee_outstanding_fen
                                                for l in lines)),
        },
        "credit": format_fen(statement.credit_fen),
        "policy": {"daily_rate_percent": _percent(policy.daily_rate), "grace_days": policy.grace_days,
                   "cap_percent": _percent(policy.cap_ratio) if policy.cap_ratio is not None else None},
        "verify_url": verify_url(serial), "chain_head": chain,
    }


def make_pdf(template, context, language, reason, location, attachments=()):
    """Render and sign: the signed PDF's bytes (``attachments``: files embedded in the PDF,
    as ``render_document`` takes them). Needs no transaction."""
    from ..documents.render import render_document
    from ..documents.signing import sign_pdf
    rendered = render_document(template, context, language, attachments=attachments)
    box = rendered.seal_box
    # The office's own certificate, when the program makes one, is named after the office.
    settings = dict(current_app.config)
    settings["ARREARS_OFFICE_NAME"] = settings.get("ARREARS_OFFICE_NAME") or context["office"]["name"]
    return sign_pdf(rendered.pdf, data_dir=current_app.config["ARREARS_DATA_DIR"], reason=reason,
                    location=location, field_box=box[1:] if box else None, page=box[0] if box else 0,
                    stamp_text="电子签章\n%(office)s\n%(ts)s", settings=settings)


# -- notices ------------------------------------------------------------------------------------

def check_notice_request(unit, kind, as_of, language):
    if kind not in NOTICE_KINDS:
        raise ServiceError("notice kind %(kind)s must be one of %(allowed)s", kind=repr(kind),
                           allowed=", ".join(NOTICE_KINDS))
    if language not in NOTICE_LANGUAGES:
        raise ServiceError("notice language %(language)s must be one of %(allowed)s", language=repr(language),
                           allowed=", ".join(NOTICE_LANGUAGES))
    today = local_today(unit.building.estate.timezone)
    if as_of > today:
        raise ServiceError("as-of date %(day)s is in the future", day=as_of)
    return today


def issue_notice(unit, kind, as_of, actor, language="zh_CN", batch_item_id=None):
    """Issue one signed notice of ``kind`` for ``unit`` with the figures as of ``as_of``.
    Raises ``ServiceError`` for a bad request or when nothing is owed, ``AlreadyIssued``
    when ``batch_item_id`` already has its notice. Returns the ``Notice``."""
    today = check_notice_request(unit, kind, as_of, language)
    statement, lines = notice_figures(unit, as_of)
    if not lines:
        raise ServiceError("%(unit)s owes nothing as of %(day)s; no notice issued", unit=unit.ref, day=as_of)
    db.session.rollback()  # nothing may be pending when the serial's own transaction commits
    serial = next_serial(NOTICE_SERIES, today.year)
    chain, seq, digest = _head()
    context = notice_context(unit, kind, as_of, serial, today, statement, lines, chain)
    pdf = make_pdf("notice.html", context, language, reason=f"{KIND_TITLES[kind]} {serial}",
                   location=context["office"]["name"])
    owner = unit.owner_on(as_of)
    with atomic():
        sha = store_file(pdf, "application/pdf")
        notice = Notice(serial=serial, kind=kind, unit_id=unit.id, owner_id=owner.id if owner else None,
                        as_of=as_of, language=language, deadline_days=context["deadline_days"],
                        principal_outstanding_fen=sum(l.principal_outstanding_fen for l in lines),
                        late_fee_outstanding_fen=sum(l.late_fee_outstanding_fen for l in lines),
                        total_fen=sum(l.principal_outstanding_fen + l.late_fee_outstanding_fen for l in lines),
                        sha256=sha, chain_seq=seq, chain_hash=digest, created_by=actor)
        if batch_item_id is not None:
            item = db.session.get(NoticeBatchItem, batch_item_id)
            notice.batch_id = item.batch_id
        db.session.add(notice)
        db.session.flush()
        if batch_item_id is not None:
            claimed = db.session.execute(update(NoticeBatchItem).where(NoticeBatchItem.id == batch_item_id,
                                                                       NoticeBatchItem.notice_id.is_(None))
                                         .values(notice_id=notice.id)).rowcount
            if claimed != 1:
                raise AlreadyIssued("batch item #%(id)s already has its notice", id=batch_item_id)
        db.session.add_all(NoticeCharge(notice_id=notice.id, charge_id=l.charge.id,
                                        principal_outstanding_fen=l.principal_outstanding_fen,
                                        late_fee_outstanding_fen=l.late_fee_outstanding_fen) for l in lines)
        append_event("notice_issued", actor, unit.ref, {
            "serial": serial, "kind": kind, "as_of": as_of.isoformat(), "language": language, "sha256": sha,
            "total": format_fen(notice.total_fen), "batch_id": notice.batch_id,
            "charges": [{"charge_id": l.charge.id, "period": l.charge.period,
                         "principal": format_fen(l.principal_outstanding_fen),
                         "late_fee": format_fen(l.late_fee_outstanding_fen)} for l in lines]})
    return notice


def find_notice(serial):
    notice = db.session.execute(select(Notice).where(Notice.serial == (serial or "").strip())).scalar_one_or_none()
    if notice is None:
        raise NotFound("notice %(serial)s does not exist", serial=serial)
    return notice


def issued_on(document):
    """The local date a notice or receipt was issued."""
    from zoneinfo import ZoneInfo
    moment = document.created_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(current_app.config["ARREARS_TIMEZONE"])).date()


# -- delivery -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryInput:
    method: str
    outcome: str
    attempted_on: date
    signer: str = ""
    relation: str = ""
    tracking_no: str = ""
    at_registered_address: bool = True
    note: str = ""


# Why an attempt cannot be recorded: code -> English message (the screens translate the code).
DELIVERY_PROBLEMS = {
    "unknown_method": "method {method!r} is not one of " + ", ".join(DELIVERY_METHODS),
    "unknown_outcome": "outcome {outcome!r} is not one of " + ", ".join(DELIVERY_OUTCOMES),
    "unknown_relation": "relation {relation!r} is not one of " + ", ".join(SIGNER_RELATIONS),
    "future_date": "date {day} is in the future",
    "before_issue": "date {day} is before notice {serial} was issued ({issued})",
    "tracking_needed": "a registered letter needs its tracking number",
    "signer_needed": "a hand-signed delivery needs the name of who signed",
    "relation_needed": "say how the signer is related to the owner (owner, household_member or agent)",
}


def delivery_problems(notice, attempt, today):
    """``[(code, values)]``: why ``attempt`` cannot be recorded for ``notice`` (empty when it can)."""
    found = []
    if attempt.method not in DELIVERY_METHODS:
        found.append(("unknown_method", {"method": attempt.method}))
    if attempt.outcome not in DELIVERY_OUTCOMES:
        found.append(("unknown_outcome", {"outcome": attempt.outcome}))
    if attempt.relation and attempt.relation not in SIGNER_RELATIONS:
        found.append(("unknown_relation", {"relation": attempt.relation}))
    if attempt.attempted_on > today:
        found.append(("future_date", {"day": attempt.attempted_on.isoformat()}))
    elif attempt.attempted_on < issued_on(notice):
        found.append(("before_issue", {"day": attempt.attempted_on.isoformat(), "serial": notice.serial,
                                       "issued": issued_on(notice).isoformat()}))
    if attempt.method == "registered_mail" and not attempt.tracking_no:
        found.append(("tracking_needed", {}))
    if attempt.method == "hand_signed" and attempt.outcome == "delivered" and not attempt.signer:
        found.append(("signer_needed", {}))
    if attempt.signer and not attempt.relation:
        found.append(("relation_needed", {}))
    return found


def check_delivery(notice, attempt, today):
    """The reasons ``attempt`` cannot be recorded for ``notice``, in English (empty when it can)."""
    return [DELIVERY_PROBLEMS[code].format(**values) for code, values in delivery_problems(notice, attempt, today)]


def add_delivery(notice, attempt, actor, proofs=(), via="office"):
    """Write one checked attempt, its proofs and its event (no commit). ``proofs`` are
    ``(filename, bytes, content_type)``."""
    delivery = Delivery(notice_id=notice.id, method=attempt.method, outcome=attempt.outcome,
                        attempted_on=attempt.attempted_on, signer=attempt.signer or None,
                        relation=attempt.relation or None, tracking_no=attempt.tracking_no or None,
                        at_registered_address=attempt.at_registered_address, note=attempt.note or None,
                        created_by=actor)
    db.session.add(delivery)
    db.session.flush()
    stored = []
    for filename, data, content_type in proofs:
        sha = store_file(data, content_type)
        db.session.add(DeliveryProof(delivery_id=delivery.id, sha256=sha, filename=filename[:200],
                                     created_by=actor))
        stored.append({"file": filename[:200], "sha256": sha, "bytes": len(data)})
    append_event("delivery_recorded", actor, db.session.get(Unit, notice.unit_id).ref, {
        "delivery_id": delivery.id, "serial": notice.serial, "kind": notice.kind, "method": attempt.method,
        "outcome": attempt.outcome,
        "date": attempt.attempted_on.isoformat(), "signer": attempt.signer or None,
        "relation": attempt.relation or None, "tracking_no": attempt.tracking_no or None,
        "at_registered_address": attempt.at_registered_address, "counts_as_delivered": delivery.counts_as_delivered,
        "proofs": stored, "via": via})
    return delivery


def record_delivery(serial, attempt, actor, uploads=()):
    """Record a delivery attempt with its proof files (``(filename, bytes)``). Raises
    ``DeliveryRefused`` (a ``ServiceError``) naming every problem; nothing is written then."""
    limit = current_app.config["ARREARS_MAX_UPLOAD_BYTES"]
    with atomic():
        notice = find_notice(serial)
        today = local_today()
        problems = delivery_problems(notice, attempt, today)
        if problems:
            raise DeliveryRefused(problems)
        proofs = [(name, data, check_upload(name, data, limit)) for name, data in uploads]
        return add_delivery(notice, attempt, actor, proofs)


def delivered_on(notice_ids):
    """``{notice_id: date}``: when each notice counts as delivered (those that do)."""
    if not notice_ids:
        return {}
    counts = (Delivery.outcome == "delivered") | Delivery.at_registered_address.is_(True)
    rows = db.session.execute(select(Delivery.notice_id, func.min(Delivery.attempted_on))
                              .where(Delivery.notice_id.in_(list(notice_ids)), counts)
                              .group_by(Delivery.notice_id)).all()
    return {notice_id: _as_date(day) for notice_id, day in rows}


def _as_date(value):
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def delivered_notice_interruptions(unit_ids, as_of):
    """Limitation source (SPEC §7): ``{charge_id: [delivery dates]}`` of the delivered
    notices of the units ``unit_ids``, for the charges each listed."""
    counts = (Delivery.outcome == "delivered") | Delivery.at_registered_address.is_(True)
    found = {}
    for chunk in in_chunks(unit_ids):
        delivered = {notice_id: _as_date(day) for notice_id, day in db.session.execute(
            select(Delivery.notice_id, func.min(Delivery.attempted_on)).join(Notice, Notice.id == Delivery.notice_id)
            .where(Notice.unit_id.in_(chunk), counts).group_by(Delivery.notice_id))}
        delivered = {notice_id: day for notice_id, day in delivered.items() if day <= as_of}
        if not delivered:
            continue
        for notice_id, charge_id in db.session.execute(
                select(NoticeCharge.notice_id, NoticeCharge.charge_id).join(Notice, Notice.id == NoticeCharge.notice_id)
                .where(Notice.unit_id.in_(chunk))):
            if notice_id in delivered:
                found.setdefault(charge_id, []).append(delivered[notice_id])
    return found


INTERRUPTION_SOURCES.append(delivered_notice_interruptions)


def units_past_demand_deadline(oldest_due, today):
    """The units (of ``oldest_due``: ``{unit_id: due date of the oldest charge outstanding}``)
    with a demand or final notice, issued for the arrears they have now (as of that due date
    or later), delivered, and whose deadline (delivery + its days) has passed by ``today``."""
    found = set()
    ids = list(oldest_due)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        notices = db.session.execute(
            select(Notice.id, Notice.unit_id, Notice.as_of, Notice.deadline_days)
            .where(Notice.unit_id.in_(chunk), Notice.kind.in_(DEADLINE_KINDS))).all()
        delivered = delivered_on([n.id for n in notices])
        for notice in notices:
            day = delivered.get(notice.id)
            if day is None or _as_date(notice.as_of) < oldest_due[notice.unit_id]:
                continue
            if day + timedelta(days=notice.deadline_days or 0) < today:
                found.add(notice.unit_id)
    return found


# -- receipts -------------------------------------------------------------------------------------

def _payment_lines(payment):
    unit = db.session.get(Unit, payment.unit_id)
    today = local_today(unit.building.estate.timezone)
    statement, _ = unit_statement(unit, max(today, payment.paid_on))
    allocations = [a for a in statement.allocations if a.payment_id == payment.id]
    return unit, statement, allocations


def receipt_context(receipt, payment, copy_no, chain):
    from ..documents.words import amount_in_words
    unit, statement, allocations = _payment_lines(payment)
    owner = unit.owner_on(payment.paid_on)
    names = dict(db.session.execute(select(Charge.id, FeeItem.name).join(FeeItem)
                                    .where(Charge.unit_id == unit.id)).all())
    periods = dict(db.session.execute(select(Charge.id, Charge.period).where(Charge.unit_id == unit.id)).all())
    applied = sum(a.principal_fen + a.late_fee_fen for a in allocations)
    return {
        "serial": receipt.serial, "issued_on": issued_on(receipt), "copy": copy_no > 0, "copy_no": copy_no,
        "office": office_context(unit.building.estate), "estate": unit.building.estate.name,
        "unit_ref": unit.ref, "owner_name": owner.name if owner else "",
        "payment": {"amount": format_fen(payment.amount_fen), "amount_words": amount_in_words(payment.amount_fen),
                    "paid_on": payment.paid_on, "method": payment.method, "reference": payment.reference},
        "allocations": [{"period": periods[a.charge_id], "fee_item": names[a.charge_id],
                         "principal": format_fen(a.principal_fen), "late_fee": format_fen(a.late_fee_fen)}
                        for a in allocations],
        "unapplied": format_fen(payment.amount_fen - applied),
        "credit_after": format_fen(statement.credit_fen),
        "verify_url": verify_url(receipt.serial), "chain_head": chain,
    }


def print_receipt(payment_id, actor):
    """The receipt of a payment: the first print is the original (numbered on first
    print), every later one is marked as a copy. Returns the ``ReceiptPrint``."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("payment #%(id)s does not exist", id=payment_id)
    if db.session.execute(select(Reversal.id).where(Reversal.payment_id == payment.id)).first():
        raise ServiceError("payment #%(id)s (%(reference)s) is reversed; it has no receipt to print", id=payment.id,
                           reference=payment.reference)
    receipt = db.session.execute(select(Receipt).where(Receipt.payment_id == payment.id)).scalar_one_or_none()
    if receipt is None:
        db.session.rollback()
        serial = next_serial(RECEIPT_SERIES, local_today().year)
        with atomic():
            try:
                with db.session.begin_nested():
                    db.session.add(Receipt(serial=serial, payment_id=payment.id, created_by=actor))
            except IntegrityError:  # printed at the same moment elsewhere: use that number
                pass
        receipt = db.session.execute(select(Receipt).where(Receipt.payment_id == payment.id)).scalar_one()
    copy_no = len(receipt.prints)
    chain, seq, digest = _head()
    context = receipt_context(receipt, payment, copy_no, chain)
    pdf = make_pdf("receipt.html", context, "zh_CN", reason=f"收据 {receipt.serial}",
                   location=context["office"]["name"])
    with atomic():
        sha = store_file(pdf, "application/pdf")
        printed = ReceiptPrint(receipt_id=receipt.id, copy_no=copy_no, sha256=sha, chain_seq=seq,
                               chain_hash=digest, created_by=actor)
        db.session.add(printed)
        db.session.flush()
        append_event("receipt_printed", actor, db.session.get(Unit, payment.unit_id).ref, {
            "serial": receipt.serial, "payment_id": payment.id, "amount": format_fen(payment.amount_fen),
            "copy_no": copy_no, "sha256": sha})
    return printed


def receipt_serial(payment_id):
    """The receipt number of a payment, or None."""
    return db.session.execute(select(Receipt.serial).where(Receipt.payment_id == payment_id)).scalar_one_or_none()


def find_receipt(serial):
    receipt = db.session.execute(select(Receipt).where(Receipt.serial == (serial or "").strip())).scalar_one_or_none()
    if receipt is None:
        raise NotFound("receipt %(serial)s does not exist", serial=serial)
    return receipt


def unit_documents(unit_id):
    """The unit's notices (newest first) with their delivery date, and its receipts."""
    notices = db.session.execute(select(Notice).where(Notice.unit_id == unit_id)
                                 .order_by(Notice.id.desc())).scalars().all()
    delivered = delivered_on([n.id for n in notices])
    receipts = db.session.execute(select(Receipt).join(Payment).where(Payment.unit_id == unit_id)
                                  .order_by(Receipt.id.desc())).scalars().all()
    return [(n, delivered.get(n.id)) for n in notices], receipts
