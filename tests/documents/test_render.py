"""Notices and receipts as PDFs: the figures, the wording, the fonts, the seal box, the
tear-off slip, the page footer; and amounts in Chinese capitals.

The PDFs are read back with poppler (pdftotext, pdffonts, pdfimages), as a person or a
court would read the printed page. Rendering is slow-ish (about half a second a
document), so each document is rendered once per test session and shared.
"""
import base64
import io
import os
import re
import subprocess

import pytest
from pypdf import PdfReader

from arrears.documents.render import (Rendered, print_resources, qr_data_uri, render_document,
                                      render_html)
from arrears.documents.words import amount_in_words

from .samples import sample_notice_context, sample_receipt_context

KINDS = ("reminder", "demand", "final")
LANGUAGES = ("zh_CN", "en")
FORBIDDEN = ("停水", "停电", "断水", "断电", "停暖", "停气", "断气", "断暖", "限电", "法院", "律师")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "notices")
SEAL_WIDTH_PT, SEAL_HEIGHT_PT = 48 / 25.4 * 72, 22 / 25.4 * 72  # the #seal box of print.css

_rendered = {}


def context_for(kind, lines=4, copy=False):
    if kind == "receipt":
        return sample_receipt_context(copy=copy, copy_no=2 if copy else 0)
    return sample_notice_context(kind, lines=lines, copy=copy)


def rendered(kind, language="zh_CN", lines=4, copy=False):
    """The ``Rendered`` document of that kind (rendered once per session)."""
    key = (kind, language, lines, copy)
    if key not in _rendered:
        template = "receipt.html" if kind == "receipt" else "notice.html"
        _rendered[key] = render_document(template, context_for(kind, lines, copy), language)
    return _rendered[key]


def poppler(tool, pdf, tmp_path, *args):
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run([tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
                          check=True, capture_output=True, text=True).stdout


def pages_text(pdf, tmp_path):
    """The text of each page, as ``pdftotext -layout`` lays it out."""
    return poppler("pdftotext", pdf, tmp_path, "-layout").split("\f")[:-1]


def squeezed(text):
    return re.sub(r"\s+", "", text)


def context_strings(value):
    """Every string in a context (names, addresses, fee items…), recursively."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from context_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from context_strings(item)


@pytest.fixture(autouse=True)
def _app_context(app):
    """Rendering needs an app context (Flask's Jinja environment and Flask-Babel)."""
    yield


# --- amounts in words -------------------------------------------------------------

@pytest.mark.parametrize("fen, words", [
    (0, "零元整"),                       # chosen: a zero amount reads 零元整
    (5, "伍分"),
    (50, "伍角整"),
    (55, "伍角伍分"),
    (100, "壹元整"),
    (1000, "拾元整"),
    (1050, "拾元伍角整"),
    (10005, "壹佰元零伍分"),
    (100500, "壹仟零伍元整"),
    (123450, "壹仟贰佰叁拾肆元伍角整"),
    (1000000, "壹万元整"),
    (1640902, "壹万陆仟肆佰零玖元零贰分"),
    (10000000, "拾万元整"),
    (10700053, "拾万柒仟元伍角叁分"),
    (10070000, "拾万零柒佰元整"),
    (100000100, "壹佰万零壹元整"),
    (1234567891, "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角壹分"),
    (10000000000, "壹亿元整"),
    (10000100000, "壹亿零壹仟元整"),
    (10100000000, "壹亿零壹佰万元整"),
    (12000000000, "壹亿贰仟万元整"),
])
def test_amount_in_words(fen, words):
    assert amount_in_words(fen) == words


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (10 ** 18, ValueError), (12.5, TypeError),
                                        ("100", TypeError), (True, TypeError)])
def test_amount_in_words_refuses(bad, error):
    with pytest.raises(error):
        amount_in_words(bad)


# --- helpers ----------------------------------------------------------------------

def test_qr_data_uri_is_a_png():
    uri = qr_data_uri("http://127.0.0.1:5000/verify/SL-2026-000123")
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_font_configuration_and_stylesheet_per_process():
    assert print_resources() is print_resources()
    assert print_resources()[0] is print_resources()[0]


def test_render_html_in_both_languages():
    context = sample_notice_context("demand")
    chinese = render_html("notice.html", context, "zh_CN")
    english = render_html("notice.html", context, "en")
    assert "催款通知书" in chinese and 'lang="zh-CN"' in chinese and "2026年11月23日" in chinese
    assert "Demand for payment" in english and 'lang="en"' in english and "23 November 2026" in english
    with pytest.raises(ValueError):
        render_html("notice.html", context, "fr")


# --- notices and receipts ---------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_notice_states_the_parties_and_every_figure(kind, language, tmp_path):
    document = rendered(kind, language)
    assert isinstance(document, Rendered)
    context = context_for(kind)
    text = "\n".join(pages_text(document.pdf, tmp_path))
    flat = squeezed(text)
    for value in (context["owner_name"], context["unit_ref"], context["serial"]):
        assert value in flat
    for line in context["lines"]:
        row = r"\s+".join(re.escape(str(line[key])) for key in (
            "amount", "principal_outstanding", "days_overdue", "late_fee_accrued", "late_fee_waived",
            "late_fee_outstanding", "total"))
        assert re.search(re.escape(line["due_date"].isoformat()) + r"\s+" + row + r"(?![\d.])", text), line
        assert line["period"] in text
    totals = context["totals"]
    assert re.search(r"(?<![\d.])" + r"\s+".join(re.escape(totals[key]) for key in (
        "principal_outstanding", "late_fee_waived", "late_fee_outstanding", "total_outstanding")) + r"(?![\d.])", text)
    if language == "zh_CN":
        assert "滞纳金按每日欠费本金的0.1%计算，自应缴日次日起算，每笔上限为该笔费用金额的100%" in flat
        assert "尊敬的张伟业主" in flat and "2026年11月23日" in flat
        for way in ("银行转账", "微信", "支付宝", "办公时间", context["office"]["bank_account_no"].replace(" ", "")):
            assert way in flat
        assert squeezed(context["office"]["relief_contact"]) in flat
    else:
        words = " ".join(text.split())
        assert "0.1% of the unpaid principal per day" in words and "capped at 100%" in words
        assert "23 November 2026" in words


@pytest.mark.parametrize("language, sentence", [
    ("zh_CN", "请于收到本通知之日起15日内缴清上述费用"),
    ("en", "Please pay the full amount within 15 days of receiving this notice."),
])
def test_demand_and_final_give_the_deadline(language, sentence, tmp_path):
    for kind in ("demand", "final"):
        text = "\n".join(pages_text(rendered(kind, language).pdf, tmp_path))
        found = squeezed(text) if language == "zh_CN" else " ".join(text.split())
        assert (squeezed(sentence) if language == "zh_CN" else sentence) in found
    reminder = "\n".join(pages_text(rendered("reminder", language).pdf, tmp_path))
    assert "收到本通知之日起" not in squeezed(reminder) and "days of receiving" not in reminder


@pytest.mark.parametrize("kind", KINDS)
def test_chinese_notices_threaten_nothing(kind, tmp_path):
    flat = squeezed("\n".join(pages_text(rendered(kind, "zh_CN").pdf, tmp_path)))
    for word in FORBIDDEN:
        assert word not in flat, word


@pytest.mark.parametrize("kind", KINDS + ("receipt",))
def test_english_documents_have_no_chinese_wording_but_names(kind, tmp_path):
    flat = squeezed("\n".join(pages_text(rendered(kind, "en").pdf, tmp_path)))
    for value in sorted(context_strings(context_for(kind)), key=len, reverse=True):
        flat = flat.replace(squeezed(value), "")
    assert not CJK.findall(flat), flat


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS + ("receipt",))
def test_cjk_font_is_embedded_as_a_subset(kind, language, tmp_path):
    rows = poppler("pdffonts", rendered(kind, language).pdf, tmp_path).splitlines()[2:]
    embedded = [row for row in rows if re.search(r"CJK|Noto", row) and re.search(r"\byes\s+yes\b", row)]
    assert embedded, rows
    assert all(re.match(r"[A-Z]{6}\+", row) for row in embedded)  # subset prefix


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS + ("receipt",))
def test_seal_box_lies_within_its_page(kind, language):
    document = rendered(kind, language)
    page_index, x1, y1, x2, y2 = document.seal_box
    assert 0 <= page_index < document.pages
    page = PdfReader(io.BytesIO(document.pdf)).pages[page_index]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert x2 - x1 == pytest.approx(SEAL_WIDTH_PT, abs=1) and y2 - y1 == pytest.approx(SEAL_HEIGHT_PT, abs=1)
    assert page_index == document.pages - 1  # the 落款 closes the document


def slip_checks(document, context, language, tmp_path):
    pages = pages_text(document.pdf, tmp_path)
    assert len(pages) == document.pages
    last = squeezed(pages[-1])
    slip_words = ("回执", "签收人签名", "与业主关系", "签收日期") if language == "zh_CN" else (
        "Acknowledgementofreceipt", "Signatureofrecipient", "Relationtotheowner", "Datereceived")
    for word in slip_words + (context["serial"], context["unit_ref"]):
        assert word in last, word
    for page in pages[:-1]:
        assert slip_words[1] not in squeezed(page)
    # the slip is below the 落款 on the last page
    assert last.index(slip_words[0]) > last.index(squeezed(context["office"]["name"]))
    images = poppler("pdfimages", document.pdf, tmp_path, "-list", "-f", str(document.pages),
                     "-l", str(document.pages)).splitlines()[2:]
    assert any(" image " in row for row in images), images


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_tear_off_slip_with_qr_code_is_on_the_last_page(kind, language, tmp_path):
    slip_checks(rendered(kind, language), context_for(kind), language, tmp_path)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS + ("receipt",))
def test_footer_on_every_page(kind, language, tmp_path):
    document = rendered(kind, language)
    context = context_for(kind)
    head = context["chain_head"]
    for number, page in enumerate(pages_text(document.pdf, tmp_path), start=1):
        words = " ".join(page.split())
        if language == "zh_CN":
            # pdftotext drops the spaces next to CJK glyphs: compare without spaces
            assert f"第{number}页/共{document.pages}页" in squeezed(words)
            assert f"证据链 #{head['seq']} {head['hash16']}" in words
        else:
            assert f"Page {number} of {document.pages}" in words
            assert f"Evidence chain #{head['seq']} {head['hash16']}" in words
        assert context["serial"] in words


@pytest.mark.parametrize("language", LANGUAGES)
def test_long_notice_runs_over_pages_and_keeps_the_slip_whole(language, tmp_path):
    document = rendered("demand", language, lines=40)
    context = context_for("demand", lines=40)
    assert document.pages >= 2
    pages = pages_text(document.pdf, tmp_path)
    first = " ".join(pages[0].split())
    if language == "zh_CN":
        assert "第1页" in squeezed(first) and f"共{document.pages}页" in squeezed(first)
    else:
        assert "Page 1 of" in first and f"of {document.pages}" in first
    text = "\n".join(pages)
    for line in context["lines"]:
        assert re.search(re.escape(line["due_date"].isoformat()) + r"\s+" + re.escape(line["amount"]) + r"\s+"
                         + re.escape(line["principal_outstanding"]) + r"\s+" + str(line["days_overdue"]), text)
    # the table's head is repeated on the next page
    head = "所属期间" if language == "zh_CN" else "Billing"
    assert head in pages[1]
    slip_checks(document, context, language, tmp_path)


@pytest.mark.parametrize("language", LANGUAGES)
def test_receipt(language, tmp_path):
    document = rendered("receipt", language)
    context = context_for("receipt")
    pages = pages_text(document.pdf, tmp_path)
    assert document.pages == 1
    flat = squeezed(pages[0])
    words = " ".join(pages[0].split())
    for value in (context["serial"], context["owner_name"], context["unit_ref"], "¥1234.50",
                  "人民币壹仟贰佰叁拾肆元伍角整" if language == "zh_CN" else "RMB壹仟贰佰叁拾肆元伍角整",
                  context["payment"]["reference"]):
        assert value in flat, value
    if language == "zh_CN":
        assert "微信" in flat and "2026年3月1日" in flat and "回执" not in flat
    else:
        assert "WeChat" in words and "1 March 2026" in words and "Acknowledgement" not in words
    for allocation in context["allocations"]:
        assert re.search(re.escape(allocation["period"]) + r"\s+\S+\s+" + re.escape(allocation["principal"])
                         + r"\s+" + re.escape(allocation["late_fee"]), pages[0]), allocation
    assert "副本" not in flat and "COPY" not in flat
    assert document.seal_box is not None


@pytest.mark.parametrize("method, label", [("cash", "现金"), ("bank_transfer", "银行转账"), ("wechat", "微信"),
                                           ("alipay", "支付宝"), ("bank_deduction", "银行代扣"), ("other", "其他")])
def test_receipt_names_the_method_in_chinese(method, label):
    context = sample_receipt_context()
    context["payment"]["method"] = method
    html = render_html("receipt.html", context, "zh_CN")
    assert f"<td>{label}</td>" in html


def test_copy_banner_only_on_a_copy(tmp_path):
    copy = squeezed(pages_text(rendered("receipt", copy=True).pdf, tmp_path)[0])
    assert "副本" in copy and "COPY" in copy and "第2次补打" in copy
    original = squeezed(pages_text(rendered("receipt").pdf, tmp_path)[0])
    assert "副本" not in original and "COPY" not in original


# --- pictures for the docs --------------------------------------------------------

def test_pictures_of_the_documents_for_the_docs(tmp_path):
    """docs/notices/*.png: the first page of each document at 60 dpi, for people to look at."""
    os.makedirs(DOCS, exist_ok=True)
    for name, document in (("reminder", rendered("reminder")), ("demand", rendered("demand")),
                           ("final", rendered("final")), ("receipt", rendered("receipt")),
                           ("demand-en", rendered("demand", "en"))):
        pdf = tmp_path / f"{name}.pdf"
        pdf.write_bytes(document.pdf)
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        os.path.join(DOCS, name)], check=True)
        assert os.path.getsize(os.path.join(DOCS, f"{name}.png")) > 10_000
