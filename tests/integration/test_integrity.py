"""Tampering with the ledger rows and the chain's tail around the application (raw SQL,
the append-only triggers lifted for the moment): ``verify-chain`` names the record,
and passes again once it is restored; a signed checkpoint catches a truncated or
rebuilt chain (issue 6)."""
import json
import os

import pytest
from sqlalchemy import text

from arrears.extensions import db
from notice_helpers import clock, household  # noqa: F401  (fixtures)
from tamper_helpers import around, sql


def verify(cli, *extra):
    return cli("verify-chain", *extra)


def intact(cli):
    result = verify(cli)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("records agree with their events\n")


def broken_with(cli, message, *extra):
    result = verify(cli, *extra)
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr
    return result.stderr


def test_a_changed_charge_amount_is_named_and_restoring_it_passes_again(cli, household):
    intact(cli)
    charge_id, amount = db.session.execute(text("SELECT id, amount_fen FROM charges ORDER BY id LIMIT 1")).one()
    sql("charges", "UPDATE charges SET amount_fen = 3 WHERE id = :id", id=charge_id)
    broken_with(cli, f"charges #{charge_id}: amount is 0.03 but its charge_billed event says 300.00")
    sql("charges", "UPDATE charges SET amount_fen = :amount WHERE id = :id", amount=amount, id=charge_id)
    intact(cli)


def test_a_changed_payment_date_is_named_and_restoring_it_passes_again(cli, household):
    payment_id, paid_on = db.session.execute(text("SELECT id, paid_on FROM payments")).one()
    sql("payments", "UPDATE payments SET paid_on = '2026-01-01' WHERE id = :id", id=payment_id)
    broken_with(cli, f"payments #{payment_id}: paid_on is 2026-01-01 but its payment_posted event says 2026-03-02")
    sql("payments", "UPDATE payments SET paid_on = :day WHERE id = :id", day=paid_on, id=payment_id)
    intact(cli)


def test_a_deleted_payment_is_named(cli, household):
    row = db.session.execute(text("SELECT * FROM payments")).mappings().one()
    receipt = db.session.execute(text("SELECT * FROM receipts WHERE payment_id = :id"), {"id": row["id"]}).mappings().one()
    db.session.rollback()
    # Its receipt and projection rows point to it: those go first.
    sql("receipts", "DELETE FROM receipts WHERE id = :id", id=receipt["id"])
    with around("payments") as session:
        session.execute(text("DELETE FROM payment_allocations WHERE payment_id = :id"), {"id": row["id"]})
        session.execute(text("DELETE FROM payments WHERE id = :id"), {"id": row["id"]})
    broken_with(cli, f"payments: the row payment_id {row['id']} recorded by a payment_posted event is missing")
    for table, values in (("payments", row), ("receipts", receipt)):
        columns = ", ".join(values.keys())
        sql(table, f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + k for k in values.keys())})", **values)
    intact(cli)


def test_a_row_written_without_its_event_is_named(cli, household):
    unit_id, fee_item_id = db.session.execute(text("SELECT unit_id, fee_item_id FROM charges LIMIT 1")).one()
    db.session.execute(text(
        "INSERT INTO charges (unit_id, fee_item_id, period, amount_fen, due_date, billed_on, created_at, created_by) "
        "VALUES (:unit, :item, '2026-09', 99900, '2026-09-30', '2026-09-01', '2026-05-31 00:00:00', 'mallory')"),
        {"unit": unit_id, "item": fee_item_id})
    charge_id = db.session.execute(text("SELECT max(id) FROM charges")).scalar_one()
    db.session.commit()
    broken_with(cli, f"charges #{charge_id}: no charge_billed event records it")


def test_a_changed_contact_and_a_changed_commission_scheme_are_named(cli, household):
    """What a clerk is credited with (the contacts) and paid by (the scheme) is checked too."""
    from datetime import date, datetime, timezone
    from arrears.models import Unit
    from arrears.services.collection import log_contact
    from arrears.services.commission import add_scheme
    unit = db.session.get(Unit, db.session.execute(text("SELECT id FROM units LIMIT 1")).scalar_one())
    contact = log_contact(unit, channel="phone", contacted_at=datetime(2026, 5, 20, 2, 0, tzinfo=timezone.utc),
                          reached="owner", outcome="答应月底缴费", actor="clerk")
    scheme = add_scheme("fixed", {"rate": "0.04"}, date(2026, 5, 1), "admin", today=date(2026, 5, 1))
    contact_id, scheme_id = contact.id, scheme.id
    intact(cli)
    sql("contacts", "UPDATE contacts SET staff = 'mallory', outcome = '已缴清' WHERE id = :id", id=contact_id)
    problems = broken_with(cli, f"contacts #{contact_id}: outcome is 已缴清 but its contact_logged event says 答应月底缴费")
    assert f"contacts #{contact_id}: actor is mallory but its contact_logged event says clerk" in problems
    sql("contacts", "UPDATE contacts SET staff = 'clerk', outcome = '答应月底缴费' WHERE id = :id", id=contact_id)
    sql("commission_schemes", """UPDATE commission_schemes SET definition = '{"rate": "0.40"}' WHERE id = :id""",
        id=scheme_id)
    broken_with(cli, f"commission_schemes #{scheme_id}: definition is {{'rate': '0.40'}} but its "
                     f"commission_scheme_added event says {{'rate': '0.04'}}")
    sql("commission_schemes", """UPDATE commission_schemes SET definition = '{"rate": "0.04"}' WHERE id = :id""",
        id=scheme_id)
    intact(cli)


def test_a_changed_event_hash_is_named(cli, household):
    seq, original = db.session.execute(text("SELECT seq, hash FROM evidence_events ORDER BY seq LIMIT 1 OFFSET 2")).one()
    sql("evidence_events", "UPDATE evidence_events SET hash = :h WHERE seq = :seq", h="f" * 64, seq=seq)
    broken_with(cli, f"evidence chain BROKEN at event {seq}")
    sql("evidence_events", "UPDATE evidence_events SET hash = :h WHERE seq = :seq", h=original, seq=seq)
    intact(cli)


# -- checkpoints ------------------------------------------------------------------------------------

def test_a_truncated_tail_is_caught_by_a_checkpoint(app, cli, household):
    written = cli("checkpoint")
    assert written.exit_code == 0, written.output
    path = written.stdout.strip()
    assert os.path.dirname(path) == os.path.join(app.config["ARREARS_DATA_DIR"], "checkpoints")
    checkpoint = json.load(open(path, encoding="utf-8"))["checkpoint"]
    printed = path[:-len(".json")] + ".pdf"  # a signed page to print and keep elsewhere
    import subprocess
    page = subprocess.run(["pdftotext", printed, "-"], capture_output=True, text=True).stdout
    assert checkpoint["hash"][:32] in page.replace("\n", "").replace(" ", "") and "证据链检查点" in page.replace(" ", "")
    result = verify(cli, "--checkpoint", path)
    assert result.exit_code == 0, result.output
    assert "matches the checkpoint" in result.stdout
    # Cut the chain back to before the checkpoint: the chain itself still verifies...
    tail = db.session.execute(text("SELECT * FROM evidence_events WHERE seq >= :seq ORDER BY seq"),
                              {"seq": checkpoint["seq"]}).mappings().all()
    db.session.rollback()
    sql("evidence_events", "DELETE FROM evidence_events WHERE seq >= :seq", seq=checkpoint["seq"])
    plain = verify(cli)
    assert "evidence chain intact" in plain.stdout
    # ...but not against the checkpoint.
    broken_with(cli, f"checkpoint: truncated: the chain ends at event {checkpoint['seq'] - 1} but the checkpoint",
                "--checkpoint", path)
    for row in tail:
        sql("evidence_events", "INSERT INTO evidence_events (seq, at, kind, actor, unit, data, prev_hash, hash) "
            "VALUES (:seq, :at, :kind, :actor, :unit, :data, :prev_hash, :hash)", **row)
    assert verify(cli, "--checkpoint", path).exit_code == 0


def rebuild_from(seq, actor):
    """Rewrite event ``seq``'s actor and re-seal it and every later event, as a forger would:
    the chain verifies again on its own."""
    from arrears.domain.evidence import event_hash
    rows = db.session.execute(text("SELECT * FROM evidence_events WHERE seq >= :seq ORDER BY seq"),
                              {"seq": seq}).mappings().all()
    prev_hash = db.session.execute(text("SELECT prev_hash FROM evidence_events WHERE seq = :seq"),
                                   {"seq": seq}).scalar_one()
    db.session.rollback()
    with around("evidence_events") as session:
        for row in rows:
            event = {**row, "data": json.loads(row["data"]), "prev_hash": prev_hash}
            if row["seq"] == seq:
                event["actor"] = actor
            digest = event_hash(event)
            session.execute(text("UPDATE evidence_events SET actor = :actor, prev_hash = :prev, hash = :hash "
                                 "WHERE seq = :seq"),
                            {"actor": event["actor"], "prev": prev_hash, "hash": digest, "seq": row["seq"]})
            prev_hash = digest
    return rows


def test_a_rebuilt_chain_and_an_edited_checkpoint_are_caught(app, cli, household):
    path = cli("checkpoint").stdout.strip()
    document = json.load(open(path, encoding="utf-8"))
    seq = document["checkpoint"]["seq"]
    original = rebuild_from(seq - 2, "mallory")
    assert "evidence chain intact" in verify(cli).stdout  # on its own, the forged chain passes
    broken_with(cli, f"checkpoint: rebuilt: event {seq}'s hash is", "--checkpoint", path)
    with around("evidence_events") as session:
        for row in original:
            session.execute(text("UPDATE evidence_events SET actor = :actor, prev_hash = :prev_hash, hash = :hash "
                                 "WHERE seq = :seq"), dict(row))
    assert verify(cli, "--checkpoint", path).exit_code == 0
    # A checkpoint edited to match another chain no longer matches its signature.
    document["checkpoint"]["hash"] = "e" * 64
    edited = os.path.join(os.path.dirname(path), "edited.json")
    json.dump(document, open(edited, "w", encoding="utf-8"))
    broken_with(cli, "edited.json: the signature does not match its content", "--checkpoint", edited)
    broken_with(cli, "no such file", "--checkpoint", edited + ".missing")


def test_the_fast_chain_check_agrees_with_the_reference_on_awkward_text(app):
    """verify_chain builds the hashed text from the stored columns; it must agree with
    verify_events over parsed events, for quotes, backslashes, newlines, CJK and nulls."""
    from arrears.domain.evidence import verify_events
    from arrears.services.evidence import append_event, iter_events, verify_chain
    from arrears.services.transaction import atomic
    awkward = ['say "hi"', "back\\slash", "line\nbreak", "示例花园/3栋/1201", "tab\there", "\u2028sep", "emoji 🏠"]
    with atomic():
        for index, value in enumerate(awkward):
            append_event(f"kind_{index}", value, value if index % 2 else None, {"v": value, "n": [index, None, 1.5]})
    assert verify_chain() == verify_events(iter_events()) == len(awkward)
    sql("evidence_events", "UPDATE evidence_events SET actor = 'mallory' WHERE seq = 4")
    from arrears.domain.errors import ChainBroken
    with pytest.raises(ChainBroken) as fast:
        verify_chain()
    with pytest.raises(ChainBroken) as reference:
        verify_events(iter_events())
    assert (fast.value.seq, fast.value.reason) == (reference.value.seq, reference.value.reason) == (
        4, "hash does not match the event's content")
