"""Commission scheme versions (提成方案): stored, looked up by month, never rewritten.

Invariants:
- a version is never edited or deleted (the table's triggers refuse it): a change is a
  new version, in force from the first day of a month until the next version's month;
- what is stored is the normalised definition (``scheme_definition``), so a stored
  definition always reads back with ``parse_scheme`` as the scheme that was checked;
- the version in force for a month is the one with the latest ``effective_from`` on or
  before the month's first day; two versions for the same month: the later one (highest
  id) stands, so a mistake is corrected by adding the right version again;
- a version never takes effect before the current month (the estate's local date): a
  month already paid out is never computed again under other rules, as the late-fee
  policy is never changed for the past; a version for the current month applies to the
  month still running;
- adding a version appends a ``commission_scheme_added`` evidence event in the same
  transaction.
"""
import json
from datetime import date

from sqlalchemy import select

from ..domain.commission import SchemeError, parse_scheme, scheme_definition
from ..extensions import db
from ..models import CommissionScheme
from .errors import N_, NotFound, ServiceError
from .evidence import append_event
from .ledger import local_today
from .transaction import atomic

NOTE_MAX = 500


class InvalidScheme(ServiceError):
    """A definition was refused; ``scheme_error`` is the domain's ``SchemeError`` (its
    ``code``, ``where`` and ``params`` say which rule and where)."""

    def __init__(self, scheme_error):
        super().__init__(str(scheme_error))
        self.scheme_error = scheme_error


class PastMonth(ServiceError):
    """A version may not take effect in a month already over."""

    def __init__(self, effective_from, today):
        super().__init__(N_("a scheme cannot take effect in %(month)s, a month already over "
                            "(today is %(today)s); it may start this month or later"),
                         month=f"{effective_from:%Y-%m}", today=today)
        self.effective_from = effective_from


class NotFirstOfMonth(ServiceError):
    """A version must take effect on the first day of a month."""

    def __init__(self, effective_from):
        super().__init__(N_("effective date %(day)s must be the first day of a month"), day=effective_from)
        self.effective_from = effective_from


def add_scheme(kind, definition, effective_from: date, actor: str, note=None, today=None):
    """Store a new scheme version in force from ``effective_from`` (the 1st of a month).

    ``definition`` is a dict or its JSON text (see ``arrears.domain.commission``).
    Raises ``NotFirstOfMonth`` (a ``ServiceError``) for another day, ``PastMonth`` for a
    month before ``today``'s (default: the estate's local date), ``InvalidScheme``
    (a ``ServiceError`` with the ``SchemeError``'s message) for a bad definition or kind,
    and ``ServiceError`` for a note longer than ``NOTE_MAX`` characters."""
    if not isinstance(effective_from, date) or effective_from.day != 1:
        raise NotFirstOfMonth(effective_from)
    today = today or local_today()
    if effective_from < today.replace(day=1):
        raise PastMonth(effective_from, today)
    try:
        scheme = parse_scheme(kind, definition)
    except SchemeError as error:
        raise InvalidScheme(error) from None
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise ServiceError("the note is longer than %(count)s characters", count=NOTE_MAX)
    normalised = scheme_definition(scheme)
    with atomic():
        row = CommissionScheme(kind=kind, definition=json.dumps(normalised, ensure_ascii=False, sort_keys=True),
                               effective_from=effective_from, note=note, created_by=actor)
        db.session.add(row)
        db.session.flush()
        append_event("commission_scheme_added", actor, None,
                     {"scheme_id": row.id, "kind": kind, "definition": normalised,
                      "effective_from": effective_from.isoformat(), "note": note})
        return row


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def scheme_in_force(month: date):
    """``(CommissionScheme, Scheme)`` in force for the month containing ``month``, or
    None when no version starts on or before that month's first day."""
    start = first_of_month(month)
    row = db.session.execute(select(CommissionScheme).where(CommissionScheme.effective_from <= start)
                             .order_by(CommissionScheme.effective_from.desc(), CommissionScheme.id.desc())
                             .limit(1)).scalar_one_or_none()
    if row is None:
        return None
    return row, parse_scheme(row.kind, row.definition)


def scheme_history():
    """Every version, newest first (latest ``effective_from``; for the same month the
    later-added first, which is the one in force)."""
    return db.session.execute(select(CommissionScheme).order_by(CommissionScheme.effective_from.desc(),
                                                                CommissionScheme.id.desc())).scalars().all()


def get_scheme(scheme_id):
    """``(CommissionScheme, Scheme)`` for a version; raises ``NotFound``."""
    row = db.session.get(CommissionScheme, scheme_id)
    if row is None:
        raise NotFound("commission scheme #%(id)s does not exist", id=scheme_id)
    return row, parse_scheme(row.kind, row.definition)
