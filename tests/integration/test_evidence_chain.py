"""The evidence chain as the application writes it, and tampering that goes around the
application (SPEC §8).

Invariants checked here: every act that matters appends an event naming its unit;
``verify-chain`` passes on an untouched chain and prints its head; changing, removing
or reordering a stored event with raw SQL (the append-only triggers lifted first) makes
it fail naming exactly the first bad ``seq``, and putting the row back makes it pass
again; ``export-events`` writes the chain as stored, and its hashes can be recomputed
from SPEC §8 with ``hashlib`` alone.
"""
import hashlib
import json
import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from arrears.domain.policy import LateFeePolicy
from arrears.extensions import db
from arrears.models import Estate
from arrears.services.property import add_policy_version, get_or_create_fee_item
from arrears.services.transaction import atomic
from tamper_helpers import around

REF_1201 = "示例花园/3栋/1201"
REF_1202 = "示例花园/3栋/1202"
UNITS_CSV = ("estate,building,unit,area_m2,owner_name,owner_phone\n"
             "示例花园,3栋,1201,88.50,张三,13800001201\n"
             "示例花园,3栋,1202,100.00,李四,\n")
FIELDS = {"seq", "at", "kind", "actor", "unit", "data", "prev_hash", "hash"}

# The chain the ``history`` fixture writes: (seq, kind, actor, unit).
HISTORY = [
    (1, "estate_created", "import", None),
    (2, "policy_changed", "import", None),
    (3, "building_created", "import", None),
    (4, "unit_created", "import", REF_1201),
    (5, "unit_created", "import", REF_1202),
    (6, "import", "import", None),
    (7, "fee_item_created", "test", None),
    (8, "charge_billed", "cli", REF_1201),
    (9, "charge_billed", "cli", REF_1202),
    (10, "billing_run", "cli", None),
    (11, "payment_posted", "cli", REF_1201),
    (12, "payment_reversed", "cli", REF_1201),
    (13, "policy_changed", "test", None),
]


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True):
        yield date(2026, 11, 23)


@pytest.fixture
def history(cli, write_csv):
    """Import, fee item, billing run, payment, reversal, policy change: 13 events."""
    units = write_csv("units.csv", UNITS_CSV)
    assert cli("import", "units", units).exit_code == 0
    with atomic():
        estate = db.session.execute(select(Estate).where(Estate.name == "示例花园")).scalar_one()
        get_or_create_fee_item(estate, "物业管理费", "test", basis="per_m2", price_fen=250)
    assert cli("bill", "--period", "2026-10").exit_code == 0
    paid = cli("pay", REF_1201, "--amount", "100.00", "--paid-on", "2026-11-01", "--method", "wechat",
               "--reference", "WX-0001")
    assert paid.exit_code == 0, paid.output
    payment_id = db.session.execute(text("SELECT id FROM payments")).scalar_one()
    assert cli("reverse-payment", payment_id, "--reason", "银行退票").exit_code == 0
    with atomic():
        estate = db.session.execute(select(Estate).where(Estate.name == "示例花园")).scalar_one()
        add_policy_version(estate, LateFeePolicy(effective_from=date(2027, 1, 1), daily_rate=Decimal("0.0005"),
                                                 grace_days=15, cap_ratio=Decimal("0.5")), "test")
    return {"units_file": units, "payment_id": payment_id}


def stored(seq):
    row = db.session.execute(text("SELECT * FROM evidence_events WHERE seq = :seq"), {"seq": seq}).mappings().one()
    return dict(row)


def all_events():
    rows = db.session.execute(text("SELECT * FROM evidence_events ORDER BY seq")).mappings().all()
    return [dict(row) for row in rows]


def verify(cli):
    result = cli("verify-chain")
    db.session.rollback()
    return result


def intact_output(count, head_seq):
    head = stored(head_seq)["hash"]
    db.session.rollback()
    return (f"evidence chain intact: {count} event(s); head {head_seq} {head[:16]}\n"
            "records agree with their events\n")


def around_the_application():
    """Lift the append-only guard on evidence_events, run raw SQL, commit, put the guard back."""
    return around("evidence_events")


def assert_guard_is_back():
    for statement in ("UPDATE evidence_events SET actor = 'mallory' WHERE seq = 1",
                      "DELETE FROM evidence_events WHERE seq = 1"):
        with pytest.raises(DBAPIError, match="append-only table evidence_events"):
            db.session.execute(text(statement))
            db.session.commit()
        db.session.rollback()


def set_column(seq, column, value):
    with around_the_application() as session:
        session.execute(text(f"UPDATE evidence_events SET {column} = :value WHERE seq = :seq"),
                        {"value": value, "seq": seq})


def broken(cli, seq, reason):
    result = verify(cli)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"evidence chain BROKEN at event {seq}: {reason}\n"


HASH_MISMATCH = "hash does not match the event's content"
LINK_MISMATCH = "prev_hash does not match the previous event's hash"


# -- what the application appends ------------------------------------------------------

def test_acts_append_events_with_kind_actor_and_unit(history):
    events = all_events()
    assert [(e["seq"], e["kind"], e["actor"], e["unit"]) for e in events] == HISTORY
    data = {e["seq"]: json.loads(e["data"]) for e in events}
    with open(history["units_file"], "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    assert data[6] == {"kind": "units", "file": "units.csv", "sha256": digest, "rows": 2}
    charge_ids = db.session.execute(text("SELECT id FROM charges ORDER BY id")).scalars().all()
    assert data[8] == {"charge_id": charge_ids[0], "period": "2026-10", "fee_item": "物业管理费",
                       "amount": "221.25", "due_date": "2026-10-31", "via": "billing"}
    assert data[9]["amount"] == "250.00"
    assert data[10] == {"estate": "示例花园", "period": "2026-10", "charges_created": 2}
    assert data[11] == {"payment_id": history["payment_id"], "amount": "100.00", "paid_on": "2026-11-01",
                        "method": "wechat", "reference": "WX-0001", "periods": [],
                        "allocations": [{"period": "2026-10", "principal": "100.00", "late_fee": "0.00"}],
                        "via": "office", "receipt": "SJ-2026-000001"}
    assert data[12] == {"payment_id": history["payment_id"], "reference": "WX-0001", "amount": "100.00",
                        "reason": "银行退票", "reversed_on": "2026-11-23"}
    assert data[2]["effective_from"] == "1970-01-01"
    assert data[13] == {"estate": "示例花园", "effective_from": "2027-01-01", "daily_rate": "0.0005",
                        "grace_days": 15, "cap_ratio": "0.5", "allocation": "principal_first"}
    assert events[0]["prev_hash"] == "0" * 64
    for earlier, later in zip(events, events[1:]):
        assert later["prev_hash"] == earlier["hash"]
    for event in events:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["at"]), event["at"]


def test_verify_chain_passes_and_prints_the_head(cli, history):
    result = verify(cli)
    assert result.exit_code == 0, result.output
    assert result.stdout == intact_output(13, 13)
    assert result.stderr == ""


def test_verify_chain_on_an_empty_chain(cli):
    result = verify(cli)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"evidence chain intact: 0 event(s); head 0 {'0' * 16}\n"
                             "records agree with their events\n")


# -- tampering around the application ------------------------------------------------------

def test_changed_data_is_named_and_restoring_it_passes_again(cli, history):
    intact = intact_output(13, 13)
    original = stored(11)["data"]
    assert '"amount":"100.00"' in original
    set_column(11, "data", original.replace('"amount":"100.00"', '"amount":"10.00"'))
    assert_guard_is_back()
    broken(cli, 11, HASH_MISMATCH)

    set_column(11, "data", original)
    result = verify(cli)
    assert result.exit_code == 0, result.output
    assert result.stdout == intact


def test_data_that_is_no_longer_json_is_named(cli, history):
    set_column(8, "data", "not json")
    broken(cli, 8, HASH_MISMATCH)


@pytest.mark.parametrize("seq, column, value", [
    (8, "at", "2026-11-22T04:00:00.000000Z"),
    (12, "actor", "mallory"),
    (11, "unit", REF_1202),
    (10, "kind", "billing_run_redone"),
])
def test_changed_at_actor_unit_or_kind_is_named(cli, history, seq, column, value):
    intact = intact_output(13, 13)
    original = stored(seq)[column]
    set_column(seq, column, value)
    broken(cli, seq, HASH_MISMATCH)
    set_column(seq, column, original)
    assert verify(cli).stdout == intact


def test_a_resealed_event_is_caught_by_the_next_link(cli, history):
    # Someone who rewrites event 11 and recomputes its hash (SPEC §8's formula) still
    # breaks event 12, whose prev_hash pins the original.
    event = stored(11)
    event["data"] = json.loads(event["data"].replace('"amount":"100.00"', '"amount":"10.00"'))
    body = {key: event[key] for key in FIELDS - {"hash"}}
    forged = hashlib.sha256((body["prev_hash"] + "\n" + json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).encode("utf-8")).hexdigest()
    with around_the_application() as session:
        session.execute(text("UPDATE evidence_events SET data = :data, hash = :hash WHERE seq = 11"),
                        {"data": json.dumps(event["data"], sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False), "hash": forged})
    broken(cli, 12, LINK_MISMATCH)


def test_a_changed_prev_hash_is_named(cli, history):
    set_column(5, "prev_hash", "f" * 64)
    broken(cli, 5, LINK_MISMATCH)


def test_a_deleted_event_in_the_middle_is_named(cli, history):
    intact = intact_output(13, 13)
    row = stored(7)
    with around_the_application() as session:
        session.execute(text("DELETE FROM evidence_events WHERE seq = 7"))
    assert_guard_is_back()
    broken(cli, 7, "missing: the chain jumps from 6 to 8")

    with around_the_application() as session:
        session.execute(text("INSERT INTO evidence_events (seq, at, kind, actor, unit, data, prev_hash, hash) "
                             "VALUES (:seq, :at, :kind, :actor, :unit, :data, :prev_hash, :hash)"), row)
    assert verify(cli).stdout == intact


def swap(first, second):
    with around_the_application() as session:
        for old, new in ((first, -1), (second, first), (-1, second)):
            session.execute(text("UPDATE evidence_events SET seq = :new WHERE seq = :old"), {"old": old, "new": new})


def test_two_swapped_events_are_caught(cli, history):
    intact = intact_output(13, 13)
    swap(8, 9)
    # The event now at seq 8 (the old 9) links to the old 8, not to 7.
    broken(cli, 8, LINK_MISMATCH)
    swap(8, 9)
    assert verify(cli).stdout == intact


def test_deleting_the_last_event_is_not_detectable_from_the_chain_alone(cli, history):
    # A chain can only vouch for what precedes its head: dropping the tail leaves a
    # shorter chain that is internally perfect. That is why the head (seq and the first
    # 16 hex digits of its hash) is printed on every notice, receipt and bundle index
    # (SPEC §8): a copy held outside the database shows the head the history reached.
    before = verify(cli)
    assert before.stdout == intact_output(13, 13)
    with around_the_application() as session:
        session.execute(text("DELETE FROM evidence_events WHERE seq = 13"))
    after = verify(cli)
    assert after.exit_code == 0
    assert after.stdout == intact_output(12, 12)
    head_before = int(re.search(r"head (\d+) ", before.stdout).group(1))
    head_after = int(re.search(r"head (\d+) ", after.stdout).group(1))
    assert head_after == head_before - 1


# -- export-events ---------------------------------------------------------------------

def test_export_events_writes_the_chain_as_stored(cli, history, tmp_path):
    path = tmp_path / "events.jsonl"
    result = cli("export-events", "-o", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"exported 13 event(s) to {path}\n"
    assert not (tmp_path / "events.jsonl.part").exists()
    content = path.read_text(encoding="utf-8")
    assert content.endswith("\n")
    assert "示例花园" in content and "\\u" not in content  # UTF-8 as is, not \u escapes
    lines = content.splitlines()
    events = [json.loads(line) for line in lines]

    rows = all_events()
    assert len(events) == len(rows) == 13
    for line, event, row in zip(lines, events, rows):
        assert set(event) == FIELDS
        assert event == {**row, "data": json.loads(row["data"])}
        assert line == json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    # SPEC §8, independently of the application's code.
    prev_hash = "0" * 64
    for seq, event in enumerate(events, start=1):
        assert event["seq"] == seq
        assert event["prev_hash"] == prev_hash
        body = {key: value for key, value in event.items() if key != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256((event["prev_hash"] + "\n" + canonical).encode("utf-8")).hexdigest() == event["hash"]
        prev_hash = event["hash"]
    assert verify(cli).stdout.endswith(f"head 13 {prev_hash[:16]}\nrecords agree with their events\n")


def test_export_events_shows_a_tampered_event_as_stored(cli, history, tmp_path):
    set_column(12, "actor", "mallory")
    path = tmp_path / "events.jsonl"
    assert cli("export-events", "-o", path).exit_code == 0
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert events[11]["actor"] == "mallory"
    body = {key: value for key, value in events[11].items() if key != "hash"}
    recomputed = hashlib.sha256((body["prev_hash"] + "\n" + json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).encode("utf-8")).hexdigest()
    assert recomputed != events[11]["hash"]


def test_event_data_rewritten_as_equivalent_json_is_caught(app, cli):
    """``data`` is stored as the exact canonical text that was hashed: the same object
    written with other spacing or key order is a change, and verify-chain names it."""
    assert cli("create-user", "anna", "--role", "clerk", input="password123\n").exit_code == 0
    stored = db.session.execute(text("SELECT data FROM evidence_events WHERE seq = 1")).scalar_one()
    respaced = json.dumps(json.loads(stored), ensure_ascii=False, indent=1)
    set_column(1, "data", respaced)
    result = cli("verify-chain")
    assert result.exit_code == 1
    assert "event 1" in result.stderr
    set_column(1, "data", stored)
    assert cli("verify-chain").exit_code == 0


def test_two_writers_at_once_each_get_the_next_seq(app):
    """Two transactions appending at the same moment (two clerks saving together): the
    second waits for the first to commit, then continues its head — never the same seq
    twice (on SQLite the head used to be read before the write lock was taken: the second
    insert then failed on the unique seq, an HTTP 500)."""
    import threading

    from arrears.services.evidence import append_event, chain_head, verify_chain
    first_appended, first_may_commit = threading.Event(), threading.Event()
    errors, seqs = [], {}

    def writer(name, before=None, after=None):
        try:
            with app.app_context():
                if before is not None:
                    assert before.wait(10)
                with atomic():
                    event = append_event("test_event", name, None, {"writer": name})
                    seqs[name] = event.seq
                    if after is not None:
                        after.set()
                        first_may_commit.wait(0.5)  # hold the transaction open a moment
                db.session.remove()
        except Exception as error:  # reported below, with the thread's name
            errors.append((name, repr(error)))

    with app.app_context():
        start, _ = chain_head()
        db.session.remove()
    first = threading.Thread(target=writer, args=("first",), kwargs={"after": first_appended})
    second = threading.Thread(target=writer, args=("second",), kwargs={"before": first_appended})
    first.start()
    second.start()
    first.join(30)
    first_may_commit.set()
    second.join(30)
    assert errors == []
    assert sorted(seqs.values()) == [start + 1, start + 2]
    with app.app_context():
        assert chain_head()[0] == start + 2
        assert verify_chain() == start + 2
