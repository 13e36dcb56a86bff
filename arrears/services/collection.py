"""Collection work on a household (SPEC §4, §5): contacts, promises, disputes, escalation.

One function per act. Each runs in ``atomic()``: it checks the act, writes its rows and
appends its evidence event, or writes nothing at all. Invariants:
- a contact that breaks the contact policy is recorded only with a written
  justification, and then carries ``policy_breach`` (flagged in reports);
- the contact policy is the configured one (``contact_policy()``: quiet hours and the
  weekly count from the ``ARREARS_CONTACT_*`` settings) unless a caller passes another;
- a promise's kept/broken status is never stored: it is derived from the payments
  (``arrears.domain.promises``);
- a dispute moves only along ``arrears.domain.disputes.TRANSITIONS``; its status is its
  last update;
- a household is escalated to ``legal`` only when it is not already, and cleared only
  when it is (the last escalation row stands);
- a form submitted twice (a double click) is recorded once: an act given a
  ``form_token`` stores it in its evidence event and refuses a token the household's
  events already carry. The check runs after the event is appended, that is under the
  evidence chain's lock, so two concurrent submissions cannot both pass it.
"""
import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ..domain.contact_policy import ContactPolicy, breaches
from ..domain.disputes import OPEN, may_move
from ..domain.money import format_fen
from ..extensions import db
from ..models import (CONTACT_CHANNELS, CONTACT_REACHED, NONPAYMENT_REASONS, Contact, Dispute, DisputeUpdate,
                      Escalation, EvidenceEvent, Promise)
from .errors import N_, NotFound, ServiceError
from .evidence import append_event
from .ledger import UnitHistory, local_today
from .transaction import atomic

FORM_TOKEN = re.compile(r"^[0-9a-f]{32}$")
# A contact may be logged a little ahead of the server's clock (a slow form), not more.
CLOCK_SLACK = timedelta(minutes=5)
MAX_PROMISE_DAYS = 366


class AlreadySubmitted(ServiceError):
    """This form was submitted before (a double click): recorded once, not again."""

    def __init__(self):
        super().__init__(N_("this form was already submitted and recorded; it was not recorded again"))


class ContactPolicyBreach(ServiceError):
    """The contact breaks the contact policy and has no written justification.
    ``breaches`` lists ``quiet_hours``, ``too_many``, ``not_household``."""

    def __init__(self, found):
        super().__init__(N_("the contact breaks the contact policy (%(breaches)s); "
                            "a written justification is required"), breaches=", ".join(found))
        self.breaches = found


class InvalidAct(ServiceError):
    """An act's input was refused; ``field`` names the input at fault and ``code`` the
    rule (for the web layer's translated message); ``params`` fill the message's placeholders."""

    def __init__(self, message, field=None, code=None, **params):
        super().__init__(message, **params)
        self.field = field
        self.code = code


def as_utc(moment):
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def local_naive(moment, tz_name):
    """An aware datetime as the estate's local wall-clock time, naive (as the policy reads it)."""
    return as_utc(moment).astimezone(ZoneInfo(tz_name)).replace(tzinfo=None)


def _clock(text, key):
    try:
        return time.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"{key} must be a time like 21:00, not {text!r}") from None


def contact_policy(config=None):
    """The contact policy the office configured (``ARREARS_CONTACT_QUIET_FROM``,
    ``ARREARS_CONTACT_QUIET_UNTIL``: local ``HH:MM``; ``ARREARS_CONTACT_MAX_PER_7_DAYS``).
    Every screen and act that applies the policy reads it here. Raises ``ValueError``
    for a setting that is not a time or a count of at least 1."""
    config = config if config is not None else current_app.config
    quiet_from = _clock(config.get("ARREARS_CONTACT_QUIET_FROM", "21:00"), "ARREARS_CONTACT_QUIET_FROM")
    quiet_until = _clock(config.get("ARREARS_CONTACT_QUIET_UNTIL", "08:00"), "ARREARS_CONTACT_QUIET_UNTIL")
    max_attempts = int(config.get("ARREARS_CONTACT_MAX_PER_7_DAYS", 3))
    if max_attempts < 1:
        raise ValueError(f"ARREARS_CONTACT_MAX_PER_7_DAYS must be at least 1, not {max_attempts}")
    return ContactPolicy(quiet_from=quiet_from, quiet_until=quiet_until, max_attempts=max_attempts, window_days=7)


def _check_token(form_token):
    if form_token is not None and not FORM_TOKEN.match(form_token):
        raise InvalidAct("the form token is not valid; reload the page", field="form_token", code="bad_token")


def _claim_form_token(unit, form_token, event):
    """Refuse a token another event of this household already carries (see the module
    docstring: the appended event holds the chain lock while this runs)."""
    if not form_token:
        return
    clash = db.session.execute(
        select(EvidenceEvent.seq).where(EvidenceEvent.unit == unit.ref, EvidenceEvent.seq != event.seq,
                                        EvidenceEvent.data.contains(f'"form_token":"{form_token}"', autoescape=True))
    ).first()
    if clash is not None:
        raise AlreadySubmitted()


def previous_contacts(unit, around, tz_name, window_days):
    """Local naive times of the household's contacts recorded so far within ``window_days``
    of ``around`` (aware), before or after it: a contact entered late, for an earlier time,
    shares its window with the ones that followed it."""
    since = around - timedelta(days=window_days + 1)
    until = around + timedelta(days=window_days + 1)
    rows = db.session.execute(select(Contact.contacted_at).where(Contact.unit_id == unit.id)).scalars().all()
    return [local_naive(moment, tz_name) for moment in rows if since <= as_utc(moment) <= until]


def contact_breaches(unit, contacted_at, reached, policy=None, member_registered=True):
    """What a contact at ``contacted_at`` (aware) reaching ``reached`` would break
    (under ``policy``, default the configured ``contact_policy()``)."""
    policy = policy or contact_policy()
    tz_name = unit.building.estate.timezone
    previous = previous_contacts(unit, as_utc(contacted_at), tz_name, policy.window_days)
    return breaches(local_naive(contacted_at, tz_name), previous, reached, policy, member_registered)


def log_contact(unit, *, channel, contacted_at, reached, outcome, actor, reason=None, notes=None,
                justification=None, form_token=None, policy=None, now=None, member_id=None, language=None):
    """Record a contact attempt made at ``contacted_at`` (an aware datetime) under
    ``policy`` (default: the configured ``contact_policy()``). Raises
    ``ContactPolicyBreach`` when it breaks the policy without a ``justification``,
    ``InvalidAct`` for bad input, ``AlreadySubmitted`` for a repeated form. Reaching a
    household member counts as within the policy only when ``member_id`` names one
    registered for the household (``services/members.py``). The contact links the call
    guide in force now for the household's stage today, ``reason`` (``opening`` when none)
    and ``language`` (the clerk's; default the app's), see ``guides.guide_for_contact``."""
    now = now or datetime.now(timezone.utc)
    policy = policy or contact_policy()
    _check_token(form_token)
    if channel not in CONTACT_CHANNELS:
        raise InvalidAct("channel %(channel)s must be one of %(allowed)s", field="channel", code="unknown_choice",
                         channel=repr(channel), allowed=", ".join(CONTACT_CHANNELS))
    if reached not in CONTACT_REACHED:
        raise InvalidAct("reached %(reached)s must be one of %(allowed)s", field="reached", code="unknown_choice",
                         reached=repr(reached), allowed=", ".join(CONTACT_REACHED))
    if reason and reason not in NONPAYMENT_REASONS:
        raise InvalidAct("reason %(reason)s must be one of %(allowed)s", field="reason", code="unknown_choice",
                         reason=repr(reason), allowed=", ".join(NONPAYMENT_REASONS))
    outcome = (outcome or "").strip()
    if not outcome:
        raise InvalidAct("say what came of the contact", field="outcome", code="empty_outcome")
    if contacted_at.tzinfo is None:
        raise InvalidAct("the contact time needs a time zone", field="contacted_at", code="naive_time")
    if as_utc(contacted_at) > now + CLOCK_SLACK:
        raise InvalidAct("the contact time %(time)s is in the future", field="contacted_at", code="future_time",
                         time=contacted_at.strftime("%Y-%m-%d %H:%M"))
    justification = (justification or "").strip() or None
    notes = (notes or "").strip() or None
    with atomic():
        from .members import active_member
        member = active_member(unit, member_id) if reached == "household_member" and member_id else None
        found = contact_breaches(unit, contacted_at, reached, policy, member_registered=member is not None)
        if found and not justification:
            raise ContactPolicyBreach(found)
        from .guides import default_language, guide_for_contact
        guide = guide_for_contact(unit, reason, language or default_language())
        contact = Contact(unit_id=unit.id, channel=channel, contacted_at=as_utc(contacted_at), staff=actor,
                          reached=reached, outcome=outcome, reason=reason or None, notes=notes,
                          policy_breach=bool(found), justification=justification,
                          guide_id=guide.id if guide else None)
        db.session.add(contact)
        db.session.flush()
        data = {"contact_id": contact.id, "channel": channel,
                "contacted_at": as_utc(contacted_at).isoformat().replace("+00:00", "Z"),
                "reached": reached, "outcome": outcome, "reason": reason or None, "notes": notes,
                "policy_breach": bool(found), "breaches": found, "justification": justification}
        if member is not None:
            data["member"] = {"id": member.id, "name": member.name, "relation": member.relation}
        if guide is not None:
            data["guide"] = {"id": guide.id, "version": guide.version, "stage": guide.stage, "reason": guide.reason,
                             "language": guide.language}
        if form_token:
            data["form_token"] = form_token
        event = append_event("contact_logged", actor, unit.ref, data)
        _claim_form_token(unit, form_token, event)
        return contact


def record_promise(unit, *, amount_fen, promised_on, actor, made_on=None, contact_id=None, form_token=None):
    """Record a promise to pay ``amount_fen`` by ``promised_on``, made today (the estate's
    date). Raises ``InvalidAct`` for an amount not above zero or above what is owed, a date
    before today or more than a year ahead; ``AlreadySubmitted`` for a repeated form."""
    _check_token(form_token)
    today = local_today(unit.building.estate.timezone)
    made_on = made_on or today
    if amount_fen <= 0:
        raise InvalidAct("the promised amount must be greater than 0.00", field="amount",
                         code="amount_not_positive")
    if promised_on < made_on:
        raise InvalidAct("the promised date %(day)s is before %(made)s", field="promised_on", code="promise_past",
                         day=promised_on, made=made_on)
    if promised_on > made_on + timedelta(days=MAX_PROMISE_DAYS):
        raise InvalidAct("the promised date %(day)s is more than a year ahead", field="promised_on",
                         code="promise_too_far", day=promised_on)
    with atomic():
        if contact_id is not None and db.session.get(Contact, contact_id) is None:
            raise NotFound("contact #%(id)s does not exist", id=contact_id)
        promise = Promise(unit_id=unit.id, contact_id=contact_id, amount_fen=amount_fen, made_on=made_on,
                          promised_on=promised_on, created_by=actor)
        db.session.add(promise)
        db.session.flush()
        data = {"promise_id": promise.id, "amount": format_fen(amount_fen), "made_on": made_on.isoformat(),
                "promised_on": promised_on.isoformat(), "contact_id": contact_id}
        if form_token:
            data["form_token"] = form_token
        event = append_event("promise_recorded", actor, unit.ref, data)
        _claim_form_token(unit, form_token, event)
        owed = UnitHistory(unit, made_on).statement().total_outstanding_fen
        if amount_fen > owed:
            raise InvalidAct("the promised amount %(amount)s is more than the %(owed)s owed", field="amount",
                             code="promise_above_owed", amount=format_fen(amount_fen), owed=format_fen(owed))
        return promise


def dispute_status(dispute):
    """The status of a dispute: its last update's (``open`` when it has none)."""
    return dispute.updates[-1].status if dispute.updates else OPEN


def open_dispute(unit, *, subject, actor, note=None, form_token=None):
    """Open a dispute about service with ``subject``; its first status is ``open``."""
    _check_token(form_token)
    subject = (subject or "").strip()
    note = (note or "").strip() or None
    if not subject:
        raise InvalidAct("say what the dispute is about", field="subject", code="empty_subject")
    if len(subject) > 200:
        raise InvalidAct("the subject is longer than 200 characters", field="subject", code="long_subject")
    with atomic():
        dispute = Dispute(unit_id=unit.id, subject=subject, opened_on=local_today(unit.building.estate.timezone),
                          opened_by=actor)
        db.session.add(dispute)
        db.session.flush()
        db.session.add(DisputeUpdate(dispute_id=dispute.id, status=OPEN, note=note, created_by=actor))
        data = {"dispute_id": dispute.id, "subject": subject, "note": note, "status": OPEN}
        if form_token:
            data["form_token"] = form_token
        event = append_event("dispute_opened", actor, unit.ref, data)
        _claim_form_token(unit, form_token, event)
        return dispute


def update_dispute(unit, *, dispute_id, status, actor, note=None, form_token=None):
    """Move the household's dispute ``dispute_id`` to ``status`` (along the allowed
    transitions). Raises ``NotFound`` for another household's dispute, ``InvalidAct`` for
    a move the lifecycle does not allow."""
    _check_token(form_token)
    note = (note or "").strip() or None
    with atomic():
        dispute = db.session.get(Dispute, dispute_id)
        if dispute is None or dispute.unit_id != unit.id:
            raise NotFound("dispute #%(id)s does not exist for %(unit)s", id=dispute_id, unit=unit.ref)
        current = dispute_status(dispute)
        if not may_move(current, status):
            raise InvalidAct("a dispute that is %(current)s cannot become %(status)s", field="status",
                             code="bad_transition", current=current, status=status)
        db.session.add(DisputeUpdate(dispute_id=dispute.id, status=status, note=note, created_by=actor))
        db.session.flush()
        data = {"dispute_id": dispute.id, "subject": dispute.subject, "from": current, "status": status,
                "note": note}
        if form_token:
            data["form_token"] = form_token
        event = append_event("dispute_updated", actor, unit.ref, data)
        _claim_form_token(unit, form_token, event)
        db.session.expire(dispute, ["updates"])
        return dispute


def current_escalation(unit_id):
    """The last escalation row of the household (``legal`` or ``cleared``), or None."""
    return db.session.execute(select(Escalation).where(Escalation.unit_id == unit_id)
                              .order_by(Escalation.id.desc()).limit(1)).scalar_one_or_none()


def escalate(unit, *, stage, reason, actor):
    """A manager's decision: ``legal`` (lawyers may then see the household) or
    ``cleared`` (back to the stage the ledger gives). Raises ``InvalidAct`` without a
    reason, or when the household is already legal / not legal."""
    reason = (reason or "").strip()
    if stage not in ("legal", "cleared"):
        raise InvalidAct("stage %(stage)s must be legal or cleared", field="stage", code="unknown_stage",
                         stage=repr(stage))
    if not reason:
        raise InvalidAct("an escalation needs a reason", field="reason", code="empty_reason")
    with atomic():
        last = current_escalation(unit.id)
        in_legal = last is not None and last.stage == "legal"
        if stage == "legal" and in_legal:
            raise InvalidAct("%(unit)s is already escalated to legal", field="reason", code="already_legal",
                             unit=unit.ref)
        if stage == "cleared" and not in_legal:
            raise InvalidAct("%(unit)s is not escalated to legal", field="reason", code="not_legal", unit=unit.ref)
        row = Escalation(unit_id=unit.id, stage=stage, reason=reason, created_by=actor)
        db.session.add(row)
        db.session.flush()
        append_event("stage_changed", actor, unit.ref, {"escalation_id": row.id, "stage": stage,
                                                        "previous": last.stage if last else None,
                                                        "reason": reason})
        return row
