"""Evidence bundles (SPEC §8): the ZIP's layout, the manifest, the CSVs, the signed index
and payment-order draft, the export as an evidence event, and ``verify-bundle`` naming
each file that was changed, removed, added, re-listed or re-signed."""
import csv
import hashlib
import io
import json
import zipfile
from datetime import date, datetime

import pytest
from sqlalchemy import select

from arrears.domain.evidence import event_hash
from arrears.extensions import db
from arrears.models import BundleExport, EvidenceEvent, Notice
from notice_helpers import REF, SHANGHAI, clock, household, pdf_text  # noqa: F401  (fixtures)

JPEG = b"\xff\xd8\xff\xe0" + b"signed slip " * 40
SERIAL = "SL-2026-000001"
FILES = ["contacts.csv", "events.jsonl", "index.pdf", f"notices/{SERIAL}.pdf", "payments.csv",
         f"proofs/{SERIAL}-1.jpg", "statement.csv"]
HYPERLINK = '=HYPERLINK("http://example.invalid/x","click")'


def issue_demand(cli, tmp_path):
    result = cli("notice", REF, "--kind", "demand", "--as-of", "2026-05-31", "-o", tmp_path / "notice.pdf")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def deliver(serial, day, uploads=()):
    from arrears.services.notices import DeliveryInput, record_delivery
    return record_delivery(serial, DeliveryInput(method="hand_signed", outcome="delivered", attempted_on=day,
                                                 signer="张伟", relation="owner"), "clerk", uploads)


@pytest.fixture
def case(app, cli, household, tmp_path, clock):
    """The household with a demand delivered on 2026-05-31 (proof: a scanned slip) and a
    contact whose outcome is a spreadsheet formula."""
    from arrears.services.collection import log_contact
    from arrears.services.ledger import find_unit
    serial = issue_demand(cli, tmp_path)
    assert serial == SERIAL
    deliver(serial, date(2026, 5, 31), uploads=[("slip.jpg", JPEG)])
    log_contact(find_unit(REF), channel="phone", contacted_at=datetime(2026, 5, 31, 9, 0, tzinfo=SHANGHAI),
                reached="owner", outcome=HYPERLINK, actor="clerk", notes="+86 called back; @home")
    return serial


def export(cli, tmp_path, name="bundle.zip"):
    out = tmp_path / name
    result = cli("bundle", REF, "-o", out)
    assert result.exit_code == 0, result.output
    return out, out.read_bytes()


@pytest.fixture
def bundle(case, cli, tmp_path):
    return export(cli, tmp_path)


def members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(data, replace=None, remove=(), add=None):
    """The bundle with files replaced, removed or added (order kept, new ones last)."""
    replace, add = replace or {}, add or {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            if name not in remove:
                target.writestr(name, replace.get(name, source.read(name)))
        for name, content in add.items():
            target.writestr(name, content)
    return buffer.getvalue()


def flip_middle_byte(content):
    middle = len(content) // 2
    return content[:middle] + bytes([content[middle] ^ 0x01]) + content[middle + 1:]


def verify(cli, tmp_path, data, name="check.zip"):
    path = tmp_path / name
    path.write_bytes(data)
    return cli("verify-bundle", path)


def problems(app, data):
    from arrears.services.bundles import verify_bundle
    return verify_bundle(data, app.config["ARREARS_DATA_DIR"])


def read_csv(content):
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


# -- the export ------------------------------------------------------------------------------------

def test_bundle_command_writes_the_zip_prints_its_hash_and_refuses_to_overwrite(bundle, cli):
    out, data = bundle
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert names == FILES + ["manifest.json"]
    export_row = db.session.execute(select(BundleExport)).scalar_one()
    assert export_row.sha256 == hashlib.sha256(data).hexdigest()
    again = cli("bundle", REF, "-o", out)
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert db.session.execute(select(BundleExport)).scalars().all() == [export_row]


def test_manifest_lists_every_other_file_exactly(bundle):
    _out, data = bundle
    files = members(data)
    manifest = json.loads(files["manifest.json"])
    assert list(manifest) == ["unit", "generated_at", "generated_by", "chain_head", "files"]
    assert manifest["unit"] == REF and manifest["generated_by"] == "cli"
    assert manifest["generated_at"].endswith("Z")
    assert [entry["path"] for entry in manifest["files"]] == FILES
    for entry in manifest["files"]:
        assert list(entry) == ["path", "sha256", "bytes"]
        assert entry["sha256"] == hashlib.sha256(files[entry["path"]]).hexdigest()
        assert entry["bytes"] == len(files[entry["path"]])
    export_row = db.session.execute(select(BundleExport)).scalar_one()
    assert manifest["chain_head"] == {"seq": export_row.chain_seq, "hash": export_row.chain_hash}


def test_csvs_start_with_a_bom_and_open_with_the_csv_module(bundle):
    files = members(bundle[1])
    for name, first in (("statement.csv", "period"), ("payments.csv", "payment_id"), ("contacts.csv", "contact_id")):
        assert files[name].startswith(b"\xef\xbb\xbf"), name
        rows = read_csv(files[name])
        assert rows and list(rows[0])[0] == first
    payments = read_csv(files["payments.csv"])
    assert [(p["paid_on"], p["amount"], p["method"], p["reference"]) for p in payments] == [
        ("2026-03-02", "100.00", "wechat", "WX0001")]


def test_statement_csv_equals_statement_json(bundle, cli):
    result = cli("statement", REF, "--as-of", "2026-05-31", "--json")
    document = json.loads(result.stdout)
    rows = read_csv(members(bundle[1])["statement.csv"])
    assert len(rows) == len(document["charges"]) == 2
    for row, line in zip(rows, document["charges"]):
        expected = {key: str(value) for key, value in line.items()}
        expected.setdefault("limitation_expires", "")
        assert row == expected


def test_a_formula_in_a_cell_is_defused(bundle):
    rows = read_csv(members(bundle[1])["contacts.csv"])
    assert rows[0]["outcome"] == "'" + HYPERLINK
    assert rows[0]["notes"] == "'+86 called back; @home"
    assert rows[0]["contacted_at"] == "2026-05-31T09:00+08:00"


@pytest.mark.parametrize("cell, written", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("1234.50", "1234.50"), ("张伟", "张伟"), ("a=b", "a=b"), ("", ""), (None, ""),
])
def test_defuse(cell, written):
    from arrears.services.bundles import defuse
    assert defuse(cell) == written


def test_notices_and_proofs_are_the_stored_files_byte_for_byte(bundle):
    from arrears.services.files import read_file
    files = members(bundle[1])
    notice = db.session.execute(select(Notice)).scalar_one()
    assert files[f"notices/{SERIAL}.pdf"] == read_file(notice.sha256)
    assert files[f"proofs/{SERIAL}-1.jpg"] == JPEG


def test_events_jsonl_lines_hash_verify_and_end_with_the_chain_head(bundle):
    files = members(bundle[1])
    lines = files["events.jsonl"].decode("utf-8").splitlines()
    manifest = json.loads(files["manifest.json"])
    assert json.loads(lines[-1]) == {"chain_head": manifest["chain_head"]}
    events = [json.loads(line) for line in lines[:-1]]
    stored = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.unit == REF)
                                .where(EvidenceEvent.seq <= manifest["chain_head"]["seq"])
                                .order_by(EvidenceEvent.seq)).scalars().all()
    assert [e["seq"] for e in events] == [e.seq for e in stored]
    assert [(e["prev_hash"], e["hash"]) for e in events] == [(e.prev_hash, e.hash) for e in stored]
    for event in events:
        assert event_hash(event) == event["hash"]
    assert {"notice_issued", "delivery_recorded", "contact_logged"} <= {e["kind"] for e in events}


def test_the_export_is_an_evidence_event(bundle):
    _out, data = bundle
    manifest = json.loads(members(data)["manifest.json"])
    event = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "bundle_exported")).scalar_one()
    body = json.loads(event.data)
    assert event.unit == REF and event.actor == "cli"
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["bytes"] == len(data)
    assert body["chain_head"] == manifest["chain_head"]
    assert event.seq == manifest["chain_head"]["seq"] + 1


def test_the_index_is_a_signed_evidence_list(app, bundle):
    from arrears.documents.signing import validate_pdf
    files = members(bundle[1])
    index = files["index.pdf"]
    assert validate_pdf(index, data_dir=app.config["ARREARS_DATA_DIR"]).ok
    text = pdf_text(index)
    manifest = json.loads(files["manifest.json"])
    for words in ("证据包", "当事人", "张伟", "违约金（滞纳金）计算过程", "按司法调整利率", "第九十三条",
                  f"proofs/{SERIAL}-1.jpg", SERIAL, manifest["chain_head"]["hash"][:16]):
        assert words in text.replace("\n", ""), words


def test_the_index_prints_when_it_was_made_in_the_estates_time(bundle):
    """The index reads like the rest of the bundle (local time, to the minute, with the
    offset); the manifest and the signed files.json keep the machine's UTC value."""
    files = members(bundle[1])
    manifest = json.loads(files["manifest.json"])
    assert manifest["generated_at"] == "2026-05-31T02:00:00.000000Z"  # 10:00 in Shanghai
    text = pdf_text(files["index.pdf"]).replace("\n", "")
    assert "2026年5月31日 10:00（UTC+08:00） · cli" in text
    assert manifest["generated_at"] not in text and "T02:00" not in text


# -- verification ----------------------------------------------------------------------------------

def test_verify_bundle_passes_on_a_fresh_bundle(bundle, cli):
    out, _data = bundle
    result = cli("verify-bundle", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("bundle OK: ") and len(result.stdout.strip().splitlines()) == 1
    assert "7 file(s)" in result.stdout and "2 signature(s)" in result.stdout


@pytest.mark.parametrize("path", FILES)
def test_one_changed_byte_in_any_file_is_named(app, bundle, cli, tmp_path, path):
    _out, data = bundle
    tampered = rezip(data, replace={path: flip_middle_byte(members(data)[path])})
    found = problems(app, tampered)
    assert any(problem.startswith(f"{path}: ") for problem in found), found
    result = verify(cli, tmp_path, tampered)
    assert result.exit_code == 1 and path in result.stderr


def test_a_removed_file_is_named(app, bundle):
    found = problems(app, rezip(bundle[1], remove=[f"proofs/{SERIAL}-1.jpg"]))
    assert f"proofs/{SERIAL}-1.jpg: listed in manifest.json but missing from the ZIP" in found


def test_an_added_file_is_named(app, bundle):
    found = problems(app, rezip(bundle[1], add={"proofs/extra.jpg": JPEG}))
    assert found == ["proofs/extra.jpg: in the ZIP but not listed in manifest.json"]


def test_a_rewritten_manifest_is_caught_by_the_list_signed_into_the_index(app, bundle):
    files = members(bundle[1])
    changed = files["statement.csv"].replace(b"300.00", b"900.00")
    manifest = json.loads(files["manifest.json"])
    for entry in manifest["files"]:
        if entry["path"] == "statement.csv":
            entry.update(sha256=hashlib.sha256(changed).hexdigest(), bytes=len(changed))
    found = problems(app, rezip(bundle[1], replace={
        "statement.csv": changed, "manifest.json": json.dumps(manifest, ensure_ascii=False).encode()}))
    assert found == ["statement.csv: manifest.json gives a different SHA-256 or size than the list signed into "
                     "index.pdf (files.json)"]


def test_a_rewritten_generated_by_is_caught(app, bundle):
    files = members(bundle[1])
    manifest = json.loads(files["manifest.json"])
    manifest["generated_by"] = "someone else"
    found = problems(app, rezip(bundle[1], replace={"manifest.json": json.dumps(manifest).encode()}))
    assert found == ["manifest.json: generated_by differs from the copy signed into index.pdf (files.json)"]


def test_a_notice_re_signed_with_another_key_is_named(app, bundle, tmp_path):
    from arrears.documents.signing import sign_pdf
    from arrears.services.files import read_file
    other = tmp_path / "other-office"
    other.mkdir()
    notice = db.session.execute(select(Notice)).scalar_one()
    resigned = sign_pdf(read_file(notice.sha256), data_dir=str(other), reason="re-signed", location="elsewhere",
                        settings={})
    files = members(bundle[1])
    manifest = json.loads(files["manifest.json"])
    path = f"notices/{SERIAL}.pdf"
    for entry in manifest["files"]:
        if entry["path"] == path:
            entry.update(sha256=hashlib.sha256(resigned).hexdigest(), bytes=len(resigned))
    found = problems(app, rezip(bundle[1], replace={path: resigned, "manifest.json": json.dumps(manifest).encode()}))
    assert any(p.startswith(f"{path}: signature not valid") and "does not trust" in p for p in found), found


def test_not_a_zip_or_no_file_exits_1_with_a_message(cli, app, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip file")
    result = cli("verify-bundle", junk)
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[0] == "junk.zip: not a ZIP file"
    assert "Traceback" not in result.output
    result = cli("verify-bundle", tmp_path / "missing.zip")
    assert result.exit_code == 1 and "no such file" in result.stderr
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w"):
        pass
    result = cli("verify-bundle", empty)
    assert result.exit_code == 1 and "manifest.json: missing from the ZIP" in result.stderr


# -- the payment-order draft -----------------------------------------------------------------------

def test_no_payment_order_before_the_deadline_has_passed(bundle):
    assert "payment_order.pdf" not in members(bundle[1])


def test_a_payment_order_draft_once_the_deadline_has_passed(app, case, cli, tmp_path, clock):
    from arrears.documents.signing import validate_pdf
    clock.move_to(datetime(2026, 6, 16, 10, 0, tzinfo=SHANGHAI))
    _out, data = export(cli, tmp_path)
    files = members(data)
    assert "payment_order.pdf" in files
    assert validate_pdf(files["payment_order.pdf"], data_dir=app.config["ARREARS_DATA_DIR"]).ok
    text = pdf_text(files["payment_order.pdf"]).replace("\n", "").replace(" ", "")
    assert "支付令申请书" in text and "张伟" in text and SERIAL in text and "督促程序" in text
    statement = json.loads(cli("statement", REF, "--as-of", "2026-06-16", "--json").stdout)
    assert statement["totals"]["total_outstanding"] in text
    assert problems(app, data) == []
    tampered = rezip(data, replace={"payment_order.pdf": flip_middle_byte(files["payment_order.pdf"])})
    assert any(p.startswith("payment_order.pdf: ") for p in problems(app, tampered))


def test_no_payment_order_while_a_dispute_is_open(app, case, cli, tmp_path, clock):
    from arrears.services.collection import open_dispute
    from arrears.services.ledger import find_unit
    open_dispute(find_unit(REF), subject="电梯长期故障", actor="clerk")
    clock.move_to(datetime(2026, 6, 16, 10, 0, tzinfo=SHANGHAI))
    _out, data = export(cli, tmp_path)
    assert "payment_order.pdf" not in members(data)
    assert problems(app, data) == []
