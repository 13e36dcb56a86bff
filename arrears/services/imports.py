"""CSV and XLSX imports (SPEC §10): all or nothing.

Invariant: an import with any bad row writes nothing and reports every bad row as
``line N: reason`` (the header is line 1); a good import writes every row, its
evidence events and the balances in one transaction.
"""
import csv
import hashlib
import io
import os
import re
from datetime import date, datetime

from sqlalchemy import select

from ..domain.errors import InvalidAmount
from ..domain.ledger import Waiver as EngineWaiver
from ..domain.money import format_fen, parse_amount
from ..extensions import db
from ..models import (PAYMENT_METHODS, WAIVER_KINDS, WAIVER_REASONS, Building, Charge, Estate, FeeItem,
                      HardshipStatus, Notice, Payment, User, Waiver)
from .crypto import encrypt_text
from .errors import ImportRejected, ServiceError
from .evidence import append_event
from .ledger import UnitHistory, find_unit, local_today, refresh_unit_balances
from .postings import add_charge, add_payment, parse_period, record_payment_event
from .property import add_unit, get_or_create_building, get_or_create_estate, get_or_create_fee_item
from .transaction import atomic

COLUMNS = {
    "units": ("estate", "building", "unit", "area_m2", "owner_name", "owner_phone"),
    "charges": ("estate", "building", "unit", "period", "fee_item", "amount", "due_date"),
    "payments": ("estate", "building", "unit", "amount", "paid_on", "method", "reference"),
    "hardship": ("estate", "building", "unit", "start", "end", "reason", "requested_by", "approved_by"),
    "waivers": ("estate", "building", "unit", "period", "kind", "amount", "reason", "requested_by",
                "approved_by", "approved_on"),
    "deliveries": ("serial", "method", "outcome", "date", "signer", "relation", "tracking_no"),
}
PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")


class RowError(Exception):
    pass


def read_table(path, data=None):
    """Rows of a CSV (UTF-8, BOM allowed) or XLSX file as ``(line, {column: text})``,
    plus the header. Raises ``ImportRejected`` for an unreadable file."""
    name = os.path.basename(path)
    if data is None:
        with open(path, "rb") as handle:
            data = handle.read()
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise ImportRejected([f"line 1: {name} is empty; expected a header row"])
    if data[:2] == b"PK":
        return _read_xlsx(name, data)
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportRejected([f"line {number}: {name} is not UTF-8 text; save it as 'CSV UTF-8' "
                                  "(GBK files from older Excel are not accepted)"]) from None
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = list(reader)
    header = [cell.strip() for cell in rows[0]]
    body = []
    for index, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        body.append((index, cells))
    return header, body


def _read_xlsx(name, data):
    from openpyxl import load_workbook
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise ImportRejected([f"line 1: {name} is not a readable XLSX workbook ({error.__class__.__name__})"]) from None
    sheet = workbook.worksheets[0]
    rows = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    if not rows:
        raise ImportRejected([f"line 1: {name} is empty; expected a header row"])
    header = [cell.strip() for cell in rows[0]]
    body = [(index, cells) for index, cells in enumerate(rows[1:], start=2) if any(c.strip() for c in cells)]
    return header, body


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def import_file(kind, path, actor, data=None):
    """Import ``path`` as ``kind``; returns the number of rows added. Raises ``ImportRejected``
    with every bad row (nothing is written)."""
    if kind not in COLUMNS:
        raise ServiceError("unknown import kind %(kind)s; use one of %(allowed)s", kind=repr(kind),
                           allowed=", ".join(COLUMNS))
    if data is None:
        with open(path, "rb") as handle:
            data = handle.read()
    header, body = read_table(path, data)
    expected = COLUMNS[kind]
    missing = [column for column in expected if column not in header]
    if missing:
        raise ImportRejected([f"line 1: missing column(s) {', '.join(missing)}; "
                              f"expected {','.join(expected)}"])
    positions = {column: header.index(column) for column in expected}
    records = []
    for line, cells in body:
        records.append((line, {column: (cells[i].strip() if i < len(cells) else "")
                               for column, i in positions.items()}))
    if not records:
        raise ImportRejected([f"line 2: {os.path.basename(path)} has a header but no rows"])
    importer = _IMPORTERS[kind]
    digest = hashlib.sha256(data).hexdigest()
    with atomic():
        errors, touched = importer(records, actor)
        if errors:
            raise ImportRejected(errors)
        append_event("import", actor, None, {"kind": kind, "file": os.path.basename(path), "sha256": digest,
                                             "rows": len(records)})
        for unit in touched.values():
            refresh_unit_balances(unit)
    return len(records)


# -- field parsers: each raises RowError with the reason ---------------------------------

def _required(row, column):
    value = row[column]
    if not value:
        raise RowError(f"{column} is empty")
    return value


def _date(row, column):
    value = _required(row, column)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(f"{column} {value!r} is not a date like 2026-01-31") from None


def _amount(row, column="amount"):
    try:
        return parse_amount(_required(row, column))
    except InvalidAmount as error:
        raise RowError(str(error).replace("amount", column, 1)) from None


def _unit(row, units_cache):
    estate, building, number = _required(row, "estate"), _required(row, "building"), _required(row, "unit")
    key = (estate, building, number)
    if key not in units_cache:
        try:
            units_cache[key] = find_unit("/".join(key))
        except ServiceError:
            units_cache[key] = None
    if units_cache[key] is None:
        raise RowError(f"unknown unit {estate}/{building}/{number}")
    return units_cache[key]


def _user(name, column, role=None):
    user = db.session.execute(select(User).where(User.username == name)).scalar_one_or_none()
    if user is None:
        raise RowError(f"{column} {name!r} is not a user")
    if role and user.role != role:
        raise RowError(f"{column} {name!r} is a {user.role}, not a {role}")
    return user


def _each(records, handle):
    """Run ``handle(line, row)`` for every record; collect ``line N: reason`` errors."""
    errors = []
    for line, row in records:
        try:
            handle(line, row)
        except RowError as error:
            errors.append(f"line {line}: {error}")
        except ServiceError as error:
            errors.append(f"line {line}: {error}")
    return errors


# -- importers: validate everything, write only when all rows are good --------------------

def _import_units(records, actor):
    seen = {}
    parsed = []

    def check(line, row):
        estate, building, number = _required(row, "estate"), _required(row, "building"), _required(row, "unit")
        for column, value in (("estate", estate), ("building", building), ("unit", number)):
            if "/" in value:
                raise RowError(f"{column} {value!r} may not contain '/'")
        try:
            area = parse_amount(_required(row, "area_m2"))
        except InvalidAmount as error:
            raise RowError(str(error).replace("amount", "area_m2", 1)) from None
        owner = _required(row, "owner_name")
        phone = row["owner_phone"]
        if phone and not PHONE.match(phone):
            raise RowError(f"owner_phone {phone!r} is not a phone number")
        key = (estate, building, number)
        if key in seen:
            raise RowError(f"unit {'/'.join(key)} appears twice (also on line {seen[key]})")
        seen[key] = line
        exists = db.session.execute(
            select(Building.id).join(Estate).where(Estate.name == estate, Building.name == building)
            .where(Building.units.any(number=number))).first()
        if exists:
            raise RowError(f"unit {'/'.join(key)} already exists")
        parsed.append((key, area, owner, phone))

    errors = _each(records, check)
    if not errors:
        for (estate_name, building_name, number), area, owner, phone in parsed:
            estate = get_or_create_estate(estate_name, actor)
            building = get_or_create_building(estate, building_name, actor)
            add_unit(building, number, area, owner, phone, actor)
    return errors, {}


def _import_charges(records, actor):
    units, seen, parsed = {}, {}, []

    def check(line, row):
        unit = _unit(row, units)
        try:
            period = parse_period(_required(row, "period"))
        except ServiceError as error:
            raise RowError(str(error)) from None
        fee_item = _required(row, "fee_item")
        amount = _amount(row)
        due = _date(row, "due_date")
        key = (unit.id, fee_item, period)
        if key in seen:
            raise RowError(f"{unit.ref} {fee_item} {period} appears twice (also on line {seen[key]})")
        seen[key] = line
        exists = db.session.execute(select(Charge.id).join(FeeItem).where(
            Charge.unit_id == unit.id, FeeItem.name == fee_item, Charge.period == period)).first()
        if exists:
            raise RowError(f"{unit.ref} already has a {fee_item} charge for {period}")
        parsed.append((unit, fee_item, period, amount, due))

    errors = _each(records, check)
    touched = {}
    if not errors:
        for unit, fee_item, period, amount, due in parsed:
            # Imported history names its fee items; billing runs use them only once an
            # administrator has set their price and activated them.
            item = get_or_create_fee_item(unit.building.estate, fee_item, actor, "fixed", amount, active=False)
            add_charge(unit, item, period, amount, due, actor, via="import")
            touched[unit.id] = unit
    return errors, touched


def _import_payments(records, actor):
    units, seen, parsed = {}, {}, []
    today = local_today()

    def check(line, row):
        unit = _unit(row, units)
        amount = _amount(row)
        paid_on = _date(row, "paid_on")
        if paid_on > today:
            raise RowError(f"paid_on {paid_on} is in the future")
        method = _required(row, "method")
        if method not in PAYMENT_METHODS:
            raise RowError(f"method {method!r} is not one of {', '.join(PAYMENT_METHODS)}")
        reference = _required(row, "reference")
        key = (unit.building.estate_id, reference)
        if key in seen:
            raise RowError(f"duplicate reference {reference} (also on line {seen[key]})")
        seen[key] = line
        existing = db.session.execute(select(Payment.id).where(
            Payment.estate_id == unit.building.estate_id, Payment.reference == reference)).scalar_one_or_none()
        if existing is not None:
            raise RowError(f"duplicate reference {reference}: already posted as payment #{existing}")
        parsed.append((unit, amount, paid_on, method, reference))

    errors = _each(records, check)
    touched = {}
    if not errors:
        posted = []
        for unit, amount, paid_on, method, reference in parsed:
            posted.append((unit, add_payment(unit, amount, paid_on, method, reference, actor)))
            touched[unit.id] = unit
        statements = {unit_id: refresh_unit_balances(unit) for unit_id, unit in touched.items()}
        from .notices import number_receipt
        for unit, payment in posted:
            receipt = number_receipt(payment, actor, today)
            record_payment_event(payment, unit, actor, statements[unit.id], "import", receipt.serial)
        touched = {}  # balances are already current
    return errors, touched


def _approval(row):
    requested = _user(_required(row, "requested_by"), "requested_by")
    approved = _user(_required(row, "approved_by"), "approved_by", role="manager")
    if requested.id == approved.id:
        raise RowError(f"approved_by {approved.username!r} may not approve their own request")
    return requested, approved


def _import_hardship(records, actor):
    units, parsed = {}, []

    def check(line, row):
        unit = _unit(row, units)
        start, end = _date(row, "start"), _date(row, "end")
        if end < start:
            raise RowError(f"end {end} is before start {start}")
        reason = _required(row, "reason")
        requested, approved = _approval(row)
        parsed.append((unit, start, end, reason, requested, approved))

    errors = _each(records, check)
    touched = {}
    if not errors:
        for unit, start, end, reason, requested, approved in parsed:
            status = HardshipStatus(unit_id=unit.id, start_on=start, end_on=end, reason_encrypted=encrypt_text(reason),
                                    requested_by=requested.username, approved_by=approved.username)
            db.session.add(status)
            db.session.flush()
            append_event("hardship_approved", actor, unit.ref, {
                "hardship_id": status.id, "start": start.isoformat(), "end": end.isoformat(),
                "requested_by": requested.username, "approved_by": approved.username, "via": "import"})
            touched[unit.id] = unit
    return errors, touched


def _import_waivers(records, actor):
    units, parsed = {}, []
    pending = {}  # waivers of this file per unit, so several rows on one charge add up

    def check(line, row):
        unit = _unit(row, units)
        period = _required(row, "period")
        kind = _required(row, "kind")
        if kind not in WAIVER_KINDS:
            raise RowError(f"kind {kind!r} is not one of {', '.join(WAIVER_KINDS)}")
        amount = _amount(row)
        reason = _required(row, "reason")
        if reason not in WAIVER_REASONS:
            raise RowError(f"reason {reason!r} is not one of {', '.join(WAIVER_REASONS)}")
        requested, approved = _approval(row)
        approved_on = _date(row, "approved_on")
        charges = db.session.execute(select(Charge).where(Charge.unit_id == unit.id, Charge.period == period)).scalars().all()
        if not charges:
            raise RowError(f"{unit.ref} has no charge for period {period}")
        if len(charges) > 1:
            raise RowError(f"{unit.ref} has {len(charges)} charges for period {period}; cannot tell which")
        charge = charges[0]
        history = UnitHistory(unit, approved_on)
        history.waivers = history.waivers + pending.get(unit.id, [])
        statement = history.statement()
        try:
            line_figures = statement.charge(charge.id)
        except KeyError:
            raise RowError(f"the {period} charge is not billed yet on {approved_on}") from None
        room = line_figures.principal_outstanding_fen if kind == "principal" else line_figures.late_fee_outstanding_fen
        if amount > room:
            raise RowError(f"amount {format_fen(amount)} exceeds the {kind.replace('_', ' ')} outstanding "
                           f"on {approved_on} ({format_fen(room)})")
        pending.setdefault(unit.id, []).append(EngineWaiver(charge.id, kind, amount, approved_on))
        parsed.append((unit, charge, kind, amount, reason, requested, approved, approved_on))

    errors = _each(records, check)
    touched = {}
    if not errors:
        for unit, charge, kind, amount, reason, requested, approved, approved_on in parsed:
            waiver = Waiver(charge_id=charge.id, kind=kind, amount_fen=amount, reason=reason,
                            requested_by=requested.username, approved_by=approved.username, approved_on=approved_on)
            db.session.add(waiver)
            db.session.flush()
            append_event("waiver_approved", actor, unit.ref, {
                "waiver_id": waiver.id, "period": charge.period, "kind": kind, "amount": format_fen(amount),
                "reason": reason, "requested_by": requested.username, "approved_by": approved.username,
                "approved_on": approved_on.isoformat(), "via": "import"})
            touched[unit.id] = unit
    return errors, touched


def _import_deliveries(records, actor):
    """Delivery attempts of issued notices, e.g. a post office's tracking report. The
    letters went to the unit, the owner's registered address: a refused or returned
    letter counts as delivered (SPEC §6)."""
    from .notices import DeliveryInput, add_delivery, check_delivery
    notices, parsed = {}, []
    today = local_today()

    def check(line, row):
        serial = _required(row, "serial")
        if serial not in notices:
            notices[serial] = db.session.execute(select(Notice).where(Notice.serial == serial)).scalar_one_or_none()
        notice = notices[serial]
        if notice is None:
            raise RowError(f"serial {serial} is not an issued notice")
        attempt = DeliveryInput(method=_required(row, "method"), outcome=_required(row, "outcome"),
                                attempted_on=_date(row, "date"), signer=row["signer"], relation=row["relation"],
                                tracking_no=row["tracking_no"], at_registered_address=True)
        problems = check_delivery(notice, attempt, today)
        if problems:
            raise RowError("; ".join(problems))
        parsed.append((notice, attempt))

    errors = _each(records, check)
    if not errors:
        for notice, attempt in parsed:
            add_delivery(notice, attempt, actor, via="import")
    return errors, {}


_IMPORTERS = {"units": _import_units, "charges": _import_charges, "payments": _import_payments,
              "hardship": _import_hardship, "waivers": _import_waivers, "deliveries": _import_deliveries}
