"""The quick scan of the evidence chain (``services/chain_scan.py``), which ``verify-chain``
runs first on a long chain: it must prove an intact chain by itself (not by falling back),
and after any tampering it must either give up or agree with the exact pass — never call
intact what the exact pass calls broken. Run on SQLite (worker processes) and on
PostgreSQL (the server hashes)."""
from json.encoder import encode_basestring

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from arrears.domain.errors import ChainBroken
from arrears.extensions import db
from arrears.services import evidence
from arrears.services.chain_scan import scan
from arrears.services.evidence import append_event, chain_head, verify_chain
from arrears.services.transaction import atomic
from tamper_helpers import is_postgresql, sql

EVENTS = 240
AWKWARD = ['say "hi"', "back\\slash", "line\nbreak", "示例花园/3栋/1201", "tab\there", "\u2028sep", "emoji 🏠",
           "ctrl \x01\x1f", "plain"]
NEVER = 10 ** 9  # a quick_from no chain reaches: the exact pass alone


@pytest.fixture
def chain(app):
    with atomic():
        for n in range(1, EVENTS + 1):
            value = AWKWARD[n % len(AWKWARD)]
            append_event(f"kind_{n % 4}", ("clerk", value, "system")[n % 3], value if n % 5 else None,
                         {"n": n, "amount": f"{n}.50", "note": value, "nested": [n, None, 1.5, {"k": value}]})
    return EVENTS


def quick(workers=2):
    """What the quick scan alone says: a count (proven intact) or None (gave up)."""
    db.session.rollback()
    count = db.session.execute(text("SELECT count(*) FROM evidence_events")).scalar_one()
    try:
        return scan(db.session, chain_head(), count, workers)
    finally:
        db.session.rollback()


def outcome(**options):
    db.session.rollback()
    try:
        return verify_chain(**options)
    except ChainBroken as broken:
        return ("broken", broken.seq, broken.reason)
    finally:
        db.session.rollback()


def test_an_intact_chain_is_proven_by_the_quick_scan_itself(chain):
    assert quick(workers=2) == quick(workers=1) == EVENTS
    assert outcome(quick_from=0) == outcome(quick_from=NEVER) == EVENTS


def test_times_that_need_quoting_are_quoted_as_they_were_sealed(chain):
    """``append_event`` writes plain UTC times; a time sealed in another form (a zone, a
    space, a quote, CJK) is quoted as ``seal`` quoted it, so the chain still verifies."""
    from arrears.domain.evidence import canonical_json, seal
    seq, prev_hash = chain_head()
    for at in ("2026-12-01T08:00:00+08:00", '2026-12-01 "08:00"', "2026年12月1日\n上午"):
        seq += 1
        event = seal(seq, at, "imported", "clerk", None, {"at": at}, prev_hash)
        db.session.execute(text("INSERT INTO evidence_events (seq, at, kind, actor, unit, data, prev_hash, hash) "
                                "VALUES (:seq, :at, :kind, :actor, :unit, :data, :prev_hash, :hash)"),
                           {**event, "data": canonical_json(event["data"])})
        prev_hash = event["hash"]
    db.session.commit()
    assert quick() == outcome(quick_from=NEVER) == EVENTS + 3


def test_an_empty_chain_is_left_to_the_exact_pass(app):
    assert quick() is None
    assert outcome(quick_from=0) == 0


def test_postgresql_quotes_text_as_the_hashed_text_does(app):
    """On PostgreSQL the server quotes every field (``to_json``); the hash covers
    ``encode_basestring``'s quoting. Every ASCII character but NUL (PostgreSQL text holds
    none), CJK, the line separators, an emoji."""
    if not is_postgresql():
        pytest.skip("the SQLite scan quotes in Python, with encode_basestring itself")
    for sample in ["".join(map(chr, range(1, 128))), "示例花园/1栋/0101 张伟", "\u2028\u2029", "🏠", 'a"b\\c\nd']:
        quoted = db.session.execute(text("SELECT to_json(CAST(:value AS text))::text"), {"value": sample}).scalar_one()
        assert quoted == encode_basestring(sample), sample


def swap(first, second):
    """Swap two events' places in the sequence (their rows stay where they were stored)."""
    for old, new in ((first, -1), (second, first), (-1, second)):
        sql("evidence_events", "UPDATE evidence_events SET seq = :new WHERE seq = :old", old=old, new=new)


def move_to_the_end(seq):
    """Delete an event and insert it again unchanged: SQLite gives it a new, last rowid."""
    row = db.session.execute(text("SELECT * FROM evidence_events WHERE seq = :seq"), {"seq": seq}).mappings().one()
    db.session.rollback()
    sql("evidence_events", "DELETE FROM evidence_events WHERE seq = :seq", seq=seq)
    sql("evidence_events", "INSERT INTO evidence_events (seq, at, kind, actor, unit, data, prev_hash, hash) "
        "VALUES (:seq, :at, :kind, :actor, :unit, :data, :prev_hash, :hash)", **row)


def change(statement, **values):
    return lambda: sql("evidence_events", statement, **values)


HASH = "hash does not match the event's content"
LINK = "prev_hash does not match the previous event's hash"

TAMPERING = {
    "an amount in data": (change("UPDATE evidence_events SET data = replace(data, '\"57.50\"', '\"75.50\"') "
                                 "WHERE seq = 57"), ("broken", 57, HASH)),
    "data re-spaced": (change("UPDATE evidence_events SET data = replace(data, ',', ', ') WHERE seq = 3"),
                       ("broken", 3, HASH)),
    "a time": (change("UPDATE evidence_events SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 100"),
               ("broken", 100, HASH)),
    "a time given a quote": (change("UPDATE evidence_events SET at = at || '\"' WHERE seq = 101"),
                             ("broken", 101, HASH)),
    "an actor": (change("UPDATE evidence_events SET actor = 'mallory' WHERE seq = 2"), ("broken", 2, HASH)),
    "an actor given a quote": (change("UPDATE evidence_events SET actor = 'clerk\"' WHERE seq = 3"),
                               ("broken", 3, HASH)),
    "a kind": (change("UPDATE evidence_events SET kind = 'kind_9' WHERE seq = 200"), ("broken", 200, HASH)),
    "a unit removed": (change("UPDATE evidence_events SET unit = NULL WHERE seq = 4"), ("broken", 4, HASH)),
    "a unit added": (change("UPDATE evidence_events SET unit = 'x' WHERE seq = 5"), ("broken", 5, HASH)),
    "a prev_hash": (change("UPDATE evidence_events SET prev_hash = (SELECT hash FROM evidence_events WHERE seq = 1) "
                           "WHERE seq = 120"), ("broken", 120, LINK)),
    "a hash": (change("UPDATE evidence_events SET hash = :fake WHERE seq = 240", fake="f" * 64),
               ("broken", 240, HASH)),
    "an event deleted": (change("DELETE FROM evidence_events WHERE seq = 150"),
                         ("broken", 150, "missing: the chain jumps from 149 to 151")),
    "the first event deleted": (change("DELETE FROM evidence_events WHERE seq = 1"),
                                ("broken", 1, "missing: the chain jumps from 0 to 2")),
    "two events swapped": (lambda: swap(60, 61), ("broken", 60, LINK)),
    "a seq renumbered": (change("UPDATE evidence_events SET seq = 1000 WHERE seq = 240"),
                         ("broken", 240, "missing: the chain jumps from 239 to 1000")),
    # Not tampering the chain can see on its own (a checkpoint does): both say so alike.
    "the tail cut": (change("DELETE FROM evidence_events WHERE seq >= 231"), 230),
    # Stored out of insertion order but unchanged: the scan gives up, the exact pass passes it.
    "an event stored again at the end": (lambda: move_to_the_end(10), EVENTS),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_after_tampering_the_quick_scan_gives_up_or_agrees_with_the_exact_pass(chain, name):
    tamper, expected = TAMPERING[name]
    tamper()
    exact = outcome(quick_from=NEVER)
    assert exact == expected
    assert outcome(quick_from=0) == exact  # what verify-chain reports on a long chain
    for workers in (1, 2):
        proven = quick(workers)
        assert proven is None or proven == exact, (name, proven, exact)
    if isinstance(expected, tuple):
        assert quick() is None


def test_a_blob_holding_the_same_text_is_the_same_text_to_both_passes(chain):
    """SQLite can store a field as a BLOB of the same UTF-8: the text, hence the hash, is
    unchanged, and both passes say so; a BLOB that is not UTF-8 is named."""
    if is_postgresql():
        pytest.skip("PostgreSQL columns are typed: a text column holds no bytes")
    sql("evidence_events", "UPDATE evidence_events SET data = CAST(data AS BLOB), actor = CAST(actor AS BLOB), "
        "unit = CAST(unit AS BLOB), hash = CAST(hash AS BLOB) WHERE seq = 30")
    assert outcome(quick_from=NEVER) == outcome(quick_from=0) == quick() == EVENTS
    sql("evidence_events", "UPDATE evidence_events SET data = X'FF7B7D' WHERE seq = 31")
    assert outcome(quick_from=NEVER) == outcome(quick_from=0) == ("broken", 31, "a stored text is not valid UTF-8")
    assert quick() is None


def test_an_emptied_field_is_named_not_a_crash(chain):
    """Only a schema change lets a never-empty field be emptied (PostgreSQL: dropping the
    NOT NULL; SQLite would need the table rebuilt): the event is named all the same."""
    if not is_postgresql():
        pytest.skip("SQLite cannot drop a NOT NULL without rebuilding the table")
    db.session.execute(text("ALTER TABLE evidence_events ALTER COLUMN actor DROP NOT NULL"))
    db.session.commit()
    sql("evidence_events", "UPDATE evidence_events SET actor = NULL WHERE seq = 12")
    expected = ("broken", 12, "a field that is never empty is empty")
    assert outcome(quick_from=NEVER) == outcome(quick_from=0) == expected
    assert quick() is None


COLUMNS = ("at", "kind", "actor", "unit", "data", "prev_hash", "hash")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(1, EVENTS), column=st.sampled_from(COLUMNS), position=st.integers(0, 600),
       replacement=st.sampled_from(['"', "\\", "\n", "0", "a", "栋", "}", ",", "", "\x01", "🏠"]))
def test_any_one_character_changed_is_never_called_intact(chain, seq, column, position, replacement):
    """Change one character (or delete it) anywhere in any field of any event: the quick
    scan gives up or agrees with the exact pass, and verify_chain reports what the exact
    pass does. The row is put back after each example."""
    original = db.session.execute(text(f"SELECT {column} FROM evidence_events WHERE seq = :seq"),
                                  {"seq": seq}).scalar_one()
    db.session.rollback()
    value = original or ""
    # A hash column holds exactly 64 characters (PostgreSQL refuses a 65th): change one in
    # place there; elsewhere one may also be added at the end.
    at = position % (len(value) + (0 if column in ("hash", "prev_hash") else 1))
    changed = value[:at] + replacement + value[at + 1:]
    sql("evidence_events", f"UPDATE evidence_events SET {column} = :value WHERE seq = :seq", value=changed, seq=seq)
    try:
        exact = outcome(quick_from=NEVER)
        assert outcome(quick_from=0) == exact
        proven = quick()
        assert proven is None or proven == exact
        if changed != original:
            assert exact[:2] == ("broken", seq)
    finally:
        sql("evidence_events", f"UPDATE evidence_events SET {column} = :value WHERE seq = :seq",
            value=original, seq=seq)
    assert quick() == EVENTS


def test_verify_chain_on_a_long_chain_names_the_event_from_the_command_line(chain, cli, monkeypatch):
    """End to end: with the quick scan on (as for any chain over QUICK_SCAN_FROM events),
    the command passes an intact chain and names a changed event."""
    monkeypatch.setattr(evidence, "QUICK_SCAN_FROM", 0)
    result = cli("verify-chain")
    assert result.exit_code == 0, result.output
    assert f"evidence chain intact: {EVENTS} event(s)" in result.stdout
    sql("evidence_events", "UPDATE evidence_events SET actor = 'mallory' WHERE seq = 77")
    result = cli("verify-chain")
    assert result.exit_code == 1
    assert result.stderr == f"evidence chain BROKEN at event 77: {HASH}\n"
