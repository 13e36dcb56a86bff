"""HTML → PDF for notices and receipts: templates in ``notices/``, one print stylesheet.

- ``render_html(template, context, language)`` renders a template of ``notices/`` with
  Flask's Jinja environment (so ``_()`` is Flask-Babel's gettext), under
  ``force_locale(language)``; it needs an app context.
- ``render_document(template, context, language, base_url, attachments)`` lays the HTML
  out with WeasyPrint and returns a frozen ``Rendered(pdf, pages, seal_box)``;
  ``attachments`` are ``(name, bytes or str)`` pairs embedded as PDF file attachments
  (the bundle index carries its ``files.json`` this way). ``seal_box`` is
  where the element ``id="seal"`` lies: ``(page_index, x1, y1, x2, y2)`` in PDF points,
  origin at the bottom left of the page (what pyHanko's stamp field wants), or None
  when the document has no such element.

The font configuration and the parsed stylesheet are made once per process and
shared: a new ``FontConfiguration`` per PDF leaks memory. WeasyPrint is not
thread-safe with a shared font configuration, so layout and PDF writing hold a
process-wide lock; batch jobs that want parallel rendering use processes.

The templates get amounts as ready strings (``"1234.50"``) and dates as
``datetime.date``; the filters ``longdate`` (2026年3月1日 / 1 March 2026) and
``qr_data_uri`` (and ``spaceless``) are registered in the print environment.
"""
import base64
import dataclasses
import io
import os
import re
import threading

from flask import current_app
from flask_babel import force_locale, get_locale
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTICES_DIR = os.path.join(ROOT, "notices")
STYLESHEET = os.path.join(NOTICES_DIR, "print.css")
PX_TO_PT = 0.75  # CSS px are 1/96 in, PDF points 1/72 in
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
ENV_KEY = "arrears.print_environment"

_resources_lock = threading.Lock()
_render_lock = threading.Lock()
_resources = None  # (FontConfiguration, CSS), made on first use


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A laid-out document: the PDF bytes, its page count and the seal's box (or None)."""
    pdf: bytes
    pages: int
    seal_box: tuple | None


def long_date(value):
    """``date`` → ``2026年3月1日`` in Chinese, ``1 March 2026`` otherwise (current locale)."""
    if value is None:
        return ""
    if str(get_locale() or "").startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def qr_data_uri(text):
    """A PNG data URI of a QR code of ``text`` (error correction M, 4-module quiet zone)."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def spaceless(html):
    """Drop the whitespace between tags (for markup WeasyPrint lays out as a footnote)."""
    return Markup(re.sub(r">\s+<", "><", str(html).strip()))


def print_resources():
    """The process's one ``(FontConfiguration, CSS)`` pair for print.css."""
    global _resources
    with _resources_lock:
        if _resources is None:
            from weasyprint import CSS
            from weasyprint.text.fonts import FontConfiguration
            font_config = FontConfiguration()
            _resources = (font_config, CSS(filename=STYLESHEET, font_config=font_config))
        return _resources


def _environment():
    """Flask's Jinja environment, overlaid with a loader over ``notices/`` (one per app)."""
    app = current_app._get_current_object()
    environment = app.extensions.get(ENV_KEY)
    if environment is None:
        environment = app.jinja_env.overlay(loader=ChoiceLoader([FileSystemLoader(NOTICES_DIR), app.jinja_env.loader]))
        # The overlay shares the filter dict with the web templates: give it its own.
        environment.filters = dict(environment.filters, longdate=long_date, qr_data_uri=qr_data_uri,
                                   spaceless=spaceless)
        app.extensions[ENV_KEY] = environment
    return environment


def render_html(template, context, language="zh_CN"):
    """The HTML of ``template`` (e.g. ``"notice.html"``) with ``context``, in ``language``
    (``"zh_CN"`` or ``"en"``). Needs an app context."""
    if language not in HTML_LANG:
        raise ValueError(f"unknown language {language!r}; use one of {', '.join(HTML_LANG)}")
    with force_locale(language):
        return _environment().get_template(template).render(dict(context, html_lang=HTML_LANG[language]))


def _seal_box(document):
    for page_index, page in enumerate(document.pages):
        for box in page._page_box.descendants():
            element = getattr(box, "element", None)
            if element is not None and element.get("id") == "seal":
                x, y = box.border_box_x(), box.border_box_y()
                width, height = box.border_width(), box.border_height()
                return (page_index,
                        round(x * PX_TO_PT, 2), round((page.height - y - height) * PX_TO_PT, 2),
                        round((x + width) * PX_TO_PT, 2), round((page.height - y) * PX_TO_PT, 2))
    return None


def render_document(template, context, language="zh_CN", base_url=None, attachments=()):
    """Render ``template`` with ``context`` to a PDF, embedding ``attachments``
    (``(name, bytes or str)`` pairs; str is written as UTF-8). Returns ``Rendered``;
    raises ``ValueError`` for an unknown language and Jinja's errors for a broken template."""
    from weasyprint import HTML, Attachment

    html = render_html(template, context, language)
    font_config, stylesheet = print_resources()
    with _render_lock:
        document = HTML(string=html, base_url=base_url or NOTICES_DIR + os.sep).render(
            stylesheets=[stylesheet], font_config=font_config)
        seal_box = _seal_box(document)
        files = [Attachment(file_obj=io.BytesIO(data.encode("utf-8") if isinstance(data, str) else data),
                            name=name) for name, data in attachments]
        pdf = document.write_pdf(attachments=files) if files else document.write_pdf()
    return Rendered(pdf=pdf, pages=len(document.pages), seal_box=seal_box)
