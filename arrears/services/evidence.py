"""Appending to and checking the evidence chain (SPEC §8).

Invariant: events are only ever appended, one at a time, each linked to the one
before; appending takes a lock so that two transactions never claim the same ``seq``.
"""
import hashlib
import json
import os
from datetime import datetime, timezone
from json.encoder import encode_basestring

from sqlalchemy import Text, cast, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..domain.errors import ChainBroken
from ..domain.evidence import GENESIS, canonical_json, seal
from ..extensions import db
from ..models import EvidenceEvent
from .chain_scan import scan


def utc_stamp(moment=None):
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session, _transaction):
    """A remembered head is good only inside the transaction (or savepoint) that wrote it."""
    session.info.pop("chain_head", None)


def _lock_chain(session):
    """Hold the chain until the transaction ends, before its head is read, so that two
    transactions never continue the same head. PostgreSQL: an advisory lock. SQLite has
    one writer at a time, but a transaction takes the write lock only at its first write
    (reads before it run without one): a statement that writes nothing takes it now, and
    a second writer waits here (``busy_timeout``) until the first commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7261001)"))
    else:
        session.execute(text("UPDATE serial_counters SET last = last WHERE 0"))


def chain_head(session=None):
    """``(seq, hash)`` of the newest event, or ``(0, GENESIS)`` for an empty chain."""
    session = session or db.session
    row = session.execute(select(EvidenceEvent.seq, EvidenceEvent.hash)
                          .order_by(EvidenceEvent.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def append_event(kind, actor, unit, data, session=None):
    """Add an event to the current transaction (the caller commits). Returns it.

    The first event of a transaction takes the chain lock and reads the head; later ones
    in the same transaction continue from the head it remembers."""
    session = session or db.session
    if hasattr(session, "registry"):  # a scoped_session: work on the session itself
        session = session()
    transaction = session.get_transaction()
    remembered = session.info.get("chain_head")
    if remembered and remembered[0] is transaction:
        seq, prev_hash = remembered[1], remembered[2]
    else:
        _lock_chain(session)
        seq, prev_hash = chain_head(session)
    sealed = seal(seq + 1, utc_stamp(), kind, actor, unit, json.loads(canonical_json(data)), prev_hash)
    event = EvidenceEvent(seq=sealed["seq"], at=sealed["at"], kind=kind, actor=actor, unit=unit,
                          data=canonical_json(sealed["data"]), prev_hash=prev_hash, hash=sealed["hash"])
    session.add(event)
    session.flush()
    session.info["chain_head"] = (session.get_transaction(), event.seq, event.hash)
    return event


def event_dict(event):
    """An event as stored, as the mapping the hash covers plus ``hash``."""
    try:
        data = json.loads(event.data)
    except ValueError:
        data = event.data  # tampered beyond JSON: the hash check will name it
    if not isinstance(data, str) and canonical_json(data) != event.data:
        data = event.data  # re-serialised text is not what was hashed: let the check name it
    return {"seq": event.seq, "at": event.at, "kind": event.kind, "actor": event.actor,
            "unit": event.unit, "data": data, "prev_hash": event.prev_hash, "hash": event.hash}


def iter_events(session=None, unit=None, batch=2000):
    session = session or db.session
    query = select(EvidenceEvent).order_by(EvidenceEvent.seq)
    if unit is not None:
        query = query.where(EvidenceEvent.unit == unit)
    for stored in session.execute(query.execution_options(yield_per=batch)).scalars():
        yield event_dict(stored)


QUICK_SCAN_FROM = 20_000  # events; below this the exact pass alone is about as fast


def verify_chain(session=None, batch=5000, workers=None, quick_from=None):
    """Returns the number of events; raises ``ChainBroken`` naming the first bad one.

    A chain of ``quick_from`` (default ``QUICK_SCAN_FROM``) events or more is first proven
    intact by the quick scan (``chain_scan``: worker processes on SQLite, the server on
    PostgreSQL); when it cannot prove it, or for a smaller chain, the exact pass below
    decides and names the problem."""
    session = session or db.session
    if hasattr(session, "registry"):
        session = session()
    count = session.execute(select(func.count()).select_from(EvidenceEvent)).scalar_one()
    if count and count >= (QUICK_SCAN_FROM if quick_from is None else quick_from):
        workers = workers or min(os.cpu_count() or 1, 4)
        proven = scan(session, chain_head(session), count, workers)
        if proven is not None:
            return proven
    return _exact_pass(session, batch)


def _exact_pass(session, batch):
    """The reference check, in ``seq`` order in this process.

    Rows are read as plain tuples, and the hashed text is put together from the stored
    columns without parsing ``data`` — it is stored exactly as it was hashed, so a tampered
    ``data`` still fails its hash. The result is the same as ``verify_events(iter_events())``
    (the tests hold them equal). What is checked is the text, not SQLite's storage class:
    a value stored as a BLOB holding the same UTF-8 is read as that text, as the quick
    scan reads it."""
    progress = [GENESIS, 1, 0]  # prev_hash, expected seq, count: where the check has got to
    try:
        return _exact_rows(session, batch, progress)
    except _Undecodable:
        # Rows come in batches, so the batch that could not be decoded is read again one
        # row at a time from where the check had got to: the first bad row is named.
        return _exact_rows(session, 1, progress)


class _Undecodable(Exception):
    pass


def _exact_rows(session, batch, progress):
    table = EvidenceEvent.__table__
    columns = [table.c.at, table.c.kind, table.c.actor, table.c.unit, table.c.data, table.c.prev_hash, table.c.hash]
    if session.get_bind().dialect.name == "sqlite":
        columns = [cast(column, Text) for column in columns]
    prev_hash, expected, count = progress
    query = (select(table.c.seq, *columns).where(table.c.seq >= expected).order_by(table.c.seq)
             .execution_options(yield_per=batch))
    # Core rows straight from the connection: no ORM bookkeeping per event. The option is
    # the statement's: set on the connection it would stay for every later statement.
    rows = session.connection().execute(query)
    quote = encode_basestring
    sha256 = hashlib.sha256
    try:
        for seq, at, kind, actor, unit, data, stored_prev, stored_hash in rows:
            if seq != expected:
                if seq > expected:
                    raise ChainBroken(expected, f"missing: the chain jumps from {expected - 1} to {seq}")
                raise ChainBroken(seq, f"out of order: expected {expected}")
            if stored_prev != prev_hash:
                raise ChainBroken(seq, "prev_hash does not match the previous event's hash")
            if at is None or kind is None or actor is None:
                raise ChainBroken(seq, "a field that is never empty is empty")
            text = (f'{stored_prev}\n{{"actor":{quote(actor)},"at":{quote(at)},"data":{data},"kind":{quote(kind)},'
                    f'"prev_hash":{quote(stored_prev)},"seq":{seq},"unit":{quote(unit) if unit is not None else "null"}}}')
            if sha256(text.encode("utf-8")).hexdigest() != stored_hash:
                raise ChainBroken(seq, "hash does not match the event's content")
            prev_hash, expected, count = stored_hash, seq + 1, count + 1
    except OperationalError as error:
        if "decode" not in str(error.orig):
            raise
        progress[:] = prev_hash, expected, count
        if batch > 1:
            raise _Undecodable() from None
        raise ChainBroken(expected, "a stored text is not valid UTF-8") from None
    finally:
        rows.close()  # a server-side cursor left open would block DDL in this session
    return count
