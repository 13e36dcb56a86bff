"""The language switcher: remembers the choice in the session and a year-long cookie."""
from flask import Blueprint, abort, current_app, redirect, request, session, url_for

bp = Blueprint("language", __name__)


@bp.post("/language/<code>")
def switch(code):
    """Switch the interface to ``code`` (zh_CN or en) and go back where the user was."""
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["lang"] = code
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("dashboard.index")
    response = redirect(target)
    response.set_cookie("lang", code, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response
