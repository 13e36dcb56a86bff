"""Checking the records against the evidence chain (SPEC §8; issue 6).

The chain proves the events; this module proves the ledger rows by the events that
recorded them. Every charge, payment, reversal, waiver, hardship status, notice,
delivery, contact and commission scheme version is written in the same transaction as
an event that states its figures, so a
row changed behind the application's back (raw SQL around the triggers) no longer
agrees with its event, and a row deleted leaves an event naming a missing record.

``verify_records`` returns every disagreement as ``"table #id: what"``, in table order.
"""
import json
from collections import defaultdict

from sqlalchemy import select

from ..domain.money import format_fen
from ..extensions import db
from ..models import (CommissionScheme, Contact, Charge, Delivery, EvidenceEvent, HardshipStatus, Notice, Payment,
                      Reversal, Waiver)


def _events(kinds):
    """``{kind: [data]}`` of the events of these kinds, in chain order; ``data`` carries the
    event's ``actor`` too (unless it states one of its own)."""
    found = defaultdict(list)
    query = (select(EvidenceEvent.kind, EvidenceEvent.actor, EvidenceEvent.data).where(EvidenceEvent.kind.in_(kinds))
             .order_by(EvidenceEvent.seq).execution_options(yield_per=5000))
    for kind, actor, data in db.session.execute(query):
        try:
            found[kind].append({"actor": actor, **json.loads(data)})
        except ValueError:
            continue  # a damaged event: verify_chain names it
    return found


def _day(value):
    return value.isoformat() if value is not None else None


def _utc_text(moment):
    """A stored timestamp as the events write it: ISO, UTC, with ``Z``."""
    from datetime import timezone
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _json(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


# table: (model, event kind, event key, {field in the event: row -> text})
CHECKS = (
    ("charges", Charge, "charge_billed", "charge_id", {
        "amount": lambda r: format_fen(r.amount_fen), "due_date": lambda r: _day(r.due_date),
        "period": lambda r: r.period}),
    ("payments", Payment, "payment_posted", "payment_id", {
        "amount": lambda r: format_fen(r.amount_fen), "paid_on": lambda r: _day(r.paid_on),
        "method": lambda r: r.method, "reference": lambda r: r.reference}),
    ("reversals", Reversal, "payment_reversed", "payment_id", {
        "reversed_on": lambda r: _day(r.reversed_on), "reason": lambda r: r.reason}),
    ("waivers", Waiver, "waiver_approved", "waiver_id", {
        "amount": lambda r: format_fen(r.amount_fen), "kind": lambda r: r.kind,
        "approved_on": lambda r: _day(r.approved_on), "approved_by": lambda r: r.approved_by}),
    ("hardship_statuses", HardshipStatus, "hardship_approved", "hardship_id", {
        "start": lambda r: _day(r.start_on), "end": lambda r: _day(r.end_on)}),
    ("notices", Notice, "notice_issued", "serial", {
        "sha256": lambda r: r.sha256, "total": lambda r: format_fen(r.total_fen), "kind": lambda r: r.kind,
        "as_of": lambda r: _day(r.as_of)}),
    ("deliveries", Delivery, "delivery_recorded", "delivery_id", {
        "outcome": lambda r: r.outcome, "method": lambda r: r.method, "date": lambda r: _day(r.attempted_on)}),
    # What a clerk is credited with and paid for: the contacts, and the commission rules.
    ("contacts", Contact, "contact_logged", "contact_id", {
        "channel": lambda r: r.channel, "reached": lambda r: r.reached, "outcome": lambda r: r.outcome,
        "contacted_at": lambda r: _utc_text(r.contacted_at), "policy_breach": lambda r: r.policy_breach,
        "actor": lambda r: r.staff}),
    ("commission_schemes", CommissionScheme, "commission_scheme_added", "scheme_id", {
        "kind": lambda r: r.kind, "effective_from": lambda r: _day(r.effective_from),
        "definition": lambda r: _json(r.definition)}),
)
# Reversals are keyed by the payment they reverse (the program reverses payments only),
# notices by their serial.
ROW_KEYS = {"reversals": lambda r: r.payment_id, "notices": lambda r: r.serial}


def verify_records():
    """Every ledger row that disagrees with the event that recorded it, and every event
    whose row is gone: a list of ``"table #id: what"`` (empty when all agree)."""
    events = _events([kind for _table, _model, kind, _key, _fields in CHECKS])
    problems = []
    for table, model, kind, key, fields in CHECKS:
        by_key = {}
        for data in events[kind]:
            if key in data:  # older delivery events carry no id: they cannot be matched
                by_key.setdefault(data[key], data)
        row_key = ROW_KEYS.get(table, lambda r: r.id)
        seen = set()
        for row in db.session.execute(select(model).order_by(model.id).execution_options(yield_per=5000)).scalars():
            row_id = row_key(row)
            data = by_key.get(row_id)
            if data is None:
                if table == "deliveries" and not any("delivery_id" in d for d in events[kind]):
                    continue
                problems.append(f"{table} #{row.id}: no {kind} event records it")
                continue
            seen.add(row_id)
            for field, read in fields.items():
                if field in data and data[field] != read(row):
                    problems.append(f"{table} #{row.id}: {field} is {read(row)} but its {kind} event says "
                                    f"{data[field]}")
        for missing in sorted(set(by_key) - seen, key=str):
            problems.append(f"{table}: the row {key} {missing} recorded by a {kind} event is missing")
    return problems
