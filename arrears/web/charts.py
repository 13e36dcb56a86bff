"""Charts drawn on the server as inline SVG: no script, nothing fetched from elsewhere, so
they pass the Content-Security-Policy (``default-src 'self'``) and print as they show.

Every piece of text is escaped; geometry is computed from plain numbers (money stays in
fen in the caller; only the bar lengths are floats). Each chart carries a ``<title>``
for screen readers; the page shows the same figures in a table.
"""
from markupsafe import Markup, escape

BAR_COLOUR = "#0d6efd"
MUTED_COLOUR = "#9aa5b1"
REFERENCE_COLOUR = "#dc3545"
TEXT_COLOUR = "#212529"


def _number(value):
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(bars, *, title, label_width=120, bar_width=300, text_width=170, bar_height=22, gap=8):
    """Horizontal bars. ``bars``: ``(label, value, text)`` with ``value`` ≥ 0 (any number)
    and ``text`` written after the bar. Lengths are proportional to the largest value."""
    largest = max((float(value) for _, value, _ in bars), default=0) or 1
    width = label_width + bar_width + text_width
    height = len(bars) * (bar_height + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>']
    for index, (label, value, text) in enumerate(bars):
        top = gap + index * (bar_height + gap)
        middle = top + bar_height / 2
        length = bar_width * float(value) / largest
        parts.append(
            f'<text x="{label_width - 8}" y="{_number(middle)}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="13" fill="{TEXT_COLOUR}">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{top}" width="{_number(max(length, 1 if value else 0))}" '
            f'height="{bar_height}" rx="2" fill="{BAR_COLOUR}"/>'
            f'<text x="{_number(label_width + length + 6)}" y="{_number(middle)}" dominant-baseline="middle" '
            f'font-size="12" fill="{TEXT_COLOUR}">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(columns, *, title, reference=None, reference_text="", height=200, column_width=44, gap=12,
                 top_margin=22, bottom_margin=34, left_margin=8):
    """Vertical columns. ``columns``: ``(label, value, text, muted)``; ``value`` None draws
    no column (``text`` still shows), ``muted`` draws it grey (e.g. a month not over yet).
    ``reference`` draws a dashed line at that value (e.g. 100 %) labelled ``reference_text``."""
    values = [float(value) for _, value, _, _ in columns if value is not None]
    if reference is not None:
        values.append(float(reference))
    top_value = max(values, default=0) * 1.08 or 1
    plot = height - top_margin - bottom_margin
    width = left_margin + len(columns) * (column_width + gap)
    base = top_margin + plot

    def y_of(value):
        return base - plot * float(value) / top_value

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>',
             f'<line x1="{left_margin}" y1="{base}" x2="{width}" y2="{base}" stroke="{MUTED_COLOUR}"/>']
    for index, (label, value, text, muted) in enumerate(columns):
        left = left_margin + index * (column_width + gap) + gap / 2
        centre = _number(left + column_width / 2)
        if value is not None:
            top = y_of(value)
            parts.append(f'<rect x="{_number(left)}" y="{_number(top)}" width="{column_width}" '
                         f'height="{_number(base - top)}" rx="2" fill="{MUTED_COLOUR if muted else BAR_COLOUR}"/>')
            text_y = top - 5
        else:
            text_y = base - 5
        parts.append(f'<text x="{centre}" y="{_number(text_y)}" text-anchor="middle" font-size="11" '
                     f'fill="{TEXT_COLOUR}">{escape(text)}</text>'
                     f'<text x="{centre}" y="{base + 16}" text-anchor="middle" font-size="11" '
                     f'fill="{TEXT_COLOUR}">{escape(label)}</text>')
    if reference is not None:
        line_y = _number(y_of(reference))
        parts.append(f'<line x1="{left_margin}" y1="{line_y}" x2="{width}" y2="{line_y}" '
                     f'stroke="{REFERENCE_COLOUR}" stroke-dasharray="4 3"/>'
                     f'<text x="{width - 2}" y="{_number(float(line_y) - 4)}" text-anchor="end" font-size="10" '
                     f'fill="{REFERENCE_COLOUR}">{escape(reference_text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# Series colours of a stacked chart, in order; the last series may ask for the muted grey.
SERIES_COLOURS = ("#0d6efd", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#d63384", "#ffc107", "#0dcaf0",
                  "#6610f2", "#795548")


def series_colour(index):
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def stacked_column_chart(columns, series, *, title, height=240, column_width=44, gap=12, top_margin=22,
                         bottom_margin=34, left_margin=8, legend_row=18):
    """Vertical columns stacked from several series, with a legend below. ``series``:
    ``(name, colour)`` in stacking order (bottom first); ``columns``: ``(label, values,
    text)`` with ``values`` one number ≥ 0 per series and ``text`` written above the
    column (e.g. its total). Heights are proportional to the largest column total."""
    totals = [sum(float(v) for v in values) for _, values, _ in columns]
    top_value = max(totals, default=0) * 1.08 or 1
    plot = height - top_margin - bottom_margin
    width = max(left_margin + len(columns) * (column_width + gap), 320)
    base = top_margin + plot
    legend_lines = len(series)
    full_height = height + legend_row * legend_lines + (6 if series else 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {full_height}" width="100%" preserveAspectRatio="xMinYMin meet">'
             f'<title>{escape(title)}</title>',
             f'<line x1="{left_margin}" y1="{base}" x2="{width}" y2="{base}" stroke="{MUTED_COLOUR}"/>']
    for index, (label, values, text) in enumerate(columns):
        left = left_margin + index * (column_width + gap) + gap / 2
        centre = _number(left + column_width / 2)
        bottom = float(base)
        for (name, colour), value in zip(series, values):
            if not value:
                continue
            size = plot * float(value) / top_value
            parts.append(f'<rect x="{_number(left)}" y="{_number(bottom - size)}" width="{column_width}" '
                         f'height="{_number(size)}" fill="{colour}"><title>{escape(name)}</title></rect>')
            bottom -= size
        parts.append(f'<text x="{centre}" y="{_number(bottom - 5)}" text-anchor="middle" font-size="10" '
                     f'fill="{TEXT_COLOUR}">{escape(text)}</text>'
                     f'<text x="{centre}" y="{base + 16}" text-anchor="middle" font-size="11" '
                     f'fill="{TEXT_COLOUR}">{escape(label)}</text>')
    for index, (name, colour) in enumerate(series):
        y = height + 6 + index * legend_row
        parts.append(f'<rect x="{left_margin}" y="{y}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{left_margin + 18}" y="{y + 10}" font-size="12" fill="{TEXT_COLOUR}">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
