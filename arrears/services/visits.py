"""Visit sheets (外访): the route of door visits for some buildings, and its outcomes (SPEC §5).

Invariants:
- a household is **due a visit** on a date when it is in arrears today (stage
  ``reminder``, ``demand`` or ``final``: not ``legal`` — the lawyer has it —, not
  ``closed``, not paid up), has no open dispute (unless the caller includes disputed
  households: a visit to talk about the complaint may be wanted; they are marked), and
  a visit on that date stays within the contact policy's count — fewer than
  ``max_attempts`` contacts dated on the visit date or the ``window_days - 1`` days
  before it (counted by the estate's calendar days; the exact rolling check runs again
  when the outcome is entered, where a breach needs a justification); optionally, not
  visited (channel ``visit``) in the ``not_visited_days`` days before;
- figures are the household list's (``day_figures`` of today, principal + late fee), so
  the sheet prints what the list shows;
- the route runs by building (``3栋`` before ``10栋``: numbers as numbers), then stairwell
  (``2-1201``), then floor from the bottom up, then unit (``unit_place``);
- a sheet is rendered first, stored by its SHA-256, and only then its rows
  (``VisitSheet``, ``VisitSheetItem``, append-only) and its ``visit_sheet_printed``
  evidence event are written, in one transaction; the event lists the units printed,
  since the sheet carries names and amounts (SPEC §9). Its serial (``WF-2026-000001``)
  is taken beforehand in a transaction of its own, like a notice's: a failed print
  leaves a gap, never a reuse;
- a sheet's outcomes are recorded all or nothing: every non-blank row becomes a
  ``visit`` contact (``log_contact``) and its promise (``record_promise``) inside one
  outer ``atomic()``; one bad row records nothing, and every bad row is named;
- a row is recorded at most once: its contact carries a form token derived from the
  sheet and the unit (``row_token``), which ``log_contact`` refuses a second time under
  the evidence chain's lock; rows already entered are shown and skipped.
"""
import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..domain.errors import InvalidAmount
from ..domain.money import format_fen, parse_amount
from ..domain.promises import promise_status
from ..extensions import db
from ..models import (NONPAYMENT_REASONS, Building, Contact, Estate, EvidenceEvent, Promise, Unit, VisitSheet,
                      VisitSheetItem)
from .collection import (CLOCK_SLACK, AlreadySubmitted, ContactPolicyBreach, InvalidAct, as_utc, contact_breaches,
                         contact_policy, log_contact, record_promise)
from .errors import NotFound, ServiceError
from .evidence import append_event, chain_head
from .files import store_file
from .households import (current_owners, escalation_states, hardship_unit_ids, household_stages,
                         open_dispute_counts, standing_payments)
from .ledger import local_today
from .notices import next_serial, office_context
from .reports import day_figures
from .transaction import atomic

SERIES = "WF"
IN_ARREARS = ("reminder", "demand", "final")
MAX_DAYS_AHEAD = 31
MAX_NOT_VISITED_DAYS = 365
VISIT_REACHED = ("owner", "household_member", "nobody")
LANGUAGES = ("zh_CN", "en")
PRINTED_EVENT = "visit_sheet_printed"
OUTCOMES_EVENT = "visit_outcomes_recorded"
MAX_OUTCOME = 200
MAX_NOTES = 2000
# The fields of ``log_contact``'s and ``record_promise``'s refusals, as the outcomes screen names them.
SERVICE_FIELDS = {"contacted_at": "visited_at", "promised_on": "promise_on", "amount": "promise_amount",
                  "reached": "reached", "reason": "reason", "outcome": "outcome", "channel": "position",
                  "form_token": "position"}


class VisitRefused(ServiceError):
    """A sheet was refused; ``code`` names the rule and ``values`` fill its message."""

    def __init__(self, message, code, **values):
        super().__init__(message, **values)
        self.code = code
        self.values = values


# -- the route's order ---------------------------------------------------------------------

def natural_key(text):
    """``"10栋"`` after ``"3栋"``: digits compare as numbers, the rest as text."""
    parts = re.split(r"(\d+)", unicodedata.normalize("NFKC", text or "").strip())
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts if part != "")


@dataclass(frozen=True)
class UnitPlace:
    """Where a unit lies for the route: ``stairwell`` (0 when the number names none),
    ``floor`` (negative below ground, None when the number does not say) and ``room``."""
    stairwell: int
    floor: int | None
    room: tuple

    @property
    def key(self):
        return (self.stairwell, self.floor is None, self.floor or 0, self.room)


def _split_room(digits, suffix=""):
    """``"1201"`` -> floor 12, room 1; the last two digits are the room."""
    return int(digits[:-2]), ((0, int(digits[-2:]), suffix),)


def unit_place(number):
    """The stairwell, floor and room of a unit number, as a Chinese block numbers them:
    ``1201`` and ``1201室`` floor 12 room 01; ``0305`` and ``305`` floor 3; ``12A``
    floor 12 flat A; ``1201A`` floor 12 room 01A; ``12-01`` floor 12 room 01;
    ``2-1201`` / ``2单元1201`` stairwell 2, floor 12; ``B1-02`` / ``B102`` floor −1
    room 02 (basements come first: the route walks up). Anything else (``商铺3``,
    ``1``) has no floor: it follows the building's numbered floors, in natural order."""
    text = unicodedata.normalize("NFKC", number or "").strip().upper().replace(" ", "")
    text = re.sub(r"(室|号|房)$", "", text)
    match = re.fullmatch(r"(\d+)(?:-|单元)(\d{3,})([A-Z]?)", text)
    if match:
        floor, room = _split_room(match[2], match[3])
        return UnitPlace(int(match[1]), floor, room)
    match = re.fullmatch(r"B(\d+)-(\d+)", text)
    if match:
        return UnitPlace(0, -int(match[1]), ((0, int(match[2]), ""),))
    match = re.fullmatch(r"B(\d{3,})", text)
    if match:
        floor, room = _split_room(match[1])
        return UnitPlace(0, -floor, room)
    match = re.fullmatch(r"B(\d{1,2})", text)
    if match:
        return UnitPlace(0, -int(match[1]), ())
    match = re.fullmatch(r"(\d{3,})([A-Z]?)", text)
    if match:
        floor, room = _split_room(match[1], match[2])
        return UnitPlace(0, floor, room)
    match = re.fullmatch(r"(\d{1,3})-(\d{1,2})", text)
    if match:
        return UnitPlace(0, int(match[1]), ((0, int(match[2]), ""),))
    match = re.fullmatch(r"(\d{1,2})([A-Z])", text)
    if match:
        return UnitPlace(0, int(match[1]), ((1, 0, match[2]),))
    return UnitPlace(0, None, natural_key(text))


def route_key(building_name, building_id, unit_number):
    """The sort key of a unit on the route: building (natural order), stairwell, floor, room."""
    return (natural_key(building_name), building_id, unit_place(unit_number).key, natural_key(unit_number))


# -- who is due a visit ------------------------------------------------------------------------

@dataclass(frozen=True)
class LastContact:
    on: date
    channel: str
    reached: str
    outcome: str


@dataclass(frozen=True)
class LastPromise:
    amount_fen: int
    promised_on: date
    status: str  # pending, kept, broken (derived from the payments)


@dataclass(frozen=True)
class VisitRow:
    unit_id: int
    ref: str
    building: str
    number: str
    floor: int | None
    owner_name: str
    principal_fen: int
    late_fee_fen: int
    stage: str
    hardship: bool
    open_disputes: int
    last_contact: LastContact | None
    promise: LastPromise | None

    @property
    def owed_fen(self):
        return self.principal_fen + self.late_fee_fen


@dataclass(frozen=True)
class VisitPlan:
    """The households of ``buildings`` due a visit on ``visit_on``, in route order, with
    figures as of ``as_of``; ``left_out`` counts households in arrears not on the route,
    by reason (``legal``, ``dispute``, ``too_many``, ``visited``)."""
    estate: Estate
    buildings: list
    visit_on: date
    as_of: date
    rows: list
    left_out: dict = field(default_factory=dict)

    @property
    def owed_fen(self):
        return sum(row.owed_fen for row in self.rows)


def _buildings(estate_id, building_ids):
    ids = []
    for value in building_ids or ():
        if value not in ids:
            ids.append(value)
    if not ids:
        raise VisitRefused("choose at least one building", "no_buildings")
    estate = db.session.get(Estate, estate_id) if estate_id is not None else None
    if estate is None:
        raise VisitRefused("estate #%(id)s does not exist", "unknown_estate", id=estate_id)
    found = {b.id: b for b in db.session.execute(select(Building).where(Building.id.in_(ids))).scalars()}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise VisitRefused("building #%(ids)s does not exist", "unknown_building", ids=", #".join(missing))
    foreign = [b.name for b in found.values() if b.estate_id != estate.id]
    if foreign:
        raise VisitRefused("%(buildings)s is not a building of %(estate)s", "other_estate",
                           buildings="、".join(sorted(foreign)), estate=estate.name)
    return estate, sorted(found.values(), key=lambda b: (natural_key(b.name), b.id))


def check_visit_date(visit_on, today):
    if visit_on is None:
        raise VisitRefused("enter the date of the visits", "no_date")
    if visit_on < today:
        raise VisitRefused("the visit date %(day)s is in the past", "past_date", day=visit_on)
    if visit_on > today + timedelta(days=MAX_DAYS_AHEAD):
        raise VisitRefused("the visit date %(day)s is more than %(days)s days ahead; the figures "
                           "would be stale", "too_far", day=visit_on, days=MAX_DAYS_AHEAD)


def _local_day(moment, tz):
    return as_utc(moment).astimezone(tz).date()


def households_due(estate_id, building_ids, visit_on, *, include_disputed=False, not_visited_days=None,
                   today=None, policy=None):
    """``VisitPlan``: who in ``building_ids`` (of estate ``estate_id``) is due a visit on
    ``visit_on`` (see the module docstring). Raises ``VisitRefused`` when no building is
    chosen, a building is unknown or of another estate, the date is in the past or more
    than ``MAX_DAYS_AHEAD`` days ahead, or ``not_visited_days`` is not 1–365."""
    estate, buildings = _buildings(estate_id, building_ids)
    tz = ZoneInfo(estate.timezone)
    today = today or local_today(estate.timezone)
    check_visit_date(visit_on, today)
    if not_visited_days is not None and not 1 <= not_visited_days <= MAX_NOT_VISITED_DAYS:
        raise VisitRefused("'not visited in the last N days' must be 1 to %(days)s, not %(value)s", "bad_days",
                           days=MAX_NOT_VISITED_DAYS, value=not_visited_days)
    policy = policy or contact_policy()
    names = {b.id: b.name for b in buildings}
    units = db.session.execute(select(Unit.id, Unit.number, Unit.building_id)
                               .where(Unit.building_id.in_(list(names)))).all()
    ids = [u.id for u in units]
    figures = day_figures(today).by_unit
    escalations = escalation_states(ids)
    stages = household_stages(figures, today, escalations, ids)
    left_out = Counter()
    owing = []
    for unit in units:
        stage, _klass = stages[unit.id]
        if stage == "legal":
            left_out["legal"] += 1
        elif stage in IN_ARREARS:
            owing.append(unit)
    disputes = open_dispute_counts([u.id for u in owing]) if owing else {}
    contacts = defaultdict(list)
    if owing:
        for unit_id, moment, channel, reached, outcome, contact_id in db.session.execute(
                select(Contact.unit_id, Contact.contacted_at, Contact.channel, Contact.reached, Contact.outcome,
                       Contact.id).where(Contact.unit_id.in_([u.id for u in owing]))
                .order_by(Contact.contacted_at, Contact.id)):
            contacts[unit_id].append((_local_day(moment, tz), channel, reached, outcome))
    window_from = visit_on - timedelta(days=policy.window_days - 1)
    visited_from = visit_on - timedelta(days=not_visited_days) if not_visited_days else None
    due = []
    for unit in owing:
        history = contacts.get(unit.id, [])
        if disputes.get(unit.id) and not include_disputed:
            left_out["dispute"] += 1
        elif sum(1 for day, *_rest in history if window_from <= day <= visit_on) >= policy.max_attempts:
            left_out["too_many"] += 1
        elif visited_from and any(channel == "visit" and visited_from <= day <= visit_on
                                  for day, channel, *_rest in history):
            left_out["visited"] += 1
        else:
            due.append(unit)
    due.sort(key=lambda u: route_key(names[u.building_id], u.building_id, u.number))
    rows = _rows(estate, names, due, figures, stages, disputes, contacts, today)
    return VisitPlan(estate=estate, buildings=buildings, visit_on=visit_on, as_of=today, rows=rows,
                     left_out=dict(left_out))


def _rows(estate, names, due, figures, stages, disputes, contacts, today):
    ids = [u.id for u in due]
    if not ids:
        return []
    owners = current_owners(ids, today)
    hardship = hardship_unit_ids(today, ids)
    latest = {}
    for promise in db.session.execute(select(Promise).where(Promise.unit_id.in_(ids))
                                      .order_by(Promise.made_on, Promise.id)).scalars():
        latest[promise.unit_id] = promise
    payments = standing_payments(list(latest), today) if latest else {}
    rows = []
    for unit in due:
        figure = figures.get(unit.id)
        owner = owners.get(unit.id)
        history = contacts.get(unit.id)
        last = LastContact(*history[-1]) if history else None
        promise = latest.get(unit.id)
        rows.append(VisitRow(
            unit_id=unit.id, ref=f"{estate.name}/{names[unit.building_id]}/{unit.number}",
            building=names[unit.building_id], number=unit.number, floor=unit_place(unit.number).floor,
            owner_name=owner.name if owner else "", principal_fen=figure.principal_outstanding_fen,
            late_fee_fen=figure.late_fee_outstanding_fen, stage=stages[unit.id][0], hardship=unit.id in hardship,
            open_disputes=disputes.get(unit.id, 0), last_contact=last,
            promise=LastPromise(promise.amount_fen, promise.promised_on,
                                promise_status(promise.amount_fen, promise.made_on, promise.promised_on,
                                               payments.get(unit.id, ()), today)) if promise else None))
    return rows


# -- the printed sheet -------------------------------------------------------------------------

def sheet_context(plan, serial, chain, actor, printed_at):
    """What ``notices/visit_sheet.html`` shows (amounts as ``format_fen`` text; the
    template groups them as the list does)."""
    policy = contact_policy()
    return {
        "quiet_from": policy.quiet_from.strftime("%H:%M"), "quiet_until": policy.quiet_until.strftime("%H:%M"),
        "serial": serial, "chain_head": chain, "copy": False, "office": office_context(plan.estate),
        "estate": plan.estate.name, "buildings": [b.name for b in plan.buildings], "visit_on": plan.visit_on,
        "as_of": plan.as_of, "printed_by": actor, "printed_at": printed_at,
        "count": len(plan.rows), "owed_fen": plan.owed_fen,
        "rows": [{"position": index, "ref": row.ref, "building": row.building, "number": row.number,
                  "floor": row.floor, "owner_name": row.owner_name, "owed_fen": row.owed_fen,
                  "principal_fen": row.principal_fen, "late_fee_fen": row.late_fee_fen, "stage": row.stage,
                  "hardship": row.hardship, "open_disputes": row.open_disputes, "last_contact": row.last_contact,
                  "promise": row.promise}
                 for index, row in enumerate(plan.rows, start=1)],
    }


def make_sheet(estate_id, building_ids, visit_on, actor, *, include_disputed=False, not_visited_days=None,
               language="zh_CN", today=None):
    """Print the visit sheet of ``building_ids`` for ``visit_on``: render it (A4, in
    ``language``), store the PDF by SHA-256, write the sheet, its items (in route order,
    with the amount in fen and the stage printed) and a ``visit_sheet_printed`` event.
    Raises ``VisitRefused`` as ``households_due`` does, and when no household is due a
    visit (``none_due``). Returns ``(VisitSheet, serial)``."""
    from ..documents.render import render_document
    if language not in LANGUAGES:
        raise VisitRefused("language %(language)s must be one of %(allowed)s", "bad_language",
                           language=repr(language), allowed=", ".join(LANGUAGES))
    plan = households_due(estate_id, building_ids, visit_on, include_disputed=include_disputed,
                          not_visited_days=not_visited_days, today=today)
    if not plan.rows:
        raise VisitRefused("no household of %(buildings)s is due a visit on %(day)s", "none_due",
                           buildings="、".join(b.name for b in plan.buildings), day=visit_on)
    printed_at = datetime.now(ZoneInfo(plan.estate.timezone))
    db.session.rollback()  # nothing may be pending when the serial's own transaction commits
    serial = next_serial(SERIES, plan.as_of.year)
    seq, digest = chain_head()
    context = sheet_context(plan, serial, {"seq": seq, "hash16": digest[:16]}, actor, printed_at)
    pdf = render_document("visit_sheet.html", context, language).pdf
    with atomic():
        sha = store_file(pdf, "application/pdf")
        sheet = VisitSheet(estate_id=plan.estate.id, buildings=",".join(str(b.id) for b in plan.buildings),
                           visit_on=visit_on, sha256=sha, created_by=actor)
        db.session.add(sheet)
        db.session.flush()
        db.session.add_all(VisitSheetItem(sheet_id=sheet.id, unit_id=row.unit_id, position=index,
                                          owed_fen=row.owed_fen, stage=row.stage)
                           for index, row in enumerate(plan.rows, start=1))
        append_event(PRINTED_EVENT, actor, None, {
            "sheet_id": sheet.id, "serial": serial, "estate": plan.estate.name,
            "buildings": [b.name for b in plan.buildings], "visit_on": visit_on.isoformat(),
            "as_of": plan.as_of.isoformat(), "sha256": sha, "language": language,
            "include_disputed": include_disputed, "not_visited_days": not_visited_days,
            "units": [row.ref for row in plan.rows], "total": format_fen(plan.owed_fen)})
    return sheet, serial


def get_sheet(sheet_id):
    sheet = db.session.get(VisitSheet, sheet_id)
    if sheet is None:
        raise NotFound("visit sheet #%(id)s does not exist", id=sheet_id)
    return sheet


def sheet_serials(sheet_ids):
    """``{sheet_id: serial}`` from the sheets' ``visit_sheet_printed`` events."""
    wanted = set(sheet_ids)
    found = {}
    if not wanted:
        return found
    for data in db.session.execute(select(EvidenceEvent.data).where(EvidenceEvent.kind == PRINTED_EVENT)).scalars():
        record = json.loads(data)
        if record.get("sheet_id") in wanted:
            found[record["sheet_id"]] = record.get("serial")
    return found


def recent_sheets(limit=20):
    return db.session.execute(select(VisitSheet).order_by(VisitSheet.id.desc()).limit(limit)).scalars().all()


def sheet_buildings(sheet):
    ids = [int(part) for part in sheet.buildings.split(",") if part.strip().isdigit()]
    found = {b.id: b for b in db.session.execute(select(Building).where(Building.id.in_(ids))).scalars()}
    return [found[i] for i in ids if i in found]


# -- entering the outcomes -----------------------------------------------------------------------

def row_token(sheet_id, unit_id, act="contact"):
    """The form token of one row's ``act`` (``contact`` or ``promise``): the same for every
    submission of the sheet, so the row is recorded once."""
    return hashlib.sha256(f"visit-sheet/{sheet_id}/{unit_id}/{act}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class OutcomeRow:
    """One row of the outcomes screen as typed (text); ``position`` is its place on the sheet."""
    position: int
    reached: str = ""
    member_id: str = ""
    reason: str = ""
    outcome: str = ""
    promise_amount: str = ""
    promise_on: str = ""
    notes: str = ""
    visited_at: str = ""  # HH:MM on the sheet's date; blank: the time given for the whole sheet
    justification: str = ""

    @property
    def blank(self):
        return not any((self.reached or "").strip() or (value or "").strip() for value in (
            self.reason, self.outcome, self.promise_amount, self.promise_on, self.notes, self.visited_at))


@dataclass(frozen=True)
class RowProblem:
    """Why a row was refused: ``field`` of the row, ``code`` of the rule, ``values`` for the
    message, ``message`` in English."""
    position: int
    ref: str
    field: str
    code: str
    message: str
    values: dict = field(default_factory=dict)


class OutcomesRefused(ServiceError):
    """Some rows were refused; nothing was recorded. ``problems`` lists every one."""

    def __init__(self, problems):
        super().__init__("; ".join(f"row {p.position} ({p.ref}): {p.message}" for p in problems))
        self.problems = problems


def entered_rows(sheet):
    """``{position: Contact}`` of the sheet's rows already recorded (their contact's event
    carries the row's token)."""
    items = list(sheet.items)
    if not items:
        return {}
    units = {u.id: u for u in db.session.execute(select(Unit).where(Unit.id.in_([i.unit_id for i in items])))
             .scalars()}
    tokens = {row_token(sheet.id, item.unit_id): item.position for item in items}
    refs = [units[item.unit_id].ref for item in items]
    found = {}
    for data in db.session.execute(select(EvidenceEvent.data).where(EvidenceEvent.kind == "contact_logged",
                                                                     EvidenceEvent.unit.in_(refs))).scalars():
        record = json.loads(data)
        position = tokens.get(record.get("form_token"))
        if position is not None:
            found[position] = record.get("contact_id")
    contacts = {c.id: c for c in db.session.execute(select(Contact).where(Contact.id.in_(list(found.values()))))
                .scalars()} if found else {}
    return {position: contacts[contact_id] for position, contact_id in found.items() if contact_id in contacts}


def parse_clock(text):
    """``"14:30"`` -> ``time(14, 30)``; None for blank; raises ``ValueError`` otherwise."""
    text = (text or "").strip().replace("：", ":")
    if not text:
        return None
    if not re.fullmatch(r"\d{1,2}:\d{2}", text):
        raise ValueError(text)
    hours, minutes = (int(part) for part in text.split(":"))
    return time(hours, minutes)


def _problem(problems, row, ref, field_name, code, message, **values):
    problems.append(RowProblem(row.position, ref, field_name, code, message, values))


def _check_row(row, item, unit, sheet, default_time, members, nobody_outcome, tz, problems, now, policy):
    """The typed values of ``row``, or None after adding its problems to ``problems``."""
    ref = unit.ref
    before = len(problems)
    reached = (row.reached or "").strip()
    if not reached:
        _problem(problems, row, ref, "reached", "reached_missing", "say whom the visit reached")
    elif reached not in VISIT_REACHED:
        _problem(problems, row, ref, "reached", "unknown_choice", f"reached {reached!r} must be one of "
                 f"{', '.join(VISIT_REACHED)}")
    member_id = None
    if reached == "household_member":
        raw = (row.member_id or "").strip()
        if not members.get(unit.id):
            _problem(problems, row, ref, "member_id", "no_members",
                     "no household member is registered for this household")
        elif not raw.isdigit() or int(raw) not in {m.id for m in members[unit.id]}:
            _problem(problems, row, ref, "member_id", "member_missing", "choose the registered household member")
        else:
            member_id = int(raw)
    reason = (row.reason or "").strip() or None
    if reason and reason not in NONPAYMENT_REASONS:
        _problem(problems, row, ref, "reason", "unknown_choice", f"reason {reason!r} is not one of the codes")
    outcome = " ".join((row.outcome or "").split())
    if not outcome and reached == "nobody":
        outcome = nobody_outcome
    if not outcome and reached in ("owner", "household_member"):
        _problem(problems, row, ref, "outcome", "empty_outcome", "say what came of the visit")
    if len(outcome) > MAX_OUTCOME:
        _problem(problems, row, ref, "outcome", "long_outcome", f"the outcome is longer than {MAX_OUTCOME} "
                 "characters", limit=MAX_OUTCOME)
    notes = (row.notes or "").strip()
    if len(notes) > MAX_NOTES:
        _problem(problems, row, ref, "notes", "long_notes", f"the note is longer than {MAX_NOTES} characters",
                 limit=MAX_NOTES)
    try:
        clock = parse_clock(row.visited_at) or default_time
    except ValueError:
        clock = None
        _problem(problems, row, ref, "visited_at", "bad_time", f"{row.visited_at!r} is not a time like 14:30")
    else:
        if clock is None:
            _problem(problems, row, ref, "visited_at", "time_missing",
                     "enter the time of the visit (for the row or for the whole sheet)")
    amount_text, promise_text = (row.promise_amount or "").strip(), (row.promise_on or "").strip()
    amount_fen = promised_on = None
    if amount_text:
        try:
            amount_fen = parse_amount(amount_text)
        except InvalidAmount:
            _problem(problems, row, ref, "promise_amount", "bad_amount",
                     f"{amount_text!r} is not an amount like 1234.50")
        else:
            if amount_fen <= 0:
                _problem(problems, row, ref, "promise_amount", "amount_not_positive",
                         "the promised amount must be greater than 0.00")
    if promise_text:
        try:
            promised_on = date.fromisoformat(promise_text)
        except ValueError:
            _problem(problems, row, ref, "promise_on", "bad_date", f"{promise_text!r} is not a date like 2026-06-30")
        else:
            if promised_on < sheet.visit_on:
                _problem(problems, row, ref, "promise_on", "promise_before_visit",
                         f"the promised date {promised_on} is before the visit ({sheet.visit_on})",
                         day=promised_on, visit=sheet.visit_on)
    if amount_text and not promise_text:
        _problem(problems, row, ref, "promise_on", "promise_date_missing", "a promise needs the date promised")
    if promise_text and not amount_text:
        _problem(problems, row, ref, "promise_amount", "promise_amount_missing", "a promise needs the amount promised")
    if (amount_text or promise_text) and reached == "nobody":
        _problem(problems, row, ref, "promise_amount", "promise_nobody", "nobody was reached: there is no promise")
    justification = (row.justification or "").strip() or None
    if len(problems) > before:
        return None
    contacted_at = datetime.combine(sheet.visit_on, clock, tzinfo=tz)
    if as_utc(contacted_at) > now + CLOCK_SLACK:
        _problem(problems, row, ref, "visited_at", "future_time",
                 f"the visit time {contacted_at:%Y-%m-%d %H:%M} is in the future")
        return None
    found = contact_breaches(unit, contacted_at, reached, policy, member_registered=reached != "household_member"
                             or member_id is not None)
    if found and not justification:
        _problem(problems, row, ref, "justification", "policy", f"the visit breaks the contact policy "
                 f"({', '.join(found)}); a written justification is required", breaches=found)
        return None
    return {"reached": reached, "member_id": member_id, "reason": reason, "outcome": outcome, "notes": notes or None,
            "contacted_at": contacted_at, "promise_fen": amount_fen, "promised_on": promised_on,
            "justification": justification}


def record_outcomes(sheet, rows, actor, *, default_time=None, nobody_outcome="Nobody home", now=None, policy=None,
                    language=None):
    """Record what the sheet says: each non-blank row of ``rows`` (``OutcomeRow``) as a
    ``visit`` contact at the sheet's date and the row's time (else ``default_time``,
    ``"HH:MM"``), with its promise made on the visit date; rows already entered are
    skipped. All in one transaction. Raises ``OutcomesRefused`` naming every bad row (and
    records nothing), ``VisitRefused`` for a bad ``default_time``. ``language``: the clerk's,
    for the call guide each contact links (``log_contact``). Returns
    ``{"recorded": [(position, Contact, Promise or None)], "skipped": [positions already entered]}``."""
    from .members import active_members
    try:
        default_clock = parse_clock(default_time)
    except ValueError:
        raise VisitRefused("%(time)s is not a time like 14:30", "bad_time", time=repr(default_time)) from None
    policy = policy or contact_policy()
    now = now or datetime.now(timezone.utc)
    items = {item.position: item for item in sheet.items}
    estate = db.session.get(Estate, sheet.estate_id)
    tz = ZoneInfo(estate.timezone)
    units = {u.id: u for u in db.session.execute(select(Unit).where(Unit.id.in_([i.unit_id for i in items.values()])))
             .scalars()}
    already = entered_rows(sheet)
    problems, checked, skipped = [], [], []
    for row in rows:
        item = items.get(row.position)
        if item is None:
            problems.append(RowProblem(row.position, "?", "position", "unknown_row",
                                       f"row {row.position} is not on the sheet"))
            continue
        if row.blank:
            continue
        if row.position in already:
            skipped.append(row.position)
            continue
        unit = units[item.unit_id]
        members = {unit.id: active_members(unit.id)} if (row.reached or "").strip() == "household_member" else {}
        values = _check_row(row, item, unit, sheet, default_clock, members, nobody_outcome, tz, problems, now, policy)
        if values is not None:
            checked.append((row, unit, values))
    if problems:
        raise OutcomesRefused(problems)
    recorded = []
    extra = {"language": language} if language else {}
    with atomic():
        for row, unit, values in checked:
            try:
                contact = log_contact(unit, channel="visit", contacted_at=values["contacted_at"],
                                      reached=values["reached"], outcome=values["outcome"], reason=values["reason"],
                                      notes=values["notes"], justification=values["justification"], actor=actor,
                                      form_token=row_token(sheet.id, unit.id), policy=policy, now=now,
                                      member_id=values["member_id"], **extra)
                promise = None
                if values["promise_fen"]:
                    promise = record_promise(unit, amount_fen=values["promise_fen"],
                                             promised_on=values["promised_on"], made_on=sheet.visit_on,
                                             actor=actor, contact_id=contact.id,
                                             form_token=row_token(sheet.id, unit.id, "promise"))
                recorded.append((row.position, contact, promise))
            except ContactPolicyBreach as error:
                _problem(problems, row, unit.ref, "justification", "policy",
                         f"the visit breaks the contact policy ({', '.join(error.breaches)}); "
                         "a written justification is required", breaches=error.breaches)
            except AlreadySubmitted:
                _problem(problems, row, unit.ref, "position", "already_entered",
                         "this row was recorded by another submission meanwhile")
            except InvalidAct as error:
                _problem(problems, row, unit.ref, SERVICE_FIELDS.get(error.field, "position"),
                         error.code or "refused", str(error))
        if problems:
            raise OutcomesRefused(problems)  # inside the outer atomic(): everything above is rolled back
        if recorded:
            append_event(OUTCOMES_EVENT, actor, None, {
                "sheet_id": sheet.id, "visit_on": sheet.visit_on.isoformat(),
                "rows": [{"position": position, "unit": units[items[position].unit_id].ref,
                          "contact_id": contact.id, "promise_id": promise.id if promise else None}
                         for position, contact, promise in recorded]})
    return {"recorded": recorded, "skipped": skipped}


def sheet_rows(sheet):
    """``[(VisitSheetItem, Unit)]`` in sheet order."""
    items = list(sheet.items)
    units = {u.id: u for u in db.session.execute(select(Unit).where(Unit.id.in_([i.unit_id for i in items])))
             .scalars()}
    return [(item, units[item.unit_id]) for item in items]


def local_visit_time(contact, tz_name):
    return as_utc(contact.contacted_at).astimezone(ZoneInfo(tz_name))

