"""Printed notices in the browser (issue 4): a clerk issues a demand notice, downloads the
signed PDF, records its hand-signed delivery with a scanned slip; a renamed executable is
refused as proof; a stage's notices are printed as a batch by the real background worker
while the page's progress bar follows it; anyone, logged out, checks a notice on the
verification page; and the same pages in English.

Each test issues its notices for a household of its own (conftest.HOUSEHOLDS). The PDFs
are read back with ``pdftotext`` and pypdf: what the resident gets on paper is checked,
not only what the page says.
"""
import io
import os
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from .conftest import (BUILDING, ESTATE, HOUSEHOLDS, MONTHLY_FEE, REPO, SCREENSHOTS, household_ref, local_today,
                       month_end, months_before, open_household, owner_of)

pytestmark = pytest.mark.usefixtures("notice_pages")

# The documentation's screenshots are rewritten only when asked (ARREARS_DOC_SCREENSHOTS=1
# make test); an ordinary run takes them all the same, beside the failure screenshots.
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots" if os.environ.get("ARREARS_DOC_SCREENSHOTS") else SCREENSHOTS / "docs"
BATCH_TIMEOUT_MS = 120_000  # rendering and signing is ~0.5 s a notice on a busy 2-core machine
SERIAL = re.compile(r"S[LJ]-\d{4}-\d{6}")
KIND_FOR_STAGE = {"reminder": "reminder", "demand": "demand", "final": "final", "legal": "final"}


@pytest.fixture
def notice_pages(require_endpoint):
    """Skip (saying so) while the notice pages are not in the app; never pass without them."""
    require_endpoint("/notices/batches")


# --- helpers ------------------------------------------------------------------------------

def issue_notice(page, base_url, key, kind="demand", language="zh_CN"):
    """Issue a notice from the household page's "Notices and receipts" section; returns
    its serial, with the page on the new notice."""
    open_household(page, base_url, key)
    form = page.get_by_test_id("issue-notice-form")
    form.locator("select[name=notice-kind]").select_option(kind)
    form.locator("select[name=notice-language]").select_option(language)
    with page.expect_navigation():
        form.get_by_test_id("issue-notice").click()
    expect(page).to_have_url(re.compile(r"/notices/SL-\d{4}-\d{6}$"))
    serial = page.get_by_test_id("notice-serial").inner_text().strip()
    assert SERIAL.fullmatch(serial), serial
    return serial


def notice_pdf(page):
    """The bytes behind the notice page's "signed PDF" link, fetched with the page's login."""
    link = page.get_by_test_id("notice-pdf")
    response = page.context.request.get(page.url.split("/notices/")[0] + link.get_attribute("href"))
    assert response.status == 200, response.status
    assert response.headers["content-type"].startswith("application/pdf")
    return response.body()


def pdf_text(data):
    """``pdftotext`` of a PDF (as a resident's reader or a court would extract it)."""
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def without_spaces(text):
    return re.sub(r"\s+", "", text)


def small_jpeg():
    from PIL import Image, ImageDraw
    image = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(image).text((10, 30), "signed slip", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def delivery_form(page):
    return page.get_by_test_id("delivery-form")


def fill_hand_signed_delivery(page, signer):
    form = delivery_form(page)
    form.locator("select[name=delivery-method]").select_option("hand_signed")
    form.locator("select[name=delivery-outcome]").select_option("delivered")
    form.locator("input[name=delivery-attempted_on]").fill(local_today().isoformat())
    form.locator("input[name=delivery-signer]").fill(signer)
    form.locator("select[name=delivery-relation]").select_option("owner")
    return form


def fixture_stage():
    """The stage the conftest's households are in today: each owes the three months
    before this one, nothing paid, no case."""
    from arrears.domain.stages import household_stage
    today = local_today()
    oldest_due = month_end(months_before(today, 3)[0])
    owed_fen = 3 * int(MONTHLY_FEE.replace(".", ""))
    return household_stage(oldest_due, today, total_outstanding_fen=owed_fen)


def masked(number):
    keep = max(1, len(number) // 2)
    return number[:keep] + "*" * (len(number) - keep)


def save_doc_screenshot(page, name):
    """A screenshot for the documentation: the screen a clerk sees at 1366×768."""
    assert page.viewport_size == {"width": 1366, "height": 768}
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENSHOTS / name))


def verify_upload(page, filename, data):
    """Check a file on the verification page; returns the result box."""
    form = page.get_by_test_id("verify-form")
    form.locator("input[type=file][name=document]").set_input_files(
        {"name": filename, "mimeType": "application/pdf", "buffer": data})
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    return page.get_by_test_id("verify-result")


FINISHED_IN_PLACE = """total => {
    const text = selector => (document.querySelector(selector) || {}).textContent || "";
    const link = document.querySelector("[data-testid=print-link]");
    return window.beforeReload === true
        && text("[data-testid=progress-bar]").trim() === `${total} / ${total}`
        && text("[data-testid=batch-status]").trim() === "已完成"
        && link !== null && !link.classList.contains("d-none");
}"""


# --- tests --------------------------------------------------------------------------------

def test_issue_a_demand_download_it_and_record_its_signed_delivery(live_server, logged_in):
    page = logged_in("clerk")
    serial = issue_notice(page, live_server.url, "notice", kind="demand", language="zh_CN")
    notice_url = page.url
    expect(page.locator("main > [role=alert]")).to_contain_text(serial)
    state = page.get_by_test_id("delivery-state")
    expect(state).to_have_text("尚未送达")
    expect(page.locator("main")).to_contain_text("催款通知书")

    # The signed PDF: a PDF, with the owner's name and the serial in its text.
    pdf = notice_pdf(page)
    assert pdf.startswith(b"%PDF")
    text = without_spaces(pdf_text(pdf))
    assert owner_of("notice") in text
    assert serial in text

    # A hand-signed delivery with the scanned slip.
    jpeg = small_jpeg()
    form = fill_hand_signed_delivery(page, owner_of("notice"))
    form.locator("input[name=delivery-proofs]").set_input_files(
        {"name": "slip.jpg", "mimeType": "image/jpeg", "buffer": jpeg})
    with page.expect_navigation() as navigation:
        form.get_by_test_id("record-delivery").click()
    assert navigation.value.status == 200
    expect(page).to_have_url(notice_url)
    expect(page.locator("main > .alert-success")).to_contain_text("已登记送达")
    expect(state).to_contain_text("已送达")
    expect(state).not_to_contain_text("尚未")
    rows = page.get_by_test_id("delivery-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(owner_of("notice"))
    expect(rows.first).to_contain_text("当面送达并签收")

    # The proof link gives back exactly the uploaded scan, as a download.
    proof = rows.first.get_by_role("link", name="文件 1")
    expect(proof).to_have_attribute("href", re.compile(r"^/proofs/\d+/0$"))
    with page.expect_download() as download:
        proof.click()
    assert Path(download.value.path()).read_bytes() == jpeg
    assert download.value.suggested_filename.endswith(".jpg")

    # Back on the household page, the notice's row says delivered.
    with page.expect_navigation():
        page.get_by_role("link", name=household_ref("notice")).click()
    row = page.locator(f"[data-testid=notice-row][data-serial='{serial}']")
    expect(row).to_contain_text("已送达")
    expect(row).not_to_contain_text("尚未送达")

    page.goto(notice_url)
    expect(state).to_contain_text("已送达")
    save_doc_screenshot(page, "notice.png")


def test_an_executable_renamed_slip_jpg_is_refused_and_nothing_is_recorded(live_server, logged_in):
    page = logged_in("clerk")
    serial = issue_notice(page, live_server.url, "upload")
    notice_url = page.url
    executable = Path("/usr/bin/true").read_bytes()
    assert executable.startswith(b"\x7fELF")

    form = fill_hand_signed_delivery(page, owner_of("upload"))
    form.locator("input[name=delivery-proofs]").set_input_files(
        {"name": "slip.jpg", "mimeType": "image/jpeg", "buffer": executable})
    with page.expect_navigation() as navigation:
        form.get_by_test_id("record-delivery").click()
    assert navigation.value.status == 422

    form = delivery_form(page)
    message = form.get_by_test_id("error-delivery-proofs")
    expect(message).to_be_visible()
    expect(message).to_contain_text("slip.jpg 不是 JPEG、PNG 或 PDF 文件")  # in the page's language
    expect(form.locator("input[name=delivery-proofs]")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(form.locator("input[name=delivery-signer]")).to_have_value(owner_of("upload"))  # kept, to try again
    expect(page.get_by_test_id("delivery-row")).to_have_count(0)
    expect(page.get_by_test_id("delivery-state")).to_have_text("尚未送达")

    # Nothing was recorded: not on the notice, not on the household page.
    page.goto(notice_url)
    expect(page.get_by_test_id("delivery-row")).to_have_count(0)
    expect(page.get_by_test_id("delivery-state")).to_have_text("尚未送达")
    open_household(page, live_server.url, "upload")
    expect(page.locator(f"[data-testid=notice-row][data-serial='{serial}']")).to_contain_text("尚未送达")


def test_print_a_stage_in_the_background_and_download_the_duplex_print_file(live_server, logged_in):
    stage = fixture_stage()
    assert stage is not None, "the conftest's households are not in arrears today"
    page = logged_in("clerk")

    # The households in that stage, as the list shows them.
    page.goto(f"{live_server.url}/households/?stage={stage}")
    listed = page.get_by_test_id("household-row")
    expect(listed.first).to_be_visible()
    refs = {row.get_attribute("data-unit-ref") for row in listed.all()}
    fixture_refs = {household_ref(key) for key in HOUSEHOLDS}
    assert len(refs & fixture_refs) >= 3, refs
    total = len(refs)

    with page.expect_navigation():
        page.locator("nav").get_by_role("link", name="打印通知").click()
    expect(page).to_have_url(live_server.url + "/notices/batches")
    form = page.get_by_test_id("batch-form")
    form.locator("select[name=batch-stage]").select_option(stage)
    form.locator("select[name=batch-kind]").select_option(KIND_FOR_STAGE[stage])
    form.locator("select[name=batch-language]").select_option("zh_CN")

    polled = []  # what the page's script heard from the server, in order
    page.on("response", lambda response: polled.append(response.json())
            if re.search(r"/notices/batches/\d+/status$", response.url) and response.ok else None)
    with page.expect_navigation():
        form.get_by_test_id("start-batch").click()
    expect(page).to_have_url(re.compile(r"/notices/batches/\d+$"))
    expect(page.locator("main > .alert-success")).to_contain_text(f"共 {total} 份通知")

    bar = page.get_by_test_id("progress-bar")
    expect(bar).to_have_text(re.compile(rf"^\s*\d+ / {total}\s*$"))

    # The page's own script moves the bar to N / N, says done and shows the link, before
    # it reloads itself (a flag set on this document tells the two apart).
    page.evaluate("window.beforeReload = true")
    try:
        page.wait_for_function(FINISHED_IN_PLACE, arg=total, timeout=BATCH_TIMEOUT_MS)
    except PlaywrightTimeoutError:
        pytest.fail(f"the progress bar did not reach {total} / {total} with the link shown in "
                    f"{BATCH_TIMEOUT_MS / 1000:.0f} s: it says {bar.inner_text()!r}, status "
                    f"{page.get_by_test_id('batch-status').inner_text()!r}; the server said {polled[-3:]}")
    expect(bar).to_have_text(re.compile(rf"^\s*{total} / {total}\s*$"))
    expect(page.get_by_test_id("batch-status")).to_have_text("已完成")
    link = page.get_by_test_id("print-link")
    expect(link).to_be_visible()

    # The bar moved on its own, from the server's progress, up to N / N.
    assert polled, "the page never asked for the batch's progress"
    assert polled[0]["status"] in ("queued", "running"), polled[0]
    done_counts = [entry["done"] for entry in polled]
    assert done_counts == sorted(done_counts), done_counts
    assert polled[-1]["status"] == "done" and polled[-1]["done"] == total == polled[-1]["total"], polled[-1]

    # After the page reloads itself: one notice for each household of the stage.
    notices = page.locator("main table tbody tr")
    expect(notices).to_have_count(total, timeout=BATCH_TIMEOUT_MS)
    serials, households = [], set()
    for row in notices.all():
        cells = row.locator("td")
        serials.append(cells.nth(0).inner_text().strip())
        households.add(cells.nth(1).inner_text().strip())
    assert households == refs
    assert len(set(serials)) == total and all(SERIAL.fullmatch(serial) for serial in serials), serials
    save_doc_screenshot(page, "batch.png")

    # print.pdf: every notice starts on an odd page; blank pages pad the others out.
    with page.expect_download() as download:
        link.click()
    from pypdf import PdfReader
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"%PDF")
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) % 2 == 0, len(pages)
    starts, previous = {}, None
    for number, printed in enumerate(pages, start=1):
        found = set(SERIAL.findall(printed.extract_text() or ""))
        assert len(found) <= 1, (number, found)
        serial = found.pop() if found else None
        if serial is None:
            assert not (printed.extract_text() or "").strip(), f"page {number} has text but no serial"
        elif serial != previous:
            assert serial not in starts, f"{serial} starts twice (pages {starts.get(serial)} and {number})"
            starts[serial] = number
        previous = serial
    assert set(starts) == set(serials)
    assert [serial for serial, _ in sorted(starts.items(), key=lambda item: item[1])] == serials  # the page's order
    even = {serial: number for serial, number in starts.items() if number % 2 == 0}
    assert not even, f"notices starting on an even page: {even}"


def test_anyone_can_check_a_notice_on_the_verification_page(live_server, logged_in, new_page):
    clerk = logged_in("clerk")
    serial = issue_notice(clerk, live_server.url, "verify")
    genuine = notice_pdf(clerk)
    number, owner, phone = HOUSEHOLDS["verify"]

    page = new_page()  # a resident's browser: not logged in
    response = page.goto(f"{live_server.url}/verify/{serial}")
    assert response.status == 200
    expect(page).to_have_url(f"{live_server.url}/verify/{serial}")  # no login asked for
    expect(page.get_by_test_id("verify-exists")).to_contain_text(serial)
    expect(page.get_by_test_id("verify-kind")).to_have_text("催款通知书")
    expect(page.get_by_test_id("verify-unit")).to_have_text(f"{ESTATE}/{BUILDING}/{masked(number)}")
    main = page.locator("main")
    for private in (owner, phone, number, household_ref("verify")):
        expect(main).not_to_contain_text(private)

    result = verify_upload(page, f"{serial}.pdf", genuine)
    expect(result).to_have_class(re.compile(r"\balert-success\b"))
    expect(result).to_contain_text("真实：")
    expect(page.get_by_test_id("verify-signature")).to_contain_text("数字签名：有效")
    expect(main).not_to_contain_text(owner)

    # One byte changed inside the first content stream.
    at = genuine.index(b"stream", genuine.index(b"obj")) + 200
    tampered = genuine[:at] + bytes([genuine[at] ^ 0x01]) + genuine[at + 1:]
    result = verify_upload(page, f"{serial}.pdf", tampered)
    expect(result).to_have_class(re.compile(r"\balert-danger\b"))
    expect(result).to_contain_text("不是真实文件")
    expect(page.get_by_test_id("verify-signature")).to_contain_text("数字签名：无效")

    unknown = f"SL-{local_today().year}-999999"
    response = page.goto(f"{live_server.url}/verify/{unknown}")
    assert response.status == 404
    expect(page.get_by_test_id("verify-result")).to_contain_text(f"没有签发编号为 {unknown}")
    expect(page.get_by_test_id("verify-form")).to_have_count(0)


def test_the_notice_and_verification_pages_in_english(live_server, logged_in, new_page):
    page = logged_in("clerk")
    serial = issue_notice(page, live_server.url, "english", language="en")
    notice_url = page.url
    text = without_spaces(pdf_text(notice_pdf(page)))
    assert "Demandforpayment" in text  # the notice itself is in English
    assert owner_of("english") in text and serial in text

    page.get_by_test_id("switch-language").click()
    expect(page).to_have_url(notice_url)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    main = page.locator("main")
    expect(page.get_by_test_id("delivery-state")).to_have_text("Not delivered yet")
    for words in ("Delivery attempts", "Record a delivery attempt", "Charges listed", "Total demanded",
                  "Open the signed PDF", "English"):
        expect(main).to_contain_text(words)
    expect(main).not_to_contain_text("尚未送达")
    expect(page.locator("nav")).to_contain_text("Print notices")

    visitor = new_page()
    visitor.goto(f"{live_server.url}/verify/{serial}")
    expect(visitor.locator("main")).to_contain_text("由本物业服务中心签发")
    visitor.get_by_test_id("switch-language").click()
    expect(visitor).to_have_url(f"{live_server.url}/verify/{serial}")
    expect(visitor.locator("html")).to_have_attribute("lang", "en")
    expect(visitor.get_by_test_id("verify-exists")).to_contain_text("was issued by this office.")
    expect(visitor.locator("main")).to_contain_text("Verify a notice or receipt")
    result = verify_upload(visitor, f"{serial}.pdf", notice_pdf(page))
    expect(result).to_contain_text("Genuine: this document is exactly the one the office issued.")
    expect(visitor.get_by_test_id("verify-signature")).to_contain_text("Digital signature: valid")
    expect(visitor.locator("main")).not_to_contain_text("真实")
