"""Files sent to the browser: one way to send a PDF (or any download) with a file name."""
from urllib.parse import quote

from flask import Response


def content_disposition(filename, attachment=True):
    """``attachment; filename="…"`` with an ASCII fallback and the UTF-8 name (RFC 6266),
    so that a Chinese file name reaches the browser intact."""
    kind = "attachment" if attachment else "inline"
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    if fallback == filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def pdf_response(data, filename, attachment=False):
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = content_disposition(filename, attachment)
    return response
