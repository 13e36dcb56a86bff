"""Notices in the browser: issuing from the household page, deliveries with proof uploads,
receipts, the batch page, and the public verification page (SPEC §6)."""
import hashlib
import io
import re
from datetime import date

import pytest
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Notice, Payment, Unit
from conftest import csrf_from
from notice_helpers import REF, clock, count, household, many_households, pdf_text  # noqa: F401  (fixtures)


def unit_id(ref=REF):
    number = ref.split("/")[-1]
    return db.session.execute(select(Unit.id).where(Unit.number == number)).scalar_one()


def issue_from_page(client, kind="demand", language="zh_CN"):
    uid = unit_id()
    page = client.get(f"/households/{uid}").get_data(as_text=True)
    assert 'data-testid="issue-notice-form"' in page
    return client.post(f"/households/{uid}/notices", data={
        "csrf_token": csrf_from(page), "notice-kind": kind, "notice-language": language})


def test_a_clerk_issues_a_notice_from_the_household_page(client, login, household):
    login("clerk")
    response = issue_from_page(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/notices/SL-2026-000001")
    page = client.get("/notices/SL-2026-000001").get_data(as_text=True)
    assert "SL-2026-000001" in page and "尚未送达" in page
    pdf = client.get("/notices/SL-2026-000001.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == db.session.execute(select(Notice.sha256)).scalar_one()
    household_page = client.get(f"/households/{unit_id()}").get_data(as_text=True)
    assert 'data-serial="SL-2026-000001"' in household_page


def test_issuing_with_a_bad_kind_issues_nothing(client, login, household):
    login("clerk")
    response = issue_from_page(client, kind="summons")
    assert response.status_code == 302
    assert count("notices") == 0
    assert "请选择" in client.get(response.headers["Location"]).get_data(as_text=True)


def record(client, serial, files=(), **fields):
    page = client.get(f"/notices/{serial}").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "delivery-method": "hand_signed", "delivery-outcome": "delivered",
            "delivery-attempted_on": "2026-05-31", "delivery-signer": "张伟", "delivery-relation": "owner",
            "delivery-tracking_no": "", "delivery-at_registered_address": "y", "delivery-note": ""}
    data.update({f"delivery-{k}": v for k, v in fields.items()})
    if files:
        data["delivery-proofs"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(f"/notices/{serial}/deliveries", data=data, content_type="multipart/form-data")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"scan" * 50


def test_recording_a_delivery_with_a_scanned_slip(client, login, household):
    login("clerk")
    issue_from_page(client)
    response = record(client, "SL-2026-000001", files=[("slip.jpg", JPEG)])
    assert response.status_code == 302
    page = client.get("/notices/SL-2026-000001").get_data(as_text=True)
    assert 'data-outcome="delivered"' in page and "已送达" in page
    assert "该通知视为于 2026年5月31日 送达" in page  # the flash gives the date as every message does
    link = re.search(r'href="(/proofs/\d+/0)"', page).group(1)
    proof = client.get(link)
    assert proof.data == JPEG and proof.mimetype == "image/jpeg"
    assert proof.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize("files, fields, message", [
    ([("slip.jpg", b"MZ\x90\x00" + b"\x00" * 64)], {}, "slip.jpg 不是 JPEG、PNG 或 PDF 文件"),
    ([("slip.jpg", b"")], {}, None),  # an empty file part is no upload at all: refused below by the signer rule
    ([], {"signer": ""}, "当面签收须填写签收人姓名"),
    ([], {"attempted_on": "2026-06-30"}, "日期 2026年6月30日 晚于今天"),
    ([], {"attempted_on": "2026-05-30"}, "日期 2026年5月30日 早于通知签发日期（2026年5月31日）"),
    ([], {"method": "registered_mail"}, "挂号信须填写邮件单号"),
    ([], {"attempted_on": "not a date"}, "2026-05-31"),
])
def test_bad_deliveries_come_back_with_the_message(client, login, household, files, fields, message):
    login("clerk")
    issue_from_page(client)
    if message is None:
        fields = {"signer": ""}
        message = "当面签收须填写签收人姓名"
    response = record(client, "SL-2026-000001", files=files, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count("deliveries") == 0


def test_an_oversized_upload_is_refused(app, client, login, household):
    app.config["ARREARS_MAX_UPLOAD_BYTES"] = 100
    login("clerk")
    issue_from_page(client)
    response = record(client, "SL-2026-000001", files=[("slip.jpg", JPEG)])
    assert response.status_code == 422 and "上限为" in response.get_data(as_text=True)
    assert count("deliveries") == 0 and count("stored_files") == 1  # the notice only


def test_who_may_see_and_do_what(client, login, household):
    login("clerk")
    issue_from_page(client)
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    assert client.get("/notices/SL-2026-000001").status_code == 302  # logged out: to the login page
    login("lawyer")
    assert client.get("/notices/SL-2026-000001").status_code == 404  # not escalated to legal
    assert client.get("/notices/SL-2026-000001.pdf").status_code == 404
    assert client.get("/notices/batches").status_code == 403
    page = client.get("/").get_data(as_text=True)
    response = client.post("/notices/SL-2026-000001/deliveries", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 403


def test_every_route_with_arguments_needs_a_login(app, client, household):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("notices.") and "GET" in rule.methods and rule.arguments:
            url = re.sub(r"<(?:\w+:)?(\w+)>", "1", rule.rule)
            response = client.get(url)
            assert response.status_code == 302 and "/login" in response.headers["Location"], rule.rule


def test_receipt_from_the_household_page_then_a_marked_copy(client, login, household):
    login("clerk")
    payment_id = db.session.execute(select(Payment.id)).scalar_one()
    page = client.get(f"/households/{unit_id()}").get_data(as_text=True)
    assert 'data-testid="print-receipt"' in page
    first = client.post(f"/payments/{payment_id}/receipt", data={"csrf_token": csrf_from(page)})
    assert first.status_code == 302 and first.headers["Location"].endswith("/receipts/SJ-2026-000001.pdf?copy=0")
    original = client.get(first.headers["Location"])
    assert "副本" not in pdf_text(original.data) and "SJ-2026-000001" in pdf_text(original.data)
    second = client.post(f"/payments/{payment_id}/receipt", data={"csrf_token": csrf_from(page)})
    copy = client.get(second.headers["Location"])
    assert "副本COPY" in pdf_text(copy.data).replace(" ", "")


# -- the public verification page ------------------------------------------------------------

def issued_pdf(client, login):
    login("clerk")
    issue_from_page(client)
    data = client.get("/notices/SL-2026-000001.pdf").data
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    return data


def verify(client, serial, **form):
    page = client.get(f"/verify/{serial}")
    html = page.get_data(as_text=True)
    if not form:
        return page
    data = {"csrf_token": csrf_from(html)}
    if "pdf" in form:
        data["document"] = (io.BytesIO(form["pdf"]), "notice.pdf")
    if "sha256" in form:
        data["sha256"] = form["sha256"]
    return client.post(f"/verify/{serial}", data=data, content_type="multipart/form-data")


def test_verification_of_a_genuine_pdf(client, login, household):
    data = issued_pdf(client, login)
    page = verify(client, "SL-2026-000001")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "示例花园/3栋/12**" in html
    for private in ("张伟", "13812345678", "1201", "138****5678"):
        assert private not in html
    html = verify(client, "SL-2026-000001", pdf=data).get_data(as_text=True)
    assert "真实：该文件与" in html and "数字签名：有效" in html
    html = verify(client, "SL-2026-000001", sha256=hashlib.sha256(data).hexdigest()).get_data(as_text=True)
    assert "真实：该文件与" in html


def test_verification_of_a_tampered_pdf(client, login, household):
    data = issued_pdf(client, login)
    middle = len(data) // 2
    tampered = data[:middle] + bytes([data[middle] ^ 0x20]) + data[middle + 1:]
    html = verify(client, "SL-2026-000001", pdf=tampered).get_data(as_text=True)
    assert "不是真实文件" in html
    assert "数字签名：无效" in html


def test_verification_unknown_serial_and_malformed_input(client, login, household):
    issued_pdf(client, login)
    unknown = verify(client, "SL-2026-000999")
    assert unknown.status_code == 404 and "没有签发" in unknown.get_data(as_text=True)
    malformed = verify(client, "DROP TABLE")
    assert malformed.status_code == 404 and "不是编号" in malformed.get_data(as_text=True)
    bad_hash = verify(client, "SL-2026-000001", sha256="xyz")
    assert bad_hash.status_code == 422 and "64" in bad_hash.get_data(as_text=True)


def test_the_verification_page_is_rate_limited(app, client, household):
    app.config["VERIFY_MAX_REQUESTS"] = 3
    statuses = [client.get("/verify/SL-2026-000001").status_code for _ in range(5)]
    assert statuses == [404, 404, 404, 429, 429]


# -- batch printing in the browser (the job runs at once: ARREARS_JOBS_IMMEDIATE) ---------------

def test_batch_page_prints_a_stage_and_offers_the_print_file(app, client, login, many_households):
    from pypdf import PdfReader
    many_households(3)
    app.config["ARREARS_JOBS_IMMEDIATE"] = True
    app.config["ARREARS_WORKERS"] = 1
    login("clerk")
    page = client.get("/notices/batches").get_data(as_text=True)
    response = client.post("/notices/batches", data={"csrf_token": csrf_from(page), "batch-stage": "demand",
                                                     "batch-kind": "demand", "batch-language": "zh_CN"})
    assert response.status_code == 302
    status = client.get(response.headers["Location"] + "/status").get_json()
    assert status["status"] == "done" and (status["done"], status["total"]) == (3, 3)
    printed = client.get(status["print_url"])
    reader = PdfReader(io.BytesIO(printed.data))
    assert len(reader.pages) % 2 == 0
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert html.count(">SL-2026-00000") == 3 and 'data-testid="print-link"' in html


def test_a_batch_for_an_empty_stage_is_refused(client, login, household):
    login("clerk")
    page = client.get("/notices/batches").get_data(as_text=True)
    response = client.post("/notices/batches", data={"csrf_token": csrf_from(page), "batch-stage": "legal",
                                                     "batch-kind": "final", "batch-language": "zh_CN"})
    assert response.status_code == 422
    assert "没有处于“法务”催收阶段的住户；未生成批次" in response.get_data(as_text=True)
    assert count("notice_batches") == 0
