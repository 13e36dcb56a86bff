"""Error pages that say what happened, never a traceback."""
import re

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, ProgrammingError

from ..extensions import db


HOUSEHOLD_PATH = re.compile(r"/households/(\d+)(?:/|$)")


def back_link(path):
    """``(url, text)``: the household page for an address under ``/households/<id>/``,
    else the overview."""
    match = HOUSEHOLD_PATH.match(path or "")
    if match:
        return url_for("household.show", unit_id=int(match.group(1))), _("Back to the household")
    return url_for("dashboard.index"), _("Back to the overview")


def init_app(app):
    @app.errorhandler(404)
    def not_found(_error):
        return render_template("error.html", title=_("Page not found"),
                               message=_("The page you are looking for does not exist.")), 404

    @app.errorhandler(403)
    def forbidden(_error):
        return render_template("error.html", title=_("Not allowed"),
                               message=_("Your role does not allow this action.")), 403

    @app.errorhandler(405)
    def method_not_allowed(_error):
        # Mostly someone pressing Enter in the address bar on a form's address (the page
        # sent back with a form's errors stays at the form's address): a form address,
        # not a permissions problem. The status stays 405: such addresses refuse GET.
        back_url, back_text = back_link(request.path)
        if request.method in ("GET", "HEAD"):
            return render_template(
                "error.html", title=_("This address only accepts a submitted form"),
                message=_("This address receives a form sent from a page; it cannot be opened on its own, for "
                          "example from the address bar. Nothing was changed. Go back to the page and use its "
                          "form."),
                back_url=back_url, back_text=back_text), 405
        return render_template("error.html", title=_("Request not accepted"),
                               message=_("This address does not accept that kind of request."),
                               back_url=back_url, back_text=back_text), 405

    @app.errorhandler(CSRFError)
    def csrf_failed(_error):
        return render_template("error.html", title=_("The form has expired"),
                               message=_("Please go back, reload the page and submit the form again.")), 400

    @app.errorhandler(OperationalError)
    @app.errorhandler(ProgrammingError)
    def database_unavailable(_error):
        db.session.rollback()
        return render_template("error.html", title=_("Database unavailable"),
                               message=_("The database is not set up or cannot be reached. Run make run or "
                                         "flask --app wsgi arrears init-db.")), 503

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return render_template("error.html", title=_("Something went wrong"),
                               message=_("The request could not be completed; nothing was changed.")), 500
