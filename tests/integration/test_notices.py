"""Issuing notices and receipts, recording deliveries, and their effect on limitation
and stages (SPEC §6, §7), through the command line and the services."""
import hashlib
import json
from datetime import date

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Delivery, EvidenceEvent, Notice, NoticeCharge
from notice_helpers import REF, count, household, clock, pdf_text  # noqa: F401  (fixtures)


def statement(cli, as_of="2026-05-31"):
    result = cli("statement", REF, "--as-of", as_of, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def issue(cli, tmp_path, kind="demand", name="notice.pdf", *extra):
    out = tmp_path / name
    result = cli("notice", REF, "--kind", kind, "--as-of", "2026-05-31", "-o", out, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.strip(), out


# -- issuing -----------------------------------------------------------------------------------

def test_notice_command_issues_a_signed_pdf_with_the_statements_figures(cli, household, tmp_path):
    document = statement(cli)
    serial, out = issue(cli, tmp_path)
    assert serial == "SL-2026-000001"
    data = out.read_bytes()
    text = pdf_text(data)
    assert "张伟" in text and REF in text and serial in text
    for line in document["charges"]:
        assert line["principal_outstanding"] in text and line["late_fee_outstanding"] in text
    assert document["totals"]["total_outstanding"] in text
    # Stored under its SHA-256, with the charges it listed and an evidence event.
    notice = db.session.execute(select(Notice)).scalar_one()
    assert notice.sha256 == hashlib.sha256(data).hexdigest()
    assert notice.kind == "demand" and notice.deadline_days == 15
    listed = db.session.execute(select(NoticeCharge.principal_outstanding_fen, NoticeCharge.late_fee_outstanding_fen)
                                .order_by(NoticeCharge.id)).all()
    assert [(p, f) for p, f in listed] == [
        (int(line["principal_outstanding"].replace(".", "")), int(line["late_fee_outstanding"].replace(".", "")))
        for line in document["charges"]]
    event = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "notice_issued")).scalar_one()
    data_of_event = json.loads(event.data)
    assert data_of_event["serial"] == serial and data_of_event["sha256"] == notice.sha256
    assert data_of_event["total"] == document["totals"]["total_outstanding"]
    # The footer pins the chain head as it was when the notice was made.
    assert notice.chain_seq == event.seq - 1
    assert f"{notice.chain_hash[:16]}" in text


def test_a_charge_billed_but_not_yet_due_is_marked_so_on_the_notice(cli, household, tmp_path):
    """As of 2026-04-15 the 2026-04 charge (due 2026-04-30) is billed, not yet due: listed
    with "未到期" where the days overdue go; as of 2026-05-31 it is 31 days overdue."""
    out = tmp_path / "early.pdf"
    result = cli("notice", REF, "--kind", "reminder", "--as-of", "2026-04-15", "-o", out)
    assert result.exit_code == 0, result.output
    early = pdf_text(out.read_bytes(), layout=True)
    row = next(line for line in early.splitlines() if "2026-04-30" in line)
    assert "未到期" in row and "2026-01" not in row
    assert "未到期" not in next(line for line in early.splitlines() if "2026-01-31" in line)
    _serial, later = issue(cli, tmp_path, "reminder", "later.pdf")
    assert "未到期" not in pdf_text(later.read_bytes())


def test_the_signature_validates_and_fails_after_one_changed_byte(app, cli, household, tmp_path):
    from arrears.documents.signing import validate_pdf
    _serial, out = issue(cli, tmp_path)
    data = out.read_bytes()
    check = validate_pdf(data, data_dir=app.config["ARREARS_DATA_DIR"])
    assert check.signed and check.intact and check.valid and check.trusted and check.covers_whole_file
    middle = len(data) // 3
    tampered = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
    broken = validate_pdf(tampered, data_dir=app.config["ARREARS_DATA_DIR"])
    assert not (broken.signed and broken.intact and broken.valid)


def test_serials_are_unique_and_a_failed_issue_leaves_a_gap_not_a_reuse(cli, household, tmp_path, monkeypatch):
    from arrears.services import notices
    first, _ = issue(cli, tmp_path, "reminder", "a.pdf")

    def broken_renderer(*args, **kwargs):
        raise RuntimeError("printer on fire")
    monkeypatch.setattr(notices, "make_pdf", broken_renderer)
    with pytest.raises(RuntimeError):
        cli("notice", REF, "--kind", "demand", "--as-of", "2026-05-31", "-o", tmp_path / "b.pdf")
    monkeypatch.undo()
    third, _ = issue(cli, tmp_path, "demand", "c.pdf")
    assert (first, third) == ("SL-2026-000001", "SL-2026-000003")
    assert count("notices") == 2 and not (tmp_path / "b.pdf").exists()


def test_english_notice_on_request(cli, household, tmp_path):
    _serial, out = issue(cli, tmp_path, "reminder", "en.pdf", "--language", "en")
    text = pdf_text(out.read_bytes())
    assert "张伟" in text and statement(cli)["totals"]["total_outstanding"] in text
    assert "Payment reminder" in text
    assert db.session.execute(select(Notice.language)).scalar_one() == "en"


@pytest.mark.parametrize("args, message", [
    (("--kind", "summons"), "Invalid value for '--kind'"),
    (("--kind", "demand", "--as-of", "2026-06-01"), "as-of date 2026-06-01 is in the future"),
    (("--kind", "demand", "--as-of", "31/05/2026"), "is not a date like"),
])
def test_bad_notice_requests_are_refused_with_a_message(cli, household, tmp_path, args, message):
    result = cli("notice", REF, *args, "-o", tmp_path / "x.pdf")
    assert result.exit_code != 0
    assert message in result.output
    assert count("notices") == 0 and not (tmp_path / "x.pdf").exists()


def test_no_notice_for_a_household_that_owes_nothing(cli, household, tmp_path):
    result = cli("notice", f"示例花园/3栋/1202", "--kind", "reminder", "-o", tmp_path / "x.pdf")
    assert result.exit_code == 1
    assert "owes nothing" in result.stderr
    assert count("notices") == 0 and count("serial_counters WHERE series LIKE 'SL-%'") == 0


def test_unknown_unit_and_existing_output_file(cli, household, tmp_path):
    result = cli("notice", "示例花园/3栋/9999", "--kind", "reminder", "-o", tmp_path / "x.pdf")
    assert result.exit_code == 1 and "does not exist" in result.stderr
    (tmp_path / "taken.pdf").write_bytes(b"keep me")
    result = cli("notice", REF, "--kind", "reminder", "-o", tmp_path / "taken.pdf")
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert (tmp_path / "taken.pdf").read_bytes() == b"keep me"


# -- delivery and limitation ---------------------------------------------------------------------

def deliver(serial, method="hand_signed", outcome="delivered", day=date(2026, 5, 31), **fields):
    from arrears.services.notices import DeliveryInput, record_delivery
    defaults = {"signer": "张伟", "relation": "owner"} if method == "hand_signed" and outcome == "delivered" else {}
    defaults.update(fields)
    uploads = defaults.pop("uploads", ())
    return record_delivery(serial, DeliveryInput(method=method, outcome=outcome, attempted_on=day, **defaults),
                           "clerk", uploads)


def expiries(cli, as_of="2026-05-31"):
    return {line["period"]: line.get("limitation_expires") for line in statement(cli, as_of)["charges"]}


@pytest.mark.parametrize("outcome, at_registered_address, counts", [
    ("delivered", True, True),
    ("delivered", False, True),
    ("refused", True, True),
    ("refused", False, False),
    ("returned", True, True),
    ("returned", False, False),
])
def test_each_delivery_outcome_and_its_effect_on_limitation(cli, household, tmp_path, clock, outcome,
                                                            at_registered_address, counts):
    before = expiries(cli)
    assert before == {"2026-01": "2029-03-02", "2026-04": "2029-04-30"}
    serial, _ = issue(cli, tmp_path)
    clock.move_to(date(2026, 6, 10))
    deliver(serial, "registered_mail", outcome, date(2026, 6, 9), tracking_no="XA123456789CN",
            at_registered_address=at_registered_address)
    after = expiries(cli, "2026-06-10")
    if counts:
        assert after == {"2026-01": "2029-06-09", "2026-04": "2029-06-09"}
    else:
        assert after == before
    assert count("deliveries") == 1


def test_a_delivered_notice_interrupts_only_the_charges_it_listed(cli, household, tmp_path, clock, write_csv):
    serial, _ = issue(cli, tmp_path)
    # A charge billed after the notice was issued is not interrupted by its delivery.
    later = write_csv("later.csv", "estate,building,unit,period,fee_item,amount,due_date\n"
                      "示例花园,3栋,1201,2026-05,停车费,50.00,2026-05-31\n")
    assert cli("import", "charges", later).exit_code == 0
    clock.move_to(date(2026, 6, 20))
    deliver(serial, day=date(2026, 6, 20))
    found = expiries(cli, "2026-06-20")
    assert found["2026-01"] == "2029-06-20" and found["2026-04"] == "2029-06-20"
    assert found["2026-05"] == "2029-05-31"


@pytest.mark.parametrize("fields, message", [
    ({"method": "pigeon"}, "method 'pigeon' is not one of"),
    ({"outcome": "lost"}, "outcome 'lost' is not one of"),
    ({"method": "registered_mail", "tracking_no": ""}, "needs its tracking number"),
    ({"signer": ""}, "needs the name of who signed"),
    ({"relation": ""}, "say how the signer is related"),
    ({"relation": "neighbour"}, "relation 'neighbour' is not one of"),
    ({"day": date(2026, 6, 1)}, "is in the future"),
    ({"day": date(2026, 5, 30)}, "before notice SL-2026-000001 was issued"),
])
def test_bad_delivery_attempts_are_refused_and_nothing_is_written(cli, household, tmp_path, fields, message):
    from arrears.services.errors import ServiceError
    serial, _ = issue(cli, tmp_path)
    events = count("evidence_events")
    attempt = {"method": "hand_signed", "outcome": "delivered", "signer": "张伟", "relation": "owner"}
    attempt.update(fields)
    with pytest.raises(ServiceError, match=message):
        deliver(serial, **attempt)
    assert count("deliveries") == 0 and count("evidence_events") == events


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"scan" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 100


@pytest.mark.parametrize("upload, message", [
    (("slip.jpg", b""), "slip.jpg is empty"),
    (("slip.jpg", ELF), "slip.jpg is not a JPEG, PNG or PDF file"),
    (("slip.png", b"GIF89a" + b"\x00" * 10), "slip.png is not a JPEG, PNG or PDF file"),
])
def test_bad_proof_uploads_are_refused(cli, household, tmp_path, upload, message):
    from arrears.services.errors import ServiceError
    serial, _ = issue(cli, tmp_path)
    with pytest.raises(ServiceError, match=message):
        deliver(serial, uploads=[("good.png", PNG), upload])
    assert count("deliveries") == 0 and count("delivery_proofs") == 0


def test_an_upload_over_the_size_limit_is_refused(app, cli, household, tmp_path):
    from arrears.services.errors import ServiceError
    app.config["ARREARS_MAX_UPLOAD_BYTES"] = 1000
    serial, _ = issue(cli, tmp_path)
    with pytest.raises(ServiceError, match="the limit is"):
        deliver(serial, uploads=[("big.jpg", JPEG + b"x" * 1000)])
    assert count("deliveries") == 0


def test_proofs_are_stored_by_their_hash(app, cli, household, tmp_path):
    from arrears.services.files import path_of
    serial, _ = issue(cli, tmp_path)
    delivery = deliver(serial, uploads=[("slip.jpg", JPEG), ("receipt.png", PNG)])
    stored = [(p.sha256, p.filename) for p in db.session.get(Delivery, delivery.id).proofs]
    assert stored == [(hashlib.sha256(JPEG).hexdigest(), "slip.jpg"), (hashlib.sha256(PNG).hexdigest(), "receipt.png")]
    assert open(path_of(stored[0][0]), "rb").read() == JPEG
    event = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "delivery_recorded")).scalar_one()
    assert [p["sha256"] for p in json.loads(event.data)["proofs"]] == [s for s, _ in stored]


def test_import_deliveries_all_or_nothing(cli, household, tmp_path, write_csv, clock):
    serial, _ = issue(cli, tmp_path)
    clock.move_to(date(2026, 6, 12))
    bad = write_csv("bad.csv", "serial,method,outcome,date,signer,relation,tracking_no\n"
                    f"{serial},registered_mail,refused,2026-06-10,,,XA1CN\n"
                    f"{serial},registered_mail,delivered,2026-06-11,,,\n"
                    "SL-2026-999999,mailbox,delivered,2026-06-11,,,\n"
                    f"{serial},mailbox,delivered,2026-13-01,,,\n")
    result = cli("import", "deliveries", bad)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:3] == [
        "line 3: a registered letter needs its tracking number",
        "line 4: serial SL-2026-999999 is not an issued notice",
        "line 5: date '2026-13-01' is not a date like 2026-01-31"]
    assert count("deliveries") == 0
    good = write_csv("good.csv", "serial,method,outcome,date,signer,relation,tracking_no\n"
                     f"{serial},registered_mail,refused,2026-06-10,,,XA1CN\n")
    result = cli("import", "deliveries", good)
    assert result.exit_code == 0, result.output
    assert "imported 1 deliveries row(s)" in result.stdout
    assert expiries(cli, "2026-06-12")["2026-01"] == "2029-06-10"


# -- stages ----------------------------------------------------------------------------------------

def test_a_delivered_demand_past_its_deadline_moves_the_household_to_final(cli, household, tmp_path, clock):
    from arrears.services.households import household_summary
    from arrears.services.ledger import find_unit
    clock.move_to(date(2026, 5, 31))
    serial, _ = issue(cli, tmp_path)
    unit = find_unit(REF)
    # 120 days overdue but no delivered demand: still ``demand``.
    assert household_summary(unit, date(2026, 5, 31), with_events=False).stage == "demand"
    deliver(serial, day=date(2026, 5, 31))
    # Delivered; the 15-day deadline runs to 2026-06-15 inclusive.
    clock.move_to(date(2026, 6, 15))
    assert household_summary(unit, date(2026, 6, 15), with_events=False).stage == "demand"
    clock.move_to(date(2026, 6, 16))
    assert household_summary(unit, date(2026, 6, 16), with_events=False).stage == "final"


# -- receipts --------------------------------------------------------------------------------------

def test_receipt_original_then_copies(app, cli, household, tmp_path):
    from arrears.models import Payment, Receipt
    payment_id = db.session.execute(select(Payment.id)).scalar_one()
    first = cli("receipt", payment_id, "-o", tmp_path / "r1.pdf")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "SJ-2026-000001"
    second = cli("receipt", payment_id, "-o", tmp_path / "r2.pdf")
    assert second.stdout.strip() == "SJ-2026-000001 (copy 1)"
    original, copy = pdf_text((tmp_path / "r1.pdf").read_bytes()), pdf_text((tmp_path / "r2.pdf").read_bytes())
    assert "SJ-2026-000001" in original and "100.00" in original and "壹佰元整" in original
    assert "副本" not in original and "副本COPY" in copy.replace(" ", "")
    assert count("receipts") == 1 and count("receipt_prints") == 2
    assert db.session.execute(select(Receipt.serial)).scalar_one() == "SJ-2026-000001"
