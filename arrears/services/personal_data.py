"""Showing personal data in full, when the work needs it (SPEC §9, PIPL).

Invariants:
- a full phone number leaves the database only through an act here, and every such act
  appends an evidence event (``personal_data_viewed``) naming who saw which field of
  which household, in the same transaction: no event, no number;
- the event records the field, never the value, and nothing here logs the value.
"""
from .errors import NotFound
from .evidence import append_event
from .ledger import local_today
from .transaction import atomic


class NoPhoneOnRecord(NotFound):
    """The household's current owner has no phone number on record."""


def current_owner(unit, today):
    """The owner the household page names: the first whose ownership covers ``today``,
    else the last one recorded, else None."""
    ownerships = list(unit.ownerships)
    current = [o for o in ownerships if o.start_on <= today and (o.end_on is None or today <= o.end_on)]
    chosen = current[:1] or ownerships[-1:]
    return chosen[0].owner if chosen else None


def reveal_owner_phone(unit, actor):
    """The full phone number of the household's current owner (text, as recorded), for
    ``actor``; the viewing is recorded as a ``personal_data_viewed`` evidence event with
    ``{"field": "owner_phone"}``. Raises ``NoPhoneOnRecord`` when there is none to show
    (and records nothing)."""
    with atomic():
        owner = current_owner(unit, local_today(unit.building.estate.timezone))
        phone = "".join(((owner.phone if owner else None) or "").split())
        if not phone:
            raise NoPhoneOnRecord("%(unit)s has no owner's phone number on record", unit=unit.ref)
        append_event("personal_data_viewed", actor, unit.ref, {"field": "owner_phone"})
        return phone


def record_export(actor, file_format, filters, rows):
    """Record that ``actor`` exported the household list (names and masked phones leave
    the system): a ``households_exported`` event with the format, the filters and the
    number of rows, before the file is handed out."""
    with atomic():
        append_event("households_exported", actor, None, {"format": file_format, "filters": filters,
                                                          "rows": rows})
