"""The quick scan of the whole evidence chain, run by ``verify_chain`` before its exact pass.

It proves an intact chain faster than the exact pass can, or gives up: it never names a
problem. Invariant: ``scan`` returns a count only when the exact pass over the same rows
would return that count without raising; on anything unexpected it returns ``None`` and
the exact pass (the reference) runs and names the first bad event.

- SQLite: the rows are read by ``rowid`` ranges in worker processes (forked; in this
  process when other threads run, since forking a threaded process is unsafe), as the
  stored UTF-8 bytes (no decoding and encoding again to hash them; SQLite's storage class
  is not looked at, as the exact pass does not) through their own read-only
  connections, and each range checks its own
  sequence, links and hashes; the seams between ranges and the head the caller's session
  sees are checked here. ``rowid`` order is insertion order, which is ``seq`` order for a
  chain the application wrote; where it is not, the scan gives up.
- PostgreSQL: one query; the server computes every hash (``sha256``) and link, with
  its own parallel workers.

The hashed text is put together as ``verify_chain``'s exact pass does (SPEC §8 keys in
sorted order, strings quoted by ``json.encoder.encode_basestring``, ``data`` as stored);
PostgreSQL's ``to_json`` quotes text the same way (a test holds them equal on every ASCII
character and on CJK), and where it did not, the hash would not match and the exact pass
would decide.
"""
import hashlib
import multiprocessing
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from json.encoder import encode_basestring
from urllib.parse import quote as url_quote

from sqlalchemy import text

from ..domain.evidence import GENESIS

RANGES_PER_WORKER = 8  # small enough that no worker waits long for the other at the end

_SQLITE_RANGE = ("SELECT seq, at, kind, actor, unit, data, prev_hash, hash FROM evidence_events "
                 "WHERE rowid >= ? AND rowid < ? ORDER BY rowid")
_SQLITE_FIRST = "SELECT seq, prev_hash FROM evidence_events WHERE rowid >= ? AND rowid < ? ORDER BY rowid LIMIT 1"

# Sequence: the numbers are unique (the primary key), so n of them from 1 to n are 1..n.
# Links by a join on the one before (a window would keep PostgreSQL from parallel workers).
# A NULL anywhere makes the text NULL, and bool_and skips NULLs: it counts as false.
_POSTGRESQL = text("""
SELECT count(*) AS events, min(e.seq) AS first_seq, max(e.seq) AS last_seq,
       bool_and(coalesce(e.prev_hash = coalesce(before.hash, :genesis)
                AND e.hash = encode(sha256(convert_to(
                      e.prev_hash || chr(10) || '{"actor":' || to_json(e.actor)::text || ',"at":' || to_json(e.at)::text
                      || ',"data":' || e.data || ',"kind":' || to_json(e.kind)::text
                      || ',"prev_hash":' || to_json(e.prev_hash)::text || ',"seq":' || e.seq::text
                      || ',"unit":' || coalesce(to_json(e.unit)::text, 'null') || '}',
                      'UTF8')), 'hex'), false)) AS intact
FROM evidence_events AS e LEFT JOIN evidence_events AS before ON before.seq = e.seq - 1
""")


def scan(session, head, count, workers):
    """The number of events if the chain the session sees is proven intact, else ``None``.

    ``head`` is ``(seq, hash)`` of the newest event and ``count`` the number of events, both
    as the caller's session sees them; ``workers`` is how many processes may share the
    work on SQLite."""
    if count == 0:
        return None
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _scan_postgresql(session, head, count)
    if dialect == "sqlite":
        return _scan_sqlite(session, head, count, workers)
    return None


def _scan_postgresql(session, head, count):
    row = session.execute(_POSTGRESQL, {"genesis": GENESIS}).one()
    if row.intact and row.events == count and row.first_seq == 1 and row.last_seq == count == head[0]:
        return count
    return None


def _database_file(session):
    url = session.get_bind().url
    path = url.database
    if not path or path == ":memory:" or url.query.get("mode") == "memory":
        return None
    return path


def _scan_sqlite(session, head, count, workers):
    path = _database_file(session)
    if path is None:
        return None
    low, high = session.execute(text("SELECT min(rowid), max(rowid) FROM evidence_events")).one()
    pieces = max(1, workers * RANGES_PER_WORKER)
    step = max(1, -(-(high - low + 1) // pieces))
    ranges = [(start, min(start + step, high + 1)) for start in range(low, high + 1, step)]
    if workers > 1 and threading.active_count() == 1:
        # Every range runs to its end even when one gives up early: stopping workers
        # half-way (Pool.terminate) can leave a lock held and hang; a worker that dies
        # breaks the pool, and the exact pass decides.
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                     initializer=_open_for_worker, initargs=(path,)) as pool:
                results = list(pool.map(scan_range, ranges))
        except BrokenProcessPool:
            return None
    else:
        results = []
        _open_for_worker(path)
        try:
            for piece in ranges:
                results.append(scan_range(piece))
                if results[-1] is None:
                    break
        finally:
            _close_for_worker()
    if None in results:
        return None
    return _joined(results, head, count)


def _joined(results, head, count):
    """Check the seams between the ranges' results and the head; the total or ``None``."""
    last_seq, last_hash, total = 0, GENESIS, 0
    for events, first_seq, first_prev, end_seq, end_hash in results:
        if events == 0:
            continue
        if first_seq != last_seq + 1 or first_prev != last_hash:
            return None
        last_seq, last_hash, total = end_seq, end_hash, total + events
    if total != count or (last_seq, last_hash) != head:
        return None
    return total


_worker = {}  # the worker process's own read-only connection (opening one reads the whole schema)


def _open_for_worker(path):
    try:
        _worker["connection"] = _read_only(path)
    except Exception:  # noqa: BLE001 — the ranges will find no connection and give up
        _worker.pop("connection", None)


def _close_for_worker():
    connection = _worker.pop("connection", None)
    if connection is not None:
        connection.close()


def scan_range(piece):
    """``(events, first seq, its prev_hash, last seq, its hash)`` of the rows whose ``rowid``
    is in ``[start, stop)``, each checked against its predecessor and its hash, or ``None``.

    Runs in a worker process. Any surprise at all (no connection, a NULL, a number where
    text belongs, bytes that are not UTF-8) means "not proven here", hence the broad
    except: the exact pass reads the same rows and names what is wrong."""
    start, stop = piece
    try:
        connection = _worker["connection"]
        first = connection.execute(_SQLITE_FIRST, (start, stop)).fetchone()
        if first is None:
            return 0, None, None, None, None
        return _checked_rows(first, connection.execute(_SQLITE_RANGE, (start, stop)))
    except Exception:  # noqa: BLE001 — see the docstring
        return None


def _read_only(path):
    connection = sqlite3.connect(f"file:{url_quote(path)}?mode=ro", uri=True)
    connection.text_factory = bytes  # UTF-8 as stored: no decoding to str and encoding back to hash it
    return connection


def _checked_rows(first, rows):
    first_seq, first_prev = first
    expected, prev = first_seq, first_prev
    # Actor, kind and unit repeat: each value is quoted once, with the fixed text around it.
    actors, kinds, units = {}, {}, {None: b',"unit":null}'}
    join = b"".join
    blank = hashlib.sha256()  # copying a fresh context is quicker than making one per event
    for seq, at, kind, actor, unit, data, stored_prev, stored_hash in rows:
        if seq != expected or stored_prev != prev:
            return None
        try:
            before_at = actors[actor]
        except KeyError:
            before_at = actors[actor] = b'\n{"actor":' + _quote(actor) + b',"at":"'
        try:
            after_data = kinds[kind]
        except KeyError:
            after_data = kinds[kind] = b',"kind":' + _quote(kind) + b',"prev_hash":"'
        try:
            last = units[unit]
        except KeyError:
            last = units[unit] = b',"unit":' + _quote(unit) + b"}"
        if at.translate(None, _PLAIN_TIME):  # anything but digits and -:.TZ: quote it
            at = _quote(at)[1:-1]
        hashed = join((prev, before_at, at, b'","data":', data, after_data, prev, b'","seq":', b"%d" % seq, last))
        digest = blank.copy()
        digest.update(hashed)
        if digest.hexdigest().encode() != stored_hash:
            return None
        prev, expected = stored_hash, seq + 1
    return expected - first_seq, first_seq, first_prev.decode(), expected - 1, prev.decode()


_PLAIN_TIME = b"0123456789-:.TZ"  # what a time written by utc_stamp is made of: nothing to escape


def _quote(value):
    """``encode_basestring`` on UTF-8 bytes."""
    return encode_basestring(value.decode("utf-8")).encode("utf-8")
