"""Evidence bundles (证据包, SPEC §8): one household's case as a ZIP a lawyer can check.

The layout (docs/bundles.md is the reference):

    index.pdf            signed case summary and evidence list; carries files.json
    payment_order.pdf    signed draft 支付令申请书, only when the household qualifies
    statement.csv        the statement (same figures as ``statement --json``)
    payments.csv         every payment, reversed ones included
    contacts.csv         every collection contact
    notices/<serial>.pdf the signed notices, byte for byte as issued
    proofs/<serial>-<n>.<ext>  the stored delivery proofs of each notice, numbered 1…
    events.jsonl         the unit's evidence events as stored, then the chain head
    manifest.json        unit, generated_at, generated_by, chain_head, files

Invariants:
- ``manifest.json`` lists every other file of the ZIP with its SHA-256 and size, in
  path order; the ZIP holds exactly those files and the manifest, in that order.
- ``index.pdf`` is signed and embeds ``files.json``: the manifest without the entry of
  index.pdf itself (which cannot list its own hash). A rewritten manifest therefore
  disagrees with the signed copy, whatever hashes it claims.
- The chain head (``seq``, ``hash``) is read once; ``events.jsonl`` holds the unit's
  events up to it, ends with ``{"chain_head": {"seq": …, "hash": …}}``, and the index
  footer, files.json and the manifest carry the same head.
- Apart from ``generated_at`` and the signatures, the same record gives the same bytes:
  fixed file order, fixed ZIP timestamps (``generated_at``), sorted JSON keys.
- The ZIP is built completely before anything is written; then the ZIP (stored by its
  SHA-256), its ``BundleExport`` row and the ``bundle_exported`` event commit together.
- CSV cells that a spreadsheet would run as a formula (first character ``=``, ``+``,
  ``-``, ``@``, tab or carriage return) are written with a leading ``'``.
- ``verify_bundle`` never raises for bad input: every finding is a message that starts
  with the name of the file at fault.
"""
import csv
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ..domain.disputes import is_active
from ..domain.evidence import FIELDS, GENESIS, canonical_json, event_hash
from ..domain.money import format_fen, round_fen
from ..domain.statement import statement_document
from ..extensions import db
from ..models import (ROLES, BundleExport, CaseClaim, CaseStep, Charge, Contact, Delivery,
                      DeliveryProof, Dispute, Escalation, FeeItem, HardshipStatus, LateFeePolicyVersion, Notice,
                      NoticeCharge, Payment, PaymentPlan, PlanBreak, Promise, Receipt, Reversal, StoredFile, Waiver,
                      WaiverReversal)
from .evidence import append_event, chain_head, iter_events, utc_stamp
from .files import EXTENSIONS, read_file, store_file
from .ledger import local_today, policy_schedule, unit_statement
from .transaction import atomic

MANIFEST = "manifest.json"
INDEX = "index.pdf"
PAYMENT_ORDER = "payment_order.pdf"
EVENTS = "events.jsonl"
ATTACHMENT = "files.json"
MANIFEST_KEYS = ("unit", "generated_at", "generated_by", "chain_head", "files")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_COURT_ANNUAL_RATE = "0.039"  # 1.3 × LPR 3.0 % a year
DEADLINE_KINDS = ("demand", "final")
STORED_AS_IS = (".pdf", ".jpg", ".png")
CONTACTS_LISTED = 60  # more than this: the index counts them by month (contacts.csv has each)

STATEMENT_COLUMNS = ("period", "fee_item", "due_date", "amount", "principal_paid", "principal_waived",
                     "principal_outstanding", "days_overdue", "late_fee_accrued", "late_fee_waived",
                     "late_fee_paid", "late_fee_outstanding", "limitation_expires")
PAYMENT_COLUMNS = ("payment_id", "paid_on", "amount", "method", "reference", "periods", "receipt",
                   "applied_principal", "applied_late_fee", "reversed_on", "reversal_reason", "posted_by")
CONTACT_COLUMNS = ("contact_id", "contacted_at", "channel", "staff", "reached", "outcome", "reason", "notes",
                   "policy_breach", "justification")


# -- CSV ------------------------------------------------------------------------------------------

def defuse(value):
    """A cell's text, with a leading ``'`` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_bytes(columns, rows):
    """UTF-8 with a byte-order mark (Excel), CRLF line ends, every cell defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([defuse(row.get(column)) for column in columns])
    return buffer.getvalue().encode("utf-8-sig")


# -- what the bundle shows ------------------------------------------------------------------------

def court_annual_rate():
    """The annual rate a court is likely to accept (``ARREARS_COURT_ANNUAL_RATE``, a
    decimal fraction; default 0.039 = 1.3 × LPR 3.0 %)."""
    raw = current_app.config.get("ARREARS_COURT_ANNUAL_RATE") or os.environ.get("ARREARS_COURT_ANNUAL_RATE")
    return Decimal(str(raw or DEFAULT_COURT_ANNUAL_RATE).strip())


def merged_spans(working):
    """The engine's accrual spans of one charge, with neighbours that continue each other
    at the same principal and rate joined (the engine splits them at every unrelated
    event). Each: ``(start, end, days, principal_fen, daily_rate, fee Decimal fen)``."""
    merged = []
    for span in working:
        last = merged[-1] if merged else None
        if (last and last[1] + timedelta(days=1) == span.start and last[3] == span.principal_fen
                and last[4] == span.daily_rate and last[5] == last[2] * last[3] * last[4]):
            merged[-1] = (last[0], span.end, last[2] + span.days, last[3], last[4], last[5] + span.fee)
        else:
            merged.append((span.start, span.end, span.days, span.principal_fen, span.daily_rate, span.fee))
    return merged


def _fen_text(decimal_fen):
    return format_fen(round_fen(decimal_fen))


def _rate_text(rate):
    text = format(Decimal(rate).normalize(), "f")
    return text


def _local(moment, tz_name):
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(tz_name))


def _zip_time(generated_at, tz_name):
    moment = datetime.fromisoformat(generated_at.replace("Z", "+00:00")).astimezone(ZoneInfo(tz_name))
    return (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _local_stamp(generated_at, tz_name):
    """``generated_at`` (UTC ISO, ``...Z``) as the index prints it, in the estate's time:
    ``{"day": date, "time": "10:48", "offset": "+08:00"}`` (the manifest keeps the UTC value)."""
    moment = datetime.fromisoformat(generated_at.replace("Z", "+00:00")).astimezone(ZoneInfo(tz_name))
    offset = moment.strftime("%z") or "+0000"
    return {"day": moment.date(), "time": moment.strftime("%H:%M"), "offset": f"{offset[:3]}:{offset[3:]}"}


def _figures(unit, as_of):
    statement, limitation = unit_statement(unit, as_of, keep_working=True)
    document = statement_document(unit.ref, statement, limitation)
    daily_court = court_annual_rate() / Decimal(365)
    charges = []
    for line, item in zip(statement.charges, document["charges"]):
        spans = []
        court_exact = Decimal(0)
        for start, end, days, principal, rate, fee in merged_spans(line.working):
            court = Decimal(days) * principal * daily_court
            court_exact += court
            spans.append({"start": start, "end": end, "days": days, "principal": format_fen(principal),
                          "rate": _rate_text(rate), "fee": _fen_text(fee), "fee_exact": fee,
                          "capped": fee != days * principal * rate, "court_fee": _fen_text(court)})
        court_accrued = round_fen(court_exact)
        court_outstanding = max(0, court_accrued - line.late_fee_waived_fen - line.late_fee_paid_fen)
        expiry = limitation[line.charge.id]
        charges.append(dict(item, charge_id=line.charge.id, spans=spans, due=line.charge.due_date,
                            late_fee_settled=format_fen(line.late_fee_waived_fen + line.late_fee_paid_fen),
                            court_accrued=format_fen(court_accrued), court_outstanding_fen=court_outstanding,
                            court_outstanding=format_fen(court_outstanding),
                            principal_outstanding_fen=line.principal_outstanding_fen,
                            late_fee_outstanding_fen=line.late_fee_outstanding_fen,
                            expiry=expiry, days_left=(expiry - as_of).days))
    court_total = sum(c["court_outstanding_fen"] for c in charges)
    totals = dict(document["totals"], court_late_fee_outstanding=format_fen(court_total),
                  court_total_outstanding=format_fen(statement.principal_outstanding_fen + court_total))
    return statement, document, charges, totals


def _payments(unit, statement):
    reversals = {r.payment_id: r for r in db.session.execute(
        select(Reversal).join(Payment, Payment.id == Reversal.payment_id).where(Payment.unit_id == unit.id)).scalars()}
    receipts = dict(db.session.execute(select(Receipt.payment_id, Receipt.serial).join(Payment)
                                       .where(Payment.unit_id == unit.id)).all())
    applied = {}
    for allocation in statement.allocations:
        if allocation.payment_id is not None:
            sums = applied.setdefault(allocation.payment_id, [0, 0])
            sums[0] += allocation.principal_fen
            sums[1] += allocation.late_fee_fen
    rows = []
    for payment in db.session.execute(select(Payment).where(Payment.unit_id == unit.id)
                                      .order_by(Payment.paid_on, Payment.id)).scalars():
        reversal = reversals.get(payment.id)
        principal, late_fee = applied.get(payment.id, (0, 0))
        rows.append({"payment_id": payment.id, "paid_on": payment.paid_on.isoformat(),
                     "amount": format_fen(payment.amount_fen), "method": payment.method,
                     "reference": payment.reference, "periods": payment.periods or "",
                     "receipt": receipts.get(payment.id, ""), "applied_principal": format_fen(principal),
                     "applied_late_fee": format_fen(late_fee),
                     "reversed_on": reversal.reversed_on.isoformat() if reversal else "",
                     "reversal_reason": reversal.reason if reversal else "", "posted_by": payment.created_by})
    return rows


def _contacts(unit, tz_name):
    rows = []
    for contact in db.session.execute(select(Contact).where(Contact.unit_id == unit.id)
                                      .order_by(Contact.contacted_at, Contact.id)).scalars():
        rows.append({"contact_id": contact.id,
                     "contacted_at": _local(contact.contacted_at, tz_name).isoformat(timespec="minutes"),
                     "channel": contact.channel, "staff": contact.staff, "reached": contact.reached,
                     "outcome": contact.outcome, "reason": contact.reason or "", "notes": contact.notes or "",
                     "policy_breach": "yes" if contact.policy_breach else "no",
                     "justification": contact.justification or ""})
    return rows


def contact_months(contacts):
    """Contacts counted by local month: ``[{month, count, owner, channels: [(channel, n)]}]``."""
    months = {}
    for contact in contacts:
        month = months.setdefault(contact["contacted_at"][:7], {"month": contact["contacted_at"][:7], "count": 0,
                                                                 "owner": 0, "channels": {}})
        month["count"] += 1
        month["owner"] += contact["reached"] == "owner"
        month["channels"][contact["channel"]] = month["channels"].get(contact["channel"], 0) + 1
    return [dict(m, channels=sorted(m["channels"].items())) for _, m in sorted(months.items())]


def _notices(unit):
    """``[(notice, delivered_on, attempts)]`` with every attempt's proofs and their bundle paths,
    and ``{path: bytes}`` of the notice PDFs and proofs."""
    from .notices import delivered_on, issued_on
    files = {}
    notices = db.session.execute(select(Notice).where(Notice.unit_id == unit.id)
                                 .order_by(Notice.created_at, Notice.id)).scalars().all()
    delivered = delivered_on([n.id for n in notices])
    result = []
    for notice in notices:
        path = f"notices/{notice.serial}.pdf"
        files[path] = read_file(notice.sha256)
        number = 0
        attempts = []
        for delivery in db.session.execute(select(Delivery).where(Delivery.notice_id == notice.id)
                                           .order_by(Delivery.attempted_on, Delivery.id)).scalars():
            proofs = []
            for proof in db.session.execute(select(DeliveryProof, StoredFile.content_type)
                                            .join(StoredFile, StoredFile.sha256 == DeliveryProof.sha256)
                                            .where(DeliveryProof.delivery_id == delivery.id)
                                            .order_by(DeliveryProof.id)).all():
                row, content_type = proof
                number += 1
                proof_path = f"proofs/{notice.serial}-{number}{EXTENSIONS.get(content_type, '.bin')}"
                files[proof_path] = read_file(row.sha256)
                proofs.append({"path": proof_path, "filename": row.filename, "sha256": row.sha256})
            attempts.append({"delivery": delivery, "proofs": proofs})
        day = delivered.get(notice.id)
        deadline = day + timedelta(days=notice.deadline_days) if day and notice.deadline_days else None
        result.append({"notice": notice, "path": path, "total": format_fen(notice.total_fen),
                       "issued_on": issued_on(notice), "delivered_on": day,
                       "deadline": deadline, "attempts": attempts,
                       "periods": [p for p, in db.session.execute(
                           select(Charge.period).join(NoticeCharge, NoticeCharge.charge_id == Charge.id)
                           .where(NoticeCharge.notice_id == notice.id).order_by(NoticeCharge.id))]})
    return result, files


def _disputes(unit):
    found = []
    for dispute in db.session.execute(select(Dispute).where(Dispute.unit_id == unit.id)
                                      .order_by(Dispute.opened_on, Dispute.id)).scalars():
        status = dispute.updates[-1].status if dispute.updates else None
        found.append({"dispute": dispute, "status": status or "open", "active": is_active(status),
                      "updates": list(dispute.updates)})
    return found


def _relief(unit):
    from .relief import approved_plans
    undone = {r.waiver_id: r for r in db.session.execute(
        select(WaiverReversal).join(Waiver).join(Charge).where(Charge.unit_id == unit.id)).scalars()}
    waivers = [{"waiver": w, "period": period, "amount": format_fen(w.amount_fen), "reversal": undone.get(w.id)}
               for w, period in db.session.execute(select(Waiver, Charge.period).join(Charge)
                                                   .where(Charge.unit_id == unit.id)
                                                   .order_by(Waiver.approved_on, Waiver.id)).all()]
    hardship = db.session.execute(select(HardshipStatus).where(HardshipStatus.unit_id == unit.id)
                                  .order_by(HardshipStatus.start_on, HardshipStatus.id)).scalars().all()
    breaks = {b.plan_id: b for b in db.session.execute(
        select(PlanBreak).join(PaymentPlan).where(PaymentPlan.unit_id == unit.id)).scalars()}
    plans = [{"plan": plan, "approved_on": approved_on, "covered": format_fen(plan.covered_fen),
              "instalments": len(plan.instalments), "broken": breaks.get(plan.id)}
             for plan, approved_on in approved_plans(unit.id)]
    return waivers, hardship, plans


def _cases(unit):
    periods = dict(db.session.execute(select(Charge.id, Charge.period).where(Charge.unit_id == unit.id)).all())
    steps = []
    for step in db.session.execute(select(CaseStep).where(CaseStep.unit_id == unit.id)
                                   .order_by(CaseStep.on_date, CaseStep.id)).scalars():
        claimed = [periods.get(c.charge_id, str(c.charge_id)) for c in db.session.execute(
            select(CaseClaim).where(CaseClaim.step_id == step.id).order_by(CaseClaim.id)).scalars()]
        steps.append({"step": step, "claimed": claimed,
                      "amount": format_fen(step.amount_fen) if step.amount_fen is not None else ""})
    escalations = db.session.execute(select(Escalation).where(Escalation.unit_id == unit.id)
                                     .order_by(Escalation.id)).scalars().all()
    return steps, escalations


def _fee_basis(unit, as_of):
    charged = {fee_item_id for fee_item_id, in db.session.execute(
        select(Charge.fee_item_id).where(Charge.unit_id == unit.id).distinct())}
    items = db.session.execute(select(FeeItem).where(FeeItem.estate_id == unit.building.estate_id)
                               .order_by(FeeItem.name)).scalars().all()
    fee_items = []
    for item in items:
        if item.id not in charged and not item.active:
            continue
        monthly = round_fen(Decimal(item.price_fen) * unit.area_centi_m2 / 100) if item.basis == "per_m2" \
            else item.price_fen
        fee_items.append({"name": item.name, "basis": item.basis, "price": format_fen(item.price_fen),
                          "monthly": format_fen(monthly), "due_day": item.due_day, "charged": item.id in charged})
    rows = db.session.execute(select(LateFeePolicyVersion).where(LateFeePolicyVersion.estate_id
                                                                 == unit.building.estate_id)
                              .order_by(LateFeePolicyVersion.effective_from)).scalars().all()
    if rows:
        policies = [{"from": r.effective_from, "rate": _rate_text(r.daily_rate), "grace": r.grace_days,
                     "cap": _rate_text(r.cap_ratio) if r.cap_ratio is not None else None,
                     "allocation": r.allocation} for r in rows]
    else:
        policy = policy_schedule(unit.building.estate_id).on(as_of)
        policies = [{"from": None, "rate": _rate_text(policy.daily_rate), "grace": policy.grace_days,
                     "cap": _rate_text(policy.cap_ratio) if policy.cap_ratio is not None else None,
                     "allocation": policy.allocation}]
    return {"area": f"{unit.area_centi_m2 // 100}.{unit.area_centi_m2 % 100:02d}", "fee_items": fee_items,
            "policies": policies}


def payment_order_basis(unit, as_of, notices=None, disputes=None):
    """The delivered demand (or final notice) a payment-order application rests on: the
    latest one whose deadline (delivery date + its days) has passed by ``as_of``, when the
    household has no open dispute and owes something; else None."""
    disputes = _disputes(unit) if disputes is None else disputes
    if any(d["active"] for d in disputes):
        return None
    if notices is None:
        notices, _files = _notices(unit)
    eligible = [n for n in notices if n["notice"].kind in DEADLINE_KINDS and n["delivered_on"] is not None
                and n["delivered_on"] <= as_of and n["deadline"] is not None and n["deadline"] < as_of]
    return eligible[-1] if eligible else None


def _certificate():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from ..documents.signing import signing_material
    material = signing_material(current_app.config["ARREARS_DATA_DIR"])
    certificate = x509.load_pem_x509_certificate(material.cert_path.read_bytes())
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return {"subject": names[0].value if names else certificate.subject.rfc4514_string(),
            "sha256": certificate.fingerprint(hashes.SHA256()).hex(),
            "not_after": certificate.not_valid_after_utc.date(), "self_signed": not material.configured}


def _signed_pdf(template, context, reason, location, attachments=()):
    """Render and sign as every issued document is (``notices.make_pdf``), in Chinese."""
    from .notices import make_pdf
    return make_pdf(template, context, "zh_CN", reason, location, attachments=attachments)


def _entry(path, data):
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def build_bundle(unit, actor, as_of):
    """``(zip_bytes, head_seq, head_hash, files)``: the bundle, built and not recorded."""
    from .households import mask_phone
    from .notices import office_context
    tz_name = unit.building.estate.timezone
    head_seq, head_hash = chain_head()
    generated_at = utc_stamp()
    head = {"seq": head_seq, "hash": head_hash}
    files = {}

    statement, document, charges, totals = _figures(unit, as_of)
    files["statement.csv"] = csv_bytes(STATEMENT_COLUMNS, document["charges"])
    payments = _payments(unit, statement)
    files["payments.csv"] = csv_bytes(PAYMENT_COLUMNS, payments)
    contacts = _contacts(unit, tz_name)
    files["contacts.csv"] = csv_bytes(CONTACT_COLUMNS, contacts)

    lines, unit_events = [], 0
    for event in iter_events(unit=unit.ref):
        if event["seq"] > head_seq:
            break
        lines.append(canonical_json(event))
        unit_events += 1
    lines.append(canonical_json({"chain_head": head}))
    files[EVENTS] = ("\n".join(lines) + "\n").encode("utf-8")

    notices, notice_files = _notices(unit)
    files.update(notice_files)
    disputes = _disputes(unit)
    waivers, hardship, plans = _relief(unit)
    steps, escalations = _cases(unit)
    owner = unit.owner_on(as_of)
    office = office_context(unit.building.estate)
    promises = [{"made_on": p.made_on.isoformat(), "promised_on": p.promised_on.isoformat(),
                 "amount": format_fen(p.amount_fen)}
                for p in db.session.execute(select(Promise).where(Promise.unit_id == unit.id)
                                            .order_by(Promise.made_on, Promise.id)).scalars()]
    context = {
        "serial": f"{unit.ref} · {as_of.isoformat()}", "copy": False, "office": office, "unit_ref": unit.ref,
        "estate": unit.building.estate.name, "owner_name": owner.name if owner else "",
        "owner_phone": mask_phone(owner.phone) if owner else "", "as_of": as_of,
        "issued_on": local_today(tz_name), "generated_at": generated_at,
        "generated_local": _local_stamp(generated_at, tz_name), "generated_by": actor,
        "chain_head": {"seq": head_seq, "hash16": head_hash[:16]}, "head_hash": head_hash,
        "basis": _fee_basis(unit, as_of), "charges": charges, "totals": totals, "credit": document["credit"],
        "court_rate": _rate_text(court_annual_rate()), "court_rate_percent": _rate_text(court_annual_rate() * 100),
        "payments": payments, "contacts": contacts, "promises": promises,
        "contact_months": contact_months(contacts) if len(contacts) > CONTACTS_LISTED else None, "notices": notices,
        "disputes": disputes, "waivers": waivers, "hardship": hardship, "plans": plans, "steps": steps,
        "escalations": escalations, "unit_events": unit_events, "roles": ROLES,
        "limitation_years": current_app.config["ARREARS_LIMITATION_YEARS"],
    }

    basis = payment_order_basis(unit, as_of, notices, disputes)
    owing = [c for c in charges if c["principal_outstanding_fen"] or c["late_fee_outstanding_fen"]]
    if basis is not None and owing:
        from ..documents.words import amount_in_words
        order_context = dict(context, basis_notice=basis, owing=owing,
                             evidence=sorted(files) + [INDEX],
                             total_words=amount_in_words(statement.total_outstanding_fen))
        files[PAYMENT_ORDER] = _signed_pdf("payment_order.html", order_context,
                                           reason=f"支付令申请书（草稿） {unit.ref}", location=office["name"])

    listed = [_entry(path, files[path]) for path in sorted(files)]
    signed_list = {"unit": unit.ref, "generated_at": generated_at, "generated_by": actor,
                   "chain_head": head, "files": listed}
    context.update(evidence=listed, certificate=_certificate(), payment_order=PAYMENT_ORDER in files)
    files[INDEX] = _signed_pdf("bundle_index.html", context, reason=f"证据包索引 {unit.ref}", location=office["name"],
                               attachments=[(ATTACHMENT, json.dumps(signed_list, ensure_ascii=False, indent=2,
                                                                    sort_keys=True))])
    manifest = dict(signed_list, files=[_entry(path, files[path]) for path in sorted(files)])
    manifest_bytes = (json.dumps({key: manifest[key] for key in MANIFEST_KEYS}, ensure_ascii=False, indent=2)
                      + "\n").encode("utf-8")

    buffer = io.BytesIO()
    stamp = _zip_time(generated_at, tz_name)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files) + [MANIFEST]:
            info = zipfile.ZipInfo(path, date_time=stamp)
            # PDFs, JPEGs and PNGs are compressed already: deflating them again costs time for nothing.
            info.compress_type = zipfile.ZIP_STORED if path.endswith(STORED_AS_IS) else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, manifest_bytes if path == MANIFEST else files[path])
    return buffer.getvalue(), head_seq, head_hash, manifest["files"]


def export_bundle(unit, actor, as_of=None):
    """Build the evidence bundle of ``unit`` with the figures as of ``as_of`` (default:
    today in the estate's time zone), then store it by SHA-256 and record it (a
    ``BundleExport`` row and a ``bundle_exported`` event) in one transaction. Returns
    ``(zip_bytes, BundleExport)``. Raises ``NotFound`` when a stored file is missing."""
    as_of = as_of or local_today(unit.building.estate.timezone)
    data, head_seq, head_hash, listed = build_bundle(unit, actor, as_of)
    digest = hashlib.sha256(data).hexdigest()
    with atomic():
        store_file(data, "application/zip")
        export = BundleExport(unit_id=unit.id, sha256=digest, chain_seq=head_seq, chain_hash=head_hash,
                              created_by=actor)
        db.session.add(export)
        db.session.flush()
        append_event("bundle_exported", actor, unit.ref, {
            "bundle_id": export.id, "sha256": digest, "bytes": len(data), "as_of": as_of.isoformat(),
            "chain_head": {"seq": head_seq, "hash": head_hash}, "files": len(listed),
            "payment_order": any(f["path"] == PAYMENT_ORDER for f in listed)})
    return data, export


# -- verification ---------------------------------------------------------------------------------

@dataclass
class BundleCheck:
    """What ``check_bundle`` found: ``problems`` (each names its file) and a summary."""
    problems: list = field(default_factory=list)
    unit: str | None = None
    files: int = 0
    signatures: int = 0
    events: int = 0
    chain_head: dict | None = None

    @property
    def ok(self):
        return not self.problems

    def summary(self):
        head = self.chain_head or {}
        return (f"bundle OK: {self.unit}; {self.files} file(s) match the manifest; {self.signatures} signature(s) "
                f"valid and trusted; {self.events} event(s) hash-verified; chain head {head.get('seq')} "
                f"{str(head.get('hash', ''))[:16]}")


def verify_bundle(source, data_dir):
    """The problems found in a bundle (a path or the ZIP's bytes), each starting with the
    name of the file at fault; empty when the bundle is intact. Signatures are checked
    against the office certificate of ``data_dir`` (or the configured one)."""
    return check_bundle(source, data_dir).problems


def check_bundle(source, data_dir):
    """``verify_bundle`` with a summary for a good bundle; never raises for bad input."""
    check = BundleCheck()
    name = "the bundle" if isinstance(source, (bytes, bytearray)) else os.path.basename(str(source))
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except FileNotFoundError:
        check.problems.append(f"{name}: no such file")
        return check
    except (zipfile.BadZipFile, ValueError, EOFError):
        check.problems.append(f"{name}: not a ZIP file")
        return check
    except OSError as error:
        check.problems.append(f"{name}: cannot be read ({error.strerror or error})")
        return check
    contents = {}
    with archive:
        seen = set()
        for info in archive.infolist():
            if info.filename in seen:
                check.problems.append(f"{info.filename}: appears twice in the ZIP")
                continue
            seen.add(info.filename)
            if info.is_dir():
                continue
            try:
                contents[info.filename] = archive.read(info)
            except Exception as error:  # damaged entry (CRC, compression) or unsupported method
                check.problems.append(f"{info.filename}: cannot be read from the ZIP ({type(error).__name__})")
    manifest = _read_manifest(contents, check.problems)
    if manifest is None:
        return check
    check.unit, check.chain_head = manifest["unit"], manifest["chain_head"]
    listed = {entry["path"]: entry for entry in manifest["files"]}
    for path, entry in listed.items():
        if path not in contents:
            check.problems.append(f"{path}: listed in manifest.json but missing from the ZIP")
            continue
        data = contents[path]
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            check.problems.append(f"{path}: its SHA-256 does not match manifest.json (the file was changed)")
        elif len(data) != entry["bytes"]:
            check.problems.append(f"{path}: {len(data)} bytes, manifest.json says {entry['bytes']}")
    for path in contents:
        if path != MANIFEST and path not in listed:
            check.problems.append(f"{path}: in the ZIP but not listed in manifest.json")
    check.files = sum(1 for path in listed if path in contents)

    signed_list = _check_index(contents, manifest, data_dir, check)
    for path in sorted(contents):
        if (path.startswith("notices/") and path.endswith(".pdf")) or path == PAYMENT_ORDER:
            _check_signature(path, contents[path], data_dir, check)
    _check_events(contents, manifest, signed_list, check)
    return check


def _read_manifest(contents, problems):
    if MANIFEST not in contents:
        problems.append(f"{MANIFEST}: missing from the ZIP")
        return None
    try:
        manifest = json.loads(contents[MANIFEST].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        problems.append(f"{MANIFEST}: not valid JSON")
        return None
    shape = _shape_problem(manifest)
    if shape:
        problems.append(f"{MANIFEST}: {shape}")
        return None
    return manifest


def _shape_problem(document):
    if not isinstance(document, dict) or sorted(document) != sorted(MANIFEST_KEYS):
        return f"must be an object with exactly the keys {', '.join(MANIFEST_KEYS)}"
    head = document["chain_head"]
    if not isinstance(head, dict) or sorted(head) != ["hash", "seq"] or not isinstance(head["seq"], int):
        return 'chain_head must be {"seq": integer, "hash": text}'
    files = document["files"]
    if not isinstance(files, list) or not all(
            isinstance(f, dict) and sorted(f) == ["bytes", "path", "sha256"] and isinstance(f["path"], str)
            and isinstance(f["sha256"], str) and isinstance(f["bytes"], int) for f in files):
        return 'files must be a list of {"path", "sha256", "bytes"}'
    if len({f["path"] for f in files}) != len(files):
        return "a path is listed twice"
    return None


def _check_signature(path, data, data_dir, check):
    from ..documents.signing import validate_pdf
    result = validate_pdf(data, data_dir=data_dir)
    if result.ok:
        check.signatures += 1
    else:
        check.problems.append(f"{path}: signature not valid: {result.problem or 'not signed'}")
    return result


def _attachment(pdf_bytes, name):
    from pypdf import PdfReader
    try:
        found = PdfReader(io.BytesIO(pdf_bytes)).attachments.get(name)
    except Exception:  # a damaged PDF: the signature check names it
        return None
    return found[0] if found else None


def _check_index(contents, manifest, data_dir, check):
    """The signed copy of the manifest (files.json in index.pdf), compared with the manifest."""
    if INDEX not in contents:
        check.problems.append(f"{INDEX}: missing from the ZIP")
        return None
    _check_signature(INDEX, contents[INDEX], data_dir, check)
    raw = _attachment(contents[INDEX], ATTACHMENT)
    if raw is None:
        check.problems.append(f"{INDEX}: carries no {ATTACHMENT} (the signed list of the bundle's files)")
        return None
    try:
        signed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        check.problems.append(f"{INDEX}: its {ATTACHMENT} is not valid JSON")
        return None
    if _shape_problem(signed):
        check.problems.append(f"{INDEX}: its {ATTACHMENT} is not a file list ({_shape_problem(signed)})")
        return None
    for key in ("unit", "generated_at", "generated_by", "chain_head"):
        if signed[key] != manifest[key]:
            check.problems.append(f"{MANIFEST}: {key} differs from the copy signed into {INDEX} ({ATTACHMENT})")
    ours = {f["path"]: f for f in manifest["files"] if f["path"] != INDEX}
    theirs = {f["path"]: f for f in signed["files"]}
    for path in sorted(set(ours) | set(theirs)):
        if path not in theirs:
            check.problems.append(f"{path}: listed in {MANIFEST} but not in the list signed into {INDEX}")
        elif path not in ours:
            check.problems.append(f"{path}: in the list signed into {INDEX} but not in {MANIFEST}")
        elif ours[path] != theirs[path]:
            check.problems.append(f"{path}: {MANIFEST} gives a different SHA-256 or size than the list signed "
                                  f"into {INDEX} ({ATTACHMENT})")
    if [f["path"] for f in manifest["files"] if f["path"] != INDEX] != [f["path"] for f in signed["files"]] \
            and set(ours) == set(theirs):
        check.problems.append(f"{MANIFEST}: files are listed in another order than in {INDEX}")
    return signed


def _check_events(contents, manifest, signed, check):
    if EVENTS not in contents:
        if not any(p.startswith(EVENTS) for p in check.problems):
            check.problems.append(f"{EVENTS}: missing from the ZIP")
        return
    try:
        lines = contents[EVENTS].decode("utf-8").splitlines()
    except UnicodeDecodeError:
        check.problems.append(f"{EVENTS}: not UTF-8 text")
        return
    if not lines:
        check.problems.append(f"{EVENTS}: empty (it must end with the chain head)")
        return
    try:
        last = json.loads(lines[-1])
        head = last["chain_head"] if isinstance(last, dict) and list(last) == ["chain_head"] else None
    except ValueError:
        head = None
    if not isinstance(head, dict) or sorted(head) != ["hash", "seq"]:
        check.problems.append(f'{EVENTS}: the last line is not {{"chain_head": {{"seq": …, "hash": …}}}}')
        head = None
    elif head != manifest["chain_head"]:
        check.problems.append(f"{EVENTS}: its chain head differs from the one in {MANIFEST}")
    elif signed is not None and head != signed["chain_head"]:
        check.problems.append(f"{EVENTS}: its chain head differs from the one signed into {INDEX}")
    previous = None
    for number, line in enumerate(lines[:-1], start=1):
        try:
            event = json.loads(line)
        except ValueError:
            check.problems.append(f"{EVENTS}: line {number} is not valid JSON")
            previous = None
            continue
        if not isinstance(event, dict) or sorted(event) != sorted(FIELDS + ("hash",)) \
                or not isinstance(event.get("seq"), int):
            check.problems.append(f"{EVENTS}: line {number} is not an evidence event")
            previous = None
            continue
        label = f"{EVENTS}: line {number} (event {event['seq']})"
        if event_hash(event) != event["hash"]:
            check.problems.append(f"{label}: hash does not match the event's content")
        if event["unit"] != manifest["unit"]:
            check.problems.append(f"{label}: belongs to {event['unit']}, not to {manifest['unit']}")
        if previous is not None:
            if event["seq"] <= previous["seq"]:
                check.problems.append(f"{label}: out of order (after event {previous['seq']})")
            elif event["seq"] == previous["seq"] + 1 and event["prev_hash"] != previous["hash"]:
                check.problems.append(f"{label}: prev_hash does not match event {previous['seq']}'s hash")
        if event["seq"] == 1 and event["prev_hash"] != GENESIS:
            check.problems.append(f"{label}: the first event's prev_hash must be 64 zeros")
        if head is not None:
            if event["seq"] > head["seq"]:
                check.problems.append(f"{label}: newer than the chain head {head['seq']}")
            elif event["seq"] == head["seq"] and event["hash"] != head["hash"]:
                check.problems.append(f"{label}: is the chain head's event but its hash differs")
        previous = event
        check.events += 1
